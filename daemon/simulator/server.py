"""A local stand-in for the Dükkango Integration API (stdlib only).

Used by the tests, ``autocancel demo`` and ``autocancel simulator``. It serves
the documented endpoints under ``/api/integrations/`` with in-memory state,
records every API request, and fails on demand. Nothing in the product talks to
it unless pointed at it.

Where the docs are silent the simulator has to choose; these are assumptions,
not facts about the real API:

* Tokens: login issues a new random token and does not revoke older ones;
  ``expiration_date`` is Istanbul local time. A configured static token is
  accepted like a login token (revocable, never expires).
* Cooldowns (30 s on ``orders/get-current`` and ``foods/get-foods``) are kept
  per token and per endpoint, counted from the last *served* call; a refused
  call does not restart them.
* ``get-current`` shows orders in 1, 2 and 16, and once more after a
  cancellation (6), until acknowledged in their current status. Completed
  orders (5) leave the list, as the docs say.
* Order items are ``items: [{food_id, name, quantity, price}]`` (the field is
  cut off in the docs). ``add_order`` accepts any further fields verbatim.
* Invalid state transitions (cancelling a completed/cancelled order, accepting
  a confirmed one, ...) answer ``400 {"error": "geçersiz durum", "message":
  "..."}``; a present but invalid value (``reason_id`` 9, ``"3"``) answers
  ``400 "geçersiz değer"``. A JSON body without ``Content-Type:
  application/json`` is ignored, as by a form-parsing backend, so the call
  fails with ``400 "eksik alan"``.
* Unknown endpoints and unknown or malformed food ids answer ``403 "URL
  hatalı"``; unknown orders/restaurants 404 as documented; paths outside
  ``/api/integrations/`` get an HTML 404, like a web server would.
* ``complete`` is allowed from 16, and from 2 for pickup / ``come_get``
  orders; ``ontheway`` only from 2 with ``courier_type == "restaurant"``.

Faults apply to the next ``count`` API requests matching an optional method
and path prefix (relative, e.g. ``orders/cancel``); kinds: ``status`` (an
error envelope with the given 5xx), ``hang`` (wait ``seconds``, then handle
the request normally, so the action may happen after the client gave up),
``rate_limit`` (429), ``unauthorized`` (401), ``body`` (raw ``body`` with
``status``, ``content_type`` and extra ``headers``), ``drop`` (close
without answering) and ``echo`` (handle the request normally, but send its
headers back as response headers, ``Access-Token`` included, as a debugging
proxy might). A ``hang`` with ``process=False`` drops the connection after
the wait instead of handling the request (or, with a ``status``, answers that
error without handling it). ``trickle`` handles the request, then sends the
answer's headers and its body one byte every ``seconds`` (default 1), as a
broken proxy can. With ``after_effect=True`` any other kind handles the
request first (the platform acts: an order is cancelled, a restaurant
closed) and only then answers with the fault: the answer is lost, the
effect is not.

The geocoder (``GET /search``, Nominatim's, and ``GET /nominatim/v1/search``,
OpenMapQuest's, which takes an api key) resolves the addresses it was given,
and has no result for those it was told do not exist. Any other address has
no result either by default (the tests); with ``unlisted_addresses="unknown"``
(``autocancel simulator``, for rehearsals) it answers 503 instead, which the
daemon reads as "unknown", so a real address nobody listed is never cancelled
as not found. An address may instead be given a raw reply body, sent
verbatim (a geocoder that answers garbage: ``"lat": "abc"``, an object
instead of a list, ...).

Control endpoints (not recorded) are listed by ``GET /_sim/``: see
:data:`CONTROL_ENDPOINTS`.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.domain.reasons import REASONS

log = logging.getLogger(__name__)

BASE_PATH = "/api/integrations/"
CONTROL_PATH = "/_sim/"
GEOCODER_PATH = "/search"  # Nominatim's; point geopy at domain 127.0.0.1:PORT, scheme http
# The same answers where geopy's OpenMapQuest asks (a Nominatim that takes an api_key).
GEOCODER_PATHS = (GEOCODER_PATH, "/nominatim/v1/search")
DEFAULT_APP_SECRET_KEY = "sim-app-secret"  # noqa: S105 - fake, printed on purpose
DEFAULT_REST_SECRET_KEY = "sim-rest-secret"  # noqa: S105
DEFAULT_STATIC_TOKEN = "sim-static-token"  # noqa: S105
ACTIVE_STATUSES = frozenset({1, 2, 16})
STATUS_TEXT = {
    1: "Sipariş Geldi",
    2: "Hazırlanıyor",
    16: "Restoran Kuryeye Verildi",
    5: "Teslim Edildi",
    6: "İptal Edildi",
}
CANCEL_REASONS = REASONS  # what orders/cancel-reasons answers
VARIABLES = {
    "paymentMethod": [
        {"key": "CASH", "name": "Nakit"},
        {"key": "CREDIT_CARD", "name": "Kredi Kartı"},
        {"key": "DEBIT_CARD", "name": "Banka Kartı"},
    ],
    "shippingMethod": [
        {"key": "delivery", "name": "Teslimat"},
        {"key": "pickup", "name": "Gel Al"},
    ],
}
HALASKARGAZI = "0ca1d2b1-a199-4960-8617-83a659d890c8"
AKAT = "8f2b9ce2-04de-4712-842d-a39f64596fdf"
DEFAULT_RESTAURANTS = (
    {"id": HALASKARGAZI, "name": "Halaskargazi Şube"},
    {"id": AKAT, "name": "Akat Şube"},
)
DEFAULT_FOODS = tuple(
    {"food_id": i, "name": name, "category": {"id": 1, "name": "Burritos", "sort": 0},
     "desc": "", "image": "", "restaurant_id": rest, "sort": i, "price": price, "add_substract": []}
    for i, name, rest, price in (
        (1, "Beef Burrito", HALASKARGAZI, 675),
        (2, "Chicken Burrito", HALASKARGAZI, 590),
        (3, "Ayran", AKAT, 60),
    )
)  # fmt: skip
FAULT_KINDS = ("status", "hang", "rate_limit", "unauthorized", "body", "drop", "trickle", "echo")
# Request headers an echo fault does not send back: the answer's own framing.
_NOT_ECHOED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "connection",
        "transfer-encoding",
        "keep-alive",
        "expect",
        "accept-encoding",
    }
)
TOO_MANY = "Çok fazla istek. Lütfen 30 saniye bekleyin."
UnlistedAddresses = Literal["not_found", "unknown"]

# What each control endpoint does (GET /_sim/ lists them; README "Rehearsals").
# Keyed like the routes of Simulator._control_routes, which must match it.
CONTROL_ENDPOINTS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", ""): ("/_sim/", "lists these control endpoints"),
    ("GET", "requests"): (
        "/_sim/requests",
        "the API requests received (?method=, ?path_prefix= filter), with their answers",
    ),
    ("DELETE", "requests"): ("/_sim/requests", "forget the recorded requests"),
    ("GET", "faults"): ("/_sim/faults", "the faults waiting to be applied"),
    ("POST", "faults"): (
        "/_sim/faults",
        "queue faults: {kind, count, method, path_prefix, "
        "status, seconds, after_effect, ...}, one or a list",
    ),
    ("DELETE", "faults"): ("/_sim/faults", "drop every queued fault"),
    ("GET", "orders"): ("/_sim/orders", "every order with its status"),
    ("POST", "orders"): (
        "/_sim/orders",
        "add orders (fields of the API's order object), one or a list",
    ),
    ("GET", "orders/"): ("/_sim/orders/{payment_key}", "one order"),
    ("GET", "state"): ("/_sim/state", "restaurants open or closed, foods active or passive"),
    ("POST", "reset"): (
        "/_sim/reset",
        "back to the start: the configured (or loaded) "
        "restaurants, foods and orders; no tokens, faults or requests",
    ),
    ("POST", "revoke-tokens"): ("/_sim/revoke-tokens", "every token now answers 401"),
    ("POST", "geocoder"): (
        "/_sim/geocoder",
        "teach the geocoder addresses: {address, "
        "latitude, longitude}, {address, not_found: true} or {address, "
        "body}, one or a list",
    ),
}


def _istanbul() -> tzinfo:
    try:
        return ZoneInfo("Europe/Istanbul")
    except ZoneInfoNotFoundError:  # Turkey: fixed UTC+3 since 2016
        return timezone(timedelta(hours=3), "TRT")


ISTANBUL = _istanbul()


def istanbul_text(moment: datetime) -> str:
    """The API's offset-less ``YYYY-MM-DD HH:MM:SS`` in Istanbul local time."""
    return moment.astimezone(ISTANBUL).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the simulator saw it; ``path`` is relative to the base path."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else the raw text, None when empty
    timestamp: datetime
    status: int  # 0 when the connection was dropped
    reply: str = ""  # the answer's body as sent (fault bodies included)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "timestamp": self.timestamp.isoformat()}


@dataclass
class Fault:
    kind: str
    count: int = 1
    method: str | None = None
    path_prefix: str | None = None
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None  # extra response headers, e.g. a Location
    seconds: float | None = None
    # hang only: False drops the connection after the wait without handling the
    # request, as if it never reached the API.
    process: bool = True
    # Every kind but hang: act on the request first, then answer with the fault.
    after_effect: bool = False
    error: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid: {', '.join(FAULT_KINDS)}")
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count must be a positive integer")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_prefix is None or path.lstrip("/").startswith(self.path_prefix.lstrip("/"))
        )


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds between the body's bytes (the trickle fault); None sends it at once.
    trickle_seconds: float | None = None
    # The status line's reason phrase (ASCII); None: the standard one.
    reason: str | None = None


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def _ok(data: Any = "OK") -> _Reply:
    return _json(200, {"status": True, "data": data})


def _err(status: int, error: str, message: str | None = None) -> _Reply:
    payload = {"status": False, "error": error}
    return _json(status, payload if message is None else {**payload, "message": message})


@dataclass(frozen=True)
class _Call:
    arg: str
    token: str
    query: dict[str, str]
    body: Any  # the JSON object when sent as application/json, else None


class Simulator:
    """In-memory Dükkango on a loopback port; start() it, point a client at ``url``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        restaurants: Sequence[Mapping[str, str]] = DEFAULT_RESTAURANTS,
        foods: Sequence[Mapping[str, Any]] = DEFAULT_FOODS,
        app_secret_key: str = DEFAULT_APP_SECRET_KEY,
        rest_secret_key: str = DEFAULT_REST_SECRET_KEY,
        static_token: str | None = DEFAULT_STATIC_TOKEN,
        cooldown_seconds: float = 30.0,
        token_lifetime: timedelta = timedelta(hours=24),
        geocoder_addresses: Mapping[str, tuple[float, float]] | None = None,
        geocoder_not_found: Iterable[str] = (),
        unlisted_addresses: UnlistedAddresses = "not_found",
        orders: Sequence[Mapping[str, Any]] = (),
        verbose: bool = False,
    ) -> None:
        self.host, self._port = host, port
        self._config_restaurants = [dict(r) for r in restaurants]
        self._config_foods = copy.deepcopy([dict(f) for f in foods])
        self.app_secret_key, self.rest_secret_key = app_secret_key, rest_secret_key
        self.static_token = static_token
        self.cooldown_seconds, self.token_lifetime = cooldown_seconds, token_lifetime
        self._log_level = logging.INFO if verbose else logging.DEBUG
        self._lock = threading.RLock()
        self._in_flight = 0  # API requests received and not yet answered
        # A Nominatim-compatible /search, so geocoding is testable without internet.
        self._geocoder_addresses = dict(geocoder_addresses or {})
        self._geocoder_replies: dict[str, str] = {}  # address -> raw body, sent verbatim
        self._geocoder_not_found = set(geocoder_not_found)  # definitely no such address
        # Any other address: "not_found" answers no result (the tests' default),
        # "unknown" an error, which the daemon never cancels on (rehearsals).
        self._unlisted_addresses = unlisted_addresses
        self._config_orders = copy.deepcopy([dict(o) for o in orders])
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()
        self._routes: dict[tuple[str, str], Callable[[_Call], _Reply]] = {
            ("GET", "restaurants/get"): lambda c: _ok(
                [{"id": r["id"], "name": r["name"]} for r in self._restaurants]
            ),
            ("GET", "restaurants/status/get/"): self._restaurant_status,
            ("PUT", "restaurants/status/open/"): lambda c: self._set_open(c, True),
            ("PUT", "restaurants/status/close/"): lambda c: self._set_open(c, False),
            ("GET", "foods/get-foods"): self._get_foods,
            ("PUT", "foods/status-passive/"): lambda c: self._set_food(c, False),
            ("PUT", "foods/status-active/"): lambda c: self._set_food(c, True),
            ("GET", "orders/get-current"): self._get_current,
            ("GET", "orders/variables"): lambda c: _ok(VARIABLES),
            ("GET", "orders/cancel-reasons"): lambda c: _ok(
                [{"id": i, "reason": text} for i, text in CANCEL_REASONS.items()]
            ),
            ("PUT", "orders/success/"): self._acknowledge,
            ("PUT", "orders/accept/"): self._accept,
            ("PUT", "orders/ontheway/"): lambda c: self._transition(c, {2}, 16),
            ("PUT", "orders/complete/"): lambda c: self._transition(c, {16}, 5),
            ("PUT", "orders/cancel/"): self._cancel,
        }

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._server = _Server((self.host, self._port), _Handler, self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL for the client, e.g. ``http://127.0.0.1:PORT/api/integrations``."""
        return f"http://{self.host}:{self._port}{BASE_PATH.rstrip('/')}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self._port}{CONTROL_PATH.rstrip('/')}"

    # --- state, for tests and the control endpoints -------------------------------------

    def reset(self) -> None:
        """Back to the configured restaurants, foods and orders; no tokens, faults or log."""
        with self._lock:
            self._restaurants = copy.deepcopy(self._config_restaurants)
            self._open = {r["id"]: r.get("status", "Open") == "Open" for r in self._restaurants}
            self._foods = copy.deepcopy(self._config_foods)
            self._food_active = {int(f["food_id"]): True for f in self._foods}
            self._orders: dict[str, dict[str, Any]] = {}
            self._acked: dict[str, int] = {}
            self._next_id = 1030
            self._tokens: dict[str, datetime] = {}
            self._static_revoked = False
            self._last_served: dict[tuple[str, str], float] = {}
            self._faults: list[Fault] = []
            self._log: list[RecordedRequest] = []
            for order in self._config_orders:
                self.add_order(**order)

    def requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self._log
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            ]  # fmt: skip

    def clear_requests(self) -> int:
        with self._lock:
            count = len(self._log)
            self._log.clear()
            return count

    def add_order(self, **fields: Any) -> dict[str, Any]:
        """Add an order: the docs' example order, with ``fields`` replacing its keys."""
        with self._lock:
            first = self._restaurants[0]["id"] if self._restaurants else ""
            rest_id = str(fields.get("restaurant_id", first))
            name = next((r["name"] for r in self._restaurants if r["id"] == rest_id), "")
            menu = [f for f in self._foods if f.get("restaurant_id") == rest_id][:1]
            items = [
                {"food_id": f["food_id"], "name": f["name"], "quantity": 1, "price": f["price"]}
                for f in menu
            ]
            self._next_id += 1
            order: dict[str, Any] = {
                "id": self._next_id, "status_id": 1, "shipping_method": "delivery",
                "payment_key": str(uuid.uuid4()), "payment_method": "Kredi Kartı", "note": "",
                "total": sum(i["price"] for i in items), "date": istanbul_text(datetime.now(UTC)),
                "restaurant_id": rest_id, "restaurant_name": name, "courier_type": "restaurant",
                "discount": "0", "courier_fee": 0, "scheduled_date": "", "order_tip": 0,
                "customer": {"name": "Kerim Test", "phone": "05335587642"},
                "address": {"address": "Dershane Sokak", "description": "", "apartment": ""},
                "items": items,
            }  # fmt: skip
            order.update(copy.deepcopy(fields))
            key = order["payment_key"]
            if not isinstance(key, str) or not key or key in self._orders:
                raise ValueError(f"payment_key must be a new non-empty string, got {key!r}")
            if not isinstance(order["status_id"], int):
                raise ValueError("status_id must be an integer")
            order.setdefault("status_text", STATUS_TEXT.get(order["status_id"], ""))
            self._orders[key] = order
            return copy.deepcopy(order)

    def order(self, payment_key: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._orders.get(payment_key))

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._orders.values()))

    def set_order_status(self, payment_key: str, status_id: int) -> None:
        """A change made elsewhere (customer, courier, platform); re-surfaces the order."""
        with self._lock:
            self._set_status(self._orders[payment_key], status_id)

    def restaurant_status(self, rest_id: str) -> str:
        with self._lock:
            return "Open" if self._open[rest_id] else "Closed"

    def food_active(self, food_id: int) -> bool:
        with self._lock:
            return self._food_active[food_id]

    def state(self) -> dict[str, Any]:
        """Restaurants with their open state, foods with their active flag, order count."""
        with self._lock:
            return {
                "restaurants": [
                    {"id": r["id"], "name": r["name"], "status": self.restaurant_status(r["id"])}
                    for r in self._restaurants
                ],
                "foods": [{"food_id": f, "active": a} for f, a in self._food_active.items()],
                "orders": len(self._orders),
            }

    def inject_fault(self, kind: str, **options: Any) -> None:
        """Queue a fault; options are the fields of :class:`Fault` (count, method, ...)."""
        fault = Fault(kind, **options)
        with self._lock:
            self._faults.append(fault)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self) -> int:
        """Every issued token, and the static one, now gets 401 (as after a key rotation)."""
        with self._lock:
            count = len(self._tokens) + (0 if self._static_revoked or not self.static_token else 1)
            self._tokens.clear()
            self._static_revoked = True
            return count

    # --- the API --------------------------------------------------------------------

    def in_flight(self) -> int:
        """API requests received but not answered yet (e.g. held by a hang fault)."""
        with self._lock:
            return self._in_flight

    def _serve(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> _Reply | None:
        with self._lock:
            self._in_flight += 1
        try:
            return self._serve_counted(method, target, headers, raw)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve_counted(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> _Reply | None:
        split = urlsplit(target)
        path = split.path.removeprefix(BASE_PATH)
        query = dict(parse_qsl(split.query))
        text = raw.decode("utf-8", "replace")
        try:
            recorded: Any = json.loads(text) if text else None
        except ValueError:
            recorded = text
        is_json = headers.get("content-type", "").split(";")[0].strip() == "application/json"
        started = datetime.now(UTC)
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds if fault.seconds is not None else 5.0)
            fault = (
                None
                if fault.process
                else Fault("status" if fault.status else "drop", status=fault.status)
            )
        echo = fault is not None and fault.kind == "echo"
        if echo:
            fault = None  # answered normally, with the request's headers added
        if fault is not None and not (fault.after_effect or fault.kind == "trickle"):
            reply = self._fault_reply(fault)
        else:
            reply = self._answer(
                method, target, headers=headers, recorded=recorded, is_json=is_json
            )
            if fault is not None:
                reply = self._fault_reply(fault, reply)
        if echo and reply is not None:
            echoed = tuple(
                (name.title(), value) for name, value in headers.items() if name not in _NOT_ECHOED
            )
            reply = replace(reply, headers=reply.headers + echoed)
        status = 0 if reply is None else reply.status
        answer = "" if reply is None else reply.body.decode("utf-8", "replace")
        with self._lock:
            self._log.append(
                RecordedRequest(method, path, query, headers, recorded, started, status, answer)
            )
        return reply

    def _answer(
        self, method: str, target: str, *, headers: dict[str, str], recorded: Any, is_json: bool
    ) -> _Reply:
        """The answer a healthy platform gives (state changes included)."""
        split = urlsplit(target)
        full_path, path = split.path, split.path.removeprefix(BASE_PATH)
        query = dict(parse_qsl(split.query))
        if full_path in GEOCODER_PATHS:
            return self._geocode(query.get("q", ""))
        if not full_path.startswith(BASE_PATH):
            return _Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        body = recorded if is_json and isinstance(recorded, dict) else None
        return self._dispatch(method, path, query, headers.get("access-token", ""), body)

    def add_geocoder_address(self, address: str, latitude: float, longitude: float) -> None:
        """Make the geocoder endpoint resolve ``address``; any other address has no result."""
        with self._lock:
            self._geocoder_addresses[address] = (latitude, longitude)

    def add_geocoder_not_found(self, address: str) -> None:
        """Make the geocoder endpoint answer ``address`` with no result: it does not exist."""
        with self._lock:
            self._geocoder_not_found.add(address)

    def add_geocoder_reply(self, address: str, body: str) -> None:
        """Make the geocoder endpoint answer ``address`` with ``body`` as it is (JSON type)."""
        with self._lock:
            self._geocoder_replies[address] = body

    def _geocode(self, query: str) -> _Reply:
        address = " ".join(query.split())
        with self._lock:
            found = self._geocoder_addresses.get(address)
            raw = self._geocoder_replies.get(address)
            not_found = address in self._geocoder_not_found
        if raw is not None:
            return _Reply(200, raw.encode())
        if found is None and (not_found or self._unlisted_addresses == "not_found"):
            return _json(200, [])
        if found is None:
            # Not "no such address": the rehearsal simply was not told.
            # geopy reports the status line, so it says why: logs and explain show it.
            return replace(
                _json(
                    503,
                    {
                        "error": "unknown address: the simulator was not given it "
                        "(autocancel simulator --geocode-file)"
                    },
                ),
                reason="Unknown address (not in the simulator's --geocode-file)",
            )
        latitude, longitude = found
        return _json(200, [{"lat": str(latitude), "lon": str(longitude), "display_name": query}])

    @staticmethod
    def _fault_reply(fault: Fault, healthy: _Reply | None = None) -> _Reply | None:
        if fault.kind == "trickle":
            assert healthy is not None
            return replace(healthy, trickle_seconds=fault.seconds or 1.0)
        if fault.kind == "rate_limit":
            return _err(429, "çok fazla istek", TOO_MANY)
        if fault.kind == "unauthorized":
            return _err(401, "yetkisiz erişim", "Token expired or invalid")
        if fault.kind == "body":
            kind = fault.content_type or "text/html; charset=utf-8"
            extra = tuple((fault.headers or {}).items())
            return _Reply(fault.status or 200, (fault.body or "").encode(), kind, extra)
        if fault.kind == "status":
            status = fault.status or 500
            message = fault.message or HTTPStatus(status).phrase
            return _err(status, fault.error or "sunucu hatası", message)
        return None  # drop

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], token: str, body: Any
    ) -> _Reply:
        if (method, path) == ("POST", "auth/login"):
            return self._login(body)
        with self._lock:
            now = datetime.now(UTC)
            static_ok = bool(token) and token == self.static_token and not self._static_revoked
            issued_ok = now < self._tokens.get(token, now)  # unknown tokens count as expired
            if not (static_ok or issued_ok):
                return _err(401, "yetkisiz erişim", "Token expired or invalid")
            prefix, _, arg = path.rpartition("/")
            handler = None if path.endswith("/") else self._routes.get((method, path))
            if handler is None and arg:
                handler = self._routes.get((method, prefix + "/"))
            if handler is None:
                return _err(403, "URL hatalı", f"Unknown endpoint: {method} {path}")
            return handler(_Call(unquote(arg), token, query, body))

    def _login(self, body: Any) -> _Reply:
        for name in ("app_secret_key", "rest_secret_key"):
            if not isinstance(body, dict) or not body.get(name):
                return _err(400, "eksik alan", f"{name} is required")
        given = (body["app_secret_key"], body["rest_secret_key"])
        if given != (self.app_secret_key, self.rest_secret_key):
            return _err(401, "yetkisiz erişim", "Invalid credentials")
        token = secrets.token_hex(32)
        expires = datetime.now(UTC) + self.token_lifetime
        with self._lock:
            self._tokens[token] = expires
        return _ok({"access_token": token, "expiration_date": istanbul_text(expires)})

    def _cooldown(self, call: _Call, endpoint: str) -> _Reply | None:
        now = time.monotonic()
        last = self._last_served.get((call.token, endpoint))
        if last is not None and now - last < self.cooldown_seconds:
            return _err(429, "çok fazla istek", TOO_MANY)
        self._last_served[(call.token, endpoint)] = now
        return None

    def _restaurant(self, call: _Call) -> dict[str, str] | None:
        return next((r for r in self._restaurants if r["id"] == call.arg), None)

    def _restaurant_status(self, call: _Call) -> _Reply:
        if self._restaurant(call) is None:
            return _err(404, "restoran bulunamadı")
        return _ok("Open" if self._open[call.arg] else "Closed")

    def _set_open(self, call: _Call, is_open: bool) -> _Reply:
        if self._restaurant(call) is None:
            return _err(404, "restoran bulunamadı")
        self._open[call.arg] = is_open
        return _ok()

    def _get_foods(self, call: _Call) -> _Reply:
        return self._cooldown(call, "foods/get-foods") or _ok(copy.deepcopy(self._foods))

    def _set_food(self, call: _Call, active: bool) -> _Reply:
        if not call.arg.isdigit() or int(call.arg) not in self._food_active:
            return _err(403, "URL hatalı", f"Unknown food {call.arg}")
        self._food_active[int(call.arg)] = active
        return _ok()

    def _get_current(self, call: _Call) -> _Reply:
        wanted = call.query.get("status_id")
        if wanted is not None and not wanted.isdigit():
            return _err(400, "geçersiz değer", "status_id must be an integer")
        if (refused := self._cooldown(call, "orders/get-current")) is not None:
            return refused
        return _ok([
            copy.deepcopy(o) for key, o in self._orders.items()
            if (o["status_id"] in ACTIVE_STATUSES or o["status_id"] == 6)
            and self._acked.get(key) != o["status_id"]
            and (wanted is None or o["status_id"] == int(wanted))
        ])  # fmt: skip

    def _set_status(self, order: dict[str, Any], status_id: int) -> None:
        order["status_id"], order["status_text"] = status_id, STATUS_TEXT.get(status_id, "")

    def _acknowledge(self, call: _Call) -> _Reply:
        if (order := self._orders.get(call.arg)) is None:
            return _err(404, "sipariş bulunamadı")
        self._acked[call.arg] = order["status_id"]
        return _ok()

    @staticmethod
    def _int_field(call: _Call, name: str, low: int, high: int) -> _Reply | int:
        value = call.body.get(name) if isinstance(call.body, dict) else None
        if value is None:
            return _err(400, "eksik alan", f"{name} is required")
        if type(value) is not int or not low <= value <= high:
            return _err(400, "geçersiz değer", f"{name} must be an integer from {low} to {high}")
        return value

    def _accept(self, call: _Call) -> _Reply:
        minutes = self._int_field(call, "preparing_time", 1, 600)
        if isinstance(minutes, _Reply):
            return minutes
        reply = self._transition(call, {1}, 2)
        if reply.status == 200:
            self._orders[call.arg]["preparing_time"] = minutes
        return reply

    def _transition(self, call: _Call, sources: set[int], target: int) -> _Reply:
        if (order := self._orders.get(call.arg)) is None:
            return _err(404, "sipariş bulunamadı")
        allowed = set(sources)
        pickup = order.get("shipping_method") == "pickup" or order.get("courier_type") == "come_get"
        if target == 5 and pickup:
            allowed.add(2)
        if target == 16 and order.get("courier_type") != "restaurant":
            allowed.clear()
        if order["status_id"] not in allowed:
            found = order["status_id"]
            return _err(400, "geçersiz durum", f"Order is in status {found}, not {sorted(allowed)}")
        self._set_status(order, target)
        return _ok()

    def _cancel(self, call: _Call) -> _Reply:
        reason = self._int_field(call, "reason_id", 1, 8)
        if isinstance(reason, _Reply):
            return reason
        if (order := self._orders.get(call.arg)) is None:
            return _err(404, "sipariş bulunamadı")
        if order["status_id"] in (5, 6):
            done = "completed" if order["status_id"] == 5 else "canceled"
            return _err(400, "geçersiz durum", f"Order is already {done}")
        self._set_status(order, 6)
        order["cancel_reason_id"] = reason
        return _ok()

    # --- control endpoints ------------------------------------------------------------

    def _control(self, method: str, target: str, raw: bytes) -> _Reply:
        split = urlsplit(target)
        path, query = split.path.removeprefix(CONTROL_PATH).strip("/"), dict(parse_qsl(split.query))
        key = ""
        if method == "GET" and path.startswith("orders/"):
            path, key = "orders/", unquote(path.removeprefix("orders/"))
        action = self._control_routes().get((method, path))
        if action is None:
            return _json(404, {"error": f"unknown control endpoint {method} {CONTROL_PATH}{path}"})
        try:
            return _json(200, action(query, json.loads(raw) if raw else {}, key))
        except KeyError as exc:
            return _json(404, {"error": f"not found: {exc}"})
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})

    def _control_routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], Any, str], Any]]:
        def post_faults(body: Any) -> dict[str, Any]:
            for spec in _many(body, "faults"):
                self.inject_fault(**spec)
            return {"faults": self.faults()}

        def one_order(key: str) -> dict[str, Any]:
            if (order := self.order(key)) is None:
                raise KeyError(key)
            return order

        def logged(query: dict[str, str]) -> list[dict[str, Any]]:
            found = self.requests(query.get("method"), query.get("path_prefix"))
            return [r.to_json() for r in found]

        def clear_faults() -> dict[str, Any]:
            self.clear_faults()
            return {"faults": []}

        def reset() -> dict[str, Any]:
            self.reset()
            return {"reset": True}

        def post_geocoder(body: Any) -> dict[str, Any]:
            added = _many(body, "addresses")
            for spec in added:
                if "address" not in spec:
                    raise ValueError("each geocoder entry needs an 'address'")
                if "body" in spec:
                    self.add_geocoder_reply(str(spec["address"]), str(spec["body"]))
                elif spec.get("not_found") is True:
                    self.add_geocoder_not_found(str(spec["address"]))
                else:
                    self.add_geocoder_address(
                        str(spec["address"]), float(spec["latitude"]), float(spec["longitude"])
                    )
            return {"added": len(added)}

        def listed() -> dict[str, Any]:
            return {
                "endpoints": [
                    {"method": method, "path": path, "does": does}
                    for (method, _), (path, does) in CONTROL_ENDPOINTS.items()
                ]
            }

        return {
            ("GET", ""): lambda q, b, k: listed(),
            ("GET", "requests"): lambda q, b, k: {"requests": logged(q)},
            ("DELETE", "requests"): lambda q, b, k: {"cleared": self.clear_requests()},
            ("GET", "faults"): lambda q, b, k: {"faults": self.faults()},
            ("POST", "faults"): lambda q, b, k: post_faults(b),
            ("DELETE", "faults"): lambda q, b, k: clear_faults(),
            ("GET", "orders"): lambda q, b, k: {"orders": self.orders()},
            ("POST", "orders"): lambda q, b, k: {
                "orders": [self.add_order(**spec) for spec in _many(b, "orders")]
            },
            ("GET", "orders/"): lambda q, b, k: one_order(k),
            ("GET", "state"): lambda q, b, k: self.state(),
            ("POST", "reset"): lambda q, b, k: reset(),
            ("POST", "revoke-tokens"): lambda q, b, k: {"revoked": self.revoke_tokens()},
            ("POST", "geocoder"): lambda q, b, k: post_geocoder(b),
        }


def _many(body: Any, key: str) -> list[dict[str, Any]]:
    """A control body may be one object, a list of them, or {key: [...]}."""
    if isinstance(body, dict) and isinstance(body.get(key), list):
        body = body[key]
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, dict) for item in items):
        raise ValueError(f"expected an object, a list of objects or {{{key!r}: [...]}}")
    return items


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must not keep the process alive
    request_queue_size = 128  # bursts from a thread pool must not hit SYN retries (1 s)
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], sim: Simulator) -> None:
        self.simulator = sim
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "DukkangoSimulator/1.0"

    def _handle(self) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if urlsplit(self.path).path.startswith(CONTROL_PATH):
            reply: _Reply | None = sim._control(self.command, self.path, raw)
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = sim._serve(self.command, self.path, headers, raw)
        if reply is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status, reply.reason)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if reply.trickle_seconds is None:
                self.wfile.write(reply.body)
            else:
                self._trickle(reply.body, reply.trickle_seconds)
        except OSError:  # the client gave up (timeout) before the answer
            self.close_connection = True

    def _trickle(self, body: bytes, seconds: float) -> None:
        stopping = self.server.simulator._stopping
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
            if stopping.wait(seconds):
                return

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds no credentials; headers are never logged.
        log.log(self.server.simulator._log_level, "simulator: " + format, *args)


def run_foreground(
    *,
    host: str,
    port: int,
    restaurants: Sequence[Mapping[str, str]] = DEFAULT_RESTAURANTS,
    foods: Sequence[Mapping[str, Any]] = DEFAULT_FOODS,
    orders: Sequence[Mapping[str, Any]] = (),
    geocoder_addresses: Mapping[str, tuple[float, float]] | None = None,
    geocoder_not_found: Iterable[str] = (),
    unlisted_addresses: UnlistedAddresses = "unknown",
    loaded: str | None = None,
) -> int:
    """``autocancel simulator``: serve until SIGINT/SIGTERM, then exit 0.

    A rehearsal's geocoder answers "unknown" for addresses it was not given
    (``unlisted_addresses``), never "not found": that would cancel them.
    ``loaded`` is printed after the first line (which tools wait for).
    """
    sim = Simulator(
        host=host,
        port=port,
        verbose=True,
        restaurants=restaurants,
        foods=foods,
        orders=orders,
        geocoder_addresses=geocoder_addresses,
        geocoder_not_found=geocoder_not_found,
        unlisted_addresses=unlisted_addresses,
    )
    try:
        sim.start()
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        print(
            f"Dükkango simulator on {sim.url} - DUKKANGO_BASE_URL={sim.url} "
            f"DUKKANGO_APP_SECRET_KEY={sim.app_secret_key} "
            f"DUKKANGO_REST_SECRET_KEY={sim.rest_secret_key} (or DUKKANGO_ACCESS_TOKEN="
            f"{sim.static_token}); control: {sim.control_url}/; stop with Ctrl-C",
            flush=True,
        )
        if loaded:
            print(loaded, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sim.stop()
    return 0

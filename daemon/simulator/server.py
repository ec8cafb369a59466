"""A local stand-in for the Dükkango Integration API (stdlib only): :class:`Simulator`.

Used by the tests, ``autocancel demo`` and ``autocancel simulator``. It serves
the documented endpoints under ``/api/integrations/`` with in-memory state,
records every API request, and fails on demand. Nothing in the product talks
to it unless pointed at it. Its parts:

* ``api.py``: the endpoints, as a healthy platform answers (and the
  assumptions made where the docs are silent); ``state.py``: what it remembers;
* ``faults.py``: failing on demand; ``recording.py``: the requests it received;
* ``geocoder.py``: a Nominatim-compatible ``/search``;
* ``control.py``: the ``/_sim/`` endpoints that steer it over HTTP;
* ``handler.py``: the HTTP server; ``foreground.py``: ``autocancel simulator``.

Paths outside ``/api/integrations/`` (and the geocoder's) get an HTML 404,
like a web server would.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from daemon.simulator.api import PlatformApi
from daemon.simulator.control import control_reply
from daemon.simulator.defaults import (
    DEFAULT_APP_SECRET_KEY,
    DEFAULT_FOODS,
    DEFAULT_REST_SECRET_KEY,
    DEFAULT_RESTAURANTS,
    DEFAULT_STATIC_TOKEN,
)
from daemon.simulator.faults import Fault, FaultQueue, fault_reply, with_echoed_headers
from daemon.simulator.geocoder import Geocoder, UnlistedAddresses
from daemon.simulator.handler import HttpServer
from daemon.simulator.recording import RecordedRequest, RequestLog
from daemon.simulator.replies import Reply
from daemon.simulator.state import PlatformState, Settings
from daemon.simulator.vocabulary import BASE_PATH, CONTROL_PATH, GEOCODER_PATHS

_NOT_FOUND_PAGE = Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")


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
        self._settings = Settings(
            app_secret_key=app_secret_key,
            rest_secret_key=rest_secret_key,
            static_token=static_token,
            cooldown_seconds=cooldown_seconds,
            token_lifetime=token_lifetime,
        )
        self._state = PlatformState(
            settings=self._settings, restaurants=restaurants, foods=foods, orders=orders
        )
        self._api = PlatformApi(self._state)
        self._faults = FaultQueue()
        self._log = RequestLog()
        self._geocoder = Geocoder(
            addresses=geocoder_addresses, not_found=geocoder_not_found, unlisted=unlisted_addresses
        )
        self._log_level = logging.INFO if verbose else logging.DEBUG
        self._in_flight = 0  # API requests received and not yet answered
        self._in_flight_lock = threading.Lock()
        self._stopping = threading.Event()
        # end_hangs() moves it on: every hang waiting since then ends at once.
        self._hangs_ended = 0
        self._hang_wake = threading.Condition()
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._server = HttpServer(
            (self.host, self._port),
            respond=self._respond,
            stopping=self._stopping,
            log_level=self._log_level,
        )
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.end_hangs()  # wakes hanging handlers
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

    # --- configuration --------------------------------------------------------------------

    @property
    def app_secret_key(self) -> str:
        return self._settings.app_secret_key

    @property
    def rest_secret_key(self) -> str:
        return self._settings.rest_secret_key

    @property
    def static_token(self) -> str | None:
        return self._settings.static_token

    @property
    def cooldown_seconds(self) -> float:
        return self._settings.cooldown_seconds

    @cooldown_seconds.setter
    def cooldown_seconds(self, seconds: float) -> None:
        self._settings.cooldown_seconds = seconds

    # --- state, for tests and the control endpoints ---------------------------------------

    def reset(self) -> None:
        """Back to the configured restaurants, foods and orders; no tokens, faults or log."""
        self._state.reset()
        self._faults.clear()
        self._log.clear()

    def requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        return self._log.matching(method, path_prefix)

    def clear_requests(self) -> int:
        return self._log.clear()

    def add_order(self, **fields: Any) -> dict[str, Any]:
        """Add an order: the docs' example order, with ``fields`` replacing its keys."""
        return self._state.add_order(**fields)

    def order(self, payment_key: str) -> dict[str, Any] | None:
        return self._state.order(payment_key)

    def orders(self) -> list[dict[str, Any]]:
        return self._state.all_orders()

    def set_order_status(self, payment_key: str, status_id: int) -> None:
        """A change made elsewhere (customer, courier, platform); re-surfaces the order."""
        self._state.set_order_status(payment_key, status_id)

    def restaurant_status(self, rest_id: str) -> str:
        return self._state.restaurant_status(rest_id)

    def set_restaurant_status(self, rest_id: str, status: str) -> None:
        """Staff open ("Open") or close ("Closed") the restaurant by hand: not an API request."""
        self._state.set_restaurant_status(rest_id, status)

    def food_active(self, food_id: int) -> bool:
        return self._state.is_food_active(food_id)

    def set_food_active(self, food_id: int, active: bool) -> None:
        """Staff switch a food on or off on the platform (no API call, nothing recorded)."""
        self._state.set_food_active(food_id, active)

    def state(self) -> dict[str, Any]:
        """Restaurants with their open state, foods with their active flag, order count."""
        return self._state.overview()

    def inject_fault(self, kind: str, **options: Any) -> None:
        """Queue a fault; options are the fields of :class:`Fault` (count, method, ...)."""
        self._faults.add(Fault(kind, **options))

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.listing()

    def clear_faults(self) -> None:
        self._faults.clear()

    def revoke_tokens(self) -> int:
        """Every issued token, and the static one, now gets 401 (as after a key rotation)."""
        return self._state.revoke_tokens()

    def add_geocoder_address(self, address: str, latitude: float, longitude: float) -> None:
        """Make the geocoder endpoint resolve ``address``; any other address has no result."""
        self._geocoder.add_address(address, latitude, longitude)

    def add_geocoder_not_found(self, address: str) -> None:
        """Make the geocoder endpoint answer ``address`` with no result: it does not exist."""
        self._geocoder.add_not_found(address)

    def add_geocoder_reply(self, address: str, body: str) -> None:
        """Make the geocoder endpoint answer ``address`` with ``body`` as it is (JSON type)."""
        self._geocoder.add_reply(address, body)

    def end_hangs(self) -> None:
        """End every hang waiting now: each request goes on as its fault says when its
        ``seconds`` are over (handled, dropped or refused). Hangs that begin later wait
        their full time. For a test that holds a call only until it has acted meanwhile."""
        with self._hang_wake:
            self._hangs_ended += 1
            self._hang_wake.notify_all()

    def _hang(self, seconds: float) -> None:
        with self._hang_wake:
            ended = self._hangs_ended
            self._hang_wake.wait_for(
                lambda: self._hangs_ended != ended or self._stopping.is_set(), timeout=seconds
            )

    def in_flight(self) -> int:
        """API requests received but not answered yet (e.g. held by a hang fault)."""
        with self._in_flight_lock:
            return self._in_flight

    # --- serving one request ----------------------------------------------------------------

    def _respond(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> Reply | None:
        if urlsplit(target).path.startswith(CONTROL_PATH):
            return control_reply(self, method, target, raw)
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            return self._serve(method, target, headers, raw)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply | None:
        """One API request: the fault it meets, the healthy answer, and its record."""
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
        fault = self._faults.take(method, path)
        if fault is not None and fault.kind == "hang":
            self._hang(fault.seconds if fault.seconds is not None else 5.0)
            fault = fault.after_hanging()
        echo = fault is not None and fault.kind == "echo"
        if echo:
            fault = None  # answered normally, with the request's headers added
        reply: Reply | None
        if fault is not None and not fault.acts_first:
            reply = fault_reply(fault)
        else:
            body = recorded if is_json and isinstance(recorded, dict) else None
            reply = self._healthy_answer(method, target, headers, body)
            if fault is not None:
                reply = fault_reply(fault, reply)
        if echo and reply is not None:
            reply = with_echoed_headers(reply, headers)
        status = 0 if reply is None else reply.status
        answer = "" if reply is None else reply.body.decode("utf-8", "replace")
        self._log.append(
            RecordedRequest(method, path, query, headers, recorded, started, status, answer)
        )
        return reply

    def _healthy_answer(
        self, method: str, target: str, headers: dict[str, str], body: Any
    ) -> Reply:
        """The answer a healthy platform gives (state changes included)."""
        split = urlsplit(target)
        full_path, path = split.path, split.path.removeprefix(BASE_PATH)
        query = dict(parse_qsl(split.query))
        if full_path in GEOCODER_PATHS:
            return self._geocoder.answer(query.get("q", ""))
        if not full_path.startswith(BASE_PATH):
            return _NOT_FOUND_PAGE
        return self._api.answer(method, path, query, headers.get("access-token", ""), body)

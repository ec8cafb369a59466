"""The documented endpoints under ``/api/integrations/``, as a healthy platform answers.

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
  hatalı"``; unknown orders/restaurants 404 as documented.
* ``complete`` is allowed from 16, and from 2 for pickup / ``come_get``
  orders; ``ontheway`` only from 2 with ``courier_type == "restaurant"``.
* ``foods/status-active`` (its page was not retrieved) is symmetric with
  ``status-passive``: ``200 "OK"`` whatever the food's state was, so a call
  cannot tell who switched a food off; ``get-foods`` shows no active flag
  (none is documented). Staff switch foods on the platform too
  (``POST /_sim/foods``), without an API call.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from daemon.domain.statuses import (
    ACTIVE_STATUSES,
    CANCELED,
    CONFIRMED,
    DELIVERED,
    IN_DELIVERY,
    RECEIVED,
)
from daemon.simulator.replies import Reply, ok, refusal
from daemon.simulator.state import PlatformState, set_status
from daemon.simulator.vocabulary import CANCEL_REASONS, TOO_MANY, VARIABLES, istanbul_text


@dataclass(frozen=True)
class Call:
    """One authenticated API call, as an endpoint handler sees it."""

    arg: str  # the path's last segment, for endpoints that take an id
    token: str
    query: dict[str, str]
    body: Any  # the JSON object when sent as application/json, else None


Endpoint = Callable[[Call], Reply]


class PlatformApi:
    def __init__(self, state: PlatformState) -> None:
        self._state = state
        # Keyed by (method, path); a path ending in "/" takes an id after it.
        self._routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "restaurants/get"): self._restaurants,
            ("GET", "restaurants/status/get/"): self._restaurant_status,
            ("PUT", "restaurants/status/open/"): lambda c: self._set_open(c, True),
            ("PUT", "restaurants/status/close/"): lambda c: self._set_open(c, False),
            ("GET", "foods/get-foods"): self._get_foods,
            ("PUT", "foods/status-passive/"): lambda c: self._set_food(c, False),
            ("PUT", "foods/status-active/"): lambda c: self._set_food(c, True),
            ("GET", "orders/get-current"): self._get_current,
            ("GET", "orders/variables"): lambda c: ok(VARIABLES),
            ("GET", "orders/cancel-reasons"): lambda c: ok(
                [{"id": i, "reason": text} for i, text in CANCEL_REASONS.items()]
            ),
            ("PUT", "orders/success/"): self._acknowledge,
            ("PUT", "orders/accept/"): self._accept,
            ("PUT", "orders/ontheway/"): lambda c: self._transition(c, {CONFIRMED}, IN_DELIVERY),
            ("PUT", "orders/complete/"): lambda c: self._transition(c, {IN_DELIVERY}, DELIVERED),
            ("PUT", "orders/cancel/"): self._cancel,
        }

    def answer(self, method: str, path: str, query: dict[str, str], token: str, body: Any) -> Reply:
        """The answer to ``method path`` (relative to the base path); changes state."""
        if (method, path) == ("POST", "auth/login"):
            return self._login(body)
        state = self._state
        with state.lock:
            if not state.accepts(token, datetime.now(UTC)):
                return refusal(401, "yetkisiz erişim", "Token expired or invalid")
            prefix, _, arg = path.rpartition("/")
            handler = None if path.endswith("/") else self._routes.get((method, path))
            if handler is None and arg:
                handler = self._routes.get((method, prefix + "/"))
            if handler is None:
                return refusal(403, "URL hatalı", f"Unknown endpoint: {method} {path}")
            return handler(Call(unquote(arg), token, query, body))

    def _login(self, body: Any) -> Reply:
        settings = self._state.settings
        for name in ("app_secret_key", "rest_secret_key"):
            if not isinstance(body, dict) or not body.get(name):
                return refusal(400, "eksik alan", f"{name} is required")
        given = (body["app_secret_key"], body["rest_secret_key"])
        if given != (settings.app_secret_key, settings.rest_secret_key):
            return refusal(401, "yetkisiz erişim", "Invalid credentials")
        token, expires = self._state.issue_token(datetime.now(UTC))
        return ok({"access_token": token, "expiration_date": istanbul_text(expires)})

    def _cooldown(self, call: Call, endpoint: str) -> Reply | None:
        """The 429 when ``endpoint`` was served to this token too recently, else None."""
        now = time.monotonic()
        served = self._state.last_served
        last = served.get((call.token, endpoint))
        if last is not None and now - last < self._state.settings.cooldown_seconds:
            return refusal(429, "çok fazla istek", TOO_MANY)
        served[(call.token, endpoint)] = now
        return None

    # --- restaurants and foods ----------------------------------------------------------

    def _restaurants(self, call: Call) -> Reply:
        return ok([{"id": r["id"], "name": r["name"]} for r in self._state.restaurants])

    def _restaurant_status(self, call: Call) -> Reply:
        if self._state.restaurant(call.arg) is None:
            return refusal(404, "restoran bulunamadı")
        return ok(self._state.restaurant_status(call.arg))

    def _set_open(self, call: Call, is_open: bool) -> Reply:
        if self._state.restaurant(call.arg) is None:
            return refusal(404, "restoran bulunamadı")
        self._state.open[call.arg] = is_open
        return ok()

    def _get_foods(self, call: Call) -> Reply:
        return self._cooldown(call, "foods/get-foods") or ok(copy.deepcopy(self._state.foods))

    def _set_food(self, call: Call, active: bool) -> Reply:
        if not call.arg.isdigit() or int(call.arg) not in self._state.food_active:
            return refusal(403, "URL hatalı", f"Unknown food {call.arg}")
        self._state.food_active[int(call.arg)] = active
        return ok()

    # --- orders -------------------------------------------------------------------------

    def _get_current(self, call: Call) -> Reply:
        wanted = call.query.get("status_id")
        if wanted is not None and not wanted.isdigit():
            return refusal(400, "geçersiz değer", "status_id must be an integer")
        if (refused := self._cooldown(call, "orders/get-current")) is not None:
            return refused
        state = self._state
        return ok([
            copy.deepcopy(o) for key, o in state.orders.items()
            if (o["status_id"] in ACTIVE_STATUSES or o["status_id"] == CANCELED)
            and state.acked.get(key) != o["status_id"]
            and (wanted is None or o["status_id"] == int(wanted))
        ])  # fmt: skip

    def _acknowledge(self, call: Call) -> Reply:
        if (order := self._state.orders.get(call.arg)) is None:
            return refusal(404, "sipariş bulunamadı")
        self._state.acked[call.arg] = order["status_id"]
        return ok()

    @staticmethod
    def _int_field(call: Call, name: str, low: int, high: int) -> Reply | int:
        value = call.body.get(name) if isinstance(call.body, dict) else None
        if value is None:
            return refusal(400, "eksik alan", f"{name} is required")
        if type(value) is not int or not low <= value <= high:
            return refusal(400, "geçersiz değer", f"{name} must be an integer from {low} to {high}")
        return value

    def _accept(self, call: Call) -> Reply:
        minutes = self._int_field(call, "preparing_time", 1, 600)
        if isinstance(minutes, Reply):
            return minutes
        reply = self._transition(call, {RECEIVED}, CONFIRMED)
        if reply.status == 200:
            self._state.orders[call.arg]["preparing_time"] = minutes
        return reply

    def _transition(self, call: Call, sources: set[int], target: int) -> Reply:
        if (order := self._state.orders.get(call.arg)) is None:
            return refusal(404, "sipariş bulunamadı")
        allowed = set(sources)
        pickup = order.get("shipping_method") == "pickup" or order.get("courier_type") == "come_get"
        if target == DELIVERED and pickup:
            allowed.add(CONFIRMED)
        if target == IN_DELIVERY and order.get("courier_type") != "restaurant":
            allowed.clear()
        if order["status_id"] not in allowed:
            found = order["status_id"]
            return refusal(
                400, "geçersiz durum", f"Order is in status {found}, not {sorted(allowed)}"
            )
        set_status(order, target)
        return ok()

    def _cancel(self, call: Call) -> Reply:
        reason = self._int_field(call, "reason_id", 1, 8)
        if isinstance(reason, Reply):
            return reason
        if (order := self._state.orders.get(call.arg)) is None:
            return refusal(404, "sipariş bulunamadı")
        if order["status_id"] in (DELIVERED, CANCELED):
            done = "completed" if order["status_id"] == DELIVERED else "canceled"
            return refusal(400, "geçersiz durum", f"Order is already {done}")
        set_status(order, CANCELED)
        order["cancel_reason_id"] = reason
        return ok()

"""What the simulated platform remembers: restaurants, foods, orders, tokens, cooldowns.

In memory only; :meth:`PlatformState.reset` returns to the configured start.
Every read and change holds :attr:`PlatformState.lock`, so one API call sees
and leaves a consistent state.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.simulator.vocabulary import STATUS_TEXT, istanbul_text


@dataclass
class Settings:
    """What the platform was configured with; tests may change ``cooldown_seconds``."""

    app_secret_key: str
    rest_secret_key: str
    static_token: str | None  # accepted like a login token (revocable, never expires)
    cooldown_seconds: float
    token_lifetime: timedelta


def set_status(order: dict[str, Any], status_id: int) -> None:
    order["status_id"], order["status_text"] = status_id, STATUS_TEXT.get(status_id, "")


class PlatformState:
    def __init__(
        self,
        *,
        settings: Settings,
        restaurants: Sequence[Mapping[str, str]],
        foods: Sequence[Mapping[str, Any]],
        orders: Sequence[Mapping[str, Any]],
    ) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self._start_restaurants = [dict(r) for r in restaurants]
        self._start_foods = copy.deepcopy([dict(f) for f in foods])
        self._start_orders = copy.deepcopy([dict(o) for o in orders])
        self.reset()

    def reset(self) -> None:
        """Back to the configured restaurants, foods and orders; no tokens or cooldowns."""
        with self.lock:
            self.restaurants = copy.deepcopy(self._start_restaurants)
            self.open = {r["id"]: r.get("status", "Open") == "Open" for r in self.restaurants}
            self.foods = copy.deepcopy(self._start_foods)
            self.food_active = {int(f["food_id"]): True for f in self.foods}
            self.orders: dict[str, dict[str, Any]] = {}
            # payment_key -> the status it was acknowledged in (orders/success)
            self.acked: dict[str, int] = {}
            self._next_id = 1030
            self._tokens: dict[str, datetime] = {}  # issued token -> expiry
            self._static_revoked = False
            # (token, endpoint) -> monotonic time of the last call served
            self.last_served: dict[tuple[str, str], float] = {}
            for order in self._start_orders:
                self.add_order(**order)

    # --- orders -----------------------------------------------------------------------

    def add_order(self, **fields: Any) -> dict[str, Any]:
        """Add an order: the docs' example order, with ``fields`` replacing its keys."""
        with self.lock:
            first = self.restaurants[0]["id"] if self.restaurants else ""
            rest_id = str(fields.get("restaurant_id", first))
            name = next((r["name"] for r in self.restaurants if r["id"] == rest_id), "")
            menu = [f for f in self.foods if f.get("restaurant_id") == rest_id][:1]
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
            if not isinstance(key, str) or not key or key in self.orders:
                raise ValueError(f"payment_key must be a new non-empty string, got {key!r}")
            if not isinstance(order["status_id"], int):
                raise ValueError("status_id must be an integer")
            order.setdefault("status_text", STATUS_TEXT.get(order["status_id"], ""))
            self.orders[key] = order
            return copy.deepcopy(order)

    def order(self, payment_key: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self.orders.get(payment_key))

    def all_orders(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.orders.values()))

    def set_order_status(self, payment_key: str, status_id: int) -> None:
        with self.lock:
            set_status(self.orders[payment_key], status_id)

    # --- restaurants and foods ----------------------------------------------------------

    def restaurant(self, rest_id: str) -> dict[str, str] | None:
        return next((r for r in self.restaurants if r["id"] == rest_id), None)

    def restaurant_status(self, rest_id: str) -> str:
        with self.lock:
            return "Open" if self.open[rest_id] else "Closed"

    def set_restaurant_status(self, rest_id: str, status: str) -> None:
        """Staff open or close the restaurant in their panel: no API call, nothing recorded."""
        if status not in ("Open", "Closed"):
            raise ValueError(f"status must be 'Open' or 'Closed', got {status!r}")
        with self.lock:
            if rest_id not in self.open:
                raise KeyError(rest_id)
            self.open[rest_id] = status == "Open"

    def is_food_active(self, food_id: int) -> bool:
        with self.lock:
            return self.food_active[food_id]

    def set_food_active(self, food_id: int, active: bool) -> None:
        """A change made by staff on the platform (not through the API); KeyError if unknown."""
        with self.lock:
            if food_id not in self.food_active:
                raise KeyError(f"food {food_id}")
            self.food_active[food_id] = active

    def overview(self) -> dict[str, Any]:
        """Restaurants with their open state, foods with their active flag, order count."""
        with self.lock:
            return {
                "restaurants": [
                    {"id": r["id"], "name": r["name"], "status": self.restaurant_status(r["id"])}
                    for r in self.restaurants
                ],
                "foods": [{"food_id": f, "active": a} for f, a in self.food_active.items()],
                "orders": len(self.orders),
            }

    # --- tokens -------------------------------------------------------------------------

    def issue_token(self, now: datetime) -> tuple[str, datetime]:
        """A new random token and its expiry; older tokens stay valid."""
        token = secrets.token_hex(32)
        expires = now + self.settings.token_lifetime
        with self.lock:
            self._tokens[token] = expires
        return token, expires

    def accepts(self, token: str, now: datetime) -> bool:
        """The static token (until revoked), or an issued one before its expiry."""
        with self.lock:
            static = self.settings.static_token
            if token and token == static and not self._static_revoked:
                return True
            return now < self._tokens.get(token, now)  # unknown tokens count as expired

    def revoke_tokens(self) -> int:
        """Every issued token, and the static one, now gets 401 (as after a key rotation)."""
        with self.lock:
            static_live = bool(self.settings.static_token) and not self._static_revoked
            count = len(self._tokens) + static_live
            self._tokens.clear()
            self._static_revoked = True
            return count

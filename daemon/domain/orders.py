"""Orders as the rules see them: immutable values read from the store once per pass."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING

from daemon.domain.overrides import Override
from daemon.domain.pauses import Pause
from daemon.domain.row_problems import POSITION_PROBLEMS, UNREADABLE_STOCK, RowProblem

if TYPE_CHECKING:
    from daemon.domain.foods import FoodOff


@dataclass(frozen=True, slots=True)
class Item:
    food_id: int
    name: str | None
    quantity: int


@dataclass(frozen=True, slots=True)
class StockLevel:
    food_id: int
    name: str | None
    available: bool
    quantity: int | None  # None = not counted
    restaurant_id: str | None = None  # None = the row speaks for every restaurant

    def speaks_for(self, restaurant_id: str) -> bool:
        """A row names its restaurant's kitchen only; another's stock says nothing."""
        return self.restaurant_id is None or self.restaurant_id == restaurant_id

    @property
    def unavailable(self) -> bool:
        """Nothing left at all: the food should not be orderable."""
        return not self.available or self.quantity == 0

    def short_for(self, ordered: int) -> bool:
        """Out of stock for this item (contract: unavailable, or counted and too few)."""
        return not self.available or (self.quantity is not None and self.quantity < ordered)


@dataclass(frozen=True, slots=True)
class Order:
    payment_key: str
    restaurant_id: str
    status_id: int
    order_number: int | None = None
    shipping_method: str | None = None
    courier_type: str | None = None
    payment_method: str | None = None
    payment_status: str | None = None
    total: Decimal | None = None
    created_at: datetime | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    address: str | None = None
    address_description: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    updated_at: datetime | None = None
    items: tuple[Item, ...] = ()
    # What could not be read from the row (see daemon.store.snapshot); never a reason to act.
    problems: tuple[RowProblem, ...] = ()

    @property
    def is_delivery(self) -> bool:
        return (self.shipping_method or "").strip().lower() == "delivery"

    @property
    def coordinates(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)

    @property
    def unreadable_position(self) -> bool:
        """The stored coordinates are bad data, not merely absent: the position is unknown."""
        return any(problem.code in POSITION_PROBLEMS for problem in self.problems)


@dataclass(frozen=True, slots=True)
class Closure:
    """A restaurant this daemon closed and has not reopened yet."""

    id: int
    restaurant_id: str
    rule: str
    closed_at: datetime


# An order's payment_key, read without a Python call per order (map(payment_key_of, orders)).
payment_key_of = attrgetter("payment_key")


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    orders: tuple[Order, ...]
    stock: Mapping[int, StockLevel]
    # payment_key -> outcome of its live cancellation intent (never send twice)
    live_intents: Mapping[str, str]
    closures: Mapping[str, Closure]
    # Foods with a deactivation of ours in force: never deactivated a second time.
    deactivated_foods: frozenset[int]
    # Orders read only because a command asked for them by key (``also_include``)
    # that a pass would not read (finished, or vanished from get-current): judged
    # for ``explain``, never part of a restaurant's load, never cancelled.
    looked_up: frozenset[str] = frozenset()
    # food_id (as stored) of each stock row that could not be read. Bad data is
    # carried, not logged, here: what evaluates the orders reports it (a pass
    # every order's, explain only its own), so no command warns about rows it
    # was not asked about.
    unreadable_stock: tuple[str, ...] = ()
    # restaurant_id -> the latest closure of ours that people ended (reopened by
    # hand or by staff, or released) while it may still be respected: recent,
    # and the overload not seen over since (daemon.domain.overrides).
    overrides: Mapping[str, Override] = field(default_factory=dict)
    # The pauses not over when the snapshot was read; which of them hold is
    # judged on the pass clock (Pause.in_force), like every other fact.
    pauses: tuple[Pause, ...] = ()
    # Those deactivations, each with its food's stock row now: the way back is
    # judged every pass on all of them, whatever restaurants the pass re-read.
    foods_off: tuple[FoodOff, ...] = ()
    # Where the reader counts changes to stock rows (a replay's world does): by
    # restaurant, how many rows of its orders' foods changed so far. An order whose
    # restaurant has the same count in two snapshots read the same stock rows in
    # both. None: not counted.
    stock_versions: Mapping[str, int] | None = None

    def order(self, payment_key: str) -> Order | None:
        return next((o for o in self.orders if o.payment_key == payment_key), None)

    def bad_data(self, keys: Collection[str] | None = None) -> list[tuple[str, RowProblem]]:
        """(subject, problem) of the orders ``keys`` (None: all) and their stock rows."""
        orders = [o for o in self.orders if keys is None or o.payment_key in keys]
        found = [(o.payment_key, problem) for o in orders for problem in o.problems]
        foods = {str(item.food_id) for o in orders for item in o.items}
        found += [
            (f"stock:{food}", UNREADABLE_STOCK)
            for food in self.unreadable_stock
            if keys is None or food in foods
        ]
        return found

"""One consistent picture of the active orders, read in a constant number of queries.

The rule engine never touches the database: it works on a :class:`Snapshot`,
so a pass costs the same few statements whether there are ten orders or ten
thousand, and rules are plain functions of immutable data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from daemon import store
from daemon.timeutil import utcnow


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

    @property
    def is_delivery(self) -> bool:
        return (self.shipping_method or "").strip().lower() == "delivery"

    @property
    def coordinates(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


@dataclass(frozen=True, slots=True)
class Closure:
    """A restaurant this daemon closed and has not reopened yet."""

    id: int
    restaurant_id: str
    rule: str
    closed_at: datetime


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    orders: tuple[Order, ...]
    stock: Mapping[int, StockLevel]
    # payment_key -> outcome of its live cancellation intent (never send twice)
    live_intents: Mapping[str, str]
    closures: Mapping[str, Closure]
    deactivated_foods: frozenset[int]
    active_by_restaurant: Mapping[str, int] = field(default_factory=dict)

    def order(self, payment_key: str) -> Order | None:
        return next((o for o in self.orders if o.payment_key == payment_key), None)


def _order_from_row(row: sa.RowMapping, items: tuple[Item, ...]) -> Order:
    return Order(
        payment_key=row["payment_key"],
        restaurant_id=row["restaurant_id"],
        status_id=row["status_id"],
        order_number=row["order_number"],
        shipping_method=row["shipping_method"],
        courier_type=row["courier_type"],
        payment_method=row["payment_method"],
        payment_status=row["payment_status"],
        total=row["total"],
        created_at=row["created_at"],
        customer_name=row["customer_name"],
        customer_phone=row["customer_phone"],
        address=row["address"],
        address_description=row["address_description"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        updated_at=row["updated_at"],
        items=items,
    )


def read_snapshot(
    connection: sa.Connection, *, also_include: Iterable[str] = ()
) -> Snapshot:
    """Read the active orders with their items, stock and the daemon's own state.

    ``also_include`` adds orders by key whatever their status (``explain``
    and ``cancel`` look at orders that may no longer be active).
    """
    extra = tuple(also_include)
    o, i, s, ledger = store.orders, store.order_items, store.stock, store.ledger
    wanted: sa.ColumnElement[bool] = sa.and_(
        o.c.status_id.in_(store.ACTIVE_STATUSES), o.c.vanished_at.is_(None)
    )
    if extra:
        wanted = sa.or_(wanted, o.c.payment_key.in_(extra))
    wanted_keys = sa.select(o.c.payment_key).where(wanted)

    order_rows = connection.execute(sa.select(o).where(wanted)).mappings().all()
    item_rows = connection.execute(
        sa.select(i.c.payment_key, i.c.food_id, i.c.name, i.c.quantity)
        .where(i.c.payment_key.in_(wanted_keys))
        .order_by(i.c.id)
    ).all()
    stock_rows = connection.execute(
        sa.select(s).where(s.c.food_id.in_(sa.select(i.c.food_id).where(i.c.payment_key.in_(wanted_keys))))
    ).mappings().all()
    intent_rows = connection.execute(
        sa.select(ledger.c.payment_key, ledger.c.outcome).where(
            ledger.c.intent_key.in_(wanted_keys)
        )
    ).all()
    closure_rows = connection.execute(
        sa.select(store.restaurant_closures).where(
            store.restaurant_closures.c.active_key.is_not(None)
        )
    ).mappings().all()
    deactivated = connection.execute(sa.select(store.food_deactivations.c.food_id)).scalars()

    items_by_order: dict[str, list[Item]] = defaultdict(list)
    for key, food_id, name, quantity in item_rows:
        items_by_order[key].append(
            Item(food_id=food_id, name=name, quantity=1 if quantity is None else quantity)
        )
    orders = tuple(
        _order_from_row(row, tuple(items_by_order.get(row["payment_key"], ())))
        for row in order_rows
    )
    active = Counter(
        row["restaurant_id"] for row in order_rows
        if row["status_id"] in store.ACTIVE_STATUSES and row["vanished_at"] is None
    )
    return Snapshot(
        taken_at=utcnow(),
        orders=orders,
        stock={
            row["food_id"]: StockLevel(
                food_id=row["food_id"],
                name=row["name"],
                available=bool(row["available"]),
                quantity=row["quantity"],
            )
            for row in stock_rows
        },
        live_intents=dict(intent_rows),
        closures={
            row["restaurant_id"]: Closure(
                id=row["id"],
                restaurant_id=row["restaurant_id"],
                rule=row["rule"],
                closed_at=row["closed_at"],
            )
            for row in closure_rows
        },
        deactivated_foods=frozenset(deactivated),
        active_by_restaurant=dict(active),
    )



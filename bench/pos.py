"""A POS for benchmarks: new orders written into a generated store as a POS writes them.

Each order is one transaction through a plain SQLAlchemy engine (not the
daemon's own connection set-up): a core insert into ``orders`` and its three
``order_items`` in the contract schema. The rows come from bench/generate.py's
own maker, so they look like the generated store's orders: a restaurant of
the chain, delivery within ~4 km or pickup, three foods of its menu (never the
sold-out one), payment ``ok``/``pending``/unknown. A *matching* order is the
same with ``payment_status = 'failed'``, which the ``payment_failed`` rule
cancels; an ordinary one matches no rule. The platform (the simulator) learns
of every order before the POS writes it, as in life.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.generate import MAX_ACTIVE_ORDERS, Restaurant, StoreSpec, _Maker
from daemon.domain import statuses
from daemon.simulator.server import Simulator
from daemon.store import schema

# Far above generate's order numbers, so the bench's orders are easy to tell apart.
FIRST_ORDER_NUMBER = 10_000_000


@dataclass(frozen=True)
class Committed:
    payment_key: str
    at: float  # time.time() when the commit returned: from then on the order is in the store
    matching: bool


def active_orders_by_restaurant(engine: sa.Engine) -> dict[str, int]:
    orders = schema.orders
    query = (
        sa.select(orders.c.restaurant_id, sa.func.count())
        .where(orders.c.status_id.in_(statuses.ACTIVE_STATUSES))
        .group_by(orders.c.restaurant_id)
    )
    with engine.connect() as connection:
        return {str(restaurant): int(count) for restaurant, count in connection.execute(query)}


class Pos:
    """Commits new orders (status 1, placed now) one transaction each."""

    def __init__(
        self,
        engine: sa.Engine,
        restaurants: Sequence[Restaurant],
        *,
        active: Mapping[str, int],
        simulator: Simulator,
        seed: int,
    ) -> None:
        self._engine = engine
        self._simulator = simulator
        spec = StoreSpec(
            restaurants=len(restaurants), orders_per_restaurant=0, history=0, seed=seed
        )
        self._maker = _Maker(spec, now=datetime.now(UTC))
        self._maker.order_number = FIRST_ORDER_NUMBER
        self._active = {r.id: active.get(r.id, 0) for r in restaurants}
        # Only restaurants a new order cannot push over the congestion rule's limit,
        # so an ordinary order really matches no rule (and a matching one only its own).
        self._open = [r for r in restaurants if self._active[r.id] < MAX_ACTIVE_ORDERS]

    def _restaurant(self) -> Restaurant:
        if not self._open:
            raise SystemExit(
                "every restaurant is at the congestion limit: the store is too small for this "
                "many new orders (more restaurants, or fewer orders)"
            )
        restaurant = self._open[self._maker.rng.randrange(len(self._open))]
        self._active[restaurant.id] += 1
        if self._active[restaurant.id] >= MAX_ACTIVE_ORDERS:
            self._open.remove(restaurant)
        return restaurant

    def commit(self, *, matching: bool) -> Committed:
        restaurant = self._restaurant()
        now = datetime.now(UTC)
        order = self._maker.order(restaurant, status_id=statuses.RECEIVED, created_at=now)
        order["updated_at"] = now
        if matching:
            order["payment_status"] = "failed"
        items = self._maker.items(order, restaurant)
        self._simulator.add_order(
            payment_key=order["payment_key"],
            restaurant_id=restaurant.id,
            status_id=statuses.RECEIVED,
            shipping_method=order["shipping_method"],
            courier_type=order["courier_type"],
        )
        with self._engine.begin() as connection:
            connection.execute(sa.insert(schema.orders).values(order))
            connection.execute(sa.insert(schema.order_items), items)
        return Committed(order["payment_key"], time.time(), matching)

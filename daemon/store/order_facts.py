"""One order's row as the domain's :class:`Order`, for a notification about it.

A recovered intent carries only its key; the event announcing its outcome
names the order number, the customer's phone and the total, read here in
the transaction that records the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from daemon.domain.orders import Order
from daemon.store import schema


def _order(row: sa.RowMapping) -> Order:
    return Order(
        payment_key=row["payment_key"],
        restaurant_id=row["restaurant_id"],
        status_id=int(row["status_id"]),
        order_number=row["order_number"],
        payment_method=row["payment_method"],
        payment_status=row["payment_status"],
        total=row["total"],
        customer_name=row["customer_name"],
        customer_phone=row["customer_phone"],
        address=row["address"],
        shipping_method=row["shipping_method"],
    )


def order_by_key(connection: sa.Connection, payment_key: str) -> Order | None:
    orders = schema.orders
    row = (
        connection.execute(sa.select(orders).where(orders.c.payment_key == payment_key))
        .mappings()
        .first()
    )
    return None if row is None else _order(row)


# Bounded IN lists: SQLite's and drivers' parameter limits.
_CHUNK = 500


def orders_by_keys(connection: sa.Connection, payment_keys: Iterable[str]) -> dict[str, Order]:
    """The orders still in the store among ``payment_keys`` (a POS may have deleted some)."""
    orders = schema.orders
    keys = sorted(set(payment_keys))
    found: dict[str, Order] = {}
    for start in range(0, len(keys), _CHUNK):
        query = sa.select(orders).where(orders.c.payment_key.in_(keys[start : start + _CHUNK]))
        found.update(
            {row["payment_key"]: _order(row) for row in connection.execute(query).mappings()}
        )
    return found


def item_names(connection: sa.Connection, payment_key: str) -> dict[int, str]:
    """The order's items by food id, for "X is out of stock" in a customer message."""
    items = schema.order_items
    return {
        int(food_id): name
        for food_id, name in connection.execute(
            sa.select(items.c.food_id, items.c.name).where(items.c.payment_key == payment_key)
        )
        if name
    }

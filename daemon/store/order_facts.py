"""One order's row as the domain's :class:`Order`, for a notification about it.

A recovered intent carries only its key; the event announcing its outcome
names the order number, the customer's phone and the total, read here in
the transaction that records the outcome.
"""

from __future__ import annotations

import sqlalchemy as sa

from daemon.domain.orders import Order
from daemon.store import schema


def order_by_key(connection: sa.Connection, payment_key: str) -> Order | None:
    orders = schema.orders
    row = (
        connection.execute(sa.select(orders).where(orders.c.payment_key == payment_key))
        .mappings()
        .first()
    )
    if row is None:
        return None
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

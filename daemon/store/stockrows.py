"""Stock rows as the rules read them: raw columns, cleaned in Python, bad rows set aside.

Shared by the snapshot (the foods of the orders a pass judges) and the
deactivations in force (the foods the daemon switched off, see
:mod:`daemon.store.foods_off`), so both read a row the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from daemon.domain.orders import StockLevel
from daemon.store import rowcheck, schema


def stock_columns() -> list[sa.ColumnElement[Any]]:
    """(food_id, restaurant_id, name, available, quantity), raw."""
    s = schema.stock
    return [
        rowcheck.raw(c)
        for c in (s.c.food_id, s.c.restaurant_id, s.c.name, s.c.available, s.c.quantity)
    ]


def stock_level(row: Sequence[Any]) -> StockLevel | None:
    """The StockLevel of one raw row of :func:`stock_columns`; None when it cannot be read."""
    food_id, restaurant_id, name, raw_available, raw_quantity = row
    food = rowcheck.integer(food_id)
    available = rowcheck.flag(raw_available)
    quantity = rowcheck.integer(raw_quantity)
    if food is None or available is None or (quantity is None and raw_quantity is not None):
        return None
    owner = (rowcheck.text(restaurant_id) or "").strip() or None
    return StockLevel(
        food_id=food,
        name=rowcheck.text(name),
        available=available,
        quantity=quantity,
        restaurant_id=owner,
    )


def stock_levels(rows: Iterable[Sequence[Any]]) -> tuple[dict[int, StockLevel], list[str]]:
    """Readable stock rows by food, and the food_id (as stored) of each unreadable one."""
    levels = {}
    unreadable = []
    for row in rows:
        level = stock_level(row)
        if level is None:
            # An unreadable stock row says nothing: the food counts as in stock.
            unreadable.append(str(rowcheck.text(row[0])))
            continue
        levels[level.food_id] = level
    return levels, unreadable


def read_stock_level(connection: sa.Connection, food_id: int) -> StockLevel | None:
    """One food's stock row as the rules read it (None: no row, or an unreadable one)."""
    rows = connection.execute(
        sa.select(*stock_columns()).where(schema.stock.c.food_id == food_id)
    ).all()
    return stock_levels(rows)[0].get(food_id)

"""One consistent picture of the active orders, read in a constant number of queries.

The rule engine never touches the database: it works on a :class:`Snapshot`,
so a pass costs the same few statements whether there are ten orders or ten
thousand, and rules are plain functions of immutable data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from daemon.domain import statuses
from daemon.domain.ids import segment_problem
from daemon.domain.orders import Closure, Item, Order, Snapshot, StockLevel
from daemon.domain.row_problems import RowProblem
from daemon.domain.timeutil import utcnow
from daemon.store import rowcheck, schema

_TIMESTAMPS = ("created_at", "updated_at")


def _order_columns() -> list[sa.ColumnElement[Any]]:
    """Every column raw (cleaned in Python), except timestamps, which read leniently."""
    o = schema.orders
    return [
        c if c.key in _TIMESTAMPS else rowcheck.raw(c) for c in o.columns if c.key != "raw_payload"
    ]


def _order_from_row(
    row: sa.RowMapping, items: tuple[Item, ...], item_problems: Sequence[RowProblem]
) -> Order:
    problems = list(item_problems)

    def number(name: str, read: Any) -> Any:
        value = read(row[name])
        if value is None and row[name] is not None:
            problems.append(RowProblem.not_a_number(name, rowcheck.text(row[name])))
        return value

    latitude, longitude = number("latitude", rowcheck.real), number("longitude", rowcheck.real)
    if (latitude is None) != (longitude is None):
        problems.append(RowProblem.half_position())
    if row["created_at"] is None:
        problems.append(RowProblem.bad_created_at())
    key_problem = segment_problem(str(rowcheck.text(row["payment_key"])))
    if key_problem is not None:
        problems.append(RowProblem.bad_payment_key(key_problem))
    return Order(
        payment_key=str(rowcheck.text(row["payment_key"])),
        restaurant_id=rowcheck.text(row["restaurant_id"]) or "",
        status_id=rowcheck.integer(row["status_id"]) or 0,
        order_number=number("order_number", rowcheck.integer),
        shipping_method=rowcheck.text(row["shipping_method"]),
        courier_type=rowcheck.text(row["courier_type"]),
        payment_method=rowcheck.text(row["payment_method"]),
        payment_status=rowcheck.text(row["payment_status"]),
        total=number("total", rowcheck.decimal),
        created_at=row["created_at"],
        customer_name=rowcheck.text(row["customer_name"]),
        customer_phone=rowcheck.text(row["customer_phone"]),
        address=rowcheck.text(row["address"]),
        address_description=rowcheck.text(row["address_description"]),
        latitude=latitude,
        longitude=longitude,
        updated_at=row["updated_at"],
        items=items,
        problems=tuple(problems),
    )


def _items(
    rows: Iterable[Sequence[Any]],
) -> tuple[dict[str, list[Item]], dict[str, list[RowProblem]]]:
    items: dict[str, list[Item]] = defaultdict(list)
    problems: dict[str, list[RowProblem]] = defaultdict(list)
    for key, food_id, name, quantity in rows:
        order_key = str(rowcheck.text(key))
        food = rowcheck.integer(food_id)
        amount = 1 if quantity is None else rowcheck.integer(quantity)
        if food is None or amount is None:
            problems[order_key].append(
                RowProblem.unreadable_item(rowcheck.text(food_id), rowcheck.text(quantity))
            )
            continue
        if amount <= 0:
            problems[order_key].append(RowProblem.non_positive_quantity(food, amount))
            continue
        items[order_key].append(Item(food_id=food, name=rowcheck.text(name), quantity=amount))
    return items, problems


def _stock(rows: Iterable[sa.RowMapping]) -> tuple[dict[int, StockLevel], list[str]]:
    """Readable stock rows by food, and the food_id (as stored) of each unreadable one."""
    levels = {}
    unreadable = []
    for row in rows:
        food = rowcheck.integer(row["food_id"])
        available = rowcheck.flag(row["available"])
        quantity = rowcheck.integer(row["quantity"])
        if food is None or available is None or (quantity is None and row["quantity"] is not None):
            # An unreadable stock row says nothing: the food counts as in stock.
            unreadable.append(str(rowcheck.text(row["food_id"])))
            continue
        owner = (rowcheck.text(row["restaurant_id"]) or "").strip() or None
        levels[food] = StockLevel(
            food_id=food,
            name=rowcheck.text(row["name"]),
            available=available,
            quantity=quantity,
            restaurant_id=owner,
        )
    return levels, unreadable


def read_stock_level(connection: sa.Connection, food_id: int) -> StockLevel | None:
    """One food's stock row as the rules read it (None: no row, or an unreadable one)."""
    s = schema.stock
    rows = (
        connection.execute(
            sa.select(*(rowcheck.raw(c) for c in s.columns)).where(s.c.food_id == food_id)
        )
        .mappings()
        .all()
    )
    return _stock(rows)[0].get(food_id)


def _foreign_stock(
    restaurant_id: str, items: Iterable[Item], stock: Mapping[int, StockLevel]
) -> list[RowProblem]:
    """Items whose stock row is another restaurant's: bad data, never a shortage."""
    foreign = {
        item.food_id: level.restaurant_id
        for item in items
        if (level := stock.get(item.food_id)) is not None and not level.speaks_for(restaurant_id)
    }
    return [
        RowProblem.foreign_stock(food, owner, restaurant_id)
        for food, owner in sorted(foreign.items())
    ]


def _orders(
    order_rows: Iterable[sa.RowMapping],
    item_rows: Iterable[Sequence[Any]],
    stock: Mapping[int, StockLevel],
) -> tuple[Order, ...]:
    items_by_order, item_problems = _items(item_rows)
    orders = []
    for row in order_rows:
        key = str(rowcheck.text(row["payment_key"]))
        if not key:
            continue
        items = tuple(items_by_order.get(key, ()))
        restaurant_id = rowcheck.text(row["restaurant_id"]) or ""
        problems = [*item_problems.get(key, ()), *_foreign_stock(restaurant_id, items, stock)]
        orders.append(_order_from_row(row, items, problems))
    return tuple(orders)


def read_snapshot(
    connection: sa.Connection,
    *,
    also_include: Iterable[str] = (),
    restaurants: Iterable[str] | None = None,
) -> Snapshot:
    """Read the active orders with their items, stock and the daemon's own state.

    ``also_include`` adds orders by key whatever their status (``explain``
    and ``cancel`` look at orders that may no longer be active).
    ``restaurants`` narrows the active orders to those restaurants (the
    re-check before a call needs one restaurant, not the whole chain).
    """
    extra = tuple(also_include)
    o, i, s, ledger = schema.orders, schema.order_items, schema.stock, schema.ledger
    wanted: sa.ColumnElement[bool] = sa.and_(
        o.c.status_id.in_(statuses.ACTIVE_STATUSES), o.c.vanished_at.is_(None)
    )
    if restaurants is not None:
        wanted = sa.and_(wanted, o.c.restaurant_id.in_(tuple(restaurants)))
    if extra:
        wanted = sa.or_(wanted, o.c.payment_key.in_(extra))
    wanted_keys = sa.select(o.c.payment_key).where(wanted)

    order_rows = connection.execute(sa.select(*_order_columns()).where(wanted)).mappings().all()
    item_rows = connection.execute(
        sa.select(
            *(rowcheck.raw(c) for c in (i.c.payment_key, i.c.food_id, i.c.name, i.c.quantity))
        )
        .where(i.c.payment_key.in_(wanted_keys))
        .order_by(i.c.id)
    ).all()
    ordered_foods = sa.select(i.c.food_id).where(i.c.payment_key.in_(wanted_keys))
    stock_rows = (
        connection.execute(
            sa.select(*(rowcheck.raw(c) for c in s.columns)).where(s.c.food_id.in_(ordered_foods))
        )
        .mappings()
        .all()
    )
    intent_rows = connection.execute(
        sa.select(ledger.c.payment_key, ledger.c.outcome).where(
            ledger.c.intent_key.in_(wanted_keys)
        )
    ).all()
    closure_rows = (
        connection.execute(
            sa.select(schema.restaurant_closures).where(
                schema.restaurant_closures.c.active_key.is_not(None)
            )
        )
        .mappings()
        .all()
    )
    deactivated = connection.execute(sa.select(schema.food_deactivations.c.food_id)).scalars()

    stock, unreadable_stock = _stock(stock_rows)
    orders = _orders(order_rows, item_rows, stock)
    in_pass = [
        row
        for row in order_rows
        if row["status_id"] in statuses.ACTIVE_STATUSES and row["vanished_at"] is None
    ]
    looked_up = {order.payment_key for order in orders} - {
        str(rowcheck.text(row["payment_key"])) for row in in_pass
    }
    return Snapshot(
        taken_at=utcnow(),
        orders=orders,
        stock=stock,
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
        looked_up=frozenset(looked_up),
        unreadable_stock=tuple(unreadable_stock),
    )

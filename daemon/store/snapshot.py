"""One consistent picture of the active orders, read in a constant number of queries.

The rule engine never touches the database: it works on a :class:`Snapshot`,
so a pass costs the same few statements whether there are ten orders or ten
thousand, and rules are plain functions of immutable data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from daemon.domain import statuses
from daemon.domain.ids import segment_problem
from daemon.domain.orders import Closure, Item, Order, Snapshot, StockLevel
from daemon.domain.overrides import MAX_RESPECT, OVERRIDE_KINDS, Override, newest_overrides
from daemon.domain.row_problems import RowProblem
from daemon.domain.timeutil import utcnow
from daemon.store import pauses, rowcheck, schema
from daemon.store.foods_off import read_foods_off
from daemon.store.stockrows import stock_columns, stock_levels

_TIMESTAMPS = ("created_at", "updated_at")

# The columns an Order is built from, in this order (then vanished_at, for the
# pass's own filter). Positional: rows are read as plain tuples.
_ORDER_FIELDS = (
    "payment_key",
    "restaurant_id",
    "status_id",
    "order_number",
    "shipping_method",
    "courier_type",
    "payment_method",
    "payment_status",
    "total",
    "created_at",
    "customer_name",
    "customer_phone",
    "address",
    "address_description",
    "latitude",
    "longitude",
    "updated_at",
    "vanished_at",
)

_text, _integer, _real, _decimal = rowcheck.text, rowcheck.integer, rowcheck.real, rowcheck.decimal


def _order_columns() -> list[sa.ColumnElement[Any]]:
    """Every column raw (cleaned in Python), except timestamps, which read leniently."""
    o = schema.orders
    return [o.c[name] if name in _TIMESTAMPS else rowcheck.raw(o.c[name]) for name in _ORDER_FIELDS]


def _order_from_row(
    row: Sequence[Any], items: tuple[Item, ...], problems: list[RowProblem]
) -> Order:
    """The Order of one raw row; what cannot be read is appended to ``problems``."""
    (
        key,
        restaurant_id,
        status_id,
        order_number,
        shipping_method,
        courier_type,
        payment_method,
        payment_status,
        total,
        created_at,
        customer_name,
        customer_phone,
        address,
        address_description,
        raw_latitude,
        raw_longitude,
        updated_at,
        _vanished_at,
    ) = row
    latitude, longitude = _real(raw_latitude), _real(raw_longitude)
    if latitude is None and raw_latitude is not None:
        problems.append(RowProblem.not_a_number("latitude", _text(raw_latitude)))
    if longitude is None and raw_longitude is not None:
        problems.append(RowProblem.not_a_number("longitude", _text(raw_longitude)))
    if (latitude is None) != (longitude is None):
        problems.append(RowProblem.half_position())
    if created_at is None:
        problems.append(RowProblem.bad_created_at())
    payment_key = str(_text(key))
    key_problem = segment_problem(payment_key)
    if key_problem is not None:
        problems.append(RowProblem.bad_payment_key(key_problem))
    number = _integer(order_number)
    if number is None and order_number is not None:
        problems.append(RowProblem.not_a_number("order_number", _text(order_number)))
    amount = _decimal(total)
    if amount is None and total is not None:
        problems.append(RowProblem.not_a_number("total", _text(total)))
    return Order(
        payment_key=payment_key,
        restaurant_id=_text(restaurant_id) or "",
        status_id=_integer(status_id) or 0,
        order_number=number,
        shipping_method=_text(shipping_method),
        courier_type=_text(courier_type),
        payment_method=_text(payment_method),
        payment_status=_text(payment_status),
        total=amount,
        created_at=created_at,
        customer_name=_text(customer_name),
        customer_phone=_text(customer_phone),
        address=_text(address),
        address_description=_text(address_description),
        latitude=latitude,
        longitude=longitude,
        updated_at=updated_at,
        items=items,
        problems=tuple(problems),
    )


def _items(
    rows: Iterable[Sequence[Any]],
) -> tuple[dict[str, list[Item]], dict[str, list[RowProblem]]]:
    items: dict[str, list[Item]] = defaultdict(list)
    problems: dict[str, list[RowProblem]] = defaultdict(list)
    for key, food_id, name, quantity in rows:
        order_key = str(_text(key))
        food = _integer(food_id)
        amount = 1 if quantity is None else _integer(quantity)
        if food is None or amount is None:
            problems[order_key].append(RowProblem.unreadable_item(_text(food_id), _text(quantity)))
            continue
        if amount <= 0:
            problems[order_key].append(RowProblem.non_positive_quantity(food, amount))
            continue
        items[order_key].append(Item(food_id=food, name=_text(name), quantity=amount))
    return items, problems


def read_order_restaurant(connection: sa.Connection, payment_key: str) -> str | None:
    """The restaurant of one order, as stored (None: no such order, or none written)."""
    orders = schema.orders
    found = connection.execute(
        sa.select(orders.c.restaurant_id).where(orders.c.payment_key == payment_key)
    ).scalar()
    return None if found is None else str(found)


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


class RowCache:
    """The Orders and stock levels of the last full read, by the raw rows they came from.

    An Order is a pure function of its raw row, its raw item rows and (only for
    the foreign-stock problem) the owners of its foods' stock rows, so a pass
    that reads the same rows again reuses the same immutable objects instead
    of cleaning every value anew. Orders with a foreign-stock problem are
    always rebuilt. Only a full read (the pass's) replaces the cache, so it
    holds what the last pass read and nothing older; partial reads (a
    re-check's) only look up.
    """

    def __init__(self) -> None:
        self.orders: dict[tuple[Any, ...], Order] = {}
        self.stock: dict[tuple[Any, ...], StockLevel | None] = {}


def _cached_stock(
    rows: Sequence[Sequence[Any]], cache: RowCache | None, *, remember: bool
) -> tuple[dict[int, StockLevel], list[str]]:
    if cache is None:
        return stock_levels(rows)
    known = cache.stock
    seen: dict[tuple[Any, ...], StockLevel | None] = {}
    levels: dict[int, StockLevel] = {}
    unreadable: list[str] = []
    for row in rows:
        key = tuple(row)
        if key in known:
            level = known[key]
        else:
            built, _bad = stock_levels((key,))
            level = next(iter(built.values()), None)
        seen[key] = level
        if level is None:
            unreadable.append(str(_text(row[0])))
        else:
            levels[level.food_id] = level
    if remember:
        cache.stock = seen
    return levels, unreadable


def _orders(
    order_rows: Iterable[Sequence[Any]],
    item_rows: Iterable[Sequence[Any]],
    stock: Mapping[int, StockLevel],
    cache: RowCache | None = None,
    *,
    remember: bool = False,
) -> tuple[Order, ...]:
    rows_by_order: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for item_row in item_rows:
        rows_by_order[str(_text(item_row[0]))].append(tuple(item_row))
    owners = {food: level.restaurant_id for food, level in stock.items()}
    known = cache.orders if cache is not None else {}
    seen: dict[tuple[Any, ...], Order] = {}
    orders = []
    for row in order_rows:
        key = str(_text(row[0]))
        if not key:
            continue
        own_rows = rows_by_order.get(key, [])
        restaurant_id = _text(row[1]) or ""
        # The common case without a dict per order: every stock row of the
        # items speaks for the order's restaurant (or for every restaurant).
        foreign = False
        for item_row in own_rows:
            food = _integer(item_row[1])
            owner = restaurant_id if food is None else owners.get(food, restaurant_id)
            if owner is not None and owner != restaurant_id:
                foreign = True
                break
        cache_key = (*row, *own_rows)
        order = None if foreign else known.get(cache_key)
        if order is None:
            items_by_order, item_problems = _items(own_rows)
            items = tuple(items_by_order.get(key, ()))
            problems = list(item_problems.get(key, ()))
            if foreign:
                problems += _foreign_stock(restaurant_id, items, stock)
            order = _order_from_row(row, items, problems)
        if not foreign:
            seen[cache_key] = order
        orders.append(order)
    if cache is not None and remember:
        cache.orders = seen
    return tuple(orders)


def _among_foods(
    connection: sa.Connection, item_rows: Iterable[Sequence[Any]]
) -> sa.ColumnElement[bool]:
    """``stock.food_id`` among the foods of the item rows just read, as one bound value.

    Instead of a second probe of ``order_items`` per active order. ``stock.food_id``
    is an integer key on both backends (SQLite: the rowid), so only the item
    rows' integer food ids can match a row, as with the subquery before.
    """
    foods = sorted({food for row in item_rows if (food := _integer(row[1])) is not None})
    food_id = schema.stock.c.food_id
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # not on start-up: SQLite never needs it

        return food_id == sa.any_(sa.bindparam("foods", foods, type_=postgresql.ARRAY(sa.Integer)))
    listed = sa.select(sa.column("value", sa.Integer)).select_from(
        sa.func.json_each(sa.bindparam("foods", json.dumps(foods), type_=sa.Text))
    )
    return food_id.in_(listed)


def _prefer_index_scans(connection: sa.Connection) -> None:
    """PostgreSQL: plan the item and stock reads on their indexes, not on a scan of history.

    With the default ``random_page_cost`` (4, for spinning disks) the planner
    reads every row of ``order_items`` (the past orders' too) and hashes it,
    because ~30,000 index probes look dearer; at 1.1 (an SSD, or a store in
    the page cache) it probes ``ix_order_items_payment_key`` per active order,
    so the read costs the same with 200,000 or 2,000,000 past orders. Local to
    the snapshot's transaction; ``jit`` off too, since a probe per order is
    cheap and the JIT's compilation is not (tens of ms per statement).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off")


def read_snapshot(
    connection: sa.Connection,
    *,
    also_include: Iterable[str] = (),
    restaurants: Iterable[str] | None = None,
    cache: RowCache | None = None,
) -> Snapshot:
    """Read the active orders with their items, stock and the daemon's own state.

    ``also_include`` adds orders by key whatever their status (``explain``
    and ``cancel`` look at orders that may no longer be active).
    ``restaurants`` narrows the active orders to those restaurants (the
    re-check before a call needs one restaurant, not the whole chain).
    ``cache`` (kept by the caller from pass to pass) reuses the objects of
    rows that did not change since the last full read (:class:`RowCache`).
    """
    extra = tuple(also_include)
    o, i, ledger = schema.orders, schema.order_items, schema.ledger
    wanted: sa.ColumnElement[bool] = sa.and_(
        o.c.status_id.in_(statuses.ACTIVE_STATUSES), o.c.vanished_at.is_(None)
    )
    listed: tuple[str, ...] = ()
    if restaurants is not None:
        listed = tuple(restaurants)
        of_restaurants: sa.ColumnElement[bool] = o.c.restaurant_id.in_(listed)
        if "" in listed:  # an Order's restaurant_id is "" when the row has none
            of_restaurants = sa.or_(of_restaurants, o.c.restaurant_id.is_(None))
        wanted = sa.and_(wanted, of_restaurants)
    if extra:
        wanted = sa.or_(wanted, o.c.payment_key.in_(extra))
    wanted_keys = sa.select(o.c.payment_key).where(wanted)

    # Even when no restaurant is asked for (an incremental pass nothing touched),
    # the order tables are read: a store whose tables went away fails the pass
    # now, not at the next full pass.
    _prefer_index_scans(connection)
    order_rows = connection.execute(sa.select(*_order_columns()).where(wanted)).all()
    item_rows = connection.execute(
        sa.select(
            *(rowcheck.raw(c) for c in (i.c.payment_key, i.c.food_id, i.c.name, i.c.quantity))
        )
        .where(i.c.payment_key.in_(wanted_keys))
        .order_by(i.c.id)
    ).all()
    stock_rows = connection.execute(
        sa.select(*stock_columns()).where(_among_foods(connection, item_rows))
    ).all()
    intent_rows = connection.execute(
        sa.select(ledger.c.payment_key, ledger.c.outcome).where(
            ledger.c.intent_key.in_(wanted_keys)
        )
    ).all()
    closures = schema.restaurant_closures
    # One query for both: the closures in force, and the recent ones people
    # ended that may still be respected (the newest per restaurant counts).
    closure_rows = (
        connection.execute(
            sa.select(closures)
            .where(
                sa.or_(
                    closures.c.active_key.is_not(None),
                    sa.and_(
                        closures.c.override_kind.is_not(None),
                        closures.c.respect_ended_at.is_(None),
                        closures.c.reopened_at >= utcnow() - MAX_RESPECT,
                    ),
                )
            )
            .order_by(closures.c.id)
        )
        .mappings()
        .all()
    )
    foods_off = read_foods_off(connection)
    # A small table: read whole every time, so every pass and re-check sees a pause at once.
    paused = pauses.in_force(connection, utcnow())

    remember = restaurants is None and not extra
    stock, unreadable_stock = _cached_stock(stock_rows, cache, remember=remember)
    orders = _orders(order_rows, item_rows, stock, cache, remember=remember)
    looked_up = {order.payment_key for order in orders} - {
        str(_text(row[0]))
        for row in order_rows
        if row[2] in statuses.ACTIVE_STATUSES and row[-1] is None
    }
    in_force = [row for row in closure_rows if row["active_key"] is not None]
    return Snapshot(
        taken_at=utcnow(),
        orders=orders,
        stock=stock,
        live_intents={key: outcome for key, outcome in intent_rows},
        closures={
            row["restaurant_id"]: Closure(
                id=row["id"],
                restaurant_id=row["restaurant_id"],
                rule=row["rule"],
                closed_at=row["closed_at"],
            )
            for row in in_force
        },
        overrides=_overrides(closure_rows, closed={row["restaurant_id"] for row in in_force}),
        deactivated_foods=frozenset(food.food_id for food in foods_off),
        foods_off=tuple(foods_off),
        looked_up=frozenset(looked_up),
        unreadable_stock=tuple(unreadable_stock),
        pauses=paused,
    )


def _overrides(rows: Sequence[sa.RowMapping], *, closed: set[str]) -> dict[str, Override]:
    """The newest ended-by-people closure of each restaurant not closed by us again.

    A row still in force with ``override_kind`` set (a reopen whose answer was
    lost) is not an override yet: the next status read settles it.
    """
    ended = (
        Override(
            closure_id=row["id"],
            restaurant_id=row["restaurant_id"],
            rule=row["rule"],
            kind=row["override_kind"],
            at=row["reopened_at"],
            by=row["override_by"],
        )
        for row in rows  # oldest first: a newer row replaces an older one
        if row["active_key"] is None and row["override_kind"] in OVERRIDE_KINDS
    )
    return newest_overrides(ended, closed=closed)

"""Writing the orders of one get-current poll into the order store.

An order sync created is sync's to update (``orders.created_by``); an order a
POS wrote stays the POS's, unless ``sync.owns: all``: Dükkango's differing
answer is kept in ``raw_payload`` and reported as a conflict (the merge rules
are :mod:`daemon.store.syncmerge`). Without acknowledgement every active order
is listed on each call, so one no longer listed has finished: it is marked
vanished.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.config.models import SyncOwnership
from daemon.domain import statuses
from daemon.service.sync.report import SyncReport
from daemon.service.sync.translate import MalformedOrder, item_rows, order_row
from daemon.store import connect, rowcheck, schema, syncmerge

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

CREATED_BY = "sync"  # orders.created_by of the orders sync created, and so owns


def _stored_orders(connection: sa.Connection, keys: Sequence[str]) -> dict[str, Any]:
    """The stored rows of these orders, their POS-written columns as raw as stored."""
    if not keys:
        return {}
    o = schema.orders
    columns = [c if c.key in ("raw_payload", "created_by") else rowcheck.raw(c) for c in o.columns]
    rows = connection.execute(sa.select(*columns).where(o.c.payment_key.in_(keys))).mappings()
    return {str(rowcheck.text(row["payment_key"])): row for row in rows}


def _stored_items(connection: sa.Connection, keys: Sequence[str]) -> dict[str, Counter[Any]]:
    """(food_id, quantity) counts of each order's stored items; unreadable ones count too."""
    i = schema.order_items
    counts: dict[str, Counter[Any]] = {}
    if not keys:
        return counts
    for key, food_id, quantity in connection.execute(
        sa.select(
            rowcheck.raw(i.c.payment_key), rowcheck.raw(i.c.food_id), rowcheck.raw(i.c.quantity)
        ).where(i.c.payment_key.in_(keys))
    ):
        food, amount = rowcheck.integer(food_id), rowcheck.integer(quantity)
        counts.setdefault(str(rowcheck.text(key)), Counter())[
            (food, amount) if food is not None and amount is not None else ("?", food_id)
        ] += 1
    return counts


def store_orders(
    engine: sa.Engine,
    rows: Sequence[dict[str, Any]],
    items: Mapping[str, Any],
    report: SyncReport,
    *,
    now: datetime,
    owns: SyncOwnership,
    acknowledge: bool,
) -> None:
    """Write one poll's orders, counted in ``report``.

    Without acknowledgement, the active orders sync stored before and no longer
    sees are marked vanished.
    """
    orders = schema.orders
    keys = [row["payment_key"] for row in rows]
    with connect.writer(engine) as connection, connection.begin():
        existing = _stored_orders(connection, keys)
        stored_items = _stored_items(connection, [k for k in keys if k in existing])
        for row in rows:
            key = row["payment_key"]
            listed = items.get(key)
            current = existing.get(key)
            if current is None:
                connection.execute(sa.insert(orders).values(**row, created_by=CREATED_BY))
                merge = syncmerge.Merge(values={}, write_items=listed is not None)
            elif owns == "all" or current["created_by"] == CREATED_BY:
                merge = syncmerge.for_owned_order(row, items_sent=listed is not None)
            else:
                merge = _merge_into_pos_order(
                    row, listed, current, stored_items.get(key, Counter()), now=now
                )
                if merge.conflicts:
                    report.conflicts += 1
                    log.warning(
                        "sync: order=%s kept the POS's %s: Dükkango says otherwise (its "
                        "answer is in orders.raw_payload); sync.owns: all would let sync "
                        "overwrite",
                        key,
                        ", ".join(merge.conflicts),
                    )
            if merge.values:
                connection.execute(
                    sa.update(orders).where(orders.c.payment_key == key).values(**merge.values)
                )
            if merge.write_items:
                connection.execute(
                    sa.delete(schema.order_items).where(schema.order_items.c.payment_key == key)
                )
                if listed:
                    connection.execute(sa.insert(schema.order_items), listed)
        report.stored = len(rows)
        if not acknowledge:
            # Without acknowledgement every active order is listed on each
            # call, so one we synced before and no longer see has finished.
            report.vanished = connection.execute(
                sa.update(orders)
                .where(
                    orders.c.synced_at.is_not(None),
                    orders.c.vanished_at.is_(None),
                    orders.c.status_id.in_(statuses.ACTIVE_STATUSES),
                    orders.c.payment_key.not_in(keys),
                )
                .values(vanished_at=now)
            ).rowcount


def _merge_into_pos_order(
    row: Mapping[str, Any],
    listed: list[dict[str, Any]] | None,
    current: Mapping[str, Any],
    stored: syncmerge.ItemCounts,
    *,
    now: datetime,
) -> syncmerge.Merge:
    previous, previous_items = None, None
    payload = current["raw_payload"]
    if isinstance(payload, dict):
        try:
            previous = order_row(payload, now=now)
        except MalformedOrder:
            previous = None
        previous_items = syncmerge.item_counts(item_rows(payload)) if previous else None
    return syncmerge.for_pos_order(
        stored=current,
        stored_items=stored,
        sent=row,
        sent_items=syncmerge.item_counts(listed),
        previous=previous,
        previous_items=previous_items,
    )

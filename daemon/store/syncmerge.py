"""What sync may write into an order that is already in the store.

Two owners share ``orders``: a POS and ``autocancel sync``. Sync owns the
orders it created (and, with ``sync.owns: all``, every order): there
Dükkango's values replace the row's. In an order a POS wrote, sync only
fills gaps (a NULL column, both coordinates missing, an order without
items) and reports where the POS and Dükkango disagree, once: when
Dükkango's value is new since the last poll (the last answer is kept in
``raw_payload``). Anywhere, a value Dükkango does not send is "unknown",
never a reason to erase a known one. Pure functions; no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from daemon.domain.timeutil import as_utc, parse_timestamp
from daemon.store import rowcheck

# Sync's own columns: written into every order it sees, whoever owns the rest.
OURS: Final = ("raw_payload", "synced_at", "vanished_at")
# Facts about writing, not about the order: never compared, filled only if empty.
NOT_COMPARED: Final = ("payment_key", "updated_at")
COORDINATES: Final = ("latitude", "longitude")
ITEMS: Final = "items"  # the name a disagreement about the items is reported under
# A POS's clock and Dükkango's may differ a little: that is no disagreement.
CLOCK_TOLERANCE: Final = timedelta(seconds=60)
COORDINATE_TOLERANCE: Final = 1e-6

ItemCounts = Counter[tuple[int, int]]


@dataclass(frozen=True, kw_only=True)
class Merge:
    values: Mapping[str, Any]  # the columns to write
    write_items: bool  # replace the order's items with Dükkango's
    conflicts: tuple[str, ...] = ()  # columns newly disagreeing (and "items")


def item_counts(items: Sequence[Mapping[str, Any]] | None) -> ItemCounts | None:
    """Items as (food_id, quantity) counts: the same food twice is not a difference."""
    if items is None:
        return None
    return Counter((int(item["food_id"]), int(item["quantity"])) for item in items)


def _same(stored: Any, sent: Any) -> bool:
    """Does the store's raw value say what Dükkango's clean one says?"""
    if stored is None or sent is None:
        return stored is None and sent is None
    if isinstance(sent, datetime):
        try:
            when = (
                as_utc(stored)
                if isinstance(stored, datetime)
                else parse_timestamp(rowcheck.text(stored) or "")
            )
        except ValueError:
            return False
        return abs(when - sent) <= CLOCK_TOLERANCE
    if isinstance(sent, float):
        value = rowcheck.real(stored)
        return value is not None and math.isclose(value, sent, abs_tol=COORDINATE_TOLERANCE)
    if isinstance(sent, int | Decimal) and not isinstance(sent, bool):
        number = rowcheck.decimal(stored)
        return number is not None and number == Decimal(sent)
    return (rowcheck.text(stored) or "").strip() == str(sent).strip()


def for_owned_order(sent: Mapping[str, Any], *, items_sent: bool) -> Merge:
    """An order sync owns: Dükkango's values, except that nothing sent erases nothing."""
    values = {
        column: value for column, value in sent.items() if value is not None or column in OURS
    }
    return Merge(values=values, write_items=items_sent)


def for_pos_order(
    *,
    stored: Mapping[str, Any],
    stored_items: ItemCounts,
    sent: Mapping[str, Any],
    sent_items: ItemCounts | None,
    previous: Mapping[str, Any] | None,
    previous_items: ItemCounts | None,
) -> Merge:
    """An order a POS wrote: fill its gaps, keep its values, name new disagreements.

    ``stored`` holds the row's raw values; ``previous`` what Dükkango sent at
    the last poll (None when unknown), so each disagreement is named once.
    """
    values = {column: sent[column] for column in OURS}
    disagreeing = []
    for column, value in sent.items():
        if column in OURS or column in COORDINATES or value is None:
            continue
        if stored.get(column) is None:
            values[column] = value
        elif column not in NOT_COMPARED and not _same(stored[column], value):
            disagreeing.append(column)
    sent_position = [sent.get(column) for column in COORDINATES]
    if None not in sent_position:
        if all(stored.get(column) is None for column in COORDINATES):
            values.update(zip(COORDINATES, sent_position, strict=True))
        else:  # half a stored position is bad data, never completed by us
            disagreeing += [
                column for column in COORDINATES if not _same(stored.get(column), sent[column])
            ]
    write_items = bool(sent_items) and not stored_items
    if sent_items is not None and stored_items and sent_items != stored_items:
        disagreeing.append(ITEMS)
    return Merge(
        values=values,
        write_items=write_items,
        conflicts=tuple(
            _new(
                disagreeing,
                sent=sent,
                sent_items=sent_items,
                previous=previous,
                previous_items=previous_items,
            )
        ),
    )


def _new(
    disagreeing: Sequence[str],
    *,
    sent: Mapping[str, Any],
    sent_items: ItemCounts | None,
    previous: Mapping[str, Any] | None,
    previous_items: ItemCounts | None,
) -> list[str]:
    """The disagreements about a value Dükkango did not already send last time."""
    if previous is None:
        return list(disagreeing)
    fresh = []
    for column in disagreeing:
        if column == ITEMS:
            if previous_items != sent_items:
                fresh.append(column)
        elif previous.get(column) != sent.get(column):
            fresh.append(column)
    return fresh

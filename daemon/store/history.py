"""The order history (migration 0010): writing what a pass saw change, reading it back.

One row per change of an active order or a stock row, stamped with the pass
clock that saw it (``seen_at``); ``image`` NULL means gone. Writing a row
closes the subject's open row (``replaced_at``), so the state at any moment
``t`` is the rows seen by ``t`` and not replaced by ``t``: :func:`state_at`.
Marks (``kind = 'mark'``) say where the history is complete from
(``pruned``) and when a recording process started (``started``, with the
end of the last pass before it: nobody watched in between).

Images are encoded and decoded by daemon.domain.images; here they are text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import sqlalchemy as sa

from daemon.domain.timeutil import parse_timestamp
from daemon.store import schema

Kind = Literal["order", "stock"]
STARTED: Final = "started"
PRUNED: Final = "pruned"

# Rows per statement when reading a long stretch of history.
_CHUNK: Final = 5_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One change to write: an order or stock row as the pass saw it (image None: gone)."""

    kind: Kind
    subject: str  # payment_key, or the food_id as text
    restaurant_id: str | None
    image: str | None
    # False: the writer knows the subject has no open row (a new order), so
    # there is nothing to close; one statement less per pass.
    replaces: bool = True


@dataclass(frozen=True, slots=True)
class Row:
    """One change as read back."""

    id: int
    seen_at: datetime
    kind: str  # order, stock or mark
    subject: str
    restaurant_id: str | None
    image: str | None


@dataclass(frozen=True, slots=True)
class Mark:
    seen_at: datetime
    what: str  # STARTED or PRUNED
    # STARTED: when the last pass before this process ended (None: no pass before).
    after: datetime | None = None


def _closing(kind: Kind, subject: str, at: datetime) -> dict[str, object]:
    return {"b_kind": kind, "b_subject": subject, "b_at": at}


def write(
    connection: sa.Connection,
    entries: Sequence[Entry],
    *,
    seen_at: datetime,
    started_after: datetime | None = None,
    started: bool = False,
) -> None:
    """Append ``entries`` seen at ``seen_at``, closing each subject's open row.

    ``started``: this is a recording process's first write; a STARTED mark
    records it, with ``started_after`` (the end of the last pass before it).
    A row seen later than ``seen_at`` (a replica's, committed first) stays open,
    and so may a replica's row of an order this writer saw as new: the later
    row is the one in force (:func:`state_at`), and the subject's next change
    closes both.
    """
    table = schema.order_history
    replacing = [e for e in entries if e.replaces]
    if replacing:
        connection.execute(
            sa.update(table)
            .where(
                table.c.kind == sa.bindparam("b_kind"),
                table.c.subject == sa.bindparam("b_subject"),
                table.c.replaced_at.is_(None),
                table.c.seen_at <= sa.bindparam("b_at"),
            )
            .values(replaced_at=sa.bindparam("b_at")),
            [_closing(e.kind, e.subject, seen_at) for e in replacing],
        )
    if entries:
        connection.execute(
            sa.insert(table),
            [
                {
                    "seen_at": seen_at,
                    "kind": e.kind,
                    "subject": e.subject,
                    "restaurant_id": e.restaurant_id,
                    "image": e.image,
                }
                for e in entries
            ],
        )
    if started:
        after = None if started_after is None else started_after.isoformat()
        connection.execute(
            sa.insert(table).values(
                seen_at=seen_at, kind="mark", subject=STARTED, image=json.dumps({"after": after})
            )
        )


def open_rows(connection: sa.Connection) -> list[Row]:
    """Every order and stock row still open with an image: what the history says is there now."""
    table = schema.order_history
    return _rows(
        connection,
        sa.select(*_COLUMNS).where(
            table.c.replaced_at.is_(None), table.c.kind != "mark", table.c.image.is_not(None)
        ),
    )


_COLUMNS: Final = (
    schema.order_history.c.id,
    schema.order_history.c.seen_at,
    schema.order_history.c.kind,
    schema.order_history.c.subject,
    schema.order_history.c.restaurant_id,
    schema.order_history.c.image,
)


def _row(values: Sequence[Any]) -> Row:
    row_id, seen_at, kind, subject, restaurant_id, image = values
    return Row(row_id, seen_at, kind, subject, restaurant_id, image)


def _rows(connection: sa.Connection, query: sa.Select[Any]) -> list[Row]:
    return [_row(row) for row in connection.execute(query)]


def state_at(connection: sa.Connection, moment: datetime) -> list[Row]:
    """The rows in force at ``moment``: seen by then, not replaced by then (gone rows too).

    Normally one per subject; two replicas writing at once may leave two,
    and the later one (by ``seen_at``, then ``id``) is what was there.
    """
    table = schema.order_history
    return _rows(
        connection,
        sa.select(*_COLUMNS)
        .where(
            table.c.kind != "mark",
            table.c.seen_at <= moment,
            sa.or_(table.c.replaced_at.is_(None), table.c.replaced_at > moment),
        )
        .order_by(table.c.seen_at, table.c.id),
    )


def changes_between(connection: sa.Connection, start: datetime, end: datetime) -> Iterator[Row]:
    """The rows seen after ``start`` up to ``end``, in the order they were seen."""
    table = schema.order_history
    query = (
        sa.select(*_COLUMNS)
        .where(table.c.kind != "mark", table.c.seen_at > start, table.c.seen_at <= end)
        .order_by(table.c.seen_at, table.c.id)
    )
    result = connection.execution_options(yield_per=_CHUNK).execute(query)
    for row in result:
        yield _row(row)


def marks(connection: sa.Connection) -> list[Mark]:
    table = schema.order_history
    found = []
    for seen_at, subject, image in connection.execute(
        sa.select(table.c.seen_at, table.c.subject, table.c.image)
        .where(table.c.kind == "mark")
        .order_by(table.c.seen_at, table.c.id)
    ):
        after = None
        if subject == STARTED:
            text = _after(image)
            after = parse_timestamp(text) if text else None
        found.append(Mark(seen_at=seen_at, what=subject, after=after))
    return found


def _after(image: str | None) -> str | None:
    try:
        value = json.loads(image or "{}").get("after")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def last_pass_end(connection: sa.Connection, *, other_than: str) -> datetime | None:
    """When the newest finished pass (not ``other_than``) ended: the end of the last watch."""
    passes = schema.passes
    value = connection.execute(
        sa.select(sa.func.max(passes.c.finished_at)).where(passes.c.id != other_than)
    ).scalar()
    return value if isinstance(value, datetime) else None


def prune(connection: sa.Connection, *, before: datetime) -> int:
    """Forget what no replay from ``before`` on needs; how many rows went.

    Rows replaced by then, gone rows and marks seen before then. What is
    still open stays however old (an order active for weeks is still there),
    and a PRUNED mark at ``before`` says the history is complete from there.
    """
    table = schema.order_history
    oldest = connection.execute(
        sa.select(sa.func.min(table.c.seen_at)).where(table.c.kind == "mark")
    ).scalar()
    if oldest is None or oldest >= before:
        return 0
    gone = connection.execute(
        sa.delete(table).where(table.c.replaced_at.is_not(None), table.c.replaced_at <= before)
    ).rowcount
    gone += connection.execute(
        sa.delete(table).where(
            table.c.seen_at < before,
            sa.or_(table.c.kind == "mark", table.c.image.is_(None)),
        )
    ).rowcount
    connection.execute(sa.delete(table).where(table.c.kind == "mark", table.c.subject == PRUNED))
    connection.execute(sa.insert(table).values(seen_at=before, kind="mark", subject=PRUNED))
    return int(gone)

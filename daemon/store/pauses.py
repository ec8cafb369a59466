"""The ``pauses`` table: creating, reading and resuming pauses (daemon.domain.pauses).

Every process on the store reads the same rows, so a pause holds for every
replica and across restarts. A resume is a conditional update: of two
operators resuming one pause at once, one ends it and the other is told so.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from daemon.domain.pauses import Pause
from daemon.store import schema


def _pause(row: sa.RowMapping) -> Pause:
    return Pause(
        id=int(row["id"]),
        rule=row["rule"],
        restaurant_id=row["restaurant_id"],
        created_at=row["created_at"],
        until=row["until"],
        comment=row["comment"],
        created_by=row["created_by"],
        host=row["host"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


def create(
    connection: sa.Connection,
    *,
    rule: str | None,
    restaurant_id: str | None,
    until: datetime,
    comment: str,
    created_by: str,
    host: str | None,
    now: datetime,
) -> Pause:
    """Store a pause, in force from ``now``; returns it with its id."""
    table = schema.pauses
    row = (
        connection.execute(
            sa.insert(table)
            .values(
                rule=rule,
                restaurant_id=restaurant_id,
                created_at=now,
                until=until,
                comment=comment,
                created_by=created_by,
                host=host,
            )
            .returning(*table.c)
        )
        .mappings()
        .one()
    )
    return _pause(row)


def in_force(connection: sa.Connection, now: datetime) -> tuple[Pause, ...]:
    """The pauses not resumed and not yet over at ``now``, oldest first."""
    table = schema.pauses
    rows = connection.execute(
        sa.select(table).where(table.c.ended_at.is_(None), table.c.until > now).order_by(table.c.id)
    ).mappings()
    return tuple(_pause(row) for row in rows)


def find(connection: sa.Connection, pause_id: int) -> Pause | None:
    table = schema.pauses
    row = connection.execute(sa.select(table).where(table.c.id == pause_id)).mappings().first()
    return None if row is None else _pause(row)


def every_pause(connection: sa.Connection) -> tuple[Pause, ...]:
    """Every pause on record, in force or over, oldest first (for ``audit``, ``pauses --all``)."""
    table = schema.pauses
    return tuple(
        _pause(row) for row in connection.execute(sa.select(table).order_by(table.c.id)).mappings()
    )


def resume(connection: sa.Connection, pause_id: int, *, by: str, now: datetime) -> bool:
    """End a pause now; False when it was no longer in force (resumed, or over)."""
    table = schema.pauses
    ended = connection.execute(
        sa.update(table)
        .where(table.c.id == pause_id, table.c.ended_at.is_(None), table.c.until > now)
        .values(ended_at=now, ended_by=by)
        .returning(table.c.id)
    ).scalar()
    return ended is not None

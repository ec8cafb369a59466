"""The ``distance_cache`` table: geodesic kilometres per (restaurant, delivery) position.

Positions are stored as the floats they are (a REAL / double precision
column round-trips a Python float exactly), so a pair read back is the very
key the pass looks up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from daemon.store import schema

Point = tuple[float, float]
Pair = tuple[Point, Point]


def read_known(connection: sa.Connection, *, since: datetime) -> dict[Pair, float]:
    """Every pair measured at or after ``since``."""
    table = schema.distance_cache
    rows = connection.execute(
        sa.select(
            table.c.origin_latitude,
            table.c.origin_longitude,
            table.c.latitude,
            table.c.longitude,
            table.c.km,
        ).where(table.c.computed_at >= since)
    )
    return {((a, b), (c, d)): km for a, b, c, d, km in rows}


def remember(
    connection: sa.Connection,
    measured: Mapping[Pair, float],
    *,
    now: datetime,
    forget_before: datetime,
) -> None:
    """Store ``measured`` (a pair another process stored first is kept) and drop old pairs."""
    table = schema.distance_cache
    connection.execute(sa.delete(table).where(table.c.computed_at < forget_before))
    if not measured:
        return
    rows = [
        {
            "origin_latitude": origin[0],
            "origin_longitude": origin[1],
            "latitude": destination[0],
            "longitude": destination[1],
            "km": km,
            "computed_at": now,
        }
        for (origin, destination), km in measured.items()
    ]
    # Each dialect's insert imported when needed, as in daemon.store.upsert.
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        connection.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects import sqlite

        connection.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)

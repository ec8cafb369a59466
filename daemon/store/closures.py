"""Reading the closure rows for the operator commands: reopen, release, status, audit.

The writes (the claims, the calls' outcomes) are the side effects' own
(daemon.engine.side_effects.closures); this is what people are shown.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from daemon.domain.overrides import MAX_RESPECT
from daemon.store import schema


def in_force(connection: sa.Connection, restaurant_id: str) -> sa.RowMapping | None:
    """The restaurant's closure of ours in force, or None."""
    table = schema.restaurant_closures
    return (
        connection.execute(
            sa.select(table).where(
                table.c.restaurant_id == restaurant_id, table.c.active_key.is_not(None)
            )
        )
        .mappings()
        .first()
    )


def latest(connection: sa.Connection, restaurant_id: str) -> sa.RowMapping | None:
    """The restaurant's newest closure row, whatever became of it; None: never closed by us."""
    table = schema.restaurant_closures
    return (
        connection.execute(
            sa.select(table)
            .where(table.c.restaurant_id == restaurant_id)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def recent_overrides(connection: sa.Connection, now: datetime) -> list[sa.RowMapping]:
    """Closures people ended within the longest respect (``status`` shows them), oldest first."""
    table = schema.restaurant_closures
    return list(
        connection.execute(
            sa.select(table)
            .where(
                table.c.override_kind.is_not(None),
                table.c.active_key.is_(None),
                table.c.reopened_at >= now - MAX_RESPECT,
            )
            .order_by(table.c.reopened_at)
        ).mappings()
    )

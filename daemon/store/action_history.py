"""The restaurant closures, reopenings and food deactivations on record, for ``audit``.

They live in their own tables (one row per closure, one per food), not in the
ledger; ``audit`` lists them below the ledger with the names an operator knows
the restaurants and foods by.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.domain.timeutil import isoformat_z
from daemon.store import schema
from daemon.store.names import Names, food_names


def action_records(
    connection: sa.Connection, names: Names, *, since: datetime | None = None
) -> list[dict[str, Any]]:
    """One record per close, reopen and deactivation, oldest first."""
    closures = schema.restaurant_closures
    records: list[tuple[datetime, dict[str, Any]]] = []
    for row in connection.execute(sa.select(closures).order_by(closures.c.id)).mappings():
        target = names.restaurant(row["restaurant_id"])
        closed = {
            "action": "close_restaurant",
            "target": target,
            "rule": row["rule"],
            "outcome": row["close_outcome"],
            "detail": row["last_error"] if row["close_outcome"] == "failed" else None,
        }
        records.append((row["closed_at"], closed))
        if row["reopened_at"] is not None:
            # (A reopening that failed keeps the closure in force: `status` lists it.)
            reopened = {
                "action": "reopen_restaurant",
                "target": target,
                "rule": row["rule"],
                "outcome": row["reopen_outcome"],
                "detail": None,
            }
            records.append((row["reopened_at"], reopened))
    foods = schema.food_deactivations
    rows = list(connection.execute(sa.select(foods).order_by(foods.c.at)).mappings())
    known = names.with_foods(food_names(connection, [row["food_id"] for row in rows]))
    for row in rows:
        food, where = known.food(row["food_id"]), known.restaurant(row["restaurant_id"])
        records.append(
            (
                row["at"],
                {
                    "action": "deactivate_food",
                    "target": f"{food} at {where}",
                    "rule": row["rule"],
                    "outcome": row["outcome"],
                    "detail": row["last_error"],
                },
            )
        )
    chosen = [(at, record) for at, record in records if since is None or at >= since]
    chosen.sort(key=lambda pair: pair[0])
    return [{"at": isoformat_z(at), **record} for at, record in chosen]

"""The restaurant closures, reopenings and food deactivations on record, for ``audit``.

A closure people ended shows who: ``Ayşe (autocancel reopen)``, ``(autocancel
release)`` or ``staff on Dükkango``; when the daemon stopped respecting that
(the load fell below reopen_below) it is a line of its own (``override_spent``).

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
            "by": None,
            "detail": row["last_error"] if row["close_outcome"] == "failed" else None,
        }
        records.append((row["closed_at"], closed))
        if row["reopened_at"] is not None:
            # (A reopening that failed keeps the closure in force: `status` lists it.)
            records.append((row["reopened_at"], _ending(row, target)))
        if row["respect_ended_at"] is not None:
            records.append(
                (
                    row["respect_ended_at"],
                    {
                        "action": "override_spent",
                        "target": target,
                        "rule": row["rule"],
                        "outcome": "load below reopen_below",
                        "by": None,
                        "detail": None,
                    },
                )
            )
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
                    "by": None,
                    "detail": row["last_error"],
                },
            )
        )
    chosen = [(at, record) for at, record in records if since is None or at >= since]
    chosen.sort(key=lambda pair: pair[0])
    return [{"at": isoformat_z(at), **record} for at, record in chosen]


def _ending(row: sa.RowMapping, target: str) -> dict[str, Any]:
    """How the closure ended: the rule reopened it, or people did (daemon.domain.overrides)."""
    kind = row["override_kind"]
    by = {
        "reopen": f"{row['override_by']} (autocancel reopen)",
        "release": f"{row['override_by']} (autocancel release)",
        "staff": "staff on Dükkango",
    }.get(kind)
    return {
        "action": "release_restaurant" if kind == "release" else "reopen_restaurant",
        "target": target,
        "rule": row["rule"],
        "outcome": row["reopen_outcome"],
        "by": by,
        "detail": None,
    }

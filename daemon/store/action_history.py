"""The restaurant closures, reopenings, food deactivations and reactivations, for ``audit``.

They live in their own tables (one row per closure, per deactivation and per
reactivation), not in the ledger; ``audit`` lists them below the ledger with
the names an operator knows the restaurants and foods by, and for a
reactivation who asked for it and why. A closure people ended shows who:
``Ayşe (autocancel reopen)``, ``(autocancel release)`` or ``staff on
Dükkango``; when the daemon stopped respecting that (the load fell below
reopen_below) it is a line of its own (``override_spent``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.domain.foods import describe_reason
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
            "by": "autocancel",
            "why": _overload(row["evidence"]),
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
                        "outcome": "done",
                        "detail": None,
                        "by": "autocancel",
                        "why": "the load fell below reopen_below: judged as usual again",
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
                    "detail": row["last_error"],
                    "by": "autocancel",
                    "why": f"out of stock (order {row['payment_key']})"
                    if row["payment_key"]
                    else "out of stock",
                },
            )
        )
    records += _reactivations(connection, known)
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
    }.get(kind, "autocancel")
    why = {
        "release": "kept closed by hand; never reopened by autocancel",
        "staff": "opened on Dükkango while autocancel held it closed",
    }.get(kind, "")
    return {
        "action": "release_restaurant" if kind == "release" else "reopen_restaurant",
        "target": target,
        "rule": row["rule"],
        "outcome": row["reopen_outcome"],
        "detail": None,
        "by": by,
        "why": why,
    }


def _overload(evidence: object) -> str:
    """``23 active orders, capacity 20`` from a closure's evidence; "" when it does not say."""
    if not isinstance(evidence, dict):
        return ""
    load, capacity = evidence.get("active_orders"), evidence.get("max_active_orders")
    if load is None or capacity is None:
        return ""
    return f"{load} active orders, capacity {capacity}"


def _reactivations(
    connection: sa.Connection, names: Names
) -> list[tuple[datetime, dict[str, Any]]]:
    """One record per reactivation: when it finished (or was last tried), by whom, and why."""
    r, d = schema.food_reactivations, schema.food_deactivations
    rows = connection.execute(
        sa.select(r, d.c.restaurant_id, d.c.rule)
        .select_from(r.join(d, d.c.id == r.c.deactivation_id))
        .order_by(r.c.id)
    ).mappings()
    found = []
    for row in rows:
        food, where = names.food(row["food_id"]), names.restaurant(row["restaurant_id"])
        found.append(
            (
                row["finished_at"] or row["updated_at"],
                {
                    "action": "reactivate_food",
                    "target": f"{food} at {where}",
                    "rule": row["rule"],
                    "outcome": row["outcome"],
                    "detail": row["last_error"],
                    "by": row["requested_by"] or "autocancel",
                    "why": describe_reason(row["trigger"], row["evidence"], row["note"]),
                },
            )
        )
    return found

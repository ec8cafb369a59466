"""The daemon's deactivations in force, each with its food's stock row and its reactivation.

One query: ``food_deactivations`` (``active_key`` set) joined with the
reactivation of each and the food's ``stock`` row. The table holds only
what the daemon switched off and has not put back, so it stays small; every
pass reads it whole, whatever restaurants the pass re-reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from daemon.domain.foods import FoodOff, ReactivationClaim
from daemon.store import schema
from daemon.store.stockrows import stock_columns, stock_level

_DEACTIVATION = (
    "id",
    "food_id",
    "restaurant_id",
    "rule",
    "payment_key",
    "at",
    "outcome",
    "uncertain_sends",
    "last_error",
)
_REACTIVATION = (
    "id",
    "outcome",
    "trigger",
    "updated_at",
    "attempts",
    "uncertain_sends",
    "last_error",
    "requested_by",
    "note",
    "owner",
)


def _query() -> sa.Select[Any]:
    d, r, s = schema.food_deactivations, schema.food_reactivations, schema.stock
    return (
        sa.select(
            *(d.c[name] for name in _DEACTIVATION),
            *(r.c[name].label(f"r_{name}") for name in _REACTIVATION),
            *(column.label(f"s_{column.key}") for column in stock_columns()),
        )
        .select_from(
            d.outerjoin(r, r.c.deactivation_id == d.c.id).outerjoin(s, s.c.food_id == d.c.food_id)
        )
        .where(d.c.active_key.is_not(None))
        .order_by(d.c.at, d.c.id)
    )


def _food_off(row: sa.RowMapping) -> FoodOff:
    stock_row: Sequence[Any] = tuple(
        row[f"s_{name}"] for name in ("food_id", "restaurant_id", "name", "available", "quantity")
    )
    has_stock_row = stock_row[0] is not None
    level = stock_level(stock_row) if has_stock_row else None
    claim = None
    if row["r_id"] is not None:
        claim = ReactivationClaim(
            id=row["r_id"],
            outcome=row["r_outcome"],
            trigger=row["r_trigger"],
            updated_at=row["r_updated_at"],
            attempts=row["r_attempts"],
            uncertain_sends=row["r_uncertain_sends"],
            last_error=row["r_last_error"],
            requested_by=row["r_requested_by"],
            note=row["r_note"],
            owner=row["r_owner"],
        )
    return FoodOff(
        deactivation_id=row["id"],
        food_id=row["food_id"],
        restaurant_id=row["restaurant_id"],
        rule=row["rule"],
        payment_key=row["payment_key"],
        deactivated_at=row["at"],
        outcome=row["outcome"],
        uncertain_sends=row["uncertain_sends"],
        last_error=row["last_error"],
        stock=level,
        stock_unreadable=has_stock_row and level is None,
        reactivation=claim,
    )


def read_foods_off(
    connection: sa.Connection, *, deactivation_id: int | None = None, food_id: int | None = None
) -> list[FoodOff]:
    """The deactivations in force, oldest first (one of them, or one food's, when asked)."""
    query = _query()
    d = schema.food_deactivations
    if deactivation_id is not None:
        query = query.where(d.c.id == deactivation_id)
    if food_id is not None:
        query = query.where(d.c.active_key == food_id)
    return [_food_off(row) for row in connection.execute(query).mappings()]


def last_deactivation(connection: sa.Connection, food_id: int) -> sa.RowMapping | None:
    """The food's newest deactivation, in force or not, with its reactivation (or None)."""
    d, r = schema.food_deactivations, schema.food_reactivations
    return (
        connection.execute(
            sa.select(
                d.c.id,
                d.c.at,
                d.c.rule,
                d.c.active_key,
                r.c.outcome.label("reactivation"),
                r.c.finished_at.label("reactivated_at"),
                r.c.requested_by,
            )
            .select_from(d.outerjoin(r, r.c.deactivation_id == d.c.id))
            .where(d.c.food_id == food_id)
            .order_by(d.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )

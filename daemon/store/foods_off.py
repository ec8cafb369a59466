"""The daemon's deactivations in force, each with its food's stock row and its reactivation.

One query: ``food_deactivations`` (``active_key`` set) joined with the
reactivation of each and the food's ``stock`` row. The table holds only
what the daemon switched off and has not put back, so it stays small; every
pass reads it whole, whatever restaurants the pass re-reads. A replay reads
the ones in force at a past moment the same way (:func:`read_foods_off_at`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.domain.foods import CLOSING, FoodOff, ReactivationClaim
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
# In the order of ReactivationClaim's fields: a row slice builds one.
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


@functools.cache
def _query() -> sa.Select[Any]:
    """Built once: every pass runs it (SQLAlchemy's compiled cache does the rest)."""
    d, r, s = schema.food_deactivations, schema.food_reactivations, schema.stock
    return (
        sa.select(
            *(d.c[name] for name in _DEACTIVATION),
            *(r.c[name] for name in _REACTIVATION),
            *stock_columns(),
        )
        .select_from(
            d.outerjoin(r, r.c.deactivation_id == d.c.id).outerjoin(s, s.c.food_id == d.c.food_id)
        )
        .where(d.c.active_key.is_not(None))
        .order_by(d.c.at, d.c.id)
    )


_SPLIT = len(_DEACTIVATION)
_STOCK_AT = _SPLIT + len(_REACTIVATION)


def _food_off(row: Sequence[Any]) -> FoodOff:
    """One row of :func:`_query`, read by position (the columns' order above).

    A row without the stock columns (:func:`read_foods_off_at`) has no stock row.
    """
    (
        deactivation_id,
        food_id,
        restaurant_id,
        rule,
        payment_key,
        at,
        outcome,
        uncertain_sends,
        last_error,
    ) = row[:_SPLIT]
    claim = None
    if row[_SPLIT] is not None:
        claim = ReactivationClaim(*row[_SPLIT:_STOCK_AT])
    stock_row = row[_STOCK_AT:]
    has_stock_row = bool(stock_row) and stock_row[0] is not None
    level = stock_level(stock_row) if has_stock_row else None
    return FoodOff(
        deactivation_id=deactivation_id,
        food_id=food_id,
        restaurant_id=restaurant_id,
        rule=rule,
        payment_key=payment_key,
        deactivated_at=at,
        outcome=outcome,
        uncertain_sends=uncertain_sends,
        last_error=last_error,
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
    return [_food_off(row) for row in connection.execute(query).all()]


def read_foods_off_at(connection: sa.Connection, moment: datetime) -> list[FoodOff]:
    """The deactivations in force at ``moment``, oldest first, without stock rows.

    What :func:`read_foods_off` read then: made before ``moment``, and not
    ended by a reactivation finished by then as reactivated or
    maybe_reactivated (daemon.engine.side_effects.reactivations: one that
    ended before is over, and the next shortage deactivates the food anew).
    Only a reactivation failed for good by then (left for a person) is
    read with it: what a claim under way then came to is not stored, so it
    is left out. A replay's start (daemon.engine.replay.load) reads the
    stock rows of then from the history.
    """
    d, r = schema.food_deactivations, schema.food_reactivations
    done = r.alias("done")  # the table is in the outer join below too
    ended = sa.exists().where(
        done.c.deactivation_id == d.c.id,
        done.c.outcome.in_(CLOSING),
        done.c.finished_at <= moment,
    )
    failed = sa.and_(
        r.c.deactivation_id == d.c.id, r.c.outcome == "failed", r.c.updated_at <= moment
    )
    query = (
        sa.select(*(d.c[name] for name in _DEACTIVATION), *(r.c[name] for name in _REACTIVATION))
        .select_from(d.outerjoin(r, failed))
        .where(d.c.at < moment, ~ended)
        .order_by(d.c.at, d.c.id)
    )
    return [_food_off(row) for row in connection.execute(query).all()]


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

"""Gathering what ``status`` shows, from the store alone, into a :class:`StatusReport`.

Everything comes from the store (passes, ledger, closures, deactivations,
orders), so it is the same whichever host or process asks, and it works
while rules.yaml on disk is invalid (the daemon keeps running its last good
rules; see :mod:`daemon.store.readonly`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from daemon.cli.pause_view import pause_record
from daemon.cli.status.view import ApiView, PassView, RestaurantLoad, StatusReport, iso
from daemon.config.models import Config
from daemon.domain.overrides import MAX_RESPECT
from daemon.domain.timeutil import utcnow
from daemon.engine import passresult
from daemon.engine.context import safety_limits
from daemon.engine.plan import orders_by_restaurant
from daemon.engine.safety import protections
from daemon.store import closures, connect, ledger, outbox, pauses, rules_loads, schema
from daemon.store.names import Names, food_names
from daemon.store.readonly import ReadingConfig
from daemon.store.snapshot import read_snapshot
from rules.congestion import CongestionRule

# How far back to look for the daemon's circuit state (a one-off `once` has none).
RECENT_PASSES = 50


def _passes(connection: sa.Connection) -> tuple[PassView | None, PassView | None, ApiView]:
    table = schema.passes
    recent = [
        PassView.from_row(row)
        for row in connection.execute(
            sa.select(table).order_by(table.c.started_at.desc()).limit(RECENT_PASSES)
        ).mappings()
    ]
    last = next((p for p in recent if p.finished_at is not None), None)
    if last is None:
        last_row = (
            connection.execute(
                sa.select(table)
                .where(table.c.finished_at.is_not(None))
                .order_by(table.c.started_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        last = None if last_row is None else PassView.from_row(last_row)
    running = recent[0] if recent and recent[0].finished_at is None else None
    tracked = next((p for p in recent if p.summary.circuit is not None), None)
    success = connection.execute(
        sa.select(table.c.last_api_success_at)
        .where(table.c.last_api_success_at.is_not(None))
        .order_by(table.c.started_at.desc())
        .limit(1)
    ).scalar()
    synced = connection.execute(sa.select(sa.func.max(schema.sync_state.c.last_success_at)))
    successes = [t for t in (success, synced.scalar()) if t is not None]
    api = ApiView(
        circuit=None if tracked is None else tracked.summary.circuit,
        circuit_open_since=None if tracked is None else tracked.summary.circuit_open_since,
        circuit_as_of=None if tracked is None else tracked.finished_at,
        last_success_at=max(successes) if successes else None,
    )
    return last, running, api


# How a closure in force stands, by its reopen_outcome.
_CLOSURE_STATES = {None: "in force", "pending": "reopening", "unknown": "reopen unsettled"}


def _closures(connection: sa.Connection, names: Names) -> tuple[Mapping[str, Any], ...]:
    table = schema.restaurant_closures
    rows = connection.execute(
        sa.select(table).where(table.c.active_key.is_not(None)).order_by(table.c.closed_at)
    ).mappings()
    return tuple(
        {
            "restaurant_id": row["restaurant_id"],
            "restaurant_name": names.restaurant_name(row["restaurant_id"]),
            "closed_at": iso(row["closed_at"]),
            "rule": row["rule"],
            "outcome": row["close_outcome"],
            # in force, reopening (a call in flight), reopen unsettled (its answer lost)
            "state": _CLOSURE_STATES.get(row["reopen_outcome"], row["reopen_outcome"]),
            "status_checked_at": iso(row["status_checked_at"]),
        }
        for row in rows
    )


def _overrides(
    connection: sa.Connection, names: Names, config: Config, now: datetime
) -> tuple[Mapping[str, Any], ...]:
    """Closures people ended (reopen, release, staff) in the last 24 h, and how long each holds."""
    rules = {r.name: r for r in config.rules if isinstance(r, CongestionRule)}
    found = []
    for row in closures.recent_overrides(connection, now):
        rule = rules.get(row["rule"])
        until = (
            None
            if rule is None
            else row["reopened_at"]
            + min(MAX_RESPECT, timedelta(minutes=rule.respect_staff_minutes))
        )
        if row["respect_ended_at"] is not None:
            state = "over: the load fell below reopen_below"
        elif until is None or until <= now:
            state = "expired"
        else:
            state = "respected"
        found.append(
            {
                "restaurant_id": row["restaurant_id"],
                "restaurant_name": names.restaurant_name(row["restaurant_id"]),
                "kind": row["override_kind"],
                "by": row["override_by"],
                "at": iso(row["reopened_at"]),
                "rule": row["rule"],
                "closed_at": iso(row["closed_at"]),
                "state": state,
                "respected_until": iso(until),
                "respect_ended_at": iso(row["respect_ended_at"]),
            }
        )
    return tuple(found)


def _deactivations(connection: sa.Connection, names: Names) -> tuple[Mapping[str, Any], ...]:
    """The deactivations in force (a food back on sale is no longer the daemon's)."""
    table = schema.food_deactivations
    rows = list(
        connection.execute(
            sa.select(table).where(table.c.active_key.is_not(None)).order_by(table.c.at)
        ).mappings()
    )
    foods = names.with_foods(food_names(connection, [row["food_id"] for row in rows]))
    reactivations = schema.food_reactivations
    comebacks = dict(
        connection.execute(
            sa.select(reactivations.c.deactivation_id, reactivations.c.outcome).where(
                reactivations.c.deactivation_id.in_([row["id"] for row in rows])
            )
        ).all()
    )
    return tuple(
        {
            "food_id": row["food_id"],
            "food_name": foods.food_name(row["food_id"]),
            "restaurant_id": row["restaurant_id"],
            "restaurant_name": foods.restaurant_name(row["restaurant_id"]),
            "at": iso(row["at"]),
            "rule": row["rule"],
            "outcome": row["outcome"],
            "attempts": row["attempts"],
            "last_error": row["last_error"],
            "reactivation": comebacks.get(row["id"]),
        }
        for row in rows
    )


def _loads(config: Config, engine: sa.Engine, now: datetime) -> tuple[RestaurantLoad, ...]:
    """Active and stale orders per listed restaurant, by the planner's own definitions.

    The rest of a load (the orders leaving) needs the rules' verdicts, positions
    included; ``explain`` shows a restaurant's whole load as the pass computes it.
    """
    with connect.snapshot_reader(engine) as connection, connection.begin():
        snapshot = read_snapshot(connection)
    limits = safety_limits(config)
    by_restaurant = orders_by_restaurant(snapshot, [r.id for r in config.restaurants])
    loads = []
    for restaurant in config.restaurants:
        orders = by_restaurant.get(restaurant.id, [])
        protected = protections(orders, limits, now)
        loads.append(
            RestaurantLoad(
                id=restaurant.id,
                name=restaurant.name,
                active=len(orders),
                stale=sum(1 for p in protected.values() if p.stale),
            )
        )
    return tuple(loads)


def gather(reading: ReadingConfig, engine: sa.Engine) -> StatusReport:
    """Raises SQLAlchemyError when the daemon's own tables cannot be read."""
    config = reading.config
    now = utcnow()
    names = Names.of(config.restaurants)
    safety_known = reading.trusts("safety")
    with engine.connect() as connection:
        last, running, api = _passes(connection)
        pending = tuple(
            {
                "payment_key": row["payment_key"],
                "rule": row["rule"],
                "since": iso(row["at"]),
                "restaurant_id": row["restaurant_id"],
                "restaurant_name": names.restaurant_name(row["restaurant_id"]),
            }
            for row in ledger.pending_intents(connection)
        )
        in_force = _closures(connection, names)
        overrides = _overrides(connection, names, config, now)
        paused = tuple(
            pause_record(pause, names, now) for pause in pauses.in_force(connection, now)
        )
        deactivations = _deactivations(connection, names)
        used = ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
        manual = ledger.manual_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
        notices = outbox.counts(connection)
        loaded = rules_loads.last_load(connection)
        waiting = outbox.backlog(connection)
        given_up = tuple(
            {"event": row["name"], "at": iso(row["created_at"]), "error": row["last_error"]}
            for row in outbox.given_up(connection, limit=5)
        )
    loads: tuple[RestaurantLoad, ...] | None = None
    orders_error = None
    if safety_known:
        try:
            loads = _loads(config, engine, now)
        except sa.exc.SQLAlchemyError as exc:  # a POS table broken: say so, show the rest
            orders_error = connect.describe_db_error(exc)
    limit = config.safety.max_cancellations_per_hour
    hints = list(passresult.hints(last.summary)) if last is not None else []
    return StatusReport(
        rules_path=str(config.source),
        problems=reading.problems,
        last_pass=last,
        running=running,
        api=api,
        pending=pending,
        closures=in_force,
        overrides=overrides,
        pauses=paused,
        food_deactivations=deactivations,
        restaurants=loads,
        notifications=notices,
        notifications_given_up=given_up,
        notifications_oldest_pending_at=waiting.oldest_at,
        orders_error=orders_error,
        max_order_age_minutes=config.safety.max_order_age_minutes if safety_known else None,
        budget={"limit": limit, "used": used, "left": max(0, limit - used)}
        if safety_known
        else None,
        hints=tuple(hints),
        manual_last_hour=manual,
        rules_loaded=None
        if loaded is None
        else {
            "digest": loaded.digest,
            "path": loaded.path,
            "loaded_at": iso(loaded.loaded_at),
            "event": loaded.event,
        },
        rules_digest_on_disk=config.digest,
    )

"""The operator commands that read or run passes: once, audit, status."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

import sqlalchemy as sa

from daemon import exitcodes, ledger, report, store
from daemon.config import Config
from daemon.credentials import MissingCredentials, require_credentials
from daemon.passes import PassError, PassRunner, safety_limits
from daemon.planning import orders_by_restaurant
from daemon.runtime import executor_factory, open_store
from daemon.safety import protections
from daemon.snapshot import Snapshot, read_snapshot
from daemon.timespec import FORMS, BadMoment, parse_moment
from daemon.timeutil import isoformat_z, utcnow

log = logging.getLogger(__name__)


def once(config: Config, *, dry_run: bool, as_json: bool) -> int:
    """One full pass; exit 0 when the pass ran, even if some cancellations failed."""
    dry = dry_run or config.dry_run
    try:
        if not dry:
            require_credentials()
        engine = open_store(config)
    except (MissingCredentials, store.StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    runner = PassRunner(
        config=config, engine=engine, executor_factory=executor_factory(config), dry_run=dry
    )
    try:
        result = runner.run_once()
    except PassError as exc:
        print(f"error: the pass could not run: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    if as_json:
        for decision in result.shown():
            print(report.to_json(report.decision_record(decision)))
    else:
        print(report.decisions_table(result.shown()))
        for action in result.actions:
            print(f"{action.action} {action.target}: {action.outcome} ({action.mode})"
                  f"{' - ' + action.detail if action.detail else ''}")
    return exitcodes.OK


def _moment(flag: str, text: str | None, now: datetime) -> datetime | None:
    """``--since``/``--until`` as a UTC moment; a usage error (exit 2) if unreadable."""
    if text is None:
        return None
    try:
        return parse_moment(text, now=now)
    except BadMoment as exc:
        raise _UsageError(f"{flag} {exc}; use {FORMS} (e.g. 2026-11-30T14:00:00Z)") from None


class _UsageError(Exception):
    """A bad argument: one line on stderr, exit 2 (contract)."""


def audit(config: Config, *, since: str | None, until: str | None = None, fmt: str) -> int:
    now = utcnow()
    try:
        start, end = _moment("--since", since, now), _moment("--until", until, now)
        if start is not None and end is not None and start > end:
            raise _UsageError(f"--since {since!r} ({isoformat_z(start)}) is after --until "
                              f"{until!r} ({isoformat_z(end)}): no entry can match")
    except _UsageError as exc:
        print(f"autocancel audit: error: {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    try:
        engine = open_store(config)
        with engine.connect() as connection:
            rows = ledger.audit_rows(connection, since=start, until=end)
    except (store.StoreError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: cannot read the ledger: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    records = [report.ledger_record(row) for row in rows]
    if fmt == "json":
        for record in records:
            print(report.to_json(record))
    elif fmt == "csv":
        sys.stdout.write(report.audit_csv(records))
    else:
        print(report.audit_table(records))
    return exitcodes.OK


def status(config: Config) -> int:
    now = utcnow()
    try:
        engine = open_store(config)
        with engine.connect() as connection:
            last = connection.execute(
                sa.select(store.passes).order_by(store.passes.c.started_at.desc()).limit(1)
            ).mappings().first()
            pending = ledger.pending_intents(connection)
            closures = connection.execute(
                sa.select(store.restaurant_closures)
                .where(store.restaurant_closures.c.active_key.is_not(None))
            ).mappings().all()
            used = ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
            manual = ledger.manual_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
            loads = _stale_by_restaurant(config, read_snapshot(connection), now)
    except (store.StoreError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: cannot read the store: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    if last is None:
        print("last pass: none yet")
    else:
        finished = last["finished_at"]
        print(f"last pass: {isoformat_z(last['started_at'])} ({last['mode']}), "
              f"result {last['result'] or 'unfinished'}, {last['orders_seen']} active orders, "
              f"{last['decisions']} decisions"
              + (f", finished {isoformat_z(finished)}" if finished else "")
              + (f", error: {last['error']}" if last["error"] else ""))
    print(f"pending intents: {len(pending)}")
    for row in pending:
        print(f"  {row['payment_key']} rule={row['rule']} since {isoformat_z(row['at'])}")
    print(f"closures in force: {len(closures)}")
    for row in closures:
        print(f"  {row['restaurant_id']} closed {isoformat_z(row['closed_at'])} by {row['rule']}")
    _print_loads(config, loads)
    limit = config.safety.max_cancellations_per_hour
    print(f"safety budget: {max(0, limit - used)} of {limit} cancellations left this hour")
    # A separate line: staff-confirmed cancellations never use the automatic budget.
    print(f"manual cancellations: {manual} in the last hour (not counted against "
          "max_cancellations_per_hour)")
    return exitcodes.OK


def _stale_by_restaurant(
    config: Config, snapshot: Snapshot, now: datetime
) -> dict[str, tuple[int, int]]:
    """(active, stale) orders per listed restaurant, by the planner's own definitions.

    The rest of a load (the orders leaving) needs the rules' verdicts, positions
    included; ``explain`` shows a restaurant's whole load as the pass computes it.
    """
    limits = safety_limits(config)
    restaurant_ids = [r.id for r in config.restaurants]
    counts = {}
    for restaurant_id, orders in orders_by_restaurant(snapshot, restaurant_ids).items():
        protected = protections(orders, limits, now)
        counts[restaurant_id] = (len(orders), sum(1 for p in protected.values() if p.stale))
    return counts


def _print_loads(config: Config, loads: dict[str, tuple[int, int]]) -> None:
    age = config.safety.max_order_age_minutes
    print("orders by restaurant:")
    for restaurant in config.restaurants:
        active, stale = loads.get(restaurant.id, (0, 0))
        print(f"  {restaurant.name or restaurant.id} ({restaurant.id}): {active} active, "
              f"{stale} stale (older than {age} min; not counted as load, never cancelled)")

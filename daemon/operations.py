"""The operator commands that read or run passes: once and audit (status: daemon.status)."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

import sqlalchemy as sa

from daemon import exitcodes, ledger, report, store
from daemon.action_history import action_records
from daemon.config import Config
from daemon.credentials import MissingCredentials, require_credentials
from daemon.names import Names
from daemon.passes import PassError, PassRunner
from daemon.runtime import executor_factory, open_store
from daemon.timeutil import parse_timestamp

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
            print(f"{action.action} {action.shown_target}: {action.outcome} ({action.mode})"
                  f"{' - ' + action.detail if action.detail else ''}")
    return exitcodes.OK


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    return parse_timestamp(text)


def audit(config: Config, *, since: str | None, fmt: str) -> int:
    try:
        start = _since(since)
    except ValueError:
        # A usage error (contract: exit 2), like any other bad argument.
        print(f"autocancel audit: error: --since {since!r} is not an ISO 8601 time "
              "(e.g. 2026-11-30 or 2026-11-30T14:00:00Z)", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    names = Names.of(config.restaurants)
    try:
        engine = open_store(config)
        with engine.connect() as connection:
            rows = ledger.audit_rows(connection, since=start)
            actions = (action_records(connection, names, since=start)
                       if fmt == "table" else [])
    except (store.StoreError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: cannot read the ledger: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    records = [report.ledger_record(row, names=names) for row in rows]
    if fmt == "json":
        for record in records:
            print(report.to_json(record))
    elif fmt == "csv":
        sys.stdout.write(report.audit_csv(records))
    else:
        print(report.audit_table(records))
        if actions:
            print("\nrestaurant and food actions:")
            print(report.actions_table(actions))
    return exitcodes.OK

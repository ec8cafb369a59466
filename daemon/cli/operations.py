"""The operator commands that read or run passes: once and audit (status: daemon.status)."""

from __future__ import annotations

import logging
import os
import sys

import sqlalchemy as sa

from daemon.cli import report
from daemon.cli.pause_view import audit_records
from daemon.cli.window import UsageError, window
from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.timeutil import utcnow
from daemon.service.runtime import ApiSession, open_store, record_rules_load
from daemon.store import connect, ledger, pauses
from daemon.store.action_history import action_records
from daemon.store.names import Names

log = logging.getLogger(__name__)


def once(config: Config, *, dry_run: bool, as_json: bool) -> int:
    """One full pass; exit 0 when the pass ran, even if some cancellations failed."""
    # Here, not at the top: ``audit`` (this module too) reads the ledger, it runs no pass.
    from daemon.engine.passes import PassError, PassRunner

    dry = dry_run or config.dry_run
    try:
        if not dry:
            require_credentials()
        engine = open_store(config)
    except (MissingCredentials, connect.StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    from daemon.cli import notices

    record_rules_load(engine, config, event="once")
    sender = notices.sender_for(config, engine, os.environ)
    try:
        with ApiSession(config) as api:
            runner = PassRunner(
                config=config, engine=engine, executor_factory=api.executor, dry_run=dry
            )
            result = runner.run_once()
        if not dry:  # what this pass announced (or a crash left), told now
            notices.deliver(sender)
    except PassError as exc:
        print(f"error: the pass could not run: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    # A dry run tells nobody; it says whom it would have told (stderr: --json stays decisions).
    for line in notices.would_send(config, sender, result.decisions, result.actions) if dry else ():
        print(line, file=sys.stderr if as_json else sys.stdout)
    if as_json:
        for decision in result.shown():
            print(report.to_json(report.decision_record(decision)))
    else:
        print(report.decisions_table(result.shown()))
        for action in result.actions:
            print(
                f"{action.action} {action.shown_target}: {action.outcome} ({action.mode})"
                f"{' - ' + action.detail if action.detail else ''}"
            )
    return exitcodes.OK


def audit(config: Config, *, since: str | None, until: str | None = None, fmt: str) -> int:
    now = utcnow()
    try:
        start, end = window(since, until, now=now, zone=config.zone)
    except UsageError as exc:
        print(f"autocancel audit: error: {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    names = Names.of(config.restaurants)
    try:
        engine = open_store(config)
        with engine.connect() as connection:
            rows = ledger.audit_rows(connection, since=start, until=end)
            actions = action_records(connection, names, since=start) if fmt == "table" else []
            paused = (
                audit_records(pauses.every_pause(connection), names, now, since=start, until=end)
                if fmt == "table"
                else []
            )
    except (connect.StoreError, sa.exc.SQLAlchemyError) as exc:
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
        if paused:
            print("\npauses (made, resumed, expired):")
            print(report.pauses_table(paused))
    return exitcodes.OK

"""``autocancel report``: read the window as ``audit`` does, write the page, say where."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from daemon.cli import summary
from daemon.cli.auditreport import charts, facts, page
from daemon.cli.window import UsageError, window
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.service.runtime import open_store
from daemon.store import connect, rules_loads
from daemon.store.names import Names
from daemon.store.order_facts import orders_by_keys


def _window_text(since: datetime | None, until: datetime | None) -> str:
    start = isoformat_z(since) if since else "the start of the ledger"
    end = isoformat_z(until) if until else "now"
    return f"from {start} to {end}"


def _audit_args(since: str | None, until: str | None) -> str:
    """The ``audit`` options that list the same rows, for the page to say so."""
    flags = (("--since", since), ("--until", until))
    return "".join(f" {flag} {value}" for flag, value in flags if value)


def read_facts(
    config: Config,
    connection: sa.Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    dry_run_only: bool,
) -> facts.AuditFacts:
    """The report's facts: ``audit``'s rows and ``summary``'s closures over the window."""
    rows, totals, closures, foods = summary.read_window(connection, since, until)
    names = Names.of(config.restaurants)
    spans = summary.build(
        rows,
        totals=totals,
        closures=closures,
        foods=foods,
        names=names,
        now=now,
        since=since,
        until=until,
    ).closures
    return facts.build(
        rows,
        orders=orders_by_keys(connection, (row["payment_key"] for row in rows)),
        closures=spans,
        periods=rules_loads.periods(rules_loads.every_load(connection, until=until)),
        names=names,
        zone=config.zone,
        timezone=config.timezone,
        since=since,
        until=until,
        now=now,
        dry_run_only=dry_run_only,
    )


def html_report(
    config: Config, *, target: str, since: str | None, until: str | None, dry_run_only: bool
) -> int:
    now = utcnow()
    try:
        start, end = window(since, until, now=now, zone=config.zone)
    except UsageError as exc:
        print(f"autocancel report: error: {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    try:
        engine = open_store(config)
        try:
            with engine.connect() as connection:
                found = read_facts(
                    config, connection, since=start, until=end, now=now, dry_run_only=dry_run_only
                )
        finally:
            engine.dispose()
    except (connect.StoreError, sa.exc.SQLAlchemyError) as exc:
        print(f"autocancel report: error: cannot read the store: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    text = page.render(
        facts=found,
        window=_window_text(start, end),
        audit_args=_audit_args(since, until),
        charts={
            "reasons": charts.reasons_by_day(found),
            "modes": charts.modes_by_day(found),
            "closures": charts.closures_timeline(found, zone=config.zone, now=now),
        },
    )
    path = Path(target)
    try:
        page.write_atomically(path, text)
    except OSError as exc:
        print(
            f"autocancel report: error: cannot write {path}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return exitcodes.RUNTIME_FAILURE
    print(
        f"wrote {path}: {len(found.decisions)} decision(s), {len(found.closures)} closure(s), "
        f"{len(found.periods)} rules file(s) in force"
    )
    return exitcodes.OK

"""What the audit report shows, computed once from the ledger rows ``audit`` reads.

Every count on the page comes from :class:`AuditFacts`: the outcome totals, the
charts' series and the table are all made from the same ``decisions``, which
are ``audit --format json``'s records (daemon.cli.report.ledger_record) with
the order's number, customer and address beside them, and the rules file
(its digest) in force when each decision was taken.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from daemon.cli.report import ledger_record
from daemon.cli.summary import ClosureSpan
from daemon.domain.orders import Order
from daemon.domain.reasons import REASONS_EN, reason_text
from daemon.store.names import Names
from daemon.store.rules_loads import DigestPeriod, in_force

# Outcomes in the order an auditor reads them (summary's, the same words as audit).
OUTCOMES = ("cancelled", "would_cancel", "held", "skipped", "failed", "pending")
MODES = ("live", "dry_run")


@dataclass(frozen=True, kw_only=True)
class DecisionLine:
    """One ledger row (one order and rule), as the table shows it."""

    at: str  # ISO 8601, UTC (as audit prints it)
    day: date  # the restaurants' wall-clock day (rules.yaml timezone)
    payment_key: str
    order_number: int | None
    customer: str | None
    address: str | None
    restaurant: str  # the name beside the id
    rule: str
    kind: str
    reason_id: int
    reason_tr: str
    reason_en: str
    mode: str
    outcome: str
    attempts: int
    last_error: str | None
    note: str | None
    evidence: str  # as JSON
    digest: str | None  # the rules file's SHA-256 in force then; None: not recorded then


@dataclass(frozen=True, kw_only=True)
class AuditFacts:
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    timezone: str
    dry_run_only: bool
    decisions: tuple[DecisionLine, ...]
    closures: tuple[ClosureSpan, ...]
    periods: tuple[DigestPeriod, ...]  # the rules files in force during the window

    @property
    def outcomes(self) -> dict[str, int]:
        """Decisions by outcome: ``audit``'s rows over the same window, counted."""
        counts = Counter(line.outcome for line in self.decisions)
        return {outcome: counts[outcome] for outcome in OUTCOMES if counts[outcome]}

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(sorted({line.day for line in self.decisions}))

    def per_day(self, key: str) -> dict[str, list[int]]:
        """Decisions per day (``days``) for each value of ``key`` (a DecisionLine field)."""
        days = self.days
        counts: Counter[tuple[str, date]] = Counter(
            (str(getattr(line, key)), line.day) for line in self.decisions
        )
        values = sorted({value for value, _ in counts})
        return {value: [counts[(value, day)] for day in days] for value in values}

    def choices(self, key: str) -> tuple[str, ...]:
        """The values of ``key`` in the table, for its filter."""
        return tuple(sorted({str(getattr(line, key)) for line in self.decisions}))


def reason_label(reason_id: int) -> str:
    """``3 Yoğunluk nedeniyle / due to congestion``: the API's words and the English."""
    return f"{reason_id} {reason_text(reason_id)} / {REASONS_EN.get(reason_id, 'unknown')}"


def build(
    rows: Iterable[Mapping[str, Any]],
    *,
    orders: Mapping[str, Order],
    closures: Sequence[ClosureSpan],
    periods: Sequence[DigestPeriod],
    names: Names,
    zone: tzinfo,
    timezone: str,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    dry_run_only: bool,
) -> AuditFacts:
    """The report of ledger ``rows`` (``audit``'s) and the loaded rules' ``periods``."""
    lines = []
    for row in rows:
        if dry_run_only and row["mode"] != "dry_run":
            continue
        record = ledger_record(row, names=names)  # what `audit --format json` prints
        at = row["at"]  # to the microsecond, not as printed: compared with the loads
        order = orders.get(record["payment_key"])
        period = in_force(periods, at)
        lines.append(
            DecisionLine(
                at=record["at"],
                day=at.astimezone(zone).date(),
                payment_key=record["payment_key"],
                order_number=order.order_number if order else None,
                customer=order.customer_name if order else None,
                address=order.address if order else None,
                restaurant=names.restaurant(record["restaurant_id"]),
                rule=record["rule"],
                kind=record["kind"],
                reason_id=record["reason_id"],
                reason_tr=record["reason_text"],
                reason_en=REASONS_EN.get(record["reason_id"], "unknown"),
                mode=record["mode"],
                outcome=record["outcome"],
                attempts=record["attempts"],
                last_error=record["last_error"],
                note=record["note"],
                evidence=json.dumps(record["evidence"], ensure_ascii=False),
                digest=period.digest if period else None,
            )
        )
    return AuditFacts(
        since=since,
        until=until,
        generated_at=now,
        timezone=timezone,
        dry_run_only=dry_run_only,
        decisions=tuple(lines),
        # Closures are live actions: a dry-run-only report has none to show.
        closures=() if dry_run_only else tuple(closures),
        periods=tuple(
            period
            for period in periods
            if (until is None or period.since < until)
            and (since is None or period.until is None or period.until > since)
        ),
    )

"""``autocancel summary``: the shift manager's page of what the daemon did.

Per restaurant (by name) and rule: decisions by outcome and the revenue of
the orders cancelled; the closures with how long each lasted; the foods
switched off; the most frequent reasons. Counted from the same ledger rows as
``audit`` (one row per order and rule), so the two never disagree.
:func:`build` is pure; :func:`summary` reads the store and prints.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from daemon.cli import report
from daemon.cli.window import UsageError, window
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.reasons import reason_text
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.service.runtime import open_store
from daemon.store import connect, ledger, schema
from daemon.store.names import Names, food_names

# Outcomes in the order a manager reads them.
OUTCOMES = ("cancelled", "would_cancel", "held", "skipped", "failed", "pending")


@dataclass(frozen=True)
class RuleLine:
    restaurant: str  # "Akat Şube (8f2b…)": the name, beside the id
    rule: str
    outcomes: Mapping[str, int]
    cancelled_revenue: Decimal  # sum of ``total`` of the orders cancelled live


@dataclass(frozen=True)
class ClosureSpan:
    restaurant: str
    rule: str
    closed_at: datetime
    reopened_at: datetime | None  # None: still closed
    minutes: float  # up to the reopening, or up to now


@dataclass(frozen=True)
class FoodOff:
    food: str
    restaurant: str
    rule: str
    at: datetime
    outcome: str


@dataclass(frozen=True)
class Summary:
    since: datetime | None
    until: datetime | None
    lines: tuple[RuleLine, ...]
    closures: tuple[ClosureSpan, ...]
    foods: tuple[FoodOff, ...]
    top_reasons: tuple[tuple[int, int], ...]  # (reason_id, orders cancelled), most first
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def cancelled_revenue(self) -> Decimal:
        return sum((line.cancelled_revenue for line in self.lines), Decimal(0))


def _is_live_cancel(row: Mapping[str, Any]) -> bool:
    return bool(row["outcome"] == "cancelled" and row["mode"] == "live")


def build(
    rows: Iterable[Mapping[str, Any]],
    *,
    totals: Mapping[str, Decimal | None],
    closures: Iterable[Mapping[str, Any]],
    foods: Iterable[Mapping[str, Any]],
    names: Names,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> Summary:
    """The summary of ledger ``rows`` (and the closures and foods of the window)."""
    outcomes: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    revenue: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    reasons: Counter[int] = Counter()
    overall: Counter[str] = Counter()
    for row in rows:
        key = (names.restaurant(row["restaurant_id"]), row["rule"])
        outcomes[key][row["outcome"]] += 1
        overall[row["outcome"]] += 1
        if _is_live_cancel(row):
            revenue[key] += totals.get(row["payment_key"]) or Decimal(0)
            reasons[int(row["reason_id"])] += 1
    lines = tuple(
        RuleLine(restaurant, rule, dict(outcomes[(restaurant, rule)]), revenue[(restaurant, rule)])
        for restaurant, rule in sorted(outcomes)
    )
    spans = tuple(
        ClosureSpan(
            restaurant=names.restaurant(row["restaurant_id"]),
            rule=row["rule"],
            closed_at=row["closed_at"],
            reopened_at=row["reopened_at"],
            minutes=round(((row["reopened_at"] or now) - row["closed_at"]).total_seconds() / 60, 1),
        )
        for row in closures
        if row["close_outcome"] == "closed"
    )
    off = tuple(
        FoodOff(
            food=names.food(row["food_id"]),
            restaurant=names.restaurant(row["restaurant_id"]),
            rule=row["rule"],
            at=row["at"],
            outcome=row["outcome"],
        )
        for row in foods
    )
    return Summary(
        since=since,
        until=until,
        lines=lines,
        closures=spans,
        foods=off,
        top_reasons=tuple(reasons.most_common()),
        totals=dict(overall),
    )


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def to_json(summary: Summary) -> dict[str, Any]:
    return {
        "since": isoformat_z(summary.since) if summary.since else None,
        "until": isoformat_z(summary.until) if summary.until else None,
        "outcomes": dict(summary.totals),
        "cancelled_revenue": float(summary.cancelled_revenue),
        "by_restaurant_and_rule": [
            {
                "restaurant": line.restaurant,
                "rule": line.rule,
                "outcomes": dict(line.outcomes),
                "cancelled_revenue": float(line.cancelled_revenue),
            }
            for line in summary.lines
        ],
        "closures": [
            {
                "restaurant": span.restaurant,
                "rule": span.rule,
                "closed_at": isoformat_z(span.closed_at),
                "reopened_at": isoformat_z(span.reopened_at) if span.reopened_at else None,
                "minutes": span.minutes,
            }
            for span in summary.closures
        ],
        "foods_off": [
            {
                "food": food.food,
                "restaurant": food.restaurant,
                "rule": food.rule,
                "at": isoformat_z(food.at),
                "outcome": food.outcome,
            }
            for food in summary.foods
        ],
        "top_reasons": [
            {"reason_id": reason, "reason_text": reason_text(reason), "cancelled": count}
            for reason, count in summary.top_reasons
        ],
    }


def render(summary: Summary) -> str:
    span = (
        f"from {isoformat_z(summary.since) if summary.since else 'the start'} "
        f"to {isoformat_z(summary.until) if summary.until else 'now'}"
    )
    counts = ", ".join(f"{o} {summary.totals[o]}" for o in OUTCOMES if summary.totals.get(o))
    lines = [
        f"summary {span}: {counts or 'no decisions'}; "
        f"revenue of the orders cancelled {_money(summary.cancelled_revenue)}"
    ]
    if summary.lines:
        rows = [
            (
                line.restaurant,
                line.rule,
                *(str(line.outcomes.get(outcome, 0)) for outcome in OUTCOMES),
                _money(line.cancelled_revenue),
            )
            for line in summary.lines
        ]
        lines += ["", report.table(rows, ("restaurant", "rule", *OUTCOMES, "revenue"))]
    if summary.closures:
        rows = [
            (
                span.restaurant,
                span.rule,
                isoformat_z(span.closed_at),
                isoformat_z(span.reopened_at) if span.reopened_at else "still closed",
                f"{span.minutes:g} min",
            )
            for span in summary.closures
        ]
        lines += [
            "",
            "closures:",
            report.table(rows, ("restaurant", "rule", "closed", "reopened", "for")),
        ]
    if summary.foods:
        rows = [
            (food.food, food.restaurant, food.rule, isoformat_z(food.at), food.outcome)
            for food in summary.foods
        ]
        lines += [
            "",
            "foods off:",
            report.table(rows, ("food", "restaurant", "rule", "since", "outcome")),
        ]
    if summary.top_reasons:
        lines += ["", "top reasons:"]
        lines += [
            f"  {count:>5}  {reason} {reason_text(reason)}" for reason, count in summary.top_reasons
        ]
    return "\n".join(lines)


Rows = list[dict[str, Any]]


def read_window(
    connection: sa.Connection, since: datetime | None, until: datetime | None
) -> tuple[Rows, dict[str, Decimal | None], Rows, Rows]:
    rows = [dict(row) for row in ledger.audit_rows(connection, since=since, until=until)]
    cancelled = sorted({row["payment_key"] for row in rows if _is_live_cancel(row)})
    o = schema.orders
    totals: dict[str, Decimal | None] = {}
    for start in range(0, len(cancelled), 500):  # bounded IN lists
        chunk = cancelled[start : start + 500]
        query = sa.select(o.c.payment_key, o.c.total).where(o.c.payment_key.in_(chunk))
        totals.update({key: total for key, total in connection.execute(query)})
    c, f = schema.restaurant_closures, schema.food_deactivations
    closures = sa.select(c).order_by(c.c.closed_at)
    foods = sa.select(f).order_by(f.c.at)
    if until is not None:
        closures, foods = closures.where(c.c.closed_at < until), foods.where(f.c.at < until)
    if since is not None:  # a closure that lasted into the window counts
        closures = closures.where(sa.or_(c.c.reopened_at.is_(None), c.c.reopened_at >= since))
        foods = foods.where(f.c.at >= since)
    return (
        rows,
        totals,
        [dict(row) for row in connection.execute(closures).mappings()],
        [dict(row) for row in connection.execute(foods).mappings()],
    )


def summary(config: Config, *, since: str | None, until: str | None, fmt: str) -> int:
    now = utcnow()
    try:
        start, end = window(since or "today", until, now=now, zone=config.zone)
    except UsageError as exc:
        print(f"autocancel summary: error: {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    try:
        engine = open_store(config)
        with engine.connect() as connection:
            rows, totals, closures, foods = read_window(connection, start, end)
            names = Names.of(config.restaurants).with_foods(
                food_names(connection, [row["food_id"] for row in foods])
            )
    except (connect.StoreError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: cannot read the store: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    built = build(
        rows,
        totals=totals,
        closures=closures,
        foods=foods,
        names=names,
        now=now,
        since=start,
        until=end,
    )
    if fmt == "json":
        print(json.dumps(to_json(built), ensure_ascii=False))
    else:
        print(render(built))
    return exitcodes.OK

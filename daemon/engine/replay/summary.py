"""A replay's report: counts per rule and reason, restaurant and hour, revenue, closures. Pure.

Counts are of orders (each with its one outcome, see
daemon.engine.replay.outcomes), not of passes. Revenue is the sum of
``total`` of the orders cancelled (and, apart, of those a dry-run rule
would have cancelled). Orders a pause skipped are counted apart as well,
like those a limit held (:func:`paused`, :func:`held`). Hours are on the wall clock of rules.yaml's
``timezone``. :func:`report` is the JSON form (``replay --json``); the CLI
prints the same numbers as tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from daemon.domain.pauses import Pause
from daemon.domain.reasons import REASONS_EN
from daemon.domain.timeutil import isoformat_z
from daemon.engine.replay.outcomes import OUTCOMES, OrderOutcome, OverrideReplayed, ReplayResult


def revenue(outcomes: Iterable[OrderOutcome], outcome: str = "cancelled") -> Decimal:
    """The sum of ``total`` of the orders with ``outcome`` (an unknown total counts 0)."""
    return sum((o.total or Decimal(0) for o in outcomes if o.outcome == outcome), Decimal(0))


def money(value: Decimal) -> str:
    """A sum of totals as text, to the cent: ``400.00``."""
    return f"{value.quantize(Decimal('0.01'))}"


def _counts(outcomes: Iterable[OrderOutcome]) -> dict[str, Any]:
    found = list(outcomes)
    tally = Counter(o.outcome for o in found)
    return {
        **{outcome: tally.get(outcome, 0) for outcome in OUTCOMES},
        "revenue": money(revenue(found)),
        "would_cancel_revenue": money(revenue(found, "would_cancel")),
    }


def by_rule(result: ReplayResult) -> list[dict[str, Any]]:
    groups: defaultdict[tuple[str, str, int], list[OrderOutcome]] = defaultdict(list)
    for outcome in result.orders.values():
        groups[(outcome.rule, outcome.kind, outcome.reason_id)].append(outcome)
    return [
        {
            "rule": rule,
            "kind": kind,
            "reason_id": reason_id,
            "reason": REASONS_EN.get(reason_id, ""),
            **_counts(outcomes),
        }
        for (rule, kind, reason_id), outcomes in sorted(groups.items())
    ]


def by_restaurant(result: ReplayResult) -> list[dict[str, Any]]:
    groups: defaultdict[str, list[OrderOutcome]] = defaultdict(list)
    for outcome in result.orders.values():
        groups[outcome.restaurant_id].append(outcome)
    closures = Counter(span.restaurant_id for span in result.closures)
    return [
        {"restaurant_id": rid, **_counts(outcomes), "closures": closures.get(rid, 0)}
        for rid, outcomes in sorted(groups.items())
    ]


def _hour(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    return local.isoformat(timespec="minutes")


def by_hour(result: ReplayResult, zone: tzinfo) -> list[dict[str, Any]]:
    groups: defaultdict[str, list[OrderOutcome]] = defaultdict(list)
    for outcome in result.orders.values():
        groups[_hour(outcome.at, zone)].append(outcome)
    return [{"hour": hour, **_counts(outcomes)} for hour, outcomes in sorted(groups.items())]


def held(result: ReplayResult) -> dict[str, Any]:
    """What the limits held: orders still held at the end, by limit, and held then cancelled."""
    still = Counter(o.because for o in result.orders.values() if o.outcome == "held")
    return {
        "orders": sum(still.values()),
        "by_limit": dict(sorted((str(k), v) for k, v in still.items())),
        "then_cancelled": sum(1 for o in result.orders.values() if o.held_before),
    }


def paused(result: ReplayResult) -> dict[str, Any]:
    """What the pauses held: orders still skipped by one at the end, by pause, and paused then
    decided once the pause ended (cancelled, or held or skipped by something else)."""
    still = Counter(o.pause_id for o in result.orders.values() if o.paused)
    return {
        "orders": sum(still.values()),
        "by_pause": {str(k): v for k, v in sorted(still.items(), key=lambda kv: kv[0] or 0)},
        "then_cancelled": sum(
            1 for o in result.orders.values() if o.pause_id is not None and o.cancels
        ),
    }


def pause_span(pause: Pause, start: datetime, end: datetime) -> tuple[datetime, datetime | None]:
    """When the pause held within the replay: from, and to (None: still in force at its end)."""
    ended = pause.ended(end)
    return max(pause.created_at, start), None if ended is None else min(ended, end)


def skipped(result: ReplayResult) -> dict[str, int]:
    """Orders a rule matched that safety protected or a quiet window suspended, by cause."""
    found = Counter(o.because for o in result.orders.values() if o.outcome == "skipped")
    return dict(sorted((str(k), v) for k, v in found.items()))


def outcome_json(outcome: OrderOutcome) -> dict[str, Any]:
    return {
        "payment_key": outcome.payment_key,
        "restaurant_id": outcome.restaurant_id,
        "rule": outcome.rule,
        "kind": outcome.kind,
        "reason_id": outcome.reason_id,
        "mode": outcome.mode,
        "outcome": outcome.outcome,
        "at": isoformat_z(outcome.at),
        "total": None if outcome.total is None else str(outcome.total),
        "because": outcome.because,
        "held_before": outcome.held_before,
        "pause_id": outcome.pause_id,
    }


def _pause_json(pause: Pause, result: ReplayResult, skipped: int) -> dict[str, Any]:
    held_from, held_to = pause_span(pause, result.start, result.end)
    return {
        "id": pause.id,
        "rule": pause.rule,
        "restaurant_id": pause.restaurant_id,
        "by": pause.created_by,
        "comment": pause.comment,
        "from": isoformat_z(held_from),
        "to": None if held_to is None else isoformat_z(held_to),
        "orders_skipped": skipped,
    }


def _override_json(override: OverrideReplayed) -> dict[str, Any]:
    ended = override.respect_ended_at
    return {
        "restaurant_id": override.restaurant_id,
        "kind": override.kind,
        "by": override.by,
        "at": isoformat_z(override.at),
        "ended_closure": override.ended_closure,
        "respect_ended_at": None if ended is None else isoformat_z(ended),
    }


def report(result: ReplayResult, zone: tzinfo) -> dict[str, Any]:
    """The whole report as one JSON-ready object."""
    orders = sorted(result.orders.values(), key=lambda o: (o.at, o.payment_key))
    skipped_by = Counter(o.pause_id for o in result.orders.values() if o.pause_id is not None)
    return {
        "from": isoformat_z(result.start),
        "to": isoformat_z(result.end),
        "passes": result.passes,
        "full_passes": result.full_passes,
        "changes": result.changes,
        "orders_seen": result.orders_seen,
        "decisions": _counts(result.orders.values()),
        "by_rule": by_rule(result),
        "by_restaurant": by_restaurant(result),
        "by_hour": by_hour(result, zone),
        "closures": [
            {
                "restaurant_id": span.restaurant_id,
                "rule": span.rule,
                "closed_at": isoformat_z(span.closed_at),
                "reopened_at": None if span.reopened_at is None else isoformat_z(span.reopened_at),
                "minutes": round(span.minutes(result.end), 1),
                "ended_by": None if span.reopened_at is None else span.ended_by or "rule",
            }
            for span in sorted(result.closures, key=lambda s: (s.closed_at, s.restaurant_id))
        ],
        "foods_deactivated": [
            {
                "food_id": food.food_id,
                "restaurant_id": food.restaurant_id,
                "rule": food.rule,
                "at": isoformat_z(food.at),
            }
            for food in result.foods
        ],
        "foods_reactivated": [
            {
                "food_id": food.food_id,
                "restaurant_id": food.restaurant_id,
                "rule": food.rule,
                "trigger": food.trigger,
                "at": isoformat_z(food.at),
                "deactivated_at": isoformat_z(food.deactivated_at),
            }
            for food in result.foods_reactivated
        ],
        "held": held(result),
        "paused": paused(result),
        "skipped": skipped(result),
        "pauses": [
            _pause_json(pause, result, skipped_by.get(pause.id, 0))
            for pause in sorted(result.pauses, key=lambda p: p.id)
        ],
        "overrides": [_override_json(o) for o in result.overrides],
        "shadow_matches": [outcome_json(o) for o in result.shadows],
        "unwatched": [
            {"from": isoformat_z(gap.start), "to": isoformat_z(gap.end)} for gap in result.unwatched
        ],
        "orders": [outcome_json(o) for o in orders],
    }

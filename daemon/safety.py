"""The limits that stand between a rule and a cancellation (DESIGN.md, "Safety").

Applied to the primary decisions of a pass after the rules, before anything is
recorded or sent. Shadow (dry-run) matches are evidence only and pass through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.engine import Decision

log = logging.getLogger(__name__)

# A POS clock a little ahead is normal; an order "from the future" beyond
# this is bad data, and bad data is never a reason to cancel.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    max_cancellations_per_hour: int
    max_order_age_minutes: int
    never_cancel: frozenset[str]
    max_cancel_ratio: float | None = None


def _phone_digits(phone: str) -> str:
    """Compare phones by their last ten digits: 0533..., +90 533... and 533... are one number."""
    digits = re.sub(r"\D", "", phone)
    return digits[-10:] if len(digits) >= 10 else digits


def _protected(decision: Decision, never_cancel: frozenset[str]) -> str | None:
    order = decision.order
    if order.payment_key in never_cancel:
        return "payment_key"
    if order.customer_phone:
        phone = _phone_digits(order.customer_phone)
        protected_phones = {_phone_digits(entry) for entry in never_cancel}
        if phone and phone in protected_phones:
            return "customer_phone"
    return None


def _age_problem(
    decision: Decision, limits: SafetyLimits, now: datetime
) -> dict[str, object] | None:
    created = decision.order.created_at
    if created is None:
        return {"skipped_because": "created_at_unknown"}
    if created - now > CLOCK_SKEW_TOLERANCE:
        return {"skipped_because": "created_at_in_future", "created_at": created.isoformat()}
    age_minutes = (now - created).total_seconds() / 60
    if age_minutes > limits.max_order_age_minutes:
        return {
            "skipped_because": "max_order_age_minutes",
            "age_minutes": round(age_minutes, 1),
            "max_order_age_minutes": limits.max_order_age_minutes,
        }
    return None


def protection(decision: Decision, limits: SafetyLimits, now: datetime) -> dict[str, object] | None:
    """Why no automatic rule may cancel this order now (never_cancel, age), or None."""
    protected_by = _protected(decision, limits.never_cancel)
    if protected_by:
        return {"skipped_because": "never_cancel", "matched": protected_by}
    return _age_problem(decision, limits, now)


def apply_safety(
    decisions: Iterable[Decision],
    limits: SafetyLimits,
    *,
    now: datetime,
    live_cancellations_last_hour: int,
    active_orders: int | None = None,
) -> list[Decision]:
    """Skip protected and too-old orders; hold live cancellations over the caps.

    ``active_orders`` (the pass's snapshot) feeds ``max_cancel_ratio``; without
    it the ratio is not applied (``explain`` looks at one order).
    """
    checked: list[Decision] = []
    for decision in decisions:
        if not decision.primary:
            checked.append(decision)
            continue
        protected_by = _protected(decision, limits.never_cancel)
        if protected_by:
            checked.append(
                decision.with_outcome(
                    "skipped", skipped_because="never_cancel", matched=protected_by
                )
            )
            continue
        problem = _age_problem(decision, limits, now)
        checked.append(decision.with_outcome("skipped", **problem) if problem else decision)
    checked = _hold_over_ratio(checked, limits, active_orders)
    return _hold_over_hourly_cap(checked, limits, live_cancellations_last_hour)


def _hold_over_ratio(
    decisions: list[Decision], limits: SafetyLimits, active_orders: int | None
) -> list[Decision]:
    """A pass that would cancel more than this share of the active orders holds them all.

    That many at once smells of a broken rule or bad data, not of reality.
    """
    ratio = limits.max_cancel_ratio
    pending = [d for d in decisions if d.primary and d.outcome == "pending"]
    if ratio is None or not active_orders or len(pending) <= ratio * active_orders:
        return decisions
    log.critical(
        "this pass would cancel %d of %d active orders, more than max_cancel_ratio %.2f: "
        "holding every cancellation. Check the rules and the store.",
        len(pending), active_orders, ratio,
    )
    return [
        d.with_outcome("held", held_because="max_cancel_ratio", max_cancel_ratio=ratio,
                       would_cancel=len(pending), active_orders=active_orders)
        if d.primary and d.outcome == "pending" else d
        for d in decisions
    ]


def _hold_over_hourly_cap(
    decisions: Sequence[Decision], limits: SafetyLimits, used: int
) -> list[Decision]:
    budget = max(0, limits.max_cancellations_per_hour - used)
    pending = [d for d in decisions if d.primary and d.outcome == "pending"]
    if len(pending) <= budget:
        return list(decisions)
    # Oldest orders first: they have waited longest for an answer.
    by_age = sorted(pending, key=lambda d: (d.order.created_at is None, d.order.created_at))
    held_keys = {d.payment_key for d in by_age[budget:]}
    log.critical(
        "hourly cancellation cap reached: %d cancellations in the last hour, limit %d; "
        "holding %d cancellation(s) this pass. Check the rules and the store before raising "
        "safety.max_cancellations_per_hour.",
        used, limits.max_cancellations_per_hour, len(held_keys),
    )
    return [
        d.with_outcome(
            "held",
            held_because="max_cancellations_per_hour",
            limit=limits.max_cancellations_per_hour,
            used_last_hour=used,
        )
        if d.primary and d.outcome == "pending" and d.payment_key in held_keys
        else d
        for d in decisions
    ]

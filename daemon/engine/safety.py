"""The limits that stand between a rule and a cancellation (DESIGN.md, "Safety").

Two kinds, applied by the planner (daemon.planning) to every pass:

- **Protection** is a fact about one order: in ``never_cancel``, older than
  ``max_order_age_minutes``, or of an unreadable or future time. It is
  computed once per order, before any rule's choice counts, because a
  protected order never leaves: congestion must neither count it as leaving
  nor choose it. Its decisions are ``skipped``.
- **Suspensions** hold for a while, whatever the orders: a quiet window
  (rules.yaml ``quiet_windows``) suspends every automatic cancellation; a
  pause (``autocancel pause``, read from the store with the snapshot) does
  the same for its scope: a rule, a restaurant, both, or everything. The decisions they cover are
  ``skipped`` with their evidence, and their scope closes no restaurant and
  deactivates no food; a reopening still goes out, since it undoes what the
  daemon did.
- **Brakes** judge the pass as a whole: ``max_cancel_ratio`` (per restaurant,
  and per pass) and ``max_cancellations_per_hour``. What they stop is ``held``,
  and the scope they stopped (a restaurant, or the whole pass) takes no side
  effect either: the data that looked wrong for cancelling is no better for
  closing or reopening a restaurant or changing its menu.

Shadow (dry-run) matches are evidence only and pass through the brakes.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from daemon.domain.decisions import Decision
from daemon.domain.orders import Order
from daemon.domain.pauses import Pause
from daemon.domain.windows import QuietWindow, quiet_spell

log = logging.getLogger(__name__)

# A POS clock a little ahead is normal; an order "from the future" beyond
# this is bad data, and bad data is never a reason to cancel.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)

# skipped_because for an order older than max_order_age_minutes: a stale order.
TOO_OLD = "max_order_age_minutes"


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    max_cancellations_per_hour: int
    max_order_age_minutes: int
    never_cancel: frozenset[str]
    max_cancel_ratio: float | None = None
    # rules.yaml's quiet_windows: while one holds, no automatic cancellation goes out.
    quiet_windows: tuple[QuietWindow, ...] = ()


@dataclass(frozen=True, slots=True)
class Protection:
    """Why safety never auto-cancels one order; ``evidence`` goes on its skipped decision."""

    evidence: Mapping[str, Any]

    @property
    def stale(self) -> bool:
        """Too old: abandoned in the POS rather than cooking (so not load either)."""
        return bool(self.evidence["skipped_because"] == TOO_OLD)


def _phone_digits(phone: str) -> str:
    """Compare phones by their last ten digits: 0533..., +90 533... and 533... are one number."""
    digits = re.sub(r"\D", "", phone)
    return digits[-10:] if len(digits) >= 10 else digits


@lru_cache(maxsize=8)
def _protected_phones(never_cancel: frozenset[str]) -> frozenset[str]:
    """The phones ``never_cancel`` lists, as compared; once per list, not once per order."""
    return frozenset(_phone_digits(entry) for entry in never_cancel)


def never_cancel_match(order: Order, never_cancel: frozenset[str]) -> str | None:
    """Which of the order's identities ``never_cancel`` lists (payment_key, phone), or None."""
    if not never_cancel:
        return None
    if order.payment_key in never_cancel:
        return "payment_key"
    if order.customer_phone:
        phone = _phone_digits(order.customer_phone)
        if phone and phone in _protected_phones(never_cancel):
            return "customer_phone"
    return None


def _age_problem(order: Order, limits: SafetyLimits, now: datetime) -> dict[str, Any] | None:
    created = order.created_at
    if created is None:
        return {"skipped_because": "created_at_unknown"}
    if created - now > CLOCK_SKEW_TOLERANCE:
        return {"skipped_because": "created_at_in_future", "created_at": created.isoformat()}
    age_minutes = (now - created).total_seconds() / 60
    if age_minutes > limits.max_order_age_minutes:
        return {
            "skipped_because": TOO_OLD,
            "age_minutes": round(age_minutes, 1),
            "max_order_age_minutes": limits.max_order_age_minutes,
        }
    return None


def protection(order: Order, limits: SafetyLimits, now: datetime) -> Protection | None:
    """Whether safety protects ``order`` at the pass clock ``now``, and why."""
    matched = never_cancel_match(order, limits.never_cancel)
    if matched:
        return Protection({"skipped_because": "never_cancel", "matched": matched})
    problem = _age_problem(order, limits, now)
    return Protection(problem) if problem else None


def protections(
    orders: Iterable[Order], limits: SafetyLimits, now: datetime
) -> dict[str, Protection]:
    """Every protected order of a pass, by payment_key."""
    if limits.never_cancel:
        return {
            order.payment_key: found
            for order in orders
            if (found := protection(order, limits, now)) is not None
        }
    # Nothing listed: an order placed less than max_order_age_minutes ago and not
    # beyond the skew tolerance ahead is surely unprotected (no float at the edge);
    # any other is judged in full.
    young_after = now - timedelta(minutes=limits.max_order_age_minutes)
    ahead_until = now + CLOCK_SKEW_TOLERANCE
    return {
        order.payment_key: found
        for order in orders
        if not ((created := order.created_at) is not None and young_after < created <= ahead_until)
        and (found := protection(order, limits, now)) is not None
    }


@dataclass(frozen=True, slots=True)
class Suspension:
    """Why no automatic decision in its scope goes ahead now, whatever the rules say.

    ``evidence`` goes on every decision it skips (``skipped_because`` and the
    details). A scope of None is everything: a quiet window covers every
    rule at every restaurant; a pause may name some rules or restaurants.
    """

    evidence: Mapping[str, Any]
    why: str  # one line for explain and for a re-check that stops a send
    rules: frozenset[str] | None = None
    restaurants: frozenset[str] | None = None

    def covers(self, rule: str, restaurant_id: str | None) -> bool:
        return (self.rules is None or rule in self.rules) and (
            self.restaurants is None or restaurant_id in self.restaurants
        )


def pause_suspension(pause: Pause) -> Suspension:
    """A pause as the planner applies it: its scope, its evidence, its line."""
    return Suspension(
        pause.evidence(),
        why=pause.describe(),
        rules=None if pause.rule is None else frozenset({pause.rule}),
        restaurants=None if pause.restaurant_id is None else frozenset({pause.restaurant_id}),
    )


def suspensions_at(
    limits: SafetyLimits, now: datetime, zone: tzinfo, pauses: Iterable[Pause] = ()
) -> tuple[Suspension, ...]:
    """What suspends automatic decisions at the pass clock ``now``.

    The ``pauses`` in force then (a person's decision, with a name and a
    comment, so they come first: a decision records the first that covers
    it), then a quiet window holding then.
    """
    held = [pause_suspension(pause) for pause in pauses if pause.in_force(now)]
    spell = quiet_spell(limits.quiet_windows, now, zone)
    if spell is not None:
        held.append(Suspension(spell.evidence(), why=spell.describe()))
    return tuple(held)


def suspension_of(
    suspensions: Iterable[Suspension], rule: str, restaurant_id: str | None
) -> Suspension | None:
    """The first suspension covering ``rule`` at ``restaurant_id``, if any."""
    return next((found for found in suspensions if found.covers(rule, restaurant_id)), None)


def skip_suspended(decision: Decision, suspensions: Sequence[Suspension]) -> Decision:
    """``decision`` recorded as ``skipped`` when a suspension covers it, with that one's evidence.

    Only a decision still going ahead (a primary ``pending`` or
    ``would_cancel``): what safety protected keeps its own reason.
    """
    if not decision.primary or decision.outcome not in ("pending", "would_cancel"):
        return decision
    found = suspension_of(suspensions, decision.rule, decision.order.restaurant_id)
    return decision if found is None else decision.with_outcome("skipped", **found.evidence)


def _pending(decision: Decision) -> bool:
    """A live cancellation still to be sent: what the brakes count and hold."""
    return decision.primary and decision.outcome == "pending"


@dataclass(frozen=True)
class SafetyResult:
    """The decisions after safety, and the scope the brakes stopped."""

    decisions: tuple[Decision, ...]
    held_restaurants: frozenset[str] = frozenset()
    # A brake stopped the whole pass: not one side effect anywhere.
    pass_held: bool = False
    suspensions: tuple[Suspension, ...] = ()

    def holds(self, restaurant_id: str | None) -> bool:
        return self.pass_held or restaurant_id in self.held_restaurants

    def suspends(self, rule: str, restaurant_id: str | None) -> bool:
        """Whether a suspension holds ``rule``'s new side effects at ``restaurant_id``."""
        return suspension_of(self.suspensions, rule, restaurant_id) is not None


def apply_safety(
    decisions: Iterable[Decision],
    limits: SafetyLimits,
    *,
    protected: Mapping[str, Protection],
    actionable: Mapping[str, int],
    live_cancellations_last_hour: int,
    suspensions: Sequence[Suspension] = (),
) -> SafetyResult:
    """Skip protected and suspended decisions, then brake: the cancel ratio, the hourly cap.

    ``actionable`` is, per restaurant, how many active orders the daemon may
    act on (the planner's RestaurantLoad.actionable): the ratio's denominator.
    """
    checked = [skip_suspended(_skip_protected(d, protected), suspensions) for d in decisions]
    checked, held_restaurants, ratio_held_pass = _hold_over_ratio(checked, limits, actionable)
    checked, cap_held = _hold_over_hourly_cap(checked, limits, live_cancellations_last_hour)
    return SafetyResult(
        decisions=tuple(checked),
        held_restaurants=frozenset(held_restaurants),
        # The cap is one budget for the whole store: what it holds, it holds for the pass.
        pass_held=ratio_held_pass or cap_held,
        suspensions=tuple(suspensions),
    )


def _skip_protected(decision: Decision, protected: Mapping[str, Protection]) -> Decision:
    found = protected.get(decision.payment_key)
    if not decision.primary or found is None:
        return decision
    return decision.with_outcome("skipped", **found.evidence)


def _hold(decisions: Sequence[Decision], which: set[str], **evidence: Any) -> list[Decision]:
    return [
        d.with_outcome("held", **evidence) if _pending(d) and d.payment_key in which else d
        for d in decisions
    ]


def _hold_over_ratio(
    decisions: list[Decision], limits: SafetyLimits, actionable: Mapping[str, int]
) -> tuple[list[Decision], set[str], bool]:
    """More than this share of the orders it may act on, at once, smells of a broken rule.

    Judged per restaurant (a rule gone wild at one branch is not diluted by the
    others) and per pass, both on the counts before either hold.
    """
    ratio = limits.max_cancel_ratio
    if ratio is None:
        return decisions, set(), False
    pending = [d for d in decisions if _pending(d)]
    per_restaurant = Counter(d.order.restaurant_id for d in pending)
    over = {
        restaurant_id: count
        for restaurant_id, count in per_restaurant.items()
        if count > ratio * actionable.get(restaurant_id, 0)
    }
    for restaurant_id, count in sorted(over.items()):
        mine = {d.payment_key for d in pending if d.order.restaurant_id == restaurant_id}
        decisions = _hold(
            decisions,
            mine,
            held_because="max_cancel_ratio",
            max_cancel_ratio=ratio,
            restaurant_id=restaurant_id,
            would_cancel=count,
            actionable_orders=actionable.get(restaurant_id, 0),
        )
        log.critical(
            "restaurant %s: this pass would cancel %d of the %d orders it may act on, more "
            "than max_cancel_ratio %.2f: holding its cancellations and side effects. "
            "Check the rules and the store.",
            restaurant_id,
            count,
            actionable.get(restaurant_id, 0),
            ratio,
        )
    total = sum(actionable.values())
    if len(pending) <= ratio * total:
        return decisions, set(over), False
    log.critical(
        "this pass would cancel %d of the %d orders it may act on, more than max_cancel_ratio "
        "%.2f: holding every cancellation and side effect. Check the rules and the store.",
        len(pending),
        total,
        ratio,
    )
    everyone = {d.payment_key for d in pending}
    held = _hold(
        decisions,
        everyone,
        held_because="max_cancel_ratio",
        max_cancel_ratio=ratio,
        would_cancel=len(pending),
        actionable_orders=total,
    )
    return held, set(over), True


def _hold_over_hourly_cap(
    decisions: Sequence[Decision], limits: SafetyLimits, used: int
) -> tuple[list[Decision], bool]:
    budget = max(0, limits.max_cancellations_per_hour - used)
    pending = [d for d in decisions if _pending(d)]
    if len(pending) <= budget:
        return list(decisions), False
    # Oldest orders first: they have waited longest for an answer.
    by_age = sorted(pending, key=lambda d: (d.order.created_at is None, d.order.created_at))
    held_keys = {d.payment_key for d in by_age[budget:]}
    log.critical(
        "hourly cancellation cap reached: %d cancellations in the last hour, limit %d; "
        "holding %d cancellation(s) and every side effect this pass. Check the rules and the "
        "store before raising safety.max_cancellations_per_hour.",
        used,
        limits.max_cancellations_per_hour,
        len(held_keys),
    )
    held = _hold(
        decisions,
        held_keys,
        held_because="max_cancellations_per_hour",
        limit=limits.max_cancellations_per_hour,
        used_last_hour=used,
    )
    return held, True

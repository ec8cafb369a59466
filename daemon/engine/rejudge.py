"""Deciding again, on current data, right before a cancellation is sent.

Between the snapshot and the call there are seconds (a slow geocoder), minutes
(backoff, a lost answer resent on a later pass) or a crash. Before every
attempt, the first included, the order is read again and judged by the same
rule, with the same guards and safety protections as a pass. If it no longer
qualifies, the call is not sent and the evidence says what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from daemon.domain.decisions import IN_FLIGHT, Decision
from daemon.engine.decide import guard, rule_mode
from daemon.engine.manual_policy import FORCED, Obstacle, blocking, findings, is_manual
from daemon.engine.plan import restaurant_loads
from daemon.engine.safety import (
    SafetyLimits,
    protection,
    protections,
    suspension_of,
    suspensions_at,
)

if TYPE_CHECKING:
    from rules.base import Rule
    from rules.context import PassContext, RestaurantLoad


def _now_facts(decision: Decision, ctx: PassContext) -> dict[str, Any]:
    order = ctx.snapshot.order(decision.payment_key)
    if order is None:
        return {}
    return {"status_id": order.status_id, "payment_status": order.payment_status}


def _changed(decision: Decision, ctx: PassContext, change: str, **more: Any) -> dict[str, Any]:
    return {
        "skipped_because": "no_longer_qualifies",
        "change": change,
        "now": _now_facts(decision, ctx),
        # An earlier call whose answer was lost (or a crash mid-call) may have
        # cancelled it already: the operator must know to look on the platform.
        "may_have_reached_platform": decision.uncertain_sends > 0,
        **more,
    }


def _load_now(
    decision: Decision, ctx: PassContext, limits: SafetyLimits, now: datetime
) -> RestaurantLoad | None:
    """The restaurant's load now: every order on its way out but this one leaves."""
    leaving = frozenset(
        key
        for key, outcome in ctx.snapshot.live_intents.items()
        if outcome in IN_FLIGHT and key != decision.payment_key
    )
    loads = restaurant_loads(ctx, protections(ctx.snapshot.orders, limits, now), leaving)
    return loads.get(decision.order.restaurant_id)


def _rule_change(name: str, rule: Rule | None, *, dry_run: bool) -> str | None:
    """What a reload did to the rule behind a decision, if anything."""
    if rule is None:
        return f"rule {name!r} is no longer in rules.yaml"
    if not rule.enabled:
        return f"rule {name!r} is disabled now"
    if rule_mode(rule, dry_run=dry_run) != "live":
        return f"rule {name!r} is in dry-run now"
    return None


def _not_in_force(
    decision: Decision,
    rule: Rule | None,
    *,
    ctx: PassContext,
    limits: SafetyLimits,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any] | None:
    """Why the rule may not act at ``now``: gone, disabled, dry-run, out of window, suspended."""
    rule_change = _rule_change(decision.rule, rule, dry_run=dry_run)
    if rule_change is not None or rule is None:
        return _changed(decision, ctx, rule_change or "")
    asleep = rule.outside_window(now, ctx.timezone)
    if asleep is not None:
        return _changed(
            decision, ctx, f"rule {rule.name!r} is {asleep.why}", window=dict(asleep.evidence)
        )
    # The pauses as the store has them now: one created after the plan stops this send.
    suspended = suspension_of(
        suspensions_at(limits, now, ctx.timezone, ctx.snapshot.pauses),
        rule.name,
        decision.order.restaurant_id,
    )
    if suspended is not None:
        return _changed(decision, ctx, suspended.why, suspended=dict(suspended.evidence))
    return None


def rejudge(
    decision: Decision,
    *,
    rules: Sequence[Rule],
    ctx: PassContext,
    limits: SafetyLimits,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any] | None:
    """None while ``decision`` still stands on ``ctx``; otherwise why it does not."""
    if is_manual(decision.kind):
        return _rejudge_manual(decision, ctx=ctx, limits=limits, dry_run=dry_run)
    rule = next((r for r in rules if r.name == decision.rule), None)
    stopped = _not_in_force(decision, rule, ctx=ctx, limits=limits, now=now, dry_run=dry_run)
    if stopped is not None or rule is None:
        return stopped
    order = ctx.snapshot.order(decision.payment_key)
    if order is None:
        return _changed(decision, ctx, "the order is no longer in the store")
    load = _load_now(decision, ctx, limits, now) if rule.aggregate else None
    verdict = guard(rule, order, rule.rejudge(order, ctx, load), ctx)
    if not verdict.matched:
        return _changed(
            decision,
            ctx,
            verdict.why or f"rule {rule.name!r} no longer matches",
            rule_verdict=verdict.kind.value,
        )
    protected = protection(order, limits, now)
    if protected is not None:
        return _changed(
            decision, ctx, "a safety protection applies now", safety=dict(protected.evidence)
        )
    return None


# Why a manual cancellation no longer stands, by obstacle (daemon/manual_policy.py).
_MANUAL_CHANGES = {
    Obstacle.NOT_IN_STORE: "the order is no longer in the store",
    Obstacle.BAD_PAYMENT_KEY: "the payment_key cannot be sent to Dükkango (bad data)",
    Obstacle.FINISHED: "the order is {status} now (status {status_id})",
    Obstacle.RESTAURANT_NOT_IN_RULES: (
        "its restaurant {restaurant_id} is not in rules.yaml now, and the cancellation was "
        "not forced"
    ),
    Obstacle.NEVER_CANCEL: "it is in never_cancel now ({matched}), and the cancellation was "
    "not forced",
}


def _rejudge_manual(
    decision: Decision, *, ctx: PassContext, limits: SafetyLimits, dry_run: bool
) -> dict[str, Any] | None:
    """A staff-confirmed cancellation stands while what was confirmed still holds.

    No rule decided it, so no rule is asked again: the order must still be
    cancellable, and whatever was not overridden with --force must still not
    apply. Age is no obstacle: staff may cancel an order the rules consider stale.
    """
    if dry_run:
        return _changed(decision, ctx, "autocancel is in dry-run now")
    forced = decision.evidence.get(FORCED) or ()
    found = blocking(
        findings(
            ctx.snapshot.order(decision.payment_key),
            restaurant_ids=ctx.restaurants,
            never_cancel=limits.never_cancel,
        ),
        forced=forced,
    )
    if not found:
        return None
    first = found[0]
    return _changed(
        decision,
        ctx,
        _MANUAL_CHANGES[first.obstacle].format(**first.details),
        obstacle=first.obstacle.value,
    )

"""The one planner: from a pass context to everything the pass will do. Pure; no I/O.

``plan_pass`` is what a live pass, a dry run and ``explain`` all run, so they
cannot disagree. Each fact is computed once, here, and handed on:

1. the pass clock: ``ctx.now``, for every age, every window and every reopen;
2. which orders safety protects (never_cancel, too old, unknown time), and
   what suspends automatic decisions now (the pauses in force, read with
   the snapshot, and a quiet window);
3. which rules are outside their ``active_hours``/``active_days`` (once per
   rule, in ``ctx.timezone``): their verdict on every order is a no-match
   that says so;
4. the per-order rules' verdicts;
5. the orders leaving anyway: whose first live per-order match is neither
   protected nor suspended, or with a live cancellation already pending or
   confirmed. Shadow (per-rule dry_run) matches are not leaving; the global
   dry-run switch is ignored here, so a dry run counts what a live pass would;
6. each listed restaurant's load (:class:`rules.context.RestaurantLoad`):
   active, less stale, less leaving. Congestion chooses its orders on it and
   closes or reopens on it: one number for both;
7. one decision per order, then safety: protected orders skipped, suspended
   decisions skipped, then the brakes (max_cancel_ratio per restaurant and
   per pass, the hourly cap);
8. the side effects, except where a brake held: a held restaurant or pass
   takes none at all. A rule outside its window, or suspended, closes no
   restaurant and deactivates no food, but its reopenings still go out:
   every action the daemon took keeps its way back. Beside them, the
   people's overrides the load no longer needs (``overrides_spent``: no API
   call, written with the ledger, in every mode);
9. only then the global dry-run switch: live decisions become ``dry_run``
   (pending -> would_cancel), live side effects become notes.

Orders a brake holds are not leaving either. The loads above count them as
leaving, because the brakes judge the plan those loads produced; that is
safe because a brake that holds anything also holds every side effect of its
scope, so no close or reopen is ever decided on a load that assumed them gone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from daemon.domain.actions import (
    DeactivateFood,
    OverrideSpent,
    ReactivateFood,
    ReopenRestaurant,
    RestaurantAction,
)
from daemon.domain.decisions import IN_FLIGHT, Decision, Mode
from daemon.domain.orders import payment_key_of
from daemon.domain.pauses import Pause, in_force
from daemon.domain.statuses import ACTIVE_STATUSES
from daemon.engine.decide import (
    RuleVerdicts,
    decide_order,
    evaluate_loads,
    evaluate_orders,
    matches,
    outside_windows,
    rule_mode,
    verdicts_by_order,
)
from daemon.engine.reactivation import DEFAULT_ABANDONED_AFTER, due_reactivations, snoozes
from daemon.engine.safety import (
    Protection,
    SafetyLimits,
    SafetyResult,
    Suspension,
    apply_safety,
    protections,
    suspension_of,
    suspensions_at,
)
from rules.context import PassContext, RestaurantLoad
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order, Snapshot
    from daemon.engine.verdictmemo import VerdictMemo
    from rules.base import Rule


@dataclass(frozen=True, slots=True)
class WindowState:
    """Which rules are outside their window, and what suspends decisions, at one moment.

    It changes by time alone, which no change log records: a pass that sees
    it changed since the last one must judge every restaurant again.
    """

    outside: frozenset[str]
    suspended: tuple[str, ...]


def window_state(
    rules: Sequence[Rule], limits: SafetyLimits, now: datetime, zone: tzinfo
) -> WindowState:
    """The :class:`WindowState` a pass at ``now`` would plan on."""
    return WindowState(
        outside=frozenset(
            rule.name
            for rule in rules
            if rule.enabled and rule.outside_window(now, zone) is not None
        ),
        suspended=tuple(found.why for found in suspensions_at(limits, now, zone)),
    )


@dataclass(frozen=True)
class Plan:
    """Everything one pass decided, for the ledger, the executor, ``once`` and ``explain``."""

    now: datetime  # the pass clock every judgement used
    decisions: tuple[Decision, ...]  # after safety, with the pass's final modes
    loads: Mapping[str, RestaurantLoad]  # every listed restaurant's load
    restaurant_actions: tuple[tuple[RestaurantAction, Mode], ...]
    # One candidate per food *and order*: which order's cancellation goes ahead
    # is known only once the ledger took it, and the pass sends each food once.
    food_deactivations: tuple[tuple[DeactivateFood, Mode], ...]
    verdicts: Mapping[str, tuple[tuple[Rule, Verdict], ...]]
    rule_modes: Mapping[str, Mode]  # each rule's mode in this pass, by name
    hourly_used: int  # the live cancellations of the last hour this plan was braked with
    held: bool = False  # a brake held the whole pass: no side effect at all
    held_restaurants: frozenset[str] = frozenset()  # ... or these restaurants' only
    suspensions: tuple[Suspension, ...] = ()  # what suspended automatic decisions (a quiet window)
    outside_window: frozenset[str] = frozenset()  # the rules outside their active window
    # People's decisions on a restaurant the overload no longer needs (one per closure).
    overrides_spent: tuple[OverrideSpent, ...] = ()
    pauses: tuple[Pause, ...] = ()  # the pauses in force at the pass clock
    # Foods the daemon switched off that go back on sale this pass (daemon.engine.reactivation).
    food_reactivations: tuple[tuple[ReactivateFood, Mode], ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to apply: no decision, no side effect, no override spent."""
        return not (
            self.decisions
            or self.restaurant_actions
            or self.food_deactivations
            or self.food_reactivations
            or self.overrides_spent
        )

    @property
    def primary(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.primary)

    @property
    def may_spend_budget(self) -> bool:
        """Whether the hourly cap can matter: a cancellation goes ahead, or a brake held one."""
        return any(
            d.primary and d.outcome in ("pending", "would_cancel", "held") for d in self.decisions
        )

    def decision_for(self, payment_key: str) -> Decision | None:
        """The order's primary decision this pass; None when no rule decides it."""
        return next((d for d in self.primary if d.payment_key == payment_key), None)

    def holds(self, restaurant_id: str | None) -> bool:
        """Whether a brake stopped this restaurant's side effects this pass."""
        return self.held or restaurant_id in self.held_restaurants


def plan_pass(
    rules: Sequence[Rule],
    ctx: PassContext,
    limits: SafetyLimits,
    *,
    hourly_used: int,
    dry_run: bool,
    reactivations_abandoned_after: timedelta = DEFAULT_ABANDONED_AFTER,
    memo: VerdictMemo | None = None,
) -> Plan:
    """The final plan of one pass: decisions after safety, loads, side effects.

    ``reactivations_abandoned_after``: how long a claimed reactivation may wait
    for its sender (daemon.engine.reactivation.abandoned_after). ``memo``: the
    order-local verdicts of earlier passes on the same inputs, reused (the plan
    is the same with it or without it; daemon.engine.verdictmemo).
    """
    snapshot = ctx.snapshot
    remembered = memo.begin(rules, ctx) if memo is not None else None
    protected = protections(snapshot.orders, limits, ctx.now)
    pauses = in_force(snapshot.pauses, ctx.now)
    suspensions = suspensions_at(limits, ctx.now, ctx.timezone, pauses)
    asleep = outside_windows(rules, ctx)
    per_order = evaluate_orders(rules, ctx, asleep=asleep, memo=remembered)
    leaving = _leaving(rules, per_order, snapshot, protected, suspensions)
    loads = restaurant_loads(ctx, protected, leaving)
    verdicts = verdicts_by_order(
        rules,
        ctx,
        {**per_order, **evaluate_loads(rules, ctx, loads, asleep=asleep, memo=remembered)},
    )
    matching = verdicts.matching()  # an order no rule matched has no decision
    decided = (
        [
            decision
            for order in snapshot.orders
            if order.payment_key in matching
            and order.payment_key not in snapshot.live_intents  # decided live before: never again
            for decision in decide_order(order, verdicts[order.payment_key])
        ]
        if matching
        else []  # most passes: nothing matched
    )
    safety = apply_safety(
        decided,
        limits,
        protected=protected,
        actionable={rid: len(load.actionable) for rid, load in loads.items()},
        live_cancellations_last_hour=hourly_used,
        suspensions=suspensions,
    )
    return Plan(
        now=ctx.now,
        decisions=tuple(_as_dry_run(d) if dry_run else d for d in safety.decisions),
        loads=loads,
        restaurant_actions=_restaurant_actions(
            rules, ctx, loads, safety, asleep=frozenset(asleep), dry_run=dry_run
        ),
        food_deactivations=_food_deactivations(verdicts, snapshot, safety, dry_run=dry_run),
        verdicts=verdicts,
        rule_modes={rule.name: rule_mode(rule, dry_run=dry_run) for rule in rules},
        hourly_used=hourly_used,
        held=safety.pass_held,
        held_restaurants=safety.held_restaurants,
        suspensions=suspensions,
        outside_window=frozenset(rules[index].name for index in asleep),
        overrides_spent=_overrides_spent(rules, ctx, loads),
        pauses=pauses,
        food_reactivations=_food_reactivations(
            rules,
            ctx,
            safety,
            abandoned_before=ctx.now - reactivations_abandoned_after,
            dry_run=dry_run,
            memo=memo,
        ),
    )


def _overrides_spent(
    rules: Sequence[Rule], ctx: PassContext, loads: Mapping[str, RestaurantLoad]
) -> tuple[OverrideSpent, ...]:
    """Each closure's override once, from the first rule that finds the overload over.

    Not braked or windowed: it sends nothing, and it only lets the rules judge
    the restaurant as usual again.
    """
    if not ctx.snapshot.overrides:
        return ()  # nobody ended a closure: no override to spend
    spent: dict[int, OverrideSpent] = {}
    for rule in rules:
        if rule.enabled:
            for found in rule.overrides_spent(ctx, loads):
                spent.setdefault(found.closure_id, found)
    return tuple(spent.values())


def orders_by_restaurant(
    snapshot: Snapshot, restaurant_ids: Iterable[str]
) -> dict[str, list[Order]]:
    """The active orders of each listed restaurant: the orders a pass is about.

    Orders read only because a command asked for them (``looked_up``) are not.
    """
    by_restaurant: dict[str, list[Order]] = {rid: [] for rid in restaurant_ids}
    for order in snapshot.orders:
        if (
            order.status_id in ACTIVE_STATUSES
            and order.payment_key not in snapshot.looked_up
            and order.restaurant_id in by_restaurant
        ):
            by_restaurant[order.restaurant_id].append(order)
    return by_restaurant


def restaurant_loads(
    ctx: PassContext, protected: Mapping[str, Protection], leaving: frozenset[str]
) -> dict[str, RestaurantLoad]:
    """Every listed restaurant's load, given the protected orders and the orders leaving."""
    decided_before = ctx.snapshot.live_intents
    loads = {}
    for restaurant_id, orders in orders_by_restaurant(ctx.snapshot, ctx.restaurants).items():
        # The usual pass protects nothing and sees nothing leaving: the same sets, built cheaply.
        stale = (
            {o.payment_key for o in orders if _is_stale(protected.get(o.payment_key))}
            if protected
            else set()
        )
        counted = [o for o in orders if o.payment_key not in stale] if stale else orders
        loads[restaurant_id] = RestaurantLoad(
            restaurant_id=restaurant_id,
            active=len(orders),
            stale=frozenset(stale),
            leaving=frozenset(o.payment_key for o in counted if o.payment_key in leaving)
            if leaving
            else frozenset(),
            staying=tuple(o for o in counted if o.payment_key not in leaving)
            if leaving
            else tuple(counted),
            actionable=frozenset(
                o.payment_key
                for o in orders
                if o.payment_key not in protected and o.payment_key not in decided_before
            )
            if protected or decided_before
            else frozenset(map(payment_key_of, orders)),
        )
    return loads


def _is_stale(found: Protection | None) -> bool:
    return found is not None and found.stale


def _leaving(
    rules: Sequence[Rule],
    per_order: RuleVerdicts,
    snapshot: Snapshot,
    protected: Mapping[str, Protection],
    suspensions: Sequence[Suspension],
) -> frozenset[str]:
    """Orders that leave whatever congestion decides (see the module's docstring, step 5)."""
    in_flight = {key for key, outcome in snapshot.live_intents.items() if outcome in IN_FLIGHT}
    deciding: dict[str, Rule] = {}  # each order's first live per-order match, in file order
    for index, verdicts in per_order.items():
        if rules[index].dry_run:  # a shadow match never changes what live does
            continue
        for key in matches(verdicts):
            deciding.setdefault(key, rules[index])
    restaurant_of = {o.payment_key: o.restaurant_id for o in snapshot.orders} if suspensions else {}
    cancelled_now = {
        key
        for key, rule in deciding.items()
        if key not in protected
        and key not in snapshot.live_intents
        and suspension_of(suspensions, rule.name, restaurant_of.get(key)) is None
    }
    return frozenset(in_flight | cancelled_now)


def _restaurant_actions(
    rules: Sequence[Rule],
    ctx: PassContext,
    loads: Mapping[str, RestaurantLoad],
    safety: SafetyResult,
    *,
    asleep: frozenset[int],
    dry_run: bool,
) -> tuple[tuple[RestaurantAction, Mode], ...]:
    """Closures and reopenings. A reopening is the way back from a closure we made: a
    rule outside its window, or suspended, still reopens; it only closes nothing new."""
    return tuple(
        (action, rule_mode(rule, dry_run=dry_run))
        for index, rule in enumerate(rules)
        if rule.enabled
        for action in rule.restaurant_actions(ctx, loads)
        if not safety.holds(action.restaurant_id)
        and (
            isinstance(action, ReopenRestaurant)
            or (index not in asleep and not safety.suspends(rule.name, action.restaurant_id))
        )
    )


def _food_deactivations(
    verdicts: Mapping[str, Sequence[tuple[Rule, Verdict]]],
    snapshot: Snapshot,
    safety: SafetyResult,
    *,
    dry_run: bool,
) -> tuple[tuple[DeactivateFood, Mode], ...]:
    """Foods to deactivate, from every matching rule of each order whose decision goes ahead.

    A suspended rule deactivates nothing, even beside another rule's decision.
    """
    candidates: dict[tuple[int, str], tuple[DeactivateFood, Mode]] = {}
    for decision in safety.decisions:
        # A held decision is not going ahead; and where a brake held anything (the
        # hourly cap holds the whole pass, even beside the orders within its budget)
        # no food is deactivated either.
        if not decision.primary or decision.outcome not in ("pending", "would_cancel"):
            continue
        if safety.holds(decision.order.restaurant_id):
            continue
        for rule, verdict in verdicts[decision.payment_key]:
            if not verdict.matched or safety.suspends(rule.name, decision.order.restaurant_id):
                continue
            for effect in rule.side_effects(decision.order, verdict):
                if effect.food_id not in snapshot.deactivated_foods:
                    candidates.setdefault(
                        (effect.food_id, decision.payment_key),
                        (effect, rule_mode(rule, dry_run=dry_run)),
                    )
    return tuple(candidates.values())


def _food_reactivations(
    rules: Sequence[Rule],
    ctx: PassContext,
    safety: SafetyResult,
    *,
    abandoned_before: datetime,
    dry_run: bool,
    memo: VerdictMemo | None = None,
) -> tuple[tuple[ReactivateFood, Mode], ...]:
    """The way back from the daemon's own food deactivations, every pass, whatever its scope.

    Not an order decision: neither windows, quiet windows nor a rule's shadow
    mode stop it (a way back is never switched off), only the global dry-run
    switch and a brake: a held restaurant or pass changes no food at all.
    """
    if not ctx.snapshot.foods_off:
        return ()  # none of ours in force: nothing to bring back
    mode: Mode = "dry_run" if dry_run else "live"
    judge = due_reactivations if memo is None else memo.due_reactivations
    return tuple(
        (action, mode)
        for action in judge(
            ctx.snapshot.foods_off, snoozes(rules), ctx.now, abandoned_before=abandoned_before
        )
        if not safety.holds(action.restaurant_id)
    )


def foods_to_deactivate(
    plan: Plan, going_ahead: Collection[str]
) -> list[tuple[DeactivateFood, Mode]]:
    """The foods a pass deactivates, once each, given the orders whose cancellation goes ahead.

    Which orders those are is known once the ledger took them (``going_ahead``);
    each food comes from the first of them, and a live rule's claim beats a shadow's.
    """
    chosen: dict[int, tuple[DeactivateFood, Mode]] = {}
    for food, mode in plan.food_deactivations:
        if food.payment_key not in going_ahead:
            continue
        if food.food_id not in chosen or (mode == "live" and chosen[food.food_id][1] != "live"):
            chosen[food.food_id] = (food, mode)
    return list(chosen.values())


def _as_dry_run(decision: Decision) -> Decision:
    """The global dry-run switch, applied last: what live would send is reported instead."""
    if decision.mode == "dry_run":
        return decision
    outcome = "would_cancel" if decision.outcome == "pending" else decision.outcome
    return replace(decision, mode="dry_run", outcome=outcome)

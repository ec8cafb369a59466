"""The rule engine: from a snapshot to one decision per order. Pure; no I/O.

Every enabled rule gives a verdict on every order (kept for ``explain``);
the decision for an order is the first matching *live* rule in file order,
and matches of shadow (dry-run) rules are kept beside it as ``would_cancel``.
Rules that judge a restaurant's whole load (congestion) run after the
per-order rules, so they can leave alone orders that are going anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from daemon.ids import segment_problem
from daemon.snapshot import Order, Snapshot
from daemon.store import ACTIVE_STATUSES
from rules.actions import DeactivateFood, RestaurantAction
from rules.context import PassContext
from rules.verdict import Verdict

if TYPE_CHECKING:
    from rules.base import Rule

Mode = Literal["live", "dry_run"]
Outcome = Literal["pending", "cancelled", "would_cancel", "failed", "skipped", "held"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one order in one pass (or, with ``primary=False``, a shadow match)."""

    order: Order
    rule: str
    kind: str
    reason_id: int
    mode: Mode
    outcome: Outcome
    evidence: Mapping[str, Any]
    primary: bool = True
    attempts: int = 0
    last_error: str | None = None
    ledger_id: int | None = None
    note: str | None = None
    # Earlier calls of this cancellation whose answer was lost (see ledger).
    uncertain_sends: int = 0

    @property
    def payment_key(self) -> str:
        return self.order.payment_key

    def with_outcome(self, outcome: Outcome, **evidence: Any) -> Decision:
        return replace(self, outcome=outcome, evidence={**self.evidence, **evidence})


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    restaurant_actions: tuple[tuple[RestaurantAction, Mode], ...] = ()
    food_deactivations: tuple[tuple[DeactivateFood, Mode], ...] = ()
    verdicts: Mapping[str, tuple[tuple[Rule, Verdict], ...]] = field(default_factory=dict)

    @property
    def primary(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.primary)


def rule_mode(rule: Rule, *, dry_run: bool) -> Mode:
    return "dry_run" if dry_run or rule.dry_run else "live"


def guard(rule: Rule, order: Order, verdict: Verdict, ctx: PassContext) -> Verdict:
    """No rule may cancel outside its statuses, a finished order, or another's restaurant."""
    if order.status_id not in ACTIVE_STATUSES:
        return Verdict.no_match(f"status {order.status_id} is not active; never cancelled")
    if not rule.allows_status(order.status_id):
        return Verdict.no_match(
            f"status {order.status_id} is not in this rule's statuses {list(rule.statuses)}"
        )
    if segment_problem(order.payment_key) is not None:
        return Verdict.skipped("the payment_key cannot be sent to Dükkango (bad data)")
    if order.restaurant_id not in ctx.restaurants:
        # Unknown data is never a reason to cancel (a POS bug, another branch's order).
        return Verdict.skipped(f"restaurant {order.restaurant_id!r} is not in rules.yaml")
    return verdict


def evaluate(
    rules: Sequence[Rule], ctx: PassContext, *, dry_run: bool
) -> dict[str, list[tuple[Rule, Verdict]]]:
    """Every enabled rule's verdict on every order in the snapshot, in file order."""
    orders = ctx.snapshot.orders
    by_rule: dict[int, Mapping[str, Verdict]] = {}
    enabled = [(index, rule) for index, rule in enumerate(rules) if rule.enabled]

    for index, rule in enabled:
        if rule.aggregate:
            continue
        by_rule[index] = {
            order.payment_key: guard(rule, order, rule.evaluate(order, ctx), ctx)
            for order in orders
        }

    # Orders a live per-order rule will cancel anyway: load rules count them gone.
    going = frozenset(
        key
        for index, rule in enabled
        if index in by_rule and rule_mode(rule, dry_run=dry_run) == "live"
        for key, verdict in by_rule[index].items()
        if verdict.matched and key not in ctx.snapshot.live_intents
    )
    for index, rule in enabled:
        if rule.aggregate:
            verdicts = rule.evaluate_all(orders, ctx, going=going)
            by_rule[index] = {
                order.payment_key: guard(
                    rule,
                    order,
                    verdicts.get(order.payment_key, Verdict.no_match("not over capacity")),
                    ctx,
                )
                for order in orders
            }

    return {
        order.payment_key: [
            (rule, by_rule[index][order.payment_key]) for index, rule in enabled
        ]
        for order in orders
    }


def _other_matches(matches: Iterable[tuple[Rule, Verdict]], chosen: Rule) -> list[dict[str, Any]]:
    return [
        {"rule": rule.name, "kind": rule.kind, "evidence": dict(verdict.evidence)}
        for rule, verdict in matches
        if rule is not chosen
    ]


def decide_order(
    order: Order, verdicts: Sequence[tuple[Rule, Verdict]], *, dry_run: bool
) -> list[Decision]:
    """The order's decision (first live match wins) and its shadow matches."""
    matches = [(rule, verdict) for rule, verdict in verdicts if verdict.matched]
    if not matches:
        return []
    live = [(r, v) for r, v in matches if rule_mode(r, dry_run=dry_run) == "live"]
    shadows = [(r, v) for r, v in matches if rule_mode(r, dry_run=dry_run) == "dry_run"]
    chosen_rule, chosen_verdict = live[0] if live else shadows[0]
    evidence = dict(chosen_verdict.evidence)
    others = _other_matches(matches, chosen_rule)
    if others:
        evidence["other_matches"] = others
    primary = Decision(
        order=order,
        rule=chosen_rule.name,
        kind=chosen_rule.kind,
        reason_id=chosen_rule.reason_id,
        mode="live" if live else "dry_run",
        outcome="pending" if live else "would_cancel",
        evidence=evidence,
    )
    shadow_decisions = [
        Decision(
            order=order,
            rule=rule.name,
            kind=rule.kind,
            reason_id=rule.reason_id,
            mode="dry_run",
            outcome="would_cancel",
            evidence={**verdict.evidence, "shadowed_by": chosen_rule.name},
            primary=False,
        )
        for rule, verdict in shadows
        if live  # without a live match the first shadow is the primary decision
    ]
    return [primary, *shadow_decisions]


def plan_pass(rules: Sequence[Rule], ctx: PassContext, *, dry_run: bool) -> Plan:
    """Decisions for every order not decided live before, plus the side effects."""
    snapshot: Snapshot = ctx.snapshot
    verdicts = evaluate(rules, ctx, dry_run=dry_run)
    decisions: list[Decision] = []
    # One candidate per food *and order*: which order's cancellation goes ahead
    # is only known after safety, and the pass sends each food once (passes.py).
    deactivations: dict[tuple[int, str], tuple[DeactivateFood, Mode]] = {}
    for order in snapshot.orders:
        if order.payment_key in snapshot.live_intents:
            continue  # decided live before: never sent again
        order_decisions = decide_order(order, verdicts[order.payment_key], dry_run=dry_run)
        decisions.extend(order_decisions)
        if not order_decisions:
            continue
        for rule, verdict in verdicts[order.payment_key]:
            if not verdict.matched:
                continue
            for effect in rule.side_effects(order, verdict):
                if effect.food_id not in snapshot.deactivated_foods:
                    mode = rule_mode(rule, dry_run=dry_run)
                    deactivations.setdefault(
                        (effect.food_id, order.payment_key), (effect, mode)
                    )

    actions = [
        (action, rule_mode(rule, dry_run=dry_run))
        for rule in rules
        if rule.enabled
        for action in rule.restaurant_actions(ctx)
    ]
    return Plan(
        decisions=tuple(decisions),
        restaurant_actions=tuple(actions),
        food_deactivations=tuple(deactivations.values()),
        verdicts={key: tuple(value) for key, value in verdicts.items()},
    )

"""Re-judging a decision right before its call, in-process, on the pass clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from daemon.domain.decisions import Decision
from daemon.domain.orders import Order
from daemon.engine.rejudge import rejudge
from rules.base import Rule
from rules.congestion import CongestionRule
from tests.unit.builders import LIMITS, NOW, PAYMENT, context, fill, order

SMALL = CongestionRule(
    name="overloaded", reason_id=3, max_active_orders=2, reopen_below=1, min_closed_minutes=0
)


def decision(key: str, rule: str = "overloaded", kind: str = "congestion") -> Decision:
    return Decision(
        order=order(key),
        rule=rule,
        kind=kind,
        reason_id=3,
        mode="live",
        outcome="pending",
        evidence={},
    )


def change_of(
    chosen: Decision, orders: list[Order], intents: dict[str, str], *rules: Rule
) -> dict[str, Any] | None:
    ctx = context(orders, live_intents=intents)
    return rejudge(
        chosen, rules=list(rules) or [SMALL], ctx=ctx, limits=LIMITS, now=NOW, dry_run=False
    )


def test_a_newer_order_arriving_does_not_push_the_chosen_one_out() -> None:
    # Three active, capacity two: "new" was chosen; then "newer" arrives.
    orders = [order("newer", minutes_ago=1), order("new", minutes_ago=2), *fill("old", 1)]
    assert change_of(decision("new"), orders, {"new": "pending"}) is None


def test_the_load_relieved_by_others_leaving_stops_the_send() -> None:
    orders = [order("new", minutes_ago=2), *fill("old", 2)]
    # Another order left meanwhile (its cancellation is confirmed): two left, capacity two.
    change = change_of(decision("new"), orders, {"new": "pending", "old00": "cancelled"})
    assert change is not None and "no longer over capacity" in str(change["change"])


def test_stale_orders_are_not_load_at_send_time_either() -> None:
    orders = [
        order("new", minutes_ago=2),
        order("old", minutes_ago=60),
        order("abandoned", minutes_ago=500),
    ]
    change = change_of(decision("new"), orders, {"new": "pending"})
    assert change is not None and change["skipped_because"] == "no_longer_qualifies"


def test_a_paid_order_no_longer_qualifies_for_payment_failed() -> None:
    paid = order("p", payment_status="ok")
    chosen = replace(decision("p", rule="payment-failed", kind="payment_failed"), uncertain_sends=1)
    change = change_of(chosen, [paid], {"p": "pending"}, PAYMENT)
    assert change is not None
    assert change["now"] == {"status_id": 1, "payment_status": "ok"}
    assert change["may_have_reached_platform"] is True


def test_a_rule_removed_by_a_reload_stops_the_send() -> None:
    change = change_of(decision("x"), [order("x")], {"x": "pending"}, PAYMENT)
    assert change is not None and "no longer in rules.yaml" in str(change["change"])

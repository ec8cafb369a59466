"""Kept verdicts (daemon.engine.verdictmemo): the plan is the one a pass without them makes.

The memo gives back an order-local rule's verdict only while every input it
reads is the same; these passes change one input at a time and compare the
plan with the memo against the plan without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from daemon.domain.distance import Distances
from daemon.domain.foods import FoodOff
from daemon.domain.orders import Item, Order, StockLevel
from daemon.engine.plan import Plan, plan_pass
from daemon.engine.reactivation import due_reactivations
from daemon.engine.verdictmemo import VerdictMemo
from rules.congestion import CongestionRule
from rules.context import PassContext
from rules.payment_failed import PaymentFailedRule
from rules.verdict import Verdict
from tests.unit.builders import (
    HAL,
    LIMITS,
    NOW,
    OUT_OF_FOOD,
    OUT_OF_STOCK,
    PAYMENT,
    SHADOW_PAYMENT,
    context,
    fill,
    order,
)

TIGHT = CongestionRule(name="overloaded", reason_id=3, max_active_orders=3, reopen_below=2)
RULES = (OUT_OF_STOCK, PAYMENT, SHADOW_PAYMENT, TIGHT)
# The memo keeps verdicts only for one distance table (a new table forgets them all), so
# every pass of a test shares one, as every pass of a replay does.
TABLE = Distances.exact()


def ctx_of(orders: Iterable[Order], **given: Any) -> PassContext:
    return context(orders, distances=TABLE, **given)


class Counting(PaymentFailedRule):
    """payment_failed, counting the orders it is asked about (not the guard's)."""

    asked: ClassVar[list[str]] = []

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        self.asked.append(order.payment_key)
        return super().evaluate(order, ctx)


def _same_plans(memo: VerdictMemo, ctx: PassContext) -> Plan:
    kept = plan_pass(RULES, ctx, LIMITS, hourly_used=0, dry_run=False, memo=memo)
    fresh = plan_pass(RULES, ctx, LIMITS, hourly_used=0, dry_run=False)
    assert kept.decisions == fresh.decisions
    assert kept.restaurant_actions == fresh.restaurant_actions
    assert kept.food_deactivations == fresh.food_deactivations
    assert dict(kept.verdicts) == dict(fresh.verdicts)
    assert kept.loads == fresh.loads
    return kept


def _decided(plan: Plan) -> dict[str, str]:
    return {d.payment_key: d.rule for d in plan.primary}


def test_each_changed_input_is_judged_again() -> None:
    memo = VerdictMemo()
    quiet = fill("q", 2)
    soup = order("soup", items=(Item(5, "çorba", 1),))  # a food no other order has
    ctx = ctx_of([*quiet, soup], stock={})
    assert _decided(_same_plans(memo, ctx)) == {}
    # The stock row of the soup's food goes out: same order object, new verdict.
    out = {soup.items[0].food_id: StockLevel(soup.items[0].food_id, "çorba", False, None)}
    assert _decided(_same_plans(memo, ctx_of([*quiet, soup], stock=out))) == {
        "soup": "out-of-stock"
    }
    # Back in stock, then a new version of the order whose payment failed.
    assert _decided(_same_plans(memo, ctx)) == {}
    failed = replace(soup, payment_status="failed")
    assert _decided(_same_plans(memo, ctx_of([*quiet, failed], stock={}))) == {
        "soup": "payment-failed"
    }
    # The restaurant left rules.yaml: the guard's verdict, not the kept one.
    gone = _same_plans(memo, ctx_of([*quiet, failed], stock={}, restaurants={}))
    assert _decided(gone) == {}
    # Over capacity: congestion, which is never kept, judges the load of this pass.
    busy = ctx_of([*quiet, failed, *fill("b", 3, first_minutes_ago=1)], stock={})
    assert "overloaded" in _decided(_same_plans(memo, busy)).values()


def test_a_rule_not_declared_order_local_is_asked_every_pass() -> None:
    asked: list[str] = []

    class Counting(PaymentFailedRule):
        order_local: ClassVar[bool] = False

        def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
            asked.append(order.payment_key)
            return super().evaluate(order, ctx)

    counting = Counting(name="counting", reason_id=7)
    memo = VerdictMemo()
    ctx = context([order("a"), order("b", out_of_stock=True)])
    for _ in range(3):
        plan_pass((OUT_OF_STOCK, counting), ctx, LIMITS, hourly_used=0, dry_run=False, memo=memo)
    assert asked == ["a", "b"] * 3
    assert OUT_OF_FOOD in {f.food_id for f, _mode in plan_pass(
        (OUT_OF_STOCK, counting), ctx, LIMITS, hourly_used=0, dry_run=False, memo=memo
    ).food_deactivations}  # fmt: skip
    assert HAL in {o.restaurant_id for o in ctx.snapshot.orders}


def test_a_new_version_keeps_the_verdicts_of_rules_that_read_none_of_what_changed() -> None:
    counting = Counting(name="counting", reason_id=7)
    rules = (OUT_OF_STOCK, counting, TIGHT)
    memo = VerdictMemo()

    def planned(*orders: Order) -> tuple[dict[str, str], list[str]]:
        """The plan's decisions (checked against a pass without the memo), and whom it asked."""
        ctx = ctx_of(orders)
        Counting.asked.clear()
        kept = plan_pass(rules, ctx, LIMITS, hourly_used=0, dry_run=False, memo=memo)
        asked = list(Counting.asked)
        fresh = plan_pass(rules, ctx, LIMITS, hourly_used=0, dry_run=False)
        assert kept.decisions == fresh.decisions
        assert dict(kept.verdicts) == dict(fresh.verdicts)
        return _decided(kept), asked

    received = order("a", status=1)
    assert planned(received) == ({}, ["a"])
    # Confirmed: a new version, the same payment status: the rule is not asked again.
    confirmed = replace(received, status_id=2, courier_type="own")
    assert planned(confirmed) == ({}, [])
    # The payment fails: the one attribute the rule reads changed; it is asked again.
    failed = replace(confirmed, payment_status="failed")
    assert planned(failed) == ({"a": "counting"}, ["a"])
    # In delivery, a status outside the rules' statuses: the guard's verdict, whatever
    # was kept; back to confirmed (a correction), the kept verdict of the rule again.
    assert planned(replace(failed, status_id=16)) == ({}, [])
    assert planned(failed) == ({"a": "counting"}, [])
    # Another item: other foods, other stock rows: every rule judges the order afresh.
    assert planned(replace(failed, items=(Item(OUT_OF_FOOD, "ayran", 1),))) == (
        {"a": "out-of-stock"},
        ["a"],
    )


def test_foods_back_on_sale_are_kept_only_while_nothing_they_read_can_move() -> None:
    memo = VerdictMemo()
    clock = NOW

    def due(foods: tuple[FoodOff, ...], snooze: dict[str, timedelta]) -> list[str]:
        kept = memo.due_reactivations(foods, snooze, clock, abandoned_before=clock)
        fresh = due_reactivations(foods, snooze, clock, abandoned_before=clock)
        assert kept == fresh
        return [food.trigger for food in kept]

    out = (off(StockLevel(OUT_OF_FOOD, "ayran", False, None)),)
    assert due(out, {}) == []
    # The same deactivations, a later clock: nothing they read moved.
    clock = NOW + timedelta(hours=2)
    assert due(out, {}) == []
    # A snooze reads the clock: its time comes although the tuple is the same.
    assert due(out, {"out-of-stock": timedelta(minutes=30)}) == ["snooze"]
    # The stock row comes back: the world hands a new tuple.
    assert due((off(StockLevel(OUT_OF_FOOD, "ayran", True, None)),), {}) == ["back_in_stock"]


def off(stock: StockLevel) -> FoodOff:
    """Food OUT_OF_FOOD, switched off at NOW by out-of-stock, with ``stock`` as it is now."""
    return FoodOff(
        deactivation_id=1,
        food_id=OUT_OF_FOOD,
        restaurant_id=HAL,
        rule="out-of-stock",
        payment_key="a",
        deactivated_at=NOW,
        outcome="done",
        stock=stock,
    )

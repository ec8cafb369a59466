"""Re-judging a decision right before its call, in-process, on the pass clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from daemon.domain.decisions import MANUAL, Decision
from daemon.domain.orders import Order
from daemon.engine.manual_policy import CONFIRMED_BY, FORCED
from daemon.engine.rejudge import rejudge
from rules.base import Rule
from rules.congestion import CongestionRule
from tests.unit.builders import (
    LIMITS,
    NOW,
    PAYMENT,
    UNLISTED,
    context,
    fill,
    order,
    with_limits,
)

SMALL = CongestionRule(
    name="overloaded", reason_id=3, max_active_orders=2, reopen_below=1, min_closed_minutes=0
)


def replace_rule(rule: Rule, **changes: Any) -> Rule:
    """``rule`` as a reload changed it."""
    return rule.model_copy(update=changes)


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
    # Three active, but the abandoned one is no load: two, capacity two.
    assert str(change["change"]).startswith(
        "the restaurant is no longer over capacity (2 orders of load, capacity 2)"
    )
    assert change["rule_verdict"] == "no_match"


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


def failed_payment(key: str = "p", **fields: Any) -> Decision:
    return replace(
        decision(key, rule="payment-failed", kind="payment_failed"),
        order=order(key, payment_status="failed", **fields),
    )


def test_a_decision_that_still_stands_is_sent() -> None:
    chosen = failed_payment()

    assert change_of(chosen, [chosen.order], {"p": "pending"}, PAYMENT) is None


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        (replace_rule(PAYMENT, enabled=False), "rule 'payment-failed' is disabled now"),
        (replace_rule(PAYMENT, dry_run=True), "rule 'payment-failed' is in dry-run now"),
    ],
)
def test_a_rule_disabled_or_shadowed_by_a_reload_stops_the_send(rule: Rule, change: str) -> None:
    chosen = failed_payment()

    found = change_of(chosen, [chosen.order], {"p": "pending"}, rule)

    assert found is not None and found["change"] == change
    assert found["may_have_reached_platform"] is False


def test_a_global_dry_run_at_send_time_stops_the_send() -> None:
    chosen = failed_payment()
    ctx = context([chosen.order], live_intents={"p": "pending"})

    found = rejudge(chosen, rules=[PAYMENT], ctx=ctx, limits=LIMITS, now=NOW, dry_run=True)

    assert found is not None and found["change"] == "rule 'payment-failed' is in dry-run now"


def test_an_order_gone_from_the_store_is_not_sent() -> None:
    found = change_of(failed_payment(), [], {}, PAYMENT)

    assert found is not None
    assert (found["change"], found["now"]) == ("the order is no longer in the store", {})


def test_an_order_delivered_meanwhile_is_not_sent() -> None:
    delivered = order("p", status=5, payment_status="failed")

    found = change_of(failed_payment(), [delivered], {"p": "pending"}, PAYMENT)

    assert found is not None
    assert found["change"] == "status 5 is not active; never cancelled"
    assert (found["rule_verdict"], found["now"]) == (
        "no_match",
        {"status_id": 5, "payment_status": "failed"},
    )


def test_a_restaurant_removed_from_rules_yaml_is_unknown_data_at_send_time() -> None:
    chosen = failed_payment()
    ctx = context([chosen.order], live_intents={"p": "pending"}, restaurants={})

    found = rejudge(chosen, rules=[PAYMENT], ctx=ctx, limits=LIMITS, now=NOW, dry_run=False)

    assert found is not None
    assert (found["change"], found["rule_verdict"]) == (
        "restaurant 'hal' is not in rules.yaml",
        "skipped",
    )


def test_an_order_congestion_chose_that_was_accepted_meanwhile_is_not_sent() -> None:
    orders = [order("new", status=2, minutes_ago=2), *fill("old", 2)]

    found = change_of(decision("new"), orders, {"new": "pending"})

    assert found is not None and found["change"] == "status 2: no longer a received order"


def test_a_protection_that_applies_by_send_time_stops_the_send() -> None:
    chosen = failed_payment(minutes_ago=170)
    ctx = context([chosen.order], live_intents={"p": "pending"})
    later = NOW + timedelta(minutes=20)  # a backoff, a lost answer resent on a later pass

    aged = rejudge(chosen, rules=[PAYMENT], ctx=ctx, limits=LIMITS, now=later, dry_run=False)
    listed = rejudge(
        chosen,
        rules=[PAYMENT],
        ctx=ctx,
        limits=with_limits(never_cancel=frozenset({"p"})),
        now=NOW,
        dry_run=False,
    )

    assert aged is not None and aged["change"] == "a safety protection applies now"
    assert aged["safety"] == {
        "skipped_because": "max_order_age_minutes",
        "age_minutes": 190.0,
        "max_order_age_minutes": 180,
    }
    assert listed is not None
    assert listed["safety"] == {"skipped_because": "never_cancel", "matched": "payment_key"}


# --- a staff-confirmed cancellation -------------------------------------------------------


def manual(key: str = "m", *, forced: tuple[str, ...] = (), **fields: Any) -> Decision:
    evidence: dict[str, Any] = {CONFIRMED_BY: "ayse"}
    if forced:
        evidence[FORCED] = list(forced)
    return Decision(
        order=order(key, **fields),
        rule=MANUAL,
        kind=MANUAL,
        reason_id=4,
        mode="live",
        outcome="pending",
        evidence=evidence,
    )


def manual_change(
    chosen: Decision, now_in_store: list[Order], *, dry_run: bool = False, **limits: Any
) -> dict[str, Any] | None:
    ctx = context(now_in_store, live_intents={chosen.payment_key: "pending"})
    return rejudge(
        chosen, rules=[], ctx=ctx, limits=with_limits(**limits), now=NOW, dry_run=dry_run
    )


def test_a_manual_cancellation_stands_while_what_staff_confirmed_holds() -> None:
    aged = manual(minutes_ago=500)  # staff may cancel what the rules consider stale

    assert manual_change(aged, [aged.order]) is None


def test_a_manual_cancellation_is_not_sent_in_dry_run() -> None:
    chosen = manual()

    found = manual_change(chosen, [chosen.order], dry_run=True)

    assert found is not None and found["change"] == "autocancel is in dry-run now"


@pytest.mark.parametrize(
    ("now_in_store", "never_cancel", "obstacle", "change"),
    [
        ([], frozenset(), "not_in_store", "the order is no longer in the store"),
        ([order("m", status=5)], frozenset(), "finished", "the order is delivered now (status 5)"),
        (
            [order("m", restaurant=UNLISTED)],
            frozenset(),
            "restaurant_not_in_rules",
            "its restaurant unlisted is not in rules.yaml now, and the cancellation was not forced",
        ),
        (
            [order("m")],
            frozenset({"m"}),
            "never_cancel",
            "it is in never_cancel now (payment_key), and the cancellation was not forced",
        ),
    ],
)
def test_a_manual_cancellation_stops_when_an_obstacle_appeared(
    now_in_store: list[Order], never_cancel: frozenset[str], obstacle: str, change: str
) -> None:
    found = manual_change(manual(), now_in_store, never_cancel=never_cancel)

    assert found is not None
    assert (found["obstacle"], found["change"]) == (obstacle, change)


def test_what_staff_forced_stays_forced_and_nothing_else() -> None:
    forced = manual(forced=("restaurant_not_in_rules", "never_cancel"))
    unlisted_vip = order("m", restaurant=UNLISTED)

    assert manual_change(forced, [unlisted_vip], never_cancel=frozenset({"m"})) is None
    cancelled_meanwhile = manual_change(forced, [order("m", restaurant=UNLISTED, status=6)])
    assert cancelled_meanwhile is not None
    assert cancelled_meanwhile["change"] == "the order is canceled now (status 6)"

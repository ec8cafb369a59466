"""One decision per order: the first matching live rule in file order, shadows beside it.

Also the guards no rule passes (finished orders, statuses a rule does not
list, unsendable keys, unlisted restaurants), orders decided live before,
and which foods a pass deactivates.
"""

from __future__ import annotations

import pytest

from daemon.domain.orders import Item, StockLevel
from daemon.engine.plan import Plan
from rules.out_of_stock import OutOfStockRule
from rules.payment_failed import PaymentFailedRule
from tests.unit.builders import (
    HAL,
    OUT_OF_FOOD,
    OUT_OF_STOCK,
    OVERLOADED,
    PAYMENT,
    SHADOW_PAYMENT,
    UNLISTED,
    closes,
    context,
    decided,
    fill,
    order,
    outcomes,
    plan,
    shadows,
    with_limits,
)

BOTH = order("both", out_of_stock=True, payment_status="failed")  # two rules match it


# --- precedence ---------------------------------------------------------------------------


def test_the_first_matching_rule_in_file_order_decides_and_the_others_are_evidence() -> None:
    by_payment = decided(plan([PAYMENT, OUT_OF_STOCK], context([BOTH])), "both")
    by_stock = decided(plan([OUT_OF_STOCK, PAYMENT], context([BOTH])), "both")

    assert (by_payment.rule, by_payment.kind, by_payment.reason_id) == (
        "payment-failed",
        "payment_failed",
        7,
    )
    assert (by_stock.rule, by_stock.kind, by_stock.reason_id) == ("out-of-stock", "out_of_stock", 1)
    assert by_payment.evidence["payment_status"] == "failed"
    assert by_payment.evidence["other_matches"] == [
        {
            "rule": "out-of-stock",
            "kind": "out_of_stock",
            "evidence": {
                "food_ids": [OUT_OF_FOOD],
                "foods": [
                    {
                        "food_id": OUT_OF_FOOD,
                        "name": "ayran",
                        "ordered": 1,
                        "available": False,
                        "in_stock": None,
                    }
                ],
            },
        }
    ]
    assert by_stock.evidence["food_ids"] == [OUT_OF_FOOD]
    assert [m["rule"] for m in by_stock.evidence["other_matches"]] == ["payment-failed"]


def test_a_single_match_carries_no_other_matches() -> None:
    only = decided(
        plan([OUT_OF_STOCK, PAYMENT], context([order("stock", out_of_stock=True)])), "stock"
    )

    assert (only.rule, only.mode, only.outcome) == ("out-of-stock", "live", "pending")
    assert "other_matches" not in only.evidence


def test_a_shadow_rule_first_in_the_file_never_changes_the_live_decision() -> None:
    result = plan([SHADOW_PAYMENT, OUT_OF_STOCK], context([BOTH]))

    primary = decided(result, "both")
    assert (primary.rule, primary.reason_id, primary.mode, primary.outcome) == (
        "out-of-stock",
        1,
        "live",
        "pending",
    )
    assert shadows(result) == [("both", "payment-check", "would_cancel")]
    [shadow] = [d for d in result.decisions if not d.primary]
    assert shadow.mode == "dry_run"
    assert shadow.evidence == {"payment_status": "failed", "shadowed_by": "out-of-stock"}


def test_an_order_only_shadow_rules_match_is_decided_by_the_first_as_would_cancel() -> None:
    second_shadow = OutOfStockRule(name="stock-check", reason_id=1, dry_run=True)

    result = plan([SHADOW_PAYMENT, second_shadow], context([BOTH]))

    primary = decided(result, "both")
    assert (primary.rule, primary.mode, primary.outcome) == (
        "payment-check",
        "dry_run",
        "would_cancel",
    )
    assert [m["rule"] for m in primary.evidence["other_matches"]] == ["stock-check"]
    assert shadows(result) == []  # the second shadow is evidence, not a second decision


def test_a_disabled_rule_neither_decides_nor_appears_as_evidence() -> None:
    disabled = PaymentFailedRule(name="payment-failed", reason_id=7, enabled=False)

    result = plan([disabled, OUT_OF_STOCK], context([BOTH]))

    decision = decided(result, "both")
    assert decision.rule == "out-of-stock"
    assert "other_matches" not in decision.evidence
    assert [rule.name for rule, _verdict in result.verdicts["both"]] == ["out-of-stock"]


def test_an_order_no_rule_matches_gets_no_decision_but_every_verdict() -> None:
    result = plan([OUT_OF_STOCK, PAYMENT], context([order("fine")]))

    assert outcomes(result) == {}
    assert [(rule.name, verdict.kind.value) for rule, verdict in result.verdicts["fine"]] == [
        ("out-of-stock", "no_match"),
        ("payment-failed", "no_match"),
    ]


# --- the guards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (5, "status 5 is not active; never cancelled"),
        (6, "status 6 is not active; never cancelled"),
        (16, "status 16 is not in this rule's statuses [1, 2]"),
    ],
)
def test_no_rule_cancels_a_finished_order_or_one_outside_its_statuses(
    status: int, why: str
) -> None:
    result = plan([PAYMENT], context([order("x", status=status, payment_status="failed")]))

    assert outcomes(result) == {}
    [(_rule, verdict)] = result.verdicts["x"]
    assert (verdict.kind.value, verdict.why) == ("no_match", why)


def test_status_16_is_cancelled_only_by_a_rule_that_lists_it() -> None:
    on_its_way = order("x", status=16, payment_status="failed")
    listing = PaymentFailedRule(name="payment-failed", reason_id=7, statuses=(1, 2, 16))

    assert outcomes(plan([listing], context([on_its_way]))) == {"x": ("payment-failed", "pending")}


@pytest.mark.parametrize(
    ("key", "restaurant", "why"),
    [
        ("a/b", HAL, "the payment_key cannot be sent to Dükkango (bad data)"),
        ("x", UNLISTED, "restaurant 'unlisted' is not in rules.yaml"),
    ],
)
def test_bad_data_is_skipped_never_cancelled(key: str, restaurant: str, why: str) -> None:
    result = plan([PAYMENT], context([order(key, restaurant=restaurant, payment_status="failed")]))

    assert outcomes(result) == {}
    [(_rule, verdict)] = result.verdicts[key]
    assert (verdict.kind.value, verdict.why) == ("skipped", why)


@pytest.mark.parametrize("earlier", ["pending", "cancelled", "failed"])
def test_an_order_decided_live_before_is_never_decided_again(earlier: str) -> None:
    failed = [order("before", payment_status="failed"), order("new", payment_status="failed")]

    result = plan([PAYMENT], context(failed, live_intents={"before": earlier}))

    assert outcomes(result) == {"new": ("payment-failed", "pending")}


# --- modes --------------------------------------------------------------------------------


def test_each_rule_keeps_its_own_mode_and_the_global_dry_run_makes_all_dry() -> None:
    rules = [PAYMENT, SHADOW_PAYMENT, OVERLOADED]

    live = plan(rules, context([]))
    dry = plan(rules, context([]), dry_run=True)

    assert live.rule_modes == {
        "payment-failed": "live",
        "payment-check": "dry_run",
        "overloaded": "live",
    }
    assert set(dry.rule_modes.values()) == {"dry_run"}


def test_a_shadow_congestion_rule_closes_only_on_paper() -> None:
    shadow = OVERLOADED.model_copy(update={"dry_run": True})
    disabled = OVERLOADED.model_copy(update={"enabled": False})
    busy = fill("f", 21)

    assert [
        (type(a).__name__, mode) for a, mode in plan([shadow], context(busy)).restaurant_actions
    ] == [("CloseRestaurant", "dry_run")]
    assert closes(plan([disabled], context(busy))) == []


# --- foods to deactivate ------------------------------------------------------------------


def _deactivations(result: Plan) -> list[tuple[int, str, str]]:
    """(food_id, payment_key, mode) of each food deactivation the pass would send."""
    return [(f.food_id, f.payment_key, mode) for f, mode in result.food_deactivations]


def test_each_order_cancelled_out_of_a_food_is_a_candidate_for_deactivating_it() -> None:
    orders = [order("a", out_of_stock=True), order("b", out_of_stock=True), order("fine")]

    result = plan([OUT_OF_STOCK], context(orders))

    assert _deactivations(result) == [(OUT_OF_FOOD, "a", "live"), (OUT_OF_FOOD, "b", "live")]
    assert {(f.restaurant_id, f.rule) for f, _mode in result.food_deactivations} == {
        (HAL, "out-of-stock")
    }


def test_a_food_already_deactivated_is_not_deactivated_again() -> None:
    result = plan(
        [OUT_OF_STOCK],
        context([order("a", out_of_stock=True)], deactivated_foods=[OUT_OF_FOOD]),
    )

    assert outcomes(result) == {"a": ("out-of-stock", "pending")}
    assert _deactivations(result) == []


def test_a_food_is_deactivated_even_when_another_rule_decides_the_order() -> None:
    result = plan([PAYMENT, OUT_OF_STOCK], context([BOTH]))

    assert outcomes(result) == {"both": ("payment-failed", "pending")}
    assert _deactivations(result) == [(OUT_OF_FOOD, "both", "live")]


def test_only_unavailable_foods_of_rules_that_ask_for_it_are_deactivated() -> None:
    stock = {
        OUT_OF_FOOD: StockLevel(OUT_OF_FOOD, "ayran", available=False, quantity=None),
        2: StockLevel(2, "lahmacun", available=True, quantity=1),  # short, not gone
        3: StockLevel(3, "pide", available=True, quantity=0),  # counted and gone
    }
    short = order(
        "short",
        items=(Item(2, None, 2), Item(3, None, 1), Item(OUT_OF_FOOD, None, 1)),
    )
    keeps_menu = OutOfStockRule(name="out-of-stock", reason_id=1)  # deactivate_food: false

    assert _deactivations(plan([OUT_OF_STOCK], context([short], stock=stock))) == [
        (3, "short", "live"),
        (OUT_OF_FOOD, "short", "live"),
    ]
    assert _deactivations(plan([keeps_menu], context([short], stock=stock))) == []


def test_a_protected_order_deactivates_nothing() -> None:
    limits = with_limits(never_cancel=frozenset({"vip"}))

    result = plan([OUT_OF_STOCK], context([order("vip", out_of_stock=True)]), limits=limits)

    assert outcomes(result) == {"vip": ("out-of-stock", "skipped")}
    assert _deactivations(result) == []


def test_shadow_and_dry_run_deactivations_are_only_notes() -> None:
    shadow = OUT_OF_STOCK.model_copy(update={"dry_run": True})
    stock_out = [order("a", out_of_stock=True)]

    assert _deactivations(plan([shadow], context(stock_out))) == [(OUT_OF_FOOD, "a", "dry_run")]
    assert _deactivations(plan([OUT_OF_STOCK], context(stock_out), dry_run=True)) == [
        (OUT_OF_FOOD, "a", "dry_run")
    ]

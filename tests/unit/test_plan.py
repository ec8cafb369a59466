"""The planner in-process: one clock, one load, one set of orders leaving, one plan.

Snapshots, orders and the pass context are built by tests/unit/builders.py,
with a pass clock far from the wall clock, so any code that reads the wall
clock shows up. End-to-end versions of these cases are in tests/test_pass_plan.py.
"""

from __future__ import annotations

from tests.unit.builders import (
    AKAT,
    HAL,
    NOW,
    OUT_OF_FOOD,
    OUT_OF_STOCK,
    OVERLOADED,
    PAYMENT,
    SHADOW_PAYMENT,
    UNLISTED,
    closed,
    closes,
    context,
    decided,
    fill,
    order,
    outcomes,
    plan,
    reopens,
    shadows,
    with_limits,
)

# --- 10. the ratio brake --------------------------------------------------------------------


def test_ratio_counts_only_orders_the_daemon_may_act_on() -> None:
    failed = [order(f"failed-{n}", payment_status="failed") for n in range(3)]
    others = [
        order("fine"),
        order("vip"),  # never_cancel: not ours to act on
        order("aged", minutes_ago=500),  # too old: not ours to act on
        order("sent", minutes_ago=3),  # its cancellation is on its way already
        *fill("other-", 10, restaurant=UNLISTED),  # another branch sharing the store
    ]
    limits = with_limits(max_cancel_ratio=0.5, never_cancel=frozenset({"vip"}))

    result = plan(
        [PAYMENT], context([*failed, *others], live_intents={"sent": "pending"}), limits=limits
    )

    # 3 of the 4 orders it may act on (failed-0..2 and fine), not 3 of 17.
    assert {key: o for key, (_r, o) in outcomes(result).items()} == dict.fromkeys(
        ("failed-0", "failed-1", "failed-2"), "held"
    )
    held = decided(result, "failed-0")
    assert held.evidence["held_because"] == "max_cancel_ratio"
    assert held.evidence["actionable_orders"] == 4
    assert result.loads[HAL].actionable == frozenset({"failed-0", "failed-1", "failed-2", "fine"})


def test_ratio_applies_per_restaurant_and_holds_only_that_restaurant() -> None:
    hal = [order(f"hal-{n}", payment_status="failed") for n in range(3)]
    akat = [
        order("akat-failed", restaurant=AKAT, payment_status="failed"),
        *fill("akat-", 4, restaurant=AKAT),
    ]
    limits = with_limits(max_cancel_ratio=0.5)

    result = plan([PAYMENT], context([*hal, *akat]), limits=limits)

    # The pass: 4 of 8, within half. Halaskargazi alone: 3 of 3.
    assert outcomes(result) == {
        **{o.payment_key: ("payment-failed", "held") for o in hal},
        "akat-failed": ("payment-failed", "pending"),
    }
    assert result.held_restaurants == frozenset({HAL})
    assert not result.held
    assert decided(result, "hal-0").evidence["restaurant_id"] == HAL


def test_ratio_over_the_whole_pass_holds_every_restaurant() -> None:
    orders = [
        *(order(f"hal-{n}", payment_status="failed") for n in range(3)),
        *(order(f"akat-{n}", restaurant=AKAT, payment_status="failed") for n in range(2)),
        *fill("akat-", 3, restaurant=AKAT),
    ]

    result = plan([PAYMENT], context(orders), limits=with_limits(max_cancel_ratio=0.5))

    # Akat alone is within half (2 of 5), but the pass is not (5 of 8): all held.
    assert {o for _r, o in outcomes(result).values()} == {"held"}
    assert len(outcomes(result)) == 5
    assert result.held
    assert result.holds(AKAT) and result.holds(HAL)  # the executor asks this of every effect
    assert decided(result, "akat-0").evidence["held_because"] == "max_cancel_ratio"


# --- 11. a held pass carries no side effect ----------------------------------------------


def test_a_cap_of_zero_holds_the_closure_and_the_food_too() -> None:
    orders = [order("no-stock", out_of_stock=True, minutes_ago=30), *fill("f", 22, status=1)]

    result = plan(
        [OUT_OF_STOCK, OVERLOADED],
        context(orders),
        limits=with_limits(max_cancellations_per_hour=0),
    )

    assert {o for _r, o in outcomes(result).values()} == {"held"}
    assert result.held
    assert result.restaurant_actions == ()
    assert result.food_deactivations == ()

    # The same data with budget left: it closes and deactivates the food.
    free = plan([OUT_OF_STOCK, OVERLOADED], context(orders))
    assert closes(free) == [HAL]
    assert [f.food_id for f, _mode in free.food_deactivations] == [OUT_OF_FOOD]


def test_a_partly_used_budget_still_holds_the_pass_side_effects() -> None:
    orders = fill("f", 23, status=1)  # congestion wants three; the budget has one left

    result = plan([OVERLOADED], context(orders), limits=with_limits(max_cancellations_per_hour=1))

    assert sorted(o for _r, o in outcomes(result).values()) == ["held", "held", "pending"]
    assert result.held
    assert result.restaurant_actions == ()


def test_a_partly_used_budget_deactivates_no_food_beside_the_cancellation_it_allows() -> None:
    # Found by `autocancel test`: the cap held one order and said "holding every side
    # effect this pass", yet the food of the order it let through was still deactivated.
    orders = [order(f"no-stock-{n}", out_of_stock=True, minutes_ago=10 - n) for n in range(3)]

    result = plan([OUT_OF_STOCK], context(orders), limits=with_limits(max_cancellations_per_hour=2))

    assert sorted(o for _r, o in outcomes(result).values()) == ["held", "pending", "pending"]
    assert result.held
    assert result.food_deactivations == ()


def test_a_ratio_hold_neither_closes_nor_reopens() -> None:
    overloaded = fill("f", 25, status=1)
    ratio = with_limits(max_cancel_ratio=0.1)
    assert closes(plan([OVERLOADED], context(overloaded), limits=ratio)) == []

    quiet = [*fill("f", 9), order("failed", payment_status="failed", minutes_ago=1)]
    held = plan(
        [OVERLOADED, PAYMENT],
        context(quiet, closures=closed(30)),
        limits=with_limits(max_cancel_ratio=0.05),
    )
    assert outcomes(held) == {"failed": ("payment-failed", "held")}
    assert reopens(held) == []

    assert reopens(plan([OVERLOADED, PAYMENT], context(quiet, closures=closed(30)))) == [HAL]


def test_a_held_restaurant_takes_no_side_effect_and_another_still_acts() -> None:
    # Halaskargazi: every order would be cancelled (held), and a reopen is due.
    hal = [
        order("hal-stock", out_of_stock=True),
        *(order(f"hal-{n}", payment_status="failed") for n in range(2)),
    ]
    # Akat: overloaded with accepted orders, and one out of stock.
    akat = [
        order("akat-stock", restaurant=AKAT, status=2, out_of_stock=True),
        *fill("akat-", 21, restaurant=AKAT, status=2),
    ]

    result = plan(
        [OUT_OF_STOCK, PAYMENT, OVERLOADED],
        context([*hal, *akat], closures=closed(60)),
        limits=with_limits(max_cancel_ratio=0.5),
    )

    assert result.held_restaurants == frozenset({HAL})
    assert not result.held
    assert result.holds(HAL) and not result.holds(AKAT)
    assert reopens(result) == []
    assert closes(result) == [AKAT]
    assert [f.payment_key for f, _mode in result.food_deactivations] == ["akat-stock"]


# --- 12. stale orders are not load ---------------------------------------------------------


def test_orders_older_than_the_age_limit_are_not_load() -> None:
    orders = [
        order("abandoned-1", status=2, minutes_ago=200),
        order("abandoned-2", minutes_ago=181),
        *fill("f", 19, status=1),
    ]

    result = plan([OVERLOADED], context(orders))

    assert outcomes(result) == {}
    assert closes(result) == []
    load = result.loads[HAL]
    assert (load.active, len(load.stale), load.load) == (21, 2, 19)
    assert load.stale == frozenset({"abandoned-1", "abandoned-2"})


def test_an_order_of_unknown_time_is_load_but_never_chosen() -> None:
    orders = [order("no-time", minutes_ago=None), *fill("f", 20, status=1)]

    result = plan([OVERLOADED], context(orders))

    assert outcomes(result) == {"f00": ("overloaded", "pending")}
    assert result.loads[HAL].load == 21


# --- 13. the orders leaving ------------------------------------------------------------------


def test_an_order_another_rule_cancels_leaves_and_no_closure_follows() -> None:
    orders = [order("no-stock", out_of_stock=True, minutes_ago=30), *fill("f", 20, status=1)]

    result = plan([OUT_OF_STOCK, OVERLOADED], context(orders))

    assert outcomes(result) == {"no-stock": ("out-of-stock", "pending")}
    assert result.loads[HAL].leaving == frozenset({"no-stock"})
    assert result.loads[HAL].load == 20
    assert closes(result) == []


def test_protected_orders_are_not_leaving_and_never_chosen() -> None:
    orders = [
        order("vip-stock", out_of_stock=True, minutes_ago=30),
        order("aged-stock", out_of_stock=True, minutes_ago=300),
        order("vip-new", minutes_ago=0.5),
        *fill("f", 21, first_minutes_ago=1, status=1),
    ]
    limits = with_limits(never_cancel=frozenset({"vip-stock", "vip-new"}))

    result = plan([OUT_OF_STOCK, OVERLOADED], context(orders), limits=limits)

    # Load 23 (the aged one is stale), nothing leaving: three must go, not vip-new.
    assert outcomes(result) == {
        "vip-stock": ("out-of-stock", "skipped"),
        "aged-stock": ("out-of-stock", "skipped"),
        "f00": ("overloaded", "pending"),
        "f01": ("overloaded", "pending"),
        "f02": ("overloaded", "pending"),
    }
    assert result.loads[HAL].leaving == frozenset()
    assert closes(result) == [HAL]


def test_shadow_matches_are_not_leaving() -> None:
    orders = [order("shadow", payment_status="failed", minutes_ago=30), *fill("f", 20, status=2)]

    result = plan([SHADOW_PAYMENT, OVERLOADED], context(orders))

    assert result.loads[HAL].load == 21
    assert closes(result) == [HAL]
    assert outcomes(result) == {"shadow": ("overloaded", "pending")}  # the only received one
    assert shadows(result) == [("shadow", "payment-check", "would_cancel")]


def test_cancellations_already_on_their_way_are_leaving_refused_ones_are_not() -> None:
    orders = fill("f", 22, status=1)
    intents = {"f10": "pending", "f11": "cancelled", "f12": "failed"}

    result = plan([OVERLOADED], context(orders, live_intents=intents))

    assert result.loads[HAL].leaving == frozenset({"f10", "f11"})
    assert result.loads[HAL].load == 20
    assert outcomes(result) == {}


def test_a_global_dry_run_plans_exactly_what_live_would() -> None:
    orders = [
        order("no-stock", out_of_stock=True, minutes_ago=100),
        order("vip-stock", out_of_stock=True, minutes_ago=50),
        order("stock-aged", out_of_stock=True, minutes_ago=200),
        order("vip-new", minutes_ago=0.5),
        order("shadow-new", payment_status="failed", minutes_ago=1),
        order("shadow-kept", payment_status="failed", status=2, minutes_ago=20),
        *fill("f", 20, first_minutes_ago=2, status=1),
    ]
    limits = with_limits(never_cancel=frozenset({"vip-stock", "vip-new"}))
    rules = [OUT_OF_STOCK, SHADOW_PAYMENT, OVERLOADED]

    live = plan(rules, context(orders), limits=limits)
    dry = plan(rules, context(orders), limits=limits, dry_run=True)

    expected = {
        key: (rule, "would_cancel" if outcome == "pending" else outcome)
        for key, (rule, outcome) in outcomes(live).items()
    }
    assert outcomes(dry) == expected
    assert {d.mode for d in dry.decisions} == {"dry_run"}
    assert dry.loads == live.loads
    assert [a for a, _m in dry.restaurant_actions] == [a for a, _m in live.restaurant_actions]
    assert {m for _a, m in dry.restaurant_actions} == {"dry_run"}
    assert expected["shadow-new"] == ("overloaded", "would_cancel")
    assert "vip-new" not in expected


def test_a_global_dry_run_predicts_holds() -> None:
    orders = fill("f", 22, status=1)
    limits = with_limits(max_cancellations_per_hour=0)

    dry = plan([OVERLOADED], context(orders), limits=limits, dry_run=True)

    assert {(d.mode, d.outcome) for d in dry.primary} == {("dry_run", "held")}
    assert dry.restaurant_actions == ()


# --- 14. one pass clock ------------------------------------------------------------------------


def test_every_age_is_judged_by_the_pass_clock() -> None:
    # 60 minutes old by the pass clock; years old (or in the future) by the wall clock.
    orders = [order("failed", payment_status="failed", minutes_ago=60)]

    result = plan([PAYMENT], context(orders))

    assert outcomes(result) == {"failed": ("payment-failed", "pending")}
    assert result.now == NOW


def test_reopening_waits_by_the_pass_clock() -> None:
    # 9 or 11 of the 10 minutes by the pass clock, whatever the wall clock says.
    assert reopens(plan([OVERLOADED], context(fill("f", 3), closures=closed(9)))) == []
    assert reopens(plan([OVERLOADED], context(fill("f", 3), closures=closed(11)))) == [HAL]


def test_an_order_looked_up_by_key_is_judged_but_is_no_load() -> None:
    vanished = order("vanished", payment_status="failed")

    result = plan(
        [PAYMENT, OVERLOADED], context([vanished, *fill("f", 20, status=2)], looked_up=["vanished"])
    )

    assert outcomes(result) == {}
    assert result.loads[HAL].load == 20
    verdicts = dict((rule.name, verdict) for rule, verdict in result.verdicts["vanished"])
    assert not verdicts["payment-failed"].matched

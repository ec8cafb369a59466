"""congestion on hand-built loads: which orders go, when a restaurant closes and reopens.

How the load itself is counted (stale, leaving, protected, shadow) is in
test_plan.py; here is what the rule does with it.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from daemon.domain.actions import CloseRestaurant, ReopenRestaurant
from rules.congestion import CongestionRule
from rules.context import RestaurantLoad
from rules.verdict import VerdictKind
from tests.unit.builders import (
    AKAT,
    HAL,
    OVERLOADED,
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
)


def small(**fields: object) -> CongestionRule:
    """Capacity 2: a handful of orders overloads it."""
    options: dict[str, object] = {
        "name": "overloaded",
        "reason_id": 3,
        "max_active_orders": 2,
        "min_closed_minutes": 10,
        **fields,
    }
    return CongestionRule.model_validate(options)


# --- which orders go ------------------------------------------------------------------------


def test_the_newest_received_orders_beyond_capacity_go_and_accepted_ones_stay() -> None:
    orders = [
        order("accepted-newest", status=2, minutes_ago=1),
        order("received-2", minutes_ago=2),
        order("on-its-way", status=16, minutes_ago=3),
        order("received-4", minutes_ago=4),
        order("received-5", minutes_ago=5),
        order("received-6", minutes_ago=6),
    ]

    result = plan([small(max_active_orders=3)], context(orders))

    # Load 6, capacity 3: the three newest received orders go, though not the newest orders.
    assert outcomes(result) == {
        "received-2": ("overloaded", "pending"),
        "received-4": ("overloaded", "pending"),
        "received-5": ("overloaded", "pending"),
    }
    assert decided(result, "received-2").evidence == {
        "active_orders": 6,
        "stale_orders": 0,
        "leaving_orders": 0,
        "max_active_orders": 3,
    }
    assert decided(result, "received-2").reason_id == 3
    [(_rule, kept)] = result.verdicts["received-6"]
    assert kept.kind is VerdictKind.NO_MATCH
    assert "is kept (older, already accepted" in kept.why
    assert closes(result) == [HAL]


def test_orders_of_the_same_minute_are_chosen_by_order_number_then_key() -> None:
    same_minute = [
        order("b", minutes_ago=1, order_number=7),
        order("a", minutes_ago=1, order_number=7),
        order("c", minutes_ago=1, order_number=8),
    ]

    result = plan([small()], context(same_minute))

    # Replicas planning the same snapshot must choose the same order.
    assert outcomes(result) == {"c": ("overloaded", "pending")}
    again = plan([small()], context([same_minute[2], same_minute[1], same_minute[0]]))
    assert outcomes(again) == outcomes(result)
    tie = plan([small()], context([*same_minute[:2], order("z", minutes_ago=30)]))
    assert outcomes(tie) == {"b": ("overloaded", "pending")}


def test_at_capacity_nothing_goes_and_nothing_closes() -> None:
    result = plan([OVERLOADED], context(fill("f", 20)))

    assert outcomes(result) == {}
    assert closes(result) == []
    [(_rule, verdict)] = result.verdicts["f00"]
    assert verdict.why == "20 orders of load, capacity 20"
    assert verdict.evidence["active_orders"] == 20


def test_overloaded_by_accepted_orders_it_closes_without_cancelling() -> None:
    result = plan([OVERLOADED], context(fill("f", 21, status=2)))

    assert outcomes(result) == {}
    assert closes(result) == [HAL]


def test_without_close_restaurant_it_only_cancels_the_excess() -> None:
    result = plan([small(close_restaurant=False)], context(fill("f", 3)))

    assert outcomes(result) == {"f00": ("overloaded", "pending")}
    assert result.restaurant_actions == ()


def test_each_restaurant_is_judged_on_its_own_load_and_unlisted_ones_never() -> None:
    orders = [
        *fill("hal-", 3),
        *fill("akat-", 2, restaurant=AKAT),
        *fill("other-", 9, restaurant=UNLISTED),
    ]

    result = plan([small()], context(orders))

    assert outcomes(result) == {"hal-00": ("overloaded", "pending")}
    assert closes(result) == [HAL]
    assert set(result.loads) == {HAL, AKAT}
    [(_rule, verdict)] = result.verdicts["other-00"]
    assert verdict.kind is VerdictKind.SKIPPED


def test_listing_more_statuses_still_cancels_only_received_orders() -> None:
    orders = [order("on-its-way", status=16, minutes_ago=1), *fill("f", 2)]

    result = plan([small(statuses=[1, 2, 16])], context(orders))

    assert outcomes(result) == {"f00": ("overloaded", "pending")}


def test_a_rule_that_does_not_list_received_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match=r"must include 1 \(received\)"):
        small(statuses=[2, 16])


def test_an_invalid_capacity_is_reported_once_not_again_as_reopen_below() -> None:
    with pytest.raises(ValidationError) as raised:
        CongestionRule.model_validate({"name": "busy", "reason_id": 3, "max_active_orders": 0})

    assert [error["loc"] for error in raised.value.errors()] == [("max_active_orders",)]


# --- closing and reopening ------------------------------------------------------------------


def test_it_closes_once_with_the_load_as_evidence() -> None:
    [(action, mode)] = plan([small()], context(fill("f", 3))).restaurant_actions

    assert action == CloseRestaurant(
        HAL,
        "overloaded",
        {"active_orders": 3, "stale_orders": 0, "leaving_orders": 0, "max_active_orders": 2},
    )
    assert mode == "live"
    # Already closed by this rule and still overloaded: no second close, no reopen.
    assert plan([small()], context(fill("f", 3), closures=closed(60))).restaurant_actions == ()


def test_it_reopens_below_reopen_below_once_closed_long_enough() -> None:
    [(action, _mode)] = plan(
        [OVERLOADED], context(fill("f", 14), closures=closed(12.5))
    ).restaurant_actions

    assert action == ReopenRestaurant(
        HAL,
        "overloaded",
        1,
        {
            "active_orders": 14,
            "stale_orders": 0,
            "leaving_orders": 0,
            "max_active_orders": 20,
            "reopen_below": 15,
            "closed_minutes": 12.5,
        },
    )


@pytest.mark.parametrize(
    ("load", "minutes_closed", "reopened"),
    [
        (15, 60, False),  # hysteresis: not below reopen_below yet
        (14, 9.9, False),  # too soon
        (14, 10, True),  # min_closed_minutes reached exactly
    ],
)
def test_reopening_waits_for_the_load_and_the_time(
    load: int, minutes_closed: float, reopened: bool
) -> None:
    result = plan([OVERLOADED], context(fill("f", load), closures=closed(minutes_closed)))

    assert reopens(result) == ([HAL] if reopened else [])
    assert closes(result) == []


def test_min_closed_minutes_zero_reopens_as_soon_as_the_load_allows() -> None:
    rule = small(min_closed_minutes=0, reopen_below=1)

    assert reopens(plan([rule], context([], closures=closed(0)))) == [HAL]


def test_a_restaurant_closed_by_someone_else_is_never_reopened() -> None:
    by_another_rule = closed(60, rule="lunch-rush")

    result = plan([OVERLOADED], context(fill("f", 2), closures=by_another_rule))

    assert result.restaurant_actions == ()


# --- reopen_below's default, and the rule on its own ------------------------------------------


@pytest.mark.parametrize(("capacity", "reopen_below"), [(20, 15), (4, 3), (1, 0)])
def test_reopen_below_defaults_to_three_quarters_of_capacity(
    capacity: int, reopen_below: int
) -> None:
    rule = CongestionRule.model_validate(
        {"name": "busy", "reason_id": 3, "max_active_orders": capacity}
    )

    assert rule.reopen_below == reopen_below


@pytest.mark.parametrize("reopen_below", [2, 3])
def test_reopen_below_must_be_under_capacity(reopen_below: int) -> None:
    with pytest.raises(ValidationError, match=r"must be smaller than max_active_orders \(2\)"):
        small(reopen_below=reopen_below)


def test_rejudge_on_its_own() -> None:
    rule = small()
    received = order("x")
    over = RestaurantLoad(
        restaurant_id=HAL,
        active=3,
        stale=frozenset(),
        leaving=frozenset(),
        staying=(received, order("y"), order("z")),
        actionable=frozenset({"x", "y", "z"}),
    )
    ctx = context([received])

    assert rule.rejudge(received, ctx, None).why == "the restaurant is not in rules.yaml any more"
    still = rule.rejudge(received, ctx, over)
    assert (still.kind, still.why) == (VerdictKind.MATCH, "still beyond capacity")
    assert still.evidence["active_orders"] == 3
    accepted = rule.rejudge(order("x", status=2), ctx, over)
    assert accepted.why == "status 2: no longer a received order"
    no_time = rule.rejudge(order("x", minutes_ago=None), ctx, over)
    assert no_time.kind is VerdictKind.NO_MATCH

"""Foods come back: which of the daemon's deactivations the planner undoes, and why.

Hand-built deactivations on the pass clock ``NOW``; no store, no API.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from daemon.domain.foods import (
    FoodOff,
    ReactivationClaim,
    describe_reason,
    describe_stock_words,
    sellable,
)
from daemon.domain.orders import StockLevel
from daemon.domain.windows import QuietWindow, Window
from daemon.engine.reactivation import (
    DEFAULT_ABANDONED_AFTER,
    abandoned_after,
    due_at,
    due_reactivations,
    reason_now,
    snoozes,
)
from rules.out_of_stock import OutOfStockRule
from rules.validation import ValidationContext
from tests.unit.builders import AKAT, HAL, LIMITS, NOW, OUT_OF_STOCK, context, order, plan

SNOOZING = OutOfStockRule(
    name="out-of-stock", reason_id=1, deactivate_food=True, reactivate_after_minutes=30
)
LONG_AGO = NOW - timedelta(hours=2)


def off(
    *,
    stock: StockLevel | None = None,
    minutes_ago: float = 10,
    outcome: str = "done",
    claim: ReactivationClaim | None = None,
    **fields: Any,
) -> FoodOff:
    """Food 2, switched off at HAL by out-of-stock ``minutes_ago`` before NOW."""
    return FoodOff(
        deactivation_id=7,
        food_id=2,
        restaurant_id=HAL,
        rule="out-of-stock",
        payment_key="a",
        deactivated_at=NOW - timedelta(minutes=minutes_ago),
        outcome=outcome,
        stock=stock,
        reactivation=claim,
        **fields,
    )


def level(
    available: bool = True, quantity: int | None = None, restaurant: str | None = HAL
) -> StockLevel:
    return StockLevel(2, "Chicken Burrito", available, quantity, restaurant)


def claim(outcome: str, *, minutes_ago: float = 1, **fields: Any) -> ReactivationClaim:
    return ReactivationClaim(
        id=3,
        outcome=outcome,
        trigger=fields.pop("trigger", "back_in_stock"),
        updated_at=NOW - timedelta(minutes=minutes_ago),
        **fields,
    )


def due(*foods: FoodOff, snooze: timedelta | None = None) -> list[tuple[str, dict[str, Any]]]:
    delays = {} if snooze is None else {"out-of-stock": snooze}
    found = due_reactivations(foods, delays, NOW, abandoned_before=NOW - DEFAULT_ABANDONED_AFTER)
    return [(f.trigger, dict(f.evidence)) for f in found]


# --- the stock row -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stock", "can_sell"),
    [
        (level(True, None), True),
        (level(True, 4), True),
        (level(True, 0), False),  # counted at zero
        (level(True, -3), False),  # bad data is no sign of stock
        (level(False, 12), False),
        (level(False, None), False),
        (None, False),  # no row, or an unreadable one
        (level(True, None, restaurant=AKAT), False),  # another kitchen's row says nothing
        (level(True, None, restaurant=None), True),  # a row for every restaurant
    ],
)
def test_a_food_comes_back_when_its_stock_row_says_it_can_be_sold(
    stock: StockLevel | None, can_sell: bool
) -> None:
    assert sellable(stock, HAL) is can_sell
    found = due(off(stock=stock))
    if not can_sell or stock is None:
        assert found == []
    else:
        evidence = {"stock": {"available": True, "quantity": stock.quantity}}
        assert found == [("back_in_stock", evidence)]


def test_only_a_deactivation_that_may_have_switched_the_food_off_is_undone() -> None:
    back = level()
    assert due(off(stock=back, outcome="pending")) == []  # still being sent
    assert due(off(stock=back, outcome="retry")) == []  # not through yet
    assert due(off(stock=back, outcome="failed")) == []  # refused: never off
    # An answer was lost: it may be off, so it is brought back.
    for outcome in ("failed", "uncertain"):
        assert [t for t, _e in due(off(stock=back, outcome=outcome, uncertain_sends=1))] == [
            "back_in_stock"
        ]


# --- the snooze ----------------------------------------------------------------------------


def test_the_snooze_brings_a_food_back_once_its_time_is_up_whatever_the_stock() -> None:
    out = level(False, 0)
    snooze = timedelta(minutes=30)
    assert due(off(stock=out, minutes_ago=29.99), snooze=snooze) == []
    [(trigger, evidence)] = due(off(stock=out, minutes_ago=30), snooze=snooze)
    assert trigger == "snooze"
    assert evidence == {
        "reactivate_after_minutes": 30,
        "deactivated_at": "2031-05-17T11:30:00Z",
        "due_at": "2031-05-17T12:00:00Z",
        "stock": {"available": False, "quantity": 0},
    }
    assert due(off(stock=out, minutes_ago=300)) == []  # no snooze on the rule
    # The stock row is the kitchen's own word: it goes first.
    assert [t for t, _e in due(off(stock=level(), minutes_ago=60), snooze=snooze)] == [
        "back_in_stock"
    ]
    assert due_at(off(minutes_ago=10), snooze) == NOW + timedelta(minutes=20)
    assert due_at(off(), None) is None


def test_each_deactivation_takes_the_snooze_of_the_rule_that_made_it() -> None:
    other = OutOfStockRule(
        name="other", reason_id=1, deactivate_food=True, reactivate_after_minutes=5
    )
    disabled = SNOOZING.model_copy(update={"enabled": False})
    assert snoozes([OUT_OF_STOCK, other]) == {"other": timedelta(minutes=5)}
    # A rule switched off still brings its foods back: a way back is never switched off.
    assert snoozes([disabled]) == {"out-of-stock": timedelta(minutes=30)}
    other_snooze = snoozes([other]).get("out-of-stock")
    assert reason_now(off(stock=None, minutes_ago=6), other_snooze, NOW) is None


# --- claims ---------------------------------------------------------------------------------


def test_a_reactivation_under_way_is_left_to_its_sender_until_it_is_presumed_gone() -> None:
    back = level()
    assert due(off(stock=back, claim=claim("pending", minutes_ago=1))) == []
    gone = DEFAULT_ABANDONED_AFTER.total_seconds() / 60 + 1
    assert due(off(stock=back, claim=claim("pending", minutes_ago=gone))) == [
        ("back_in_stock", {"stock": {"available": True, "quantity": None}, "resend": True})
    ]


def test_a_lost_answer_is_planned_again_even_when_no_longer_due_for_the_recheck() -> None:
    lost = claim("uncertain", uncertain_sends=1)
    assert due(off(stock=level(False), claim=lost)) == [("back_in_stock", {"resend": True})]
    manual = claim("uncertain", trigger="manual", requested_by="Ayşe", note="restocked")
    [again] = due_reactivations(
        [off(stock=level(), claim=manual)],
        {},
        NOW,
        abandoned_before=NOW - DEFAULT_ABANDONED_AFTER,
    )
    assert (again.trigger, again.requested_by, again.note) == ("manual", "Ayşe", "restocked")
    assert dict(again.evidence) == {"resend": True}


def test_finished_and_failed_reactivations_are_not_taken_again_by_a_pass() -> None:
    back = level()
    for outcome in ("reactivated", "maybe_reactivated", "failed"):
        assert due(off(stock=back, claim=claim(outcome))) == [], outcome
    assert due(off(stock=back, claim=claim("retry"))) == [
        ("back_in_stock", {"stock": {"available": True, "quantity": None}})
    ]
    assert due(off(stock=level(False), claim=claim("retry"))) == []


def test_a_claim_is_presumed_abandoned_after_the_longest_a_sender_can_take() -> None:
    assert timedelta(seconds=90 + 20 + 30 + 60) == DEFAULT_ABANDONED_AFTER
    assert abandoned_after(pass_deadline_seconds=600, timeout_seconds=30) == timedelta(seconds=750)


# --- in the plan ----------------------------------------------------------------------------


def test_the_plan_brings_foods_back_whatever_restaurants_the_pass_reread() -> None:
    ctx = context([], restaurants={}, foods_off=[off(stock=level())])
    live, dry = plan([OUT_OF_STOCK], ctx), plan([OUT_OF_STOCK], ctx, dry_run=True)
    assert [(a.food_id, a.trigger, m) for a, m in live.food_reactivations] == [
        (2, "back_in_stock", "live")
    ]
    assert [m for _a, m in dry.food_reactivations] == ["dry_run"]
    # Windows and quiet windows stop decisions, never the way back.
    asleep = SNOOZING.model_copy(update={"active_hours": ("03:00-04:00",)})
    quiet = replace(LIMITS, quiet_windows=(QuietWindow(Window.parse(hours=["00:00-24:00"])),))
    assert len(plan([asleep], ctx, limits=quiet).food_reactivations) == 1


def test_a_brake_that_holds_the_pass_changes_no_food_either() -> None:
    orders = [order(f"o{n}", out_of_stock=True) for n in range(3)]
    ctx = context(orders, foods_off=[off(stock=level())])
    braked = plan([OUT_OF_STOCK], ctx, limits=replace(LIMITS, max_cancellations_per_hour=1))
    assert braked.held and braked.food_reactivations == ()


# --- the rule's field and the words -------------------------------------------------------------


def test_reactivate_after_minutes_without_deactivate_food_is_a_warning() -> None:
    alone = OutOfStockRule(name="oos", reason_id=1, reactivate_after_minutes=30)
    [problem] = alone.validate_against(ValidationContext(), at=("rules", 0))
    assert problem.severity == "warning"
    assert problem.path == ("rules", 0, "reactivate_after_minutes")
    assert "has no effect without deactivate_food: true" in problem.message
    assert SNOOZING.validate_against(ValidationContext(), at=("rules", 0)) == []
    assert SNOOZING.reactivation_delay == timedelta(minutes=30)
    assert OUT_OF_STOCK.reactivation_delay is None


def test_why_a_food_came_back_in_words() -> None:
    stock = {"available": True, "quantity": 4}
    assert describe_reason("back_in_stock", {"stock": stock}) == (
        "back in stock (stock row: available, 4 left)"
    )
    assert describe_reason("snooze", {"reactivate_after_minutes": 30, "stock": None}) == (
        "snooze: reactivate_after_minutes 30 was up (stock row: no readable stock row)"
    )
    assert describe_reason("manual", {"resend": True}, "restocked") == (
        "by hand (autocancel food-reactivate); a resend after a lost answer; note: restocked"
    )
    assert describe_reason("other", None) == "other"
    assert describe_stock_words({"available": False, "quantity": None}) == "unavailable"

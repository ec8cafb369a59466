"""The daemon's own state in memory (daemon.engine.own_state), as both in-memory stores use it.

Plans are built by hand here, as a pass may have planned them on an older
state: an effect applies only to what it names, and only in live mode. The
planner's own choices are tested with each store (tests/unit/test_simulated.py,
tests/unit/test_replay_engine.py).
"""

from __future__ import annotations

from datetime import timedelta

from daemon.domain.actions import (
    CloseRestaurant,
    ReactivateFood,
    ReopenRestaurant,
    RestaurantAction,
)
from daemon.domain.decisions import Mode
from daemon.domain.foods import FoodOff
from daemon.domain.orders import Closure, StockLevel
from daemon.engine.own_state import OwnState
from daemon.engine.plan import Plan
from tests.unit.builders import AKAT, HAL, NOW, OUT_OF_FOOD

OFF = FoodOff(
    deactivation_id=3,
    food_id=OUT_OF_FOOD,
    restaurant_id=HAL,
    rule="out-of-stock",
    payment_key="k",
    deactivated_at=NOW - timedelta(minutes=20),
    outcome="done",
)


def _plan(
    *,
    restaurant_actions: tuple[tuple[RestaurantAction, Mode], ...] = (),
    food_reactivations: tuple[tuple[ReactivateFood, Mode], ...] = (),
) -> Plan:
    return Plan(
        now=NOW,
        decisions=(),
        loads={},
        restaurant_actions=restaurant_actions,
        food_deactivations=(),
        verdicts={},
        rule_modes={},
        hourly_used=0,
        food_reactivations=food_reactivations,
    )


def _back(deactivation_id: int) -> ReactivateFood:
    return ReactivateFood(OUT_OF_FOOD, HAL, "out-of-stock", deactivation_id, "back_in_stock")


def test_a_reactivation_ends_only_the_deactivation_it_names_and_only_live() -> None:
    own = OwnState(foods_off=[OFF])
    older = own.apply(_plan(food_reactivations=((_back(2), "live"),)))
    dry = own.apply(_plan(food_reactivations=((_back(3), "dry_run"),)))
    assert older.reactivated == dry.reactivated == ()
    assert own.deactivated_foods == {OUT_OF_FOOD}

    done = own.apply(_plan(food_reactivations=((_back(3), "live"),)))
    assert done.reactivated == ((_back(3), OFF),)
    assert own.deactivated_foods == frozenset() and own.foods_off({}) == ()
    # The next deactivation of the food is a new one, above every id it started with.
    again = own.deactivate(OUT_OF_FOOD, rule="out-of-stock", at=NOW, restaurant_id=HAL)
    assert again.deactivation_id == 4 and own.deactivated_foods == {OUT_OF_FOOD}


def test_a_pass_reads_each_food_off_with_its_stock_row_as_it_is_now() -> None:
    own = OwnState(foods_off=[OFF])
    sold_out = StockLevel(OUT_OF_FOOD, "ayran", available=False, quantity=None)
    stock = {OUT_OF_FOOD: sold_out}
    (read,) = own.foods_off(stock)
    assert read.stock == sold_out and not read.sellable
    stock[OUT_OF_FOOD] = StockLevel(OUT_OF_FOOD, "ayran", available=True, quantity=3)
    own.stock_changed(OUT_OF_FOOD)
    (read,) = own.foods_off(stock)
    assert read.sellable
    assert own.foods_off(stock) is own.foods_off(stock)  # kept until something changes


def test_a_close_is_ours_only_if_nobody_closed_it_and_a_reopen_ends_only_its_closure() -> None:
    ours = Closure(id=7, restaurant_id=HAL, rule="overloaded", closed_at=NOW)
    own = OwnState(closures={HAL: ours})
    live: Mode = "live"
    closes = tuple((CloseRestaurant(rid, "overloaded", {}), live) for rid in (HAL, AKAT, "other"))
    applied = own.apply(_plan(restaurant_actions=closes), closed_by_others={"other"})
    # Halaskargazi was closed by us already; someone else had closed "other".
    assert [(c.restaurant_id, c.id) for c in applied.closed] == [(AKAT, 8)]

    stale = ReopenRestaurant(HAL, "overloaded", 6, {})
    assert own.apply(_plan(restaurant_actions=((stale, live),))).reopened == ()
    reopen = ReopenRestaurant(HAL, "overloaded", 7, {})
    assert own.apply(_plan(restaurant_actions=((reopen, live),))).reopened == (ours,)
    assert set(own.closures) == {AKAT}


def test_the_rolling_hour_counts_the_cancellations_of_the_hour_up_to_now() -> None:
    own = OwnState(cancelled_at=[NOW - timedelta(minutes=10)])
    own.record_cancellations([NOW - timedelta(minutes=61), NOW - timedelta(minutes=60)])
    assert own.hourly_used(NOW) == 2
    assert own.hourly_used(NOW - timedelta(minutes=30)) == 2  # asking again changes nothing
    assert own.hourly_used(NOW - timedelta(minutes=70)) == 0
    assert own.hourly_used(NOW + timedelta(minutes=45)) == 1

"""Replay on hand-built history: the simulated store, its passes, the report and the diff.

No store: the history is a list of changes at chosen clocks. A real daemon's
history, on SQLite and PostgreSQL: tests/test_replay.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.config.models import (
    Config,
    QuietWindowSettings,
    Restaurant,
    SafetySettings,
    ScheduleSettings,
)
from daemon.domain.distance import Distances
from daemon.domain.foods import FoodOff
from daemon.domain.location import Location
from daemon.domain.orders import Closure, Item, Order, StockLevel
from daemon.engine.plan import plan_pass
from daemon.engine.replay import summary
from daemon.engine.replay.diff import compare, revenue
from daemon.engine.replay.outcomes import OrderOutcome, ReplayResult, Unwatched
from daemon.engine.replay.run import Replay
from daemon.engine.replay.world import Change, SimulatedStore, Start
from rules.base import Rule
from rules.congestion import CongestionRule
from rules.context import PassContext
from rules.payment_failed import PaymentFailedRule
from tests.unit.builders import AKAT, HAL, LIMITS, NOW, OUT_OF_STOCK, PAYMENT, order

T0 = NOW
CONGESTION = CongestionRule(
    name="overloaded", reason_id=3, max_active_orders=2, reopen_below=1, min_closed_minutes=0
)


def config(
    *rules: Rule,
    interval: float = 15,
    full_pass: float = 300,
    dry_run: bool = False,
    **safety: Any,
) -> Config:
    return Config(
        source=Path("replayed.yaml"),
        restaurants=(Restaurant(id=HAL, name="Halaskargazi"), Restaurant(id=AKAT)),
        rules=rules,
        schedule=ScheduleSettings(interval_seconds=interval, full_pass_seconds=full_pass),
        safety=SafetySettings(**safety),
        dry_run=dry_run,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def placed(key: str, seconds: float, **fields: Any) -> Order:
    """An order placed ``seconds`` after T0 (one minute before it is seen, say)."""
    return order(key, minutes_ago=None, created_at=at(seconds), total=Decimal("100"), **fields)


def seen(seconds: float, value: Order | StockLevel | None, subject: str | None = None) -> Change:
    if isinstance(value, StockLevel):
        return Change(at(seconds), "stock", str(value.food_id), value)
    key = subject if subject is not None else value.payment_key if value else ""
    return Change(at(seconds), "order", key, value)


def no_locations(orders: object) -> dict[str, Location]:
    return {}


def replay(
    settings: Config, changes: list[Change], *, until: float, start: Start | None = None, **kw: Any
) -> ReplayResult:
    run = Replay(
        settings,
        start or Start(at=T0),
        locate=no_locations,
        distances=Distances.exact(),
        **kw,
    )
    return run.run(changes, until=at(until))


def outcomes(result: ReplayResult) -> dict[str, tuple[str, str]]:
    return {key: (o.rule, o.outcome) for key, o in result.orders.items()}


# --- the simulated store ----------------------------------------------------------


def test_the_store_takes_changes_and_says_whose_decisions_they_touch() -> None:
    store = SimulatedStore(Start(at=T0))
    ayran = order("k1", items=(Item(7, "ayran", 1),))
    assert store.take(Change(T0, "order", "k1", ayran)) == {HAL}
    # A stock row concerns the restaurants with an active order of the food.
    assert store.take(Change(T0, "stock", "7", StockLevel(7, "ayran", False, None))) == {HAL}
    assert store.take(Change(T0, "stock", "8", StockLevel(8, None, True, None))) == frozenset()
    moved = replace(ayran, restaurant_id=AKAT)
    assert store.take(Change(T0, "order", "k1", moved)) == {HAL, AKAT}
    snapshot = store.snapshot(T0, [HAL, AKAT])
    assert [o.payment_key for o in snapshot.orders] == ["k1"]
    assert set(snapshot.stock) == {7}  # only the foods of the orders read
    assert store.take(Change(T0, "order", "k1", None)) == {AKAT}
    assert store.take(Change(T0, "stock", "7", None)) == frozenset()
    assert store.snapshot(T0, [HAL, AKAT]).orders == ()


def test_what_one_pass_does_comes_out_in_the_restaurants_id_order() -> None:
    """Not in the order of a set of ids, which the process's hash seed chooses."""
    ids = [f"branch-{n}" for n in (5, 3, 7, 1, 6, 0, 4, 2)]
    settings = Config(
        source=Path("replayed.yaml"),
        restaurants=tuple(Restaurant(id=rid) for rid in ids),
        rules=(OUT_OF_STOCK,),
        schedule=ScheduleSettings(interval_seconds=15, full_pass_seconds=300),
        safety=SafetySettings(),
    )
    changes = [seen(1, StockLevel(100 + n, f"food {n}", False, None)) for n in range(8)]
    changes += [
        seen(2, placed(f"k-{rid}", 1, restaurant=rid, items=(Item(100 + n, f"food {n}", 1),)))
        for n, rid in enumerate(ids)
    ]
    result = replay(settings, changes, until=3)
    assert [food.restaurant_id for food in result.foods] == sorted(ids)
    assert list(result.orders) == [f"k-{rid}" for rid in sorted(ids)]


def test_each_snapshot_reads_the_store_as_it_is_after_every_change() -> None:
    """A restaurant's orders and stock rows are kept between passes; every change shows."""
    ayran, soup = Item(7, "ayran", 1), Item(9, "çorba", 1)
    store = SimulatedStore(
        Start(
            at=T0,
            orders={"k1": order("k1", items=(ayran,))},
            stock={7: StockLevel(7, "ayran", True, None)},
        )
    )

    def read() -> tuple[list[tuple[str, int]], dict[int, bool]]:
        snapshot = store.snapshot(T0, [HAL, AKAT])
        return (
            [(o.payment_key, o.status_id) for o in snapshot.orders],
            {food: row.available for food, row in snapshot.stock.items()},
        )

    assert read() == ([("k1", 1)], {7: True})
    assert read() == ([("k1", 1)], {7: True})  # kept: the same
    store.take(Change(T0, "stock", "7", StockLevel(7, "ayran", False, None)))
    assert read() == ([("k1", 1)], {7: False})
    store.take(Change(T0, "order", "k1", order("k1", status=2, items=(ayran,))))
    assert read() == ([("k1", 2)], {7: False})
    store.take(Change(T0, "order", "k2", order("k2", items=(soup,))))
    store.take(Change(T0, "stock", "9", StockLevel(9, "çorba", True, None)))
    assert read() == ([("k1", 2), ("k2", 1)], {7: False, 9: True})
    store.take(Change(T0, "order", "k1", order("k1", status=3, items=(ayran,))))  # done
    assert read() == ([("k2", 1)], {9: True})
    store.take(Change(T0, "order", "k2", order("k2", restaurant=AKAT, items=(soup,))))
    assert read() == ([("k2", 1)], {9: True})
    assert store.snapshot(T0, [HAL]).orders == ()
    store.take(Change(T0, "stock", "9", None))
    assert read() == ([("k2", 1)], {})
    failed = order("k2", restaurant=AKAT, items=(soup,), payment_status="failed")
    store.take(Change(T0, "order", "k2", failed))
    ctx = PassContext(
        now=T0,
        snapshot=store.snapshot(T0, [AKAT]),
        restaurants={AKAT: Restaurant(id=AKAT)},
    )
    store.apply(plan_pass([PAYMENT], ctx, LIMITS, hourly_used=0, dry_run=False))
    assert read() == ([], {})  # cancelled by the replay: gone


def test_the_stock_rows_a_pass_reads_follow_the_foods_of_the_orders_at_once() -> None:
    """An order bringing a food brings its row; the last order of a food takes it away.

    What an earlier snapshot read stays as it read it.
    """
    ayran, soup = Item(7, "ayran", 1), Item(9, "çorba", 1)
    store = SimulatedStore(
        Start(
            at=T0,
            orders={"k1": order("k1", items=(ayran,))},
            stock={7: StockLevel(7, "ayran", True, None), 9: StockLevel(9, "çorba", True, None)},
        )
    )

    def foods() -> set[int]:
        return set(store.snapshot(T0, [HAL]).stock)

    first = store.snapshot(T0, [HAL]).stock
    assert foods() == {7}
    store.take(Change(T0, "order", "k2", order("k2", items=(soup, soup))))
    assert foods() == {7, 9}
    store.take(Change(T0, "order", "k3", order("k3", items=(ayran, soup))))
    store.take(Change(T0, "order", "k1", None))
    assert foods() == {7, 9}  # k3 still holds the ayran
    store.take(Change(T0, "order", "k2", order("k2", status=2, items=(soup, soup))))
    store.take(Change(T0, "order", "k3", None))
    assert foods() == {9}
    store.take(Change(T0, "order", "k2", order("k2", status=3, items=(soup, soup))))  # done
    assert foods() == set()
    assert set(first) == {7}


def test_a_plan_s_effects_are_applied_as_a_live_pass_would() -> None:
    start = Start(
        at=T0,
        orders={"failed": order("failed", payment_status="failed")},
        live_intents={"failed": "failed"},  # refused before: never decided again
        cancelled_at=(T0 - timedelta(minutes=59), T0 - timedelta(minutes=61)),
    )
    store = SimulatedStore(start)
    assert store.hourly_used(T0) == 1
    assert store.snapshot(T0, [HAL]).live_intents == {"failed": "failed"}
    store = SimulatedStore(replace(start, live_intents={}))
    ctx = PassContext(now=T0, snapshot=store.snapshot(T0, [HAL]), restaurants={HAL: HAL_PLACE})
    plan = plan_pass([PAYMENT], ctx, LIMITS, hourly_used=1, dry_run=False)
    effects = store.apply(plan)
    assert [d.payment_key for d in effects.cancelled] == ["failed"]
    assert store.hourly_used(T0) == 2 and store.hourly_used(T0 + timedelta(minutes=60)) == 1
    # The platform cancelled it: what the history says of it later does not bring it back.
    assert store.take(Change(T0, "order", "failed", order("failed", status=2))) == frozenset()
    assert store.snapshot(T0, [HAL]).orders == ()


def test_a_dry_run_plan_changes_nothing() -> None:
    store = SimulatedStore(Start(at=T0, orders={"k": order("k", out_of_stock=True)}))
    snapshot = store.snapshot(T0, [HAL])
    ctx = PassContext(now=T0, snapshot=snapshot, restaurants={HAL: HAL_PLACE})
    out_of_stock = {9: StockLevel(9, "ayran", available=False, quantity=None)}
    ctx = replace(ctx, snapshot=replace(snapshot, stock=out_of_stock))
    plan = plan_pass([OUT_OF_STOCK], ctx, LIMITS, hourly_used=0, dry_run=True)
    assert store.apply(plan).cancelled == ()
    assert store.snapshot(T0, [HAL]).deactivated_foods == frozenset()
    live = plan_pass([OUT_OF_STOCK], ctx, LIMITS, hourly_used=0, dry_run=False)
    assert [f.food_id for f in store.apply(live).deactivated] == [9]
    assert store.snapshot(T0, [HAL]).deactivated_foods == {9}


HAL_PLACE = Restaurant(id=HAL, name="Halaskargazi")


# --- the simulated passes -----------------------------------------------------------


def test_passes_run_at_each_change_and_at_the_interval_and_congestion_closes_and_reopens() -> None:
    a, b, c = placed("a", 0), placed("b", 1), placed("c", 2)
    changes = [
        seen(10, a),
        seen(20, b),
        seen(30, c),  # three orders, capacity two: c is cancelled, the restaurant closed
        seen(40, None, "a"),  # a delivered: load 1 is not below 1
        seen(50, None, "b"),  # load 0: reopened at the next pass that judges it
    ]
    result = replay(config(PAYMENT, CONGESTION), changes, until=100)
    assert outcomes(result) == {"c": ("overloaded", "cancelled")}
    (span,) = result.closures
    assert (span.restaurant_id, span.closed_at, span.reopened_at) == (HAL, at(30), at(50))
    # Ticks at 0, 15, ..., 90 and the five moments of change (30 s is both: one pass).
    assert result.passes == 7 + 5 - 1
    assert result.changes == 5 and result.orders_seen == 3


def test_the_hourly_cap_holds_then_lets_go_once_the_hour_rolled() -> None:
    start = Start(at=T0, cancelled_at=(T0 - timedelta(minutes=50),))
    failed = placed("late", 60, payment_status="failed")
    result = replay(
        config(PAYMENT, max_cancellations_per_hour=1),
        [seen(60, failed)],
        until=15 * 60,
        start=start,
    )
    outcome = result.orders["late"]
    assert (outcome.outcome, outcome.held_before) == ("cancelled", True)
    assert at(600) <= outcome.at <= at(615)  # the tick after the old cancellation's hour
    assert summary.held(result) == {"orders": 0, "by_limit": {}, "then_cancelled": 1}


def test_no_pass_runs_while_nobody_watched() -> None:
    failed = placed("k", 0, payment_status="failed")
    gap = Unwatched(at(5), at(100))
    result = replay(config(PAYMENT), [seen(100, failed)], until=110, unwatched=[gap])
    assert result.passes == 2 + 1  # ticks at 0 and 105, and the change at 100
    assert result.orders["k"].at == at(100)


def test_a_rule_window_opening_judges_every_restaurant_on_the_next_pass() -> None:
    # 15:00 in Istanbul is 12:00 UTC (NOW); the window opens at 15:01.
    windowed = PaymentFailedRule.model_validate(
        {"name": "payment-failed", "reason_id": 7, "active_hours": ["15:01-16:00"]}
    )
    failed = order("k", payment_status="failed", created_at=T0)
    result = replay(config(windowed), [], until=120, start=Start(at=T0, orders={"k": failed}))
    assert result.orders["k"].at == at(60)
    assert result.full_passes == 2  # the first pass, and the one on the window's edge


def test_a_full_pass_judges_again_a_restaurant_where_time_alone_changed_a_protection() -> None:
    # Placed "in the future" beyond the clock-skew tolerance: protected, until 30 s in.
    early = order("early", payment_status="failed", created_at=at(630))
    start = Start(at=T0, orders={"early": early})
    result = replay(config(PAYMENT, full_pass=60), [], until=120, start=start)
    # Nothing changed; the full pass at 60 s judges the restaurant again and cancels.
    outcome = result.orders["early"]
    assert (outcome.outcome, outcome.at) == ("cancelled", at(60))
    assert result.full_passes == 3  # at 0, 60 and 120


def test_a_quiet_window_suspends_in_a_replay_as_in_a_pass() -> None:
    quiet = config(PAYMENT).model_copy(
        update={"quiet_windows": (QuietWindowSettings.model_validate({"hours": ["14:00-16:00"]}),)}
    )
    failed = placed("k", 0, payment_status="failed")
    result = replay(quiet, [seen(5, failed)], until=20)
    assert (result.orders["k"].outcome, result.orders["k"].because) == ("skipped", "quiet_window")
    assert summary.skipped(result) == {"quiet_window": 1}


def test_a_food_comes_back_with_its_stock_and_the_next_shortage_switches_it_off_again() -> None:
    sold_out = StockLevel(9, "ayran", available=False, quantity=None)
    off = FoodOff(
        deactivation_id=3,
        food_id=9,
        restaurant_id=HAL,
        rule="out-of-stock",
        payment_key="earlier",
        deactivated_at=T0 - timedelta(minutes=30),
        outcome="done",
    )
    start = Start(at=T0, stock={9: sold_out}, foods_off=(off,))
    ayran = placed("ayran", 25, items=(Item(9, "ayran", 1),))
    changes = [
        seen(10, StockLevel(9, "ayran", available=True, quantity=4)),  # on sale again
        seen(20, sold_out),
        seen(30, ayran),  # cancelled for out of stock: switched off anew
    ]
    result = replay(config(OUT_OF_STOCK), changes, until=60, start=start)

    assert outcomes(result) == {"ayran": ("out-of-stock", "cancelled")}
    assert [(f.food_id, f.at) for f in result.foods] == [(9, at(30))]
    report = summary.report(result, config().zone)
    assert report["foods_reactivated"] == [
        {
            "food_id": 9,
            "restaurant_id": HAL,
            "rule": "out-of-stock",
            "trigger": "back_in_stock",
            "at": "2031-05-17T12:00:10Z",
            "deactivated_at": "2031-05-17T11:30:00Z",
        }
    ]
    # A dry run switches no food on or off: the food stays ours, nothing is reported.
    dry = replay(config(OUT_OF_STOCK, dry_run=True), changes, until=60, start=start)
    assert dry.foods_reactivated == () and dry.foods == ()


def test_a_closure_in_force_at_the_start_is_reopened_by_the_replay() -> None:
    closure = Closure(id=7, restaurant_id=HAL, rule="overloaded", closed_at=T0 - timedelta(hours=1))
    result = replay(config(CONGESTION), [], until=30, start=Start(at=T0, closures={HAL: closure}))
    (span,) = result.closures
    assert (span.closed_at, span.reopened_at) == (closure.closed_at, T0)


# --- the report and the diff ---------------------------------------------------------


def _outcome(key: str, rule: str, outcome: str, *, reason: int = 7, **fields: Any) -> OrderOutcome:
    return OrderOutcome(
        payment_key=key,
        restaurant_id=fields.pop("restaurant_id", HAL),
        rule=rule,
        kind="payment_failed",
        reason_id=reason,
        mode=fields.pop("mode", "live"),
        outcome=outcome,
        at=fields.pop("at", T0),
        total=fields.pop("total", Decimal("12.50")),
        **fields,
    )


def test_the_report_counts_orders_by_rule_restaurant_and_local_hour() -> None:
    result = ReplayResult(
        start=T0,
        end=at(7200),
        passes=3,
        full_passes=1,
        changes=4,
        orders_seen=5,
        orders={
            "a": _outcome("a", "payment-failed", "cancelled"),
            "b": _outcome("b", "payment-failed", "cancelled", at=at(3600), total=None),
            "c": _outcome("c", "payment-failed", "held", because="max_cancellations_per_hour"),
            "d": _outcome("d", "shadow", "would_cancel", mode="dry_run", restaurant_id=AKAT),
        },
    )
    report = summary.report(result, config().zone)
    assert report["decisions"] == {
        "cancelled": 2,
        "would_cancel": 1,
        "held": 1,
        "skipped": 0,
        "revenue": "12.50",
        "would_cancel_revenue": "12.50",
    }
    assert [(r["rule"], r["cancelled"]) for r in report["by_rule"]] == [
        ("payment-failed", 2),
        ("shadow", 0),
    ]
    assert [(r["hour"], r["cancelled"]) for r in report["by_hour"]] == [
        ("2031-05-17T15:00+03:00", 1),
        ("2031-05-17T16:00+03:00", 1),
    ]
    assert report["held"]["by_limit"] == {"max_cancellations_per_hour": 1}
    assert [r["restaurant_id"] for r in report["by_restaurant"]] == [AKAT, HAL]


def test_the_diff_groups_orders_by_how_their_decision_changed() -> None:
    old = {
        "kept": _outcome("kept", "payment-failed", "cancelled"),
        "dropped": _outcome("dropped", "payment-failed", "cancelled"),
        "moved": _outcome("moved", "payment-failed", "cancelled"),
        "shadowed": _outcome("shadowed", "payment-failed", "cancelled"),
    }
    new = {
        "kept": old["kept"],
        "dropped": _outcome("dropped", "payment-failed", "held"),
        "moved": _outcome("moved", "too-far", "cancelled", reason=6),
        "shadowed": _outcome("shadowed", "payment-failed", "would_cancel", mode="dry_run"),
        "added": _outcome("added", "too-far", "would_cancel", reason=6, total=Decimal("3")),
    }
    found = compare(old, new)
    assert [d.payment_key for d in found.newly_cancelled] == ["added"]
    assert [d.payment_key for d in found.no_longer_cancelled] == ["dropped"]
    assert [d.payment_key for d in found.different_rule_or_reason] == ["moved", "shadowed"]
    assert revenue(found.newly_cancelled) == Decimal("3")
    assert not found.empty and compare(old, old).empty

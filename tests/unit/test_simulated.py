"""The store in memory (daemon.engine.simulated): passes on it, and their effects fed back.

What a live pass does to the store and the daemon's own tables after its
calls went through, the next pass must find here: cancelled orders gone and
counted by the hourly cap, our closure and its reopening, a food deactivated
once; a dry run changes nothing. The configuration is parsed from text, the
clock is given, nothing is read or written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.config.geocode_file import GeocodeEntries
from daemon.config.load import parse_config
from daemon.config.models import Config
from daemon.domain.orders import Item, Order, StockLevel
from daemon.engine.ruletest import TableGeocoder
from daemon.engine.simulated import Effect, SimulatedStore

NOW = datetime(2031, 5, 16, 17, 0, tzinfo=UTC)
HAL = "0ca1d2b1-a199-4960-8617-83a659d890c8"
FAR = (41.1493, 28.9877)  # 11.1 km north of Halaskargazi

RULES = """
restaurants:
  - {{id: {hal}, name: Halaskargazi, latitude: 41.0493, longitude: 28.9877}}
safety:
  max_cancellations_per_hour: {cap}
rules:
  - {{name: out-of-stock, kind: out_of_stock, reason_id: 1, deactivate_food: true}}
  - {{name: too-far, kind: max_distance, max_km: 7.5, reason_id: 6}}
  - {{name: payment-failed, kind: payment_failed, reason_id: 7}}
  - name: overloaded
    kind: congestion
    max_active_orders: 3
    reopen_below: 2
    min_closed_minutes: 10
    reason_id: 3
"""


def config(text: str = RULES, *, cap: int = 30, **top: str) -> Config:
    extra = "".join(f"{key}: {value}\n" for key, value in top.items())
    return parse_config(text.format(hal=HAL, cap=cap) + extra, source=Path("rules.yaml"))


def order(key: str, *, minutes_ago: float = 5, status: int = 1, **columns: Any) -> Order:
    built = Order(
        payment_key=key,
        restaurant_id=HAL,
        status_id=status,
        created_at=NOW - timedelta(minutes=minutes_ago),
        items=(Item(food_id=1, name=None, quantity=1),),
    )
    return replace(built, **columns)


def outcomes(store: SimulatedStore, at: datetime) -> tuple[dict[str, str], tuple[Effect, ...]]:
    done = store.run_pass(at)
    return {d.payment_key: d.outcome for d in done.decisions if d.primary}, done.effects


def test_a_live_cancellation_leaves_the_store_and_counts_for_an_hour() -> None:
    store = SimulatedStore(config(cap=2))
    store.put_order(order("failed-1", payment_status="failed"))
    store.put_order(order("failed-2", payment_status="failed", minutes_ago=3))
    store.put_order(order("failed-3", payment_status="failed", minutes_ago=1))

    assert outcomes(store, NOW) == (
        {"failed-1": "cancelled", "failed-2": "cancelled", "failed-3": "held"},
        (),
    )
    assert store.orders["failed-1"].status_id == 6
    assert [o.payment_key for o in store.snapshot(NOW).orders] == ["failed-3"]
    # The cap (2 an hour) still counts both at the end of the hour, not a minute after.
    assert store.hourly_used(NOW + timedelta(minutes=60)) == 2
    assert outcomes(store, NOW + timedelta(minutes=30))[0] == {"failed-3": "held"}
    assert outcomes(store, NOW + timedelta(minutes=61))[0] == {"failed-3": "cancelled"}


def test_earlier_cancellations_count_against_the_cap() -> None:
    store = SimulatedStore(config(cap=2))
    store.record_cancellations([NOW - timedelta(minutes=50), NOW - timedelta(minutes=70)])
    store.put_order(order("failed-1", payment_status="failed"))
    store.put_order(order("failed-2", payment_status="failed", minutes_ago=1))

    assert outcomes(store, NOW)[0] == {"failed-1": "cancelled", "failed-2": "held"}


def test_our_closure_is_made_at_the_pass_clock_and_reopened_after_min_closed_minutes() -> None:
    store = SimulatedStore(config())
    for n in range(4):
        store.put_order(order(f"cooking-{n}", status=2, minutes_ago=20 + n))

    assert outcomes(store, NOW) == ({}, (Effect("close", HAL, "overloaded", "live"),))
    closure = store.snapshot(NOW).closures[HAL]
    assert (closure.rule, closure.closed_at) == ("overloaded", NOW)

    for n in range(3):
        store.change_order(f"cooking-{n}", status_id=5)  # delivered: load 1, below 2
    assert outcomes(store, NOW + timedelta(minutes=9)) == ({}, ())  # closed 9 minutes only
    assert outcomes(store, NOW + timedelta(minutes=10)) == (
        {},
        (Effect("reopen", HAL, "overloaded", "live"),),
    )
    assert store.snapshot(NOW).closures == {}
    assert outcomes(store, NOW + timedelta(minutes=11)) == ({}, ())


def test_a_restaurant_closed_by_someone_else_is_never_ours() -> None:
    store = SimulatedStore(config())
    store.close_by_others(HAL)
    for n in range(4):
        store.put_order(order(f"cooking-{n}", status=2, minutes_ago=20 + n))

    done = store.run_pass(NOW)
    assert [a.restaurant_id for a, _ in done.plan.restaurant_actions] == [HAL]  # planned ...
    assert done.effects == ()  # ... but the executor finds it closed: nothing taken
    assert store.snapshot(NOW).closures == {}

    store.open(HAL)
    assert outcomes(store, NOW + timedelta(minutes=1))[1] == (
        Effect("close", HAL, "overloaded", "live"),
    )
    store.open(HAL)  # staff reopened and we forget it: no closure of ours to reopen
    assert store.snapshot(NOW).closures == {}


def test_a_closure_put_in_by_hand_is_reopened_by_its_rule() -> None:
    store = SimulatedStore(config())
    store.close_ours(HAL, rule="overloaded", closed_at=NOW - timedelta(minutes=30))
    assert outcomes(store, NOW)[1] == (Effect("reopen", HAL, "overloaded", "live"),)


def test_a_food_is_deactivated_once_and_a_short_one_never() -> None:
    store = SimulatedStore(config())
    store.put_stock(StockLevel(9, "ayran", available=False, quantity=None))
    store.put_stock(StockLevel(4, "künefe", available=True, quantity=1))
    ayran = (Item(food_id=9, name=None, quantity=1),)
    store.put_order(order("ayran-1", items=ayran))
    store.put_order(order("kunefe", items=(Item(food_id=4, name=None, quantity=2),)))

    assert outcomes(store, NOW) == (
        {"ayran-1": "cancelled", "kunefe": "cancelled"},
        (Effect("deactivate", 9, "out-of-stock", "live"),),
    )
    store.put_order(order("ayran-2", items=ayran))
    assert outcomes(store, NOW + timedelta(minutes=1)) == ({"ayran-2": "cancelled"}, ())
    assert store.snapshot(NOW).deactivated_foods == {9}


def test_stock_rows_change_and_go() -> None:
    store = SimulatedStore(config())
    store.put_stock(StockLevel(9, "ayran", available=False, quantity=None))
    store.deactivate(9, rule="out-of-stock", at=NOW - timedelta(hours=1), restaurant_id=HAL)
    store.remove_stock(9)
    store.put_order(order("ayran", items=(Item(food_id=9, name=None, quantity=1),)))
    assert outcomes(store, NOW) == ({}, ())  # no row: in stock


def test_a_dry_run_changes_nothing() -> None:
    store = SimulatedStore(config(dry_run="true"))
    store.put_stock(StockLevel(9, "ayran", available=False, quantity=None))
    store.put_order(order("ayran", items=(Item(food_id=9, name=None, quantity=1),)))
    for n in range(4):
        store.put_order(order(f"cooking-{n}", status=2, minutes_ago=20 + n))

    for minutes in (0, 1):
        assert outcomes(store, NOW + timedelta(minutes=minutes)) == (
            {"ayran": "would_cancel"},
            (
                Effect("close", HAL, "overloaded", "dry_run"),
                Effect("deactivate", 9, "out-of-stock", "dry_run"),
            ),
        )
    assert store.hourly_used(NOW) == 0
    assert store.orders["ayran"].status_id == 1


def test_the_geocoder_of_a_test_answers_from_its_table_only() -> None:
    rules = RULES.replace("rules:\n", "geocoder: {{provider: nominatim}}\nrules:\n", 1).replace(
        "  - {{name: out-of-stock",
        "  - {{name: address-not-found, kind: address_not_found, reason_id: 2}}\n"
        "  - {{name: out-of-stock",
    )
    table = GeocodeEntries(positions={"Uzak Sokak 1": FAR}, not_found=frozenset({"Yok Sokak"}))
    store = SimulatedStore(config(rules), geocoder=TableGeocoder(table))
    for key, address in (("far", "Uzak  Sokak 1"), ("missing", "Yok Sokak"), ("unknown", "X 2")):
        store.put_order(order(key, shipping_method="delivery", address=address))

    done = store.run_pass(NOW)
    assert {d.payment_key: (d.rule, d.outcome) for d in done.decisions} == {
        "far": ("too-far", "cancelled"),
        "missing": ("address-not-found", "cancelled"),
    }
    unknown = done.plan.verdicts["unknown"]
    assert [verdict.matched for _, verdict in unknown] == [False] * len(unknown)


def test_stored_coordinates_need_no_geocoder() -> None:
    store = SimulatedStore(config())
    store.put_order(order("far", shipping_method="delivery", latitude=FAR[0], longitude=FAR[1]))
    store.put_order(order("pickup", shipping_method="pickup", latitude=FAR[0], longitude=FAR[1]))
    done = store.run_pass(NOW)
    assert [(d.payment_key, d.evidence["distance_km"]) for d in done.decisions] == [("far", 11.11)]


def test_a_food_back_in_stock_is_reactivated_and_may_be_deactivated_again() -> None:
    store = SimulatedStore(config())
    store.put_stock(StockLevel(9, "ayran", available=False, quantity=None))
    store.put_order(order("ayran-1", items=(Item(food_id=9, name=None, quantity=1),)))
    assert outcomes(store, NOW)[1] == (Effect("deactivate", 9, "out-of-stock", "live"),)
    [off] = store.snapshot(NOW).foods_off
    assert (off.food_id, off.rule, off.deactivated_at, off.restaurant_id) == (
        9,
        "out-of-stock",
        NOW,
        HAL,
    )

    assert outcomes(store, NOW + timedelta(minutes=1)) == ({}, ())  # still out: stays off
    store.put_stock(StockLevel(9, "ayran", available=True, quantity=3))
    assert outcomes(store, NOW + timedelta(minutes=2)) == (
        {},
        (Effect("reactivate", 9, "out-of-stock", "live"),),
    )
    assert store.snapshot(NOW).deactivated_foods == frozenset()

    store.put_stock(StockLevel(9, "ayran", available=True, quantity=0))
    store.put_order(order("ayran-2", items=(Item(food_id=9, name=None, quantity=1),)))
    assert outcomes(store, NOW + timedelta(minutes=3)) == (
        {"ayran-2": "cancelled"},
        (Effect("deactivate", 9, "out-of-stock", "live"),),
    )


def test_a_snooze_brings_a_food_back_whatever_its_stock_row_says() -> None:
    rules = RULES.replace(
        "deactivate_food: true}}", "deactivate_food: true, reactivate_after_minutes: 30}}"
    )
    store = SimulatedStore(config(rules))
    store.put_stock(StockLevel(9, "ayran", available=False, quantity=None))
    store.deactivate(9, rule="out-of-stock", at=NOW - timedelta(minutes=29), restaurant_id=HAL)
    assert outcomes(store, NOW) == ({}, ())
    done = store.run_pass(NOW + timedelta(minutes=1))
    assert done.effects == (Effect("reactivate", 9, "out-of-stock", "live"),)
    assert done.plan.food_reactivations[0][0].trigger == "snooze"


def test_a_dry_run_reactivates_nothing() -> None:
    store = SimulatedStore(config(dry_run="true"))
    store.put_stock(StockLevel(9, "ayran", available=True, quantity=None))
    store.deactivate(9, rule="out-of-stock", at=NOW - timedelta(minutes=5), restaurant_id=HAL)
    for minutes in (0, 1):
        assert outcomes(store, NOW + timedelta(minutes=minutes))[1] == (
            Effect("reactivate", 9, "out-of-stock", "dry_run"),
        )


def test_a_pause_holds_from_its_start_to_its_end() -> None:
    store = SimulatedStore(config())
    store.pause(
        rule="payment-failed",
        restaurant_id=None,
        since=NOW + timedelta(minutes=5),
        until=NOW + timedelta(minutes=35),
    )
    store.put_order(order("failed-1", payment_status="failed"))
    store.put_order(order("failed-2", payment_status="failed"))
    assert store.snapshot(NOW).pauses == ()  # stored for later: not yet in force

    assert outcomes(store, NOW)[0] == {"failed-1": "cancelled", "failed-2": "cancelled"}
    store.put_order(order("failed-3", payment_status="failed", minutes_ago=-6))
    done = store.run_pass(NOW + timedelta(minutes=6))
    assert [(d.payment_key, d.outcome, d.evidence["skipped_because"]) for d in done.decisions] == [
        ("failed-3", "skipped", "paused")
    ]
    assert outcomes(store, NOW + timedelta(minutes=35))[0] == {"failed-3": "cancelled"}

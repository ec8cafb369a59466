"""A pause that begins or ends changes decisions without changing a row: the next pass is full.

Incremental passes re-judge only the restaurants the change log names
(daemon.engine.active); a pause's end is the clock passing ``until``. In
process, on SQLite and PostgreSQL, with the clock moved by time-machine (no
sleeping), and live against the simulator, so "cancelled" is a real call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from daemon.config.load import load_config
from daemon.domain.actions import CloseRestaurant, DeactivateFood
from daemon.domain.pauses import Pause
from daemon.engine.passes import Judge, PassRunner
from daemon.service.runtime import ApiSession
from daemon.store import connect, pauses
from tests.world import AKAT, HALASKARGAZI, PAYMENT_FAILED, World

# Saturday 2031-05-17, 15:00 in Istanbul.
NOON = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["world", "pg_world"])
def store(request: pytest.FixtureRequest) -> World:
    world: World = request.getfixturevalue(request.param)
    return world


def make_pause(
    world: World, *, minutes: float, rule: str | None = None, restaurant: str | None = None
) -> Pause:
    """A pause stored as ``autocancel pause`` stores it, made at the (travelled) now."""
    now = datetime.now(UTC)
    with connect.writer(world.engine) as connection, connection.begin():
        return pauses.create(
            connection,
            rule=rule,
            restaurant_id=restaurant,
            until=now + timedelta(minutes=minutes),
            comment="tatbikat",
            created_by="ayse",
            host="test",
            now=now,
        )


def test_a_pause_expiring_between_incremental_passes_makes_the_next_pass_full(
    store: World,
) -> None:
    with time_machine.travel(NOON, tick=False) as clock:
        store.configure(PAYMENT_FAILED)
        config = load_config(store.rules_path, environ={})
        store.add_order("failed", payment_status="failed")
        make_pause(store, minutes=30, rule="payment-failed")
        with ApiSession(config, environ=store.env) as api:
            runner = PassRunner(config=config, engine=store.engine, executor_factory=api.executor)

            first = runner.run_once(incremental=True)  # the first pass reads everything
            assert first.scope.full
            assert [(d.payment_key, d.outcome) for d in first.primary] == [("failed", "skipped")]

            clock.shift(timedelta(minutes=29, seconds=59))  # still paused, nothing changed
            quiet = runner.run_once(incremental=True)
            assert (quiet.scope.full, quiet.scope.restaurants, quiet.primary) == (
                False,
                frozenset(),
                (),
            )

            clock.shift(timedelta(seconds=1))  # the pause's end: not one row changed
            after = runner.run_once(incremental=True)

    assert after.scope.full
    assert [(d.payment_key, d.outcome) for d in after.primary] == [("failed", "cancelled")]
    assert store.cancel_calls() == [("failed", {"reason_id": 7})]
    assert store.status_of("failed") == 6


def test_a_pause_made_or_resumed_between_incremental_passes_makes_the_next_pass_full(
    store: World,
) -> None:
    store.configure(PAYMENT_FAILED)
    store.add_order("failed", payment_status="failed")
    judge = Judge(config=load_config(store.rules_path, environ={}), engine=store.engine)

    def judged() -> tuple[dict[str, str], bool]:
        snapshot, scope = judge.read_pass(incremental=True)
        plan = judge.plan_for(judge.context(snapshot, scope=scope), hourly_used=0)
        return {d.payment_key: d.outcome for d in plan.primary}, scope.full

    assert judged() == ({"failed": "pending"}, True)
    assert judged() == ({}, False)  # nothing changed: nothing judged

    made = make_pause(store, minutes=60, restaurant=HALASKARGAZI)
    assert judged() == ({"failed": "skipped"}, True)
    assert judged() == ({}, False)
    other = make_pause(store, minutes=60, restaurant=AKAT)  # another scope: the set moved
    assert judged() == ({"failed": "skipped"}, True)

    with connect.writer(store.engine) as connection, connection.begin():
        assert pauses.resume(connection, made.id, by="mehmet", now=datetime.now(UTC))
        assert pauses.resume(connection, other.id, by="mehmet", now=datetime.now(UTC))
        assert not pauses.resume(connection, other.id, by="mehmet", now=datetime.now(UTC))
    assert judged() == ({"failed": "pending"}, True)


def test_the_check_before_a_food_or_closure_call_reads_the_pauses_afresh(store: World) -> None:
    store.configure(PAYMENT_FAILED)
    store.set_stock(2, available=False, restaurant_id=None)  # a row for every restaurant
    store.add_order("no-food", restaurant_id=AKAT, items=[(2, 1)])
    judge = Judge(config=load_config(store.rules_path, environ={}), engine=store.engine)
    food = DeactivateFood(2, None, "out-of-stock", "no-food")
    close = CloseRestaurant(AKAT, "overloaded")
    assert judge.recheck_food(food) is None and judge.recheck_closure(close) is None

    made = make_pause(store, minutes=10, rule="out-of-stock", restaurant=AKAT)
    stopped = judge.recheck_food(food)

    assert stopped is not None and stopped["suspended"]["pause_id"] == made.id
    assert stopped["change"].startswith(f"pause {made.id} by ayse")
    assert judge.recheck_closure(close) is None  # the pause names another rule
    make_pause(store, minutes=10, restaurant=AKAT)
    held = judge.recheck_closure(close)
    assert held is not None and held.startswith("pause ")
    assert judge.recheck_closure(CloseRestaurant(HALASKARGAZI, "overloaded")) is None

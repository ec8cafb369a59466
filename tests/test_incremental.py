"""Incremental passes agree with full passes, on real stores, whatever a POS writes.

Between full passes a pass re-judges only the restaurants the change log
(migration 0009) says changed (daemon.engine.active). Random sequences of
POS writes (new orders, status and payment changes, moves between
restaurants, items added and removed, stock toggled, orders deleted) are
committed to a real SQLite file and the real PostgreSQL; after every batch
the incremental pass's decisions, merged into what earlier passes decided
for the restaurants it did not touch, must be exactly the decisions of a
fresh full pass over the whole store. A final full pass must find nothing
the incremental picture missed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config.load import load_config
from daemon.config.models import Config
from daemon.engine.active import PassScope
from daemon.engine.passes import Judge, PassRunner
from daemon.engine.plan import Plan
from daemon.simulator.defaults import AKAT, HALASKARGAZI
from daemon.simulator.server import Simulator
from daemon.store import schema
from tests.world import DEFAULT_RULES, World

ELSEWHERE = "elsewhere"  # a branch sharing the store, not in rules.yaml
RESTAURANTS = [HALASKARGAZI, AKAT, ELSEWHERE, ""]
KEYS = [f"k{n}" for n in range(5)]
FOODS = [1, 2]
# The default rules, with a restaurant closed at three active orders.
RULES = (
    DEFAULT_RULES.replace("max_active_orders: 20", "max_active_orders: 3")
    .replace("reopen_below: 15", "reopen_below: 2")
    .replace("min_closed_minutes: 10", "min_closed_minutes: 0")
)
NEAR, FAR = (41.0521, 28.9903), (41.17, 28.99)  # ~0.4 km and ~13 km from Halaskargazi

keys, restaurants, foods = (
    st.sampled_from(KEYS),
    st.sampled_from(RESTAURANTS),
    st.sampled_from(FOODS),
)
operations = st.one_of(
    st.tuples(
        st.just("add"),
        keys,
        restaurants,
        st.sampled_from([1, 2, 16, 5]),
        st.sampled_from(["ok", "failed"]),
        st.lists(foods, min_size=1, max_size=2),
        st.booleans(),
    ),
    st.tuples(st.just("status"), keys, st.sampled_from([1, 2, 16, 5, 6])),
    st.tuples(st.just("payment"), keys, st.sampled_from(["ok", "failed", None])),
    st.tuples(st.just("move"), keys, restaurants),
    st.tuples(st.just("item"), keys, foods),
    st.tuples(st.just("drop_items"), keys),
    st.tuples(st.just("stock"), foods, st.booleans()),
    st.tuples(st.just("delete"), keys),
)
batches = st.lists(st.lists(operations, min_size=1, max_size=3), min_size=1, max_size=6)


def _apply(connection: sa.Connection, operation: tuple[Any, ...]) -> None:
    """One POS write, in the contract tables (any backend, any order of operations)."""
    o, i, s = schema.orders, schema.order_items, schema.stock
    kind, *args = operation
    if kind == "add":
        key, restaurant, status, payment, ordered, far = args
        if connection.execute(sa.select(o.c.payment_key).where(o.c.payment_key == key)).first():
            return
        latitude, longitude = FAR if far else NEAR
        connection.execute(
            sa.insert(o).values(
                payment_key=key,
                restaurant_id=restaurant,
                status_id=status,
                shipping_method="delivery",
                payment_status=payment,
                created_at=sa.func.current_timestamp(),
                latitude=latitude,
                longitude=longitude,
            )
        )
        connection.execute(
            sa.insert(i), [{"payment_key": key, "food_id": food, "quantity": 1} for food in ordered]
        )
    elif kind == "status":
        connection.execute(sa.update(o).where(o.c.payment_key == args[0]).values(status_id=args[1]))
    elif kind == "payment":
        connection.execute(
            sa.update(o).where(o.c.payment_key == args[0]).values(payment_status=args[1])
        )
    elif kind == "move":
        connection.execute(
            sa.update(o).where(o.c.payment_key == args[0]).values(restaurant_id=args[1])
        )
    elif kind == "item":
        if connection.execute(sa.select(o.c.payment_key).where(o.c.payment_key == args[0])).first():
            connection.execute(
                sa.insert(i).values(payment_key=args[0], food_id=args[1], quantity=1)
            )
    elif kind == "drop_items":
        connection.execute(sa.delete(i).where(i.c.payment_key == args[0]))
    elif kind == "stock":
        food, available = args
        connection.execute(sa.delete(s).where(s.c.food_id == food))
        connection.execute(sa.insert(s).values(food_id=food, available=available))
    else:
        connection.execute(sa.delete(i).where(i.c.payment_key == args[0]))
        connection.execute(sa.delete(o).where(o.c.payment_key == args[0]))


def _clear(world: World) -> None:
    with world.engine.begin() as connection:
        for table in (schema.order_items, schema.orders, schema.stock):
            connection.execute(sa.delete(table))


Seen = dict[str, tuple[str | None, str]]  # order -> (its restaurant, what was decided)


def _decisions(plan: Plan) -> Seen:
    """Every decision of the plan, with its evidence, by order (the pass clock aside)."""
    return {
        d.payment_key: (
            d.order.restaurant_id,
            json.dumps([d.rule, d.outcome, d.mode, d.reason_id, dict(d.evidence)], default=str),
        )
        for d in plan.decisions
    }


def _actions(plan: Plan) -> dict[str, str]:
    return {
        action.restaurant_id: json.dumps([type(action).__name__, mode])
        for action, mode in plan.restaurant_actions
    }


def _plan(judge: Judge, *, incremental: bool) -> tuple[Plan, PassScope]:
    snapshot, scope = judge.read_pass(incremental=incremental)
    plan = judge.plan_for(judge.context(snapshot, scope=scope), hourly_used=0)
    return plan, scope


def _check_equivalence(config: Config, world: World, steps: list[list[tuple[Any, ...]]]) -> None:
    _clear(world)
    judge = Judge(config=config, engine=world.engine, dry_run=True)
    plan, scope = _plan(judge, incremental=True)
    assert scope.full, "a judge's first pass reads everything"
    decided, actions = _decisions(plan), _actions(plan)
    for step in steps:
        with world.engine.begin() as connection:
            for operation in step:
                _apply(connection, operation)
        plan, scope = _plan(judge, incremental=True)
        assert not scope.full
        # What the pass did not re-judge stays as the earlier passes decided it.
        decided = {k: v for k, v in decided.items() if v[0] not in scope.restaurants}
        decided.update(_decisions(plan))
        actions = {r: a for r, a in actions.items() if r not in scope.restaurants}
        actions.update(_actions(plan))

        reference, _ = _plan(
            Judge(config=config, engine=world.engine, dry_run=True), incremental=False
        )
        assert decided == _decisions(reference), f"after {step}"
        assert actions == _actions(reference), f"after {step}"
    _plan(judge, incremental=False)
    assert judge.drifted == 0


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(cooldown_seconds=0) as sim:  # only for the rules file: nothing is sent
        yield sim


def _world(tmp_path: Path, store_url: str, simulator: Simulator) -> tuple[World, Config]:
    world = World(folder=tmp_path, store_url=store_url, simulator=simulator)
    world.configure(RULES, dry_run=True, max_per_hour=1000)
    return world, load_config(world.rules_path, environ={})


EQUIVALENCE = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@EQUIVALENCE
@given(steps=batches)
def test_incremental_passes_agree_with_full_passes_on_sqlite(
    tmp_path: Path, sqlite_url: str, simulator: Simulator, steps: list[list[tuple[Any, ...]]]
) -> None:
    world, config = _world(tmp_path, sqlite_url, simulator)
    _check_equivalence(config, world, steps)


@settings(EQUIVALENCE, max_examples=15)
@given(steps=batches)
def test_incremental_passes_agree_with_full_passes_on_postgresql(
    tmp_path: Path, pg_url: str, simulator: Simulator, steps: list[list[tuple[Any, ...]]]
) -> None:
    world, config = _world(tmp_path, pg_url, simulator)
    _check_equivalence(config, world, steps)


def test_a_write_the_change_log_never_saw_is_caught_by_the_full_pass(
    tmp_path: Path, sqlite_url: str, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The safety net: a writer that bypasses the triggers is judged within one full pass."""
    world, config = _world(tmp_path, sqlite_url, simulator)
    judge = Judge(config=config, engine=world.engine, dry_run=True)
    _plan(judge, incremental=True)
    with world.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER autocancel_orders_insert_logged")
        _apply(connection, ("add", "unlogged", HALASKARGAZI, 1, "failed", [1], False))

    plan, scope = _plan(judge, incremental=True)
    assert not scope.full and plan.decision_for("unlogged") is None  # not seen yet

    with caplog.at_level(logging.WARNING, logger="daemon.engine.passes"):
        plan, scope = _plan(judge, incremental=False)
    assert scope.full
    decision = plan.decision_for("unlogged")
    assert decision is not None and decision.rule == "payment-failed"
    assert judge.drifted == 1
    assert "a change was missed" in caplog.text and HALASKARGAZI in caplog.text


def test_what_a_brake_held_is_judged_again_by_the_next_pass_unchanged(
    tmp_path: Path, sqlite_url: str, simulator: Simulator
) -> None:
    """Only time lets a held order go ahead: the next pass re-judges it without a change."""
    world = World(folder=tmp_path, store_url=sqlite_url, simulator=simulator)
    world.configure(RULES, dry_run=True, max_per_hour=1)
    config = load_config(world.rules_path, environ={})
    world.add_order("hal-failed", payment_status="failed", minutes_ago=10, on_platform=False)
    world.add_order(
        "akat-failed", restaurant_id=AKAT, payment_status="failed", minutes_ago=5, on_platform=False
    )
    runner = PassRunner(config=config, engine=world.engine, executor_factory=None, dry_run=True)

    first = runner.run_once(incremental=True)
    assert first.scope.full
    held = {d.payment_key: d.outcome for d in first.primary}
    assert held == {"hal-failed": "would_cancel", "akat-failed": "held"}  # oldest first

    world.add_order("hal-new", on_platform=False)  # a change at Halaskargazi only
    second = runner.run_once(incremental=True)
    assert not second.scope.full
    assert second.scope.restaurants == {HALASKARGAZI, AKAT}
    assert {d.payment_key: d.outcome for d in second.primary}["akat-failed"] == "held"

    # Nothing changed at all; the cap held the whole pass (every side effect of
    # its scope), so both restaurants wait for time, and both are judged again.
    third = runner.run_once(incremental=True)
    assert third.scope.restaurants == {HALASKARGAZI, AKAT}
    assert third.scope.changes == 0

"""Replicas on one PostgreSQL store reopen a restaurant once and deactivate a food once.

Every replica notices a change in the store at once (LISTEN). A slow platform
(a hang fault) keeps the window open in which several replicas have decided
on the same side effect: only its claim in the database keeps the call single.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import pytest

from tests.test_daemon import Daemon, eventually, fast
from tests.world import AKAT, World, requests_to, run_sql

pytestmark = pytest.mark.postgres

CONGESTION = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 5
    close_restaurant: true
    reopen_below: 3
    min_closed_minutes: 0
    reason_id: 3
"""
OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
"""
REPLICAS = 3


@pytest.fixture
def replicas(pg_world: World) -> Iterator[Callable[[], list[Daemon]]]:
    started: list[Daemon] = []

    def start() -> list[Daemon]:
        started.extend(
            Daemon(pg_world, log_name=f"replica-{index}.log") for index in range(REPLICAS)
        )
        for daemon in started:
            eventually(partial(_is_running, daemon), within=30, what=f"{daemon.log_path.name} up")
        return started

    yield start
    for daemon in started:
        daemon.kill()


def _after_more_passes(world: World, count: int) -> None:
    """Wait until ``count`` more passes have finished, by whichever replicas."""
    target = world.finished_passes() + count
    eventually(lambda: world.finished_passes() >= target, what=f"{count} more passes")


def test_replicas_reopen_a_restaurant_once(
    pg_world: World, replicas: Callable[[], list[Daemon]]
) -> None:
    fast(pg_world, CONGESTION)
    daemons = replicas()
    rush = [
        pg_world.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=30 - n) for n in range(8)
    ]
    # Three orders more than Akat can cook: it closes, and the three newest are cancelled.
    eventually(lambda: pg_world.simulator.restaurant_status(AKAT) == "Closed", what="the close")
    eventually(
        lambda: sorted(key for key, _body in pg_world.cancel_calls()) == rush[-3:],
        what="the three newest cancelled",
    )

    # The platform takes a second to carry out a reopen: every replica has time to
    # decide on it too, and the restaurant still shows closed to them meanwhile.
    pg_world.simulator.inject_fault(
        "hang", count=REPLICAS, seconds=1, method="PUT", path_prefix="restaurants/status/open/"
    )
    run_sql(pg_world, "UPDATE orders SET status_id = 5 WHERE restaurant_id = :akat", akat=AKAT)
    eventually(lambda: pg_world.simulator.restaurant_status(AKAT) == "Open", what="the reopening")
    _after_more_passes(pg_world, 2 * REPLICAS)

    close_path, open_path = (f"restaurants/status/{verb}/{AKAT}" for verb in ("close", "open"))
    assert [r.status for r in requests_to(pg_world, "PUT", close_path)] == [200]
    assert [r.status for r in requests_to(pg_world, "PUT", open_path)] == [200]
    assert [d.stop() for d in daemons] == [0] * REPLICAS


def test_replicas_deactivate_a_food_once(
    pg_world: World, replicas: Callable[[], list[Daemon]]
) -> None:
    fast(pg_world, OUT_OF_STOCK)
    pg_world.set_stock(2, available=False)
    daemons = replicas()
    # Cancels take a second: the replica that cancels the first order claims the
    # food only after that, while another replica decides the second order and
    # sees no deactivation of the food on record yet.
    pg_world.simulator.inject_fault(
        "hang", count=2, seconds=1, method="PUT", path_prefix="orders/cancel/"
    )
    pg_world.add_order("first", items=[(2, 1)])
    eventually(lambda: pg_world.simulator.in_flight() == 1, what="the first cancel held")
    pg_world.add_order("second", items=[(2, 1)])
    eventually(lambda: len(pg_world.cancel_calls()) == 2, what="both orders cancelled")
    _after_more_passes(pg_world, 2 * REPLICAS)

    assert sorted(pg_world.cancel_calls()) == [
        ("first", {"reason_id": 1}),
        ("second", {"reason_id": 1}),
    ]
    assert [r.status for r in requests_to(pg_world, "PUT", "foods/status-passive/2")] == [200]
    assert pg_world.simulator.food_active(2) is False
    assert [d.stop() for d in daemons] == [0] * REPLICAS


def _is_running(daemon: Daemon) -> bool:
    return "running" in daemon.log()

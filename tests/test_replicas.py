"""Several daemons on one PostgreSQL store (the HA setup of a chain)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from tests.test_daemon import Daemon, cancelled, eventually, fast, passes_from_now
from tests.world import AKAT, World

pytestmark = pytest.mark.postgres

RULES = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: overloaded
    kind: congestion
    max_active_orders: 5
    reopen_below: 3
    min_closed_minutes: 0
    reason_id: 3
"""


@pytest.fixture
def replicas(pg_world: World) -> Iterator[Callable[[int], list[Daemon]]]:
    started: list[Daemon] = []

    def start(count: int) -> list[Daemon]:
        for index in range(count):
            daemon = Daemon(pg_world, log_name=f"replica-{index}.log")
            started.append(daemon)
        return started

    yield start
    for daemon in started:
        daemon.kill()


def test_replicas_never_cancel_twice_nor_both_close(
    pg_world: World, replicas: Callable[[int], list[Daemon]]
) -> None:
    fast(pg_world, RULES)
    keys = [pg_world.add_order(f"failed-{n:02}", payment_status="failed") for n in range(12)]
    rush = [
        pg_world.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=30 - n) for n in range(8)
    ]

    first, second, third = replicas(3)
    eventually(
        lambda: all(cancelled(pg_world, key)() for key in keys),
        within=30,
        what="every failed payment cancelled",
    )
    eventually(
        lambda: all(cancelled(pg_world, key)() for key in rush[-3:]),
        within=30,
        what="the three newest rush orders cancelled",
    )

    close_path = f"restaurants/status/close/{AKAT}"
    eventually(
        lambda: pg_world.simulator.requests("PUT", close_path),
        within=30,
        what="the overloaded restaurant closed",
    )
    # Every answer is recorded before a replica dies below (an outcome a killed
    # replica had not committed would stay pending until the takeover, a minute on).
    eventually(
        lambda: _live_outcomes(pg_world) == {"cancelled": len(keys) + 3},
        within=30,
        what="every outcome recorded",
    )
    eventually(passes_from_now(pg_world, 6), within=30, what="two more passes of each replica")

    calls = Counter(key for key, _body in pg_world.cancel_calls())
    assert all(count == 1 for count in calls.values()), calls
    assert set(calls) == {*keys, *rush[-3:]}
    assert len(pg_world.simulator.requests("PUT", close_path)) == 1

    # One replica dies; the others carry on.
    first.signal(signal.SIGKILL)
    pg_world.add_order("after-a-death", payment_status="failed")
    eventually(cancelled(pg_world, "after-a-death"), within=30, what="a cancel by a survivor")
    assert Counter(k for k, _ in pg_world.cancel_calls())["after-a-death"] == 1
    assert second.stop() == 0 and third.stop() == 0
    assert _live_outcomes(pg_world) == {"cancelled": len(keys) + 3 + 1}


def _live_outcomes(world: World) -> Counter[str]:
    return Counter(row["outcome"] for row in world.ledger() if row["mode"] == "live")

"""congestion, end to end: close once, cancel the newest received orders, reopen with hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from daemon.store import schema
from tests.world import (
    AKAT,
    HALASKARGAZI,
    DecidingRule,
    World,
    assert_cancelled,
    assert_untouched,
    requests_to,
    run_sql,
)

OVERLOADED = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 20
    reopen_below: 15
    min_closed_minutes: 10
    reason_id: 3
"""
RULE: DecidingRule = {"rule": "overloaded", "kind": "congestion", "reason_id": 3}


def _closed_minutes_ago(world: World, minutes: float) -> None:
    """Move every closure recorded in the store back in time, as if the clock had run."""
    closures = schema.restaurant_closures
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(closures).values(closed_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def _delivered(world: World, *keys: str) -> None:
    for key in keys:
        run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = :key", key=key)


def _pass_sends_nothing(world: World) -> None:
    seen = len(world.simulator.requests())
    assert world.once() == []
    assert len(world.simulator.requests()) == seen


def test_overload_closes_once_cancels_the_newest_received_and_reopens_once(
    world: World,
) -> None:
    world.configure(OVERLOADED)
    # 23 active orders at Halaskargazi (key, status, minutes ago), newest first.
    newest = [
        ("c23", 2, 1),  # the newest of all, but already accepted: kept
        ("c22", 1, 2),
        ("c21", 16, 3),  # on its way: kept
        ("c20", 1, 4),
        ("c19", 1, 6),
        ("c18", 1, 8),  # the fourth newest received order: kept
    ]
    older = [(f"c{i:02d}", 2 if i <= 3 else 16 if i <= 5 else 1, 70 - 3 * i) for i in range(1, 18)]
    for key, status_id, minutes_ago in newest + older:
        world.add_order(key, status_id=status_id, minutes_ago=minutes_ago)
    # Akat, below capacity, with the newest orders of all: never touched.
    akat = [world.add_order(f"akat-{i}", restaurant_id=AKAT, minutes_ago=0.5) for i in range(5)]

    decisions = world.once()

    evidence = {"active_orders": 23, "max_active_orders": 20}
    for key in ("c22", "c20", "c19"):
        assert_cancelled(world, decisions, key, **RULE, evidence=evidence)
    assert sorted(d["payment_key"] for d in decisions) == ["c19", "c20", "c22"]
    for key, status_id, _minutes in newest[:1] + newest[2:3] + newest[5:] + older:
        assert_untouched(world, decisions, key, status_id=status_id)
    for key in akat:
        assert_untouched(world, decisions, key)
    closes = world.simulator.requests("PUT", "restaurants/status/close/")
    assert [r.path for r in closes] == [f"restaurants/status/close/{HALASKARGAZI}"]
    assert closes[0].headers.get("access-token") == world.simulator.static_token
    assert closes[0].status == 200
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    assert world.simulator.restaurant_status(AKAT) == "Open"
    assert not [r for r in world.simulator.requests() if AKAT in r.path]

    # Still at capacity (20): nothing more to cancel, already closed.
    _pass_sends_nothing(world)

    # Load at 15 is not *below* reopen_below, however long the restaurant was closed.
    _delivered(world, "c01", "c02", "c03", "c04", "c05")
    _closed_minutes_ago(world, 11)
    _pass_sends_nothing(world)

    # Load at 12, but closed only 9 of the 10 minutes: still no reopen.
    _delivered(world, "c06", "c07", "c08")
    _closed_minutes_ago(world, 9)
    _pass_sends_nothing(world)
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"

    _closed_minutes_ago(world, 11)
    assert world.once() == []
    opens = world.simulator.requests("PUT", "restaurants/status/open/")
    assert [r.path for r in opens] == [f"restaurants/status/open/{HALASKARGAZI}"]
    assert opens[0].headers.get("access-token") == world.simulator.static_token
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"

    # Reopened once; the next pass leaves it alone.
    _pass_sends_nothing(world)
    assert world.simulator.requests("PUT", "restaurants/status/close/") == closes


def test_a_restaurant_someone_else_closed_is_never_reopened(world: World) -> None:
    world.configure(OVERLOADED.replace("min_closed_minutes: 10", "min_closed_minutes: 0"))
    keys = [
        world.add_order(f"k{i:02d}", restaurant_id=AKAT, minutes_ago=30 - i) for i in range(1, 22)
    ]
    # Staff closed Akat in the restaurant panel before the daemon saw the rush.
    closed = httpx.put(
        f"{world.simulator.url}/restaurants/status/close/{AKAT}",
        headers={"Access-Token": world.access_token},
    )
    assert closed.status_code == 200
    world.simulator.clear_requests()

    decisions = world.once()

    # The newest received order beyond capacity still goes; the closure is not ours.
    assert_cancelled(
        world, decisions, "k21", **RULE, evidence={"active_orders": 21, "max_active_orders": 20}
    )
    assert [d["payment_key"] for d in decisions] == ["k21"]
    assert world.simulator.requests("PUT", "restaurants/status/close/") == []

    # The load drops far below reopen_below, and a long time passes.
    _delivered(world, *keys[:11])
    _closed_minutes_ago(world, 60)
    assert world.once() == []

    assert world.simulator.requests("PUT", "restaurants/status/open/") == []
    assert world.simulator.restaurant_status(AKAT) == "Closed"
    assert len(requests_to(world, "PUT", "orders/cancel/k21")) == 1


def test_shipped_rules_give_a_failed_payment_in_an_overloaded_restaurant_its_own_reason(
    world: World,
) -> None:
    # The shipped rules section, as an operator starting from it has it.
    from tests.conftest import SHIPPED_RULES

    shipped_rules = SHIPPED_RULES.read_text(encoding="utf-8").split("\nrules:\n", 1)[1]
    world.configure(shipped_rules)
    for n in range(21):
        world.add_order(f"busy{n:02}", minutes_ago=40 - n)
    world.add_order("pay", payment_status="failed", minutes_ago=1)  # the newest of all

    decisions = world.once()

    assert_cancelled(
        world,
        decisions,
        "pay",
        rule="payment-failed",
        kind="payment_failed",
        reason_id=7,
        evidence={"payment_status": "failed"},
    )
    congestion = [d for d in decisions if d["rule"] == "overloaded"]
    assert [(d["payment_key"], d["reason_id"]) for d in congestion] == [("busy20", 3)]

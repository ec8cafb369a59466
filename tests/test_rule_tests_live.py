"""A pass in memory decides what a live pass decides on the same rows, and feeds back the same.

The store in memory of ``autocancel test`` (daemon.engine.simulated) is put
the rows a real SQLite store holds, as its own snapshot reads them; then
``autocancel once`` runs live against the simulator and the pass in memory
runs beside it. Both must decide the same orders with the same rules and
outcomes and take the same side effects; after it, the next pass of each,
on the effects the first left (cancelled orders gone, our closure, the food
deactivated), must agree again.
"""

from __future__ import annotations

from typing import Any

from daemon.config.load import load_config
from daemon.engine.simulated import SimulatedPass, SimulatedStore
from daemon.store.snapshot import read_snapshot
from tests.world import AKAT, HALASKARGAZI, World

FAR = (41.1493, 28.9877)  # 11.1 km north of Halaskargazi


def _load_into(memory: SimulatedStore, world: World, keys: set[str] | None = None) -> Any:
    """Put the store's active orders (``keys`` only, if given) and stock rows in ``memory``."""
    with world.engine.connect() as connection, connection.begin():
        snapshot = read_snapshot(connection)
    for order in snapshot.orders:
        if keys is None or order.payment_key in keys:
            memory.put_order(order)
    for level in snapshot.stock.values():
        memory.put_stock(level)
    return snapshot.taken_at


def _decisions(done: SimulatedPass) -> set[tuple[str, str, str]]:
    return {(d.payment_key, d.rule, d.outcome) for d in done.decisions}


def _live(decisions: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["payment_key"], d["rule"], d["outcome"]) for d in decisions}


def _effects_sent(world: World) -> set[tuple[str, str]]:
    """The side effects the simulator received, as (action, restaurant or food id)."""
    found = set()
    for request in world.simulator.requests("PUT"):
        path = request.path
        if path.startswith("restaurants/status/close/"):
            found.add(("close", path.rsplit("/", 1)[1]))
        elif path.startswith("restaurants/status/open/"):
            found.add(("reopen", path.rsplit("/", 1)[1]))
        elif path.startswith("foods/status-passive/"):
            found.add(("deactivate", path.rsplit("/", 1)[1]))
    return found


def test_a_pass_in_memory_decides_and_feeds_back_what_a_live_pass_does(world: World) -> None:
    world.set_stock(9, available=False)
    world.add_order("ayran", items=[(9, 1)], minutes_ago=6)
    world.add_order("far", coordinates=FAR, minutes_ago=7)
    world.add_order("far-pickup", coordinates=FAR, shipping_method="pickup", minutes_ago=7)
    world.add_order("failed", payment_status="failed", minutes_ago=8)
    world.add_order("failed-old", payment_status="failed", minutes_ago=240)
    world.add_order("unlisted", restaurant_id="someone-else", payment_status="failed")
    for n in range(20):  # Halaskargazi: 20 accepted orders and 2 new ones
        world.add_order(f"cooking-{n:02d}", status_id=2, minutes_ago=40 + n)
    world.add_order("new-1", minutes_ago=3)
    world.add_order("new-2", minutes_ago=2)
    world.add_order("akat-1", restaurant_id=AKAT, minutes_ago=4)
    memory = SimulatedStore(load_config(world.rules_path, environ={}))

    first = memory.run_pass(_load_into(memory, world))
    live = world.once()

    assert _decisions(first) == _live(live)
    assert {("ayran", "out-of-stock", "cancelled"), ("far", "too-far", "cancelled")} <= _live(live)
    assert ("failed-old", "payment-failed", "skipped") in _live(live)
    # 23 orders of load (27 active, less one stale and three leaving): the three newest go.
    assert {key for key, rule, _ in _live(live) if rule == "overloaded"} == {
        "new-1",
        "new-2",
        "far-pickup",
    }
    sent = _effects_sent(world)
    assert {(e.action, str(e.target)) for e in first.effects} == sent
    assert sent == {("close", HALASKARGAZI), ("deactivate", "9")}

    # The next pass of each, on what the first left: the same again.
    world.simulator.clear_requests()
    world.add_order("ayran-2", items=[(9, 1)], minutes_ago=1)
    world.add_order("failed-2", payment_status="failed", minutes_ago=1)
    second = memory.run_pass(_load_into(memory, world, keys={"ayran-2", "failed-2"}))
    live = world.once()

    assert _decisions(second) == _live(live)
    assert ("ayran-2", "out-of-stock", "cancelled") in _live(live)
    assert {(e.action, str(e.target)) for e in second.effects} == _effects_sent(world) == set()
    with world.engine.connect() as connection, connection.begin():
        stored = read_snapshot(connection)
    assert set(stored.closures) == set(memory.snapshot(stored.taken_at).closures) == {HALASKARGAZI}
    assert {o.payment_key for o in stored.orders} == {
        o.payment_key for o in memory.snapshot(stored.taken_at).orders
    }

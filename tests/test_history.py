"""The order history (migration 0010): what the daemon's passes saw change, on real stores.

The daemon's pass runner (``record_history=True``, as ``autocancel run``
builds it) records every change it sees to an active order, its items or a
stock row, from a POS, from ``autocancel sync`` or from both, with its pass
clock; a write that changes nothing the rules read records nothing; a new
process writes what changed while nobody watched; old rows are pruned after
``history.retention_days``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from daemon.config.load import load_config
from daemon.domain import images
from daemon.domain.timeutil import utcnow
from daemon.engine.passes import PassRunner
from daemon.store import history, schema
from tests.world import HALASKARGAZI, World, run_sql


def _runner(world: World) -> PassRunner:
    config = load_config(world.rules_path, environ={})
    return PassRunner(
        config=config, engine=world.engine, executor_factory=None, record_history=True
    )


def _rows(world: World) -> list[history.Row]:
    table = schema.order_history
    with world.engine.connect() as connection:
        return [
            history.Row(*row)
            for row in connection.execute(
                sa.select(
                    table.c.id,
                    table.c.seen_at,
                    table.c.kind,
                    table.c.subject,
                    table.c.restaurant_id,
                    table.c.image,
                ).order_by(table.c.id)
            )
        ]


def _changes(world: World, since: int = 0) -> list[tuple[str, str, str]]:
    """(kind, subject, what) of every row after id ``since``: the image's telling field."""
    found: list[tuple[str, str, str]] = []
    for row in _rows(world):
        if row.id <= since:
            continue
        if row.kind == "mark":
            found.append(("mark", row.subject, ""))
        elif row.image is None:
            found.append((row.kind, row.subject, "gone"))
        elif row.kind == "order":
            order = images.decode_order(row.subject, row.restaurant_id, row.image)
            items = [(i.food_id, i.quantity) for i in order.items]
            found.append(
                (
                    "order",
                    row.subject,
                    f"status={order.status_id} payment={order.payment_status} "
                    f"at={order.coordinates} items={items}",
                )
            )
        else:
            level = images.decode_stock(int(row.subject), row.image)
            found.append(("stock", row.subject, f"available={level.available} q={level.quantity}"))
    return found


def _last_id(world: World) -> int:
    return max((row.id for row in _rows(world)), default=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest) -> World:
    name = "world" if request.param == "sqlite" else "pg_world"
    found: World = request.getfixturevalue(name)
    found.configure(dry_run=True)
    return found


def test_every_pos_change_to_an_active_order_and_its_stock_is_recorded_once(
    any_world: World,
) -> None:
    world = any_world
    world.set_stock(1, available=True, quantity=5)
    world.add_order("pos-1", coordinates=(41.05, 28.99), items=[(1, 2)])
    runner = _runner(world)
    runner.run_once()
    assert _changes(world) == [
        ("order", "pos-1", "status=1 payment=ok at=(41.05, 28.99) items=[(1, 2)]"),
        ("stock", "1", "available=True q=5"),
        ("mark", "started", ""),
    ]
    steps = [
        ("UPDATE orders SET status_id = 2", "status=2 payment=ok at=(41.05, 28.99) items=[(1, 2)]"),
        (
            "UPDATE orders SET payment_status = 'failed'",
            "status=2 payment=failed at=(41.05, 28.99) items=[(1, 2)]",
        ),
        (
            "UPDATE orders SET latitude = 41.1, longitude = 29.0",
            "status=2 payment=failed at=(41.1, 29.0) items=[(1, 2)]",
        ),
        (
            "INSERT INTO order_items (payment_key, food_id, quantity) VALUES ('pos-1', 2, 1)",
            "status=2 payment=failed at=(41.1, 29.0) items=[(1, 2), (2, 1)]",
        ),
    ]
    for statement, recorded in steps:
        before = _last_id(world)
        run_sql(world, statement)
        runner.run_once(incremental=True)
        assert _changes(world, before) == [("order", "pos-1", recorded)], statement

    before = _last_id(world)
    run_sql(world, "UPDATE stock SET quantity = 1 WHERE food_id = 1")
    runner.run_once(incremental=True)
    assert _changes(world, before) == [("stock", "1", "available=True q=1")]

    # Nothing the rules read changed: nothing recorded, however often the row is written.
    before = _last_id(world)
    run_sql(world, "UPDATE orders SET synced_at = CURRENT_TIMESTAMP, status_id = status_id")
    runner.run_once(incremental=True)
    runner.run_once(incremental=True)
    runner.run_once()
    assert _changes(world, before) == []

    run_sql(world, "UPDATE orders SET status_id = 5")  # delivered: no longer active
    runner.run_once(incremental=True)
    assert _changes(world, before) == [("order", "pos-1", "gone")]

    # Each row carries the clock of the pass that saw it, in the order seen.
    seen = [row.seen_at for row in _rows(world)]
    assert seen == sorted(seen)
    ran = [p["started_at"] for p in world.passes()]
    assert ran[0] <= seen[0] and seen[-1] <= utcnow()


def test_orders_written_by_sync_and_by_a_pos_on_top_are_recorded(world: World) -> None:
    world.configure(dry_run=True)
    world.simulator.add_order(
        payment_key="synced-1",
        restaurant_id=HALASKARGAZI,
        total=250.5,
        address={"address": "Dershane Sokak", "latitude": 41.05, "longitude": 28.99},
    )
    world.set_up_with("sync", "--once")  # in process: the history rows are the subject
    runner = _runner(world)
    runner.run_once()
    rows = [row for row in _rows(world) if row.kind == "order"]
    assert [row.subject for row in rows] == ["synced-1"]
    assert rows[0].image is not None
    order = images.decode_order("synced-1", rows[0].restaurant_id, rows[0].image)
    assert (order.restaurant_id, order.status_id, order.total) == (
        HALASKARGAZI,
        1,
        Decimal("250.50"),
    )

    # Another poll stamps synced_at and changes nothing the rules read: no row.
    before = _last_id(world)
    with world.engine.begin() as connection:
        connection.execute(
            sa.update(schema.sync_state).values(last_poll_at=utcnow() - timedelta(seconds=31))
        )
    assert world.cli("sync", "--once").returncode == 0
    runner.run_once(incremental=True)
    assert _changes(world, before) == []

    # The platform confirms the order (sync) and the payment terminal fails it (POS).
    world.simulator.set_order_status("synced-1", 2)
    with world.engine.begin() as connection:
        connection.execute(
            sa.update(schema.sync_state).values(last_poll_at=utcnow() - timedelta(seconds=31))
        )
    assert world.cli("sync", "--once").returncode == 0
    runner.run_once(incremental=True)
    run_sql(world, "UPDATE orders SET payment_status = 'failed' WHERE payment_key = 'synced-1'")
    runner.run_once(incremental=True)
    assert [what.split(" at=")[0] for _k, _s, what in _changes(world, before)] == [
        "status=2 payment=None",
        "status=2 payment=failed",
    ]


def test_a_new_process_records_what_changed_while_nobody_watched(any_world: World) -> None:
    world = any_world
    world.add_order("stays")
    world.add_order("leaves")
    _runner(world).run_once()
    first_end = world.passes()[-1]["finished_at"]

    # The daemon is down: one order is delivered, one arrives, one is left alone.
    run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = 'leaves'")
    world.add_order("arrives")
    before = _last_id(world)
    _runner(world).run_once()
    assert sorted(_changes(world, before)) == [
        ("mark", "started", ""),
        ("order", "arrives", "status=1 payment=ok at=(41.052, 28.99) items=[(1, 1)]"),
        ("order", "leaves", "gone"),
    ]
    with world.engine.connect() as connection:
        marks = history.marks(connection)
    assert [m.what for m in marks] == ["started", "started"]
    assert marks[1].after == first_end  # nobody watched from then until this pass


def test_history_is_pruned_after_the_retention_but_open_rows_stay(any_world: World) -> None:
    world = any_world
    world.configure(dry_run=True, top_level="history:\n  retention_days: 2\n")
    long_ago, later = utcnow() - timedelta(days=5), utcnow() - timedelta(days=4)
    entry = images.encode_order
    world.add_order("abandoned", minutes_ago=60 * 24 * 5)
    world.add_order("finished")
    with world.engine.begin() as connection:
        # What a daemon recorded five days ago: two orders, then one finished.
        orders = {o.payment_key: o for o in _runner(world).judge.read().orders}
        history.write(
            connection,
            [
                history.Entry("order", key, HALASKARGAZI, entry(orders[key]))
                for key in ("abandoned", "finished")
            ],
            seen_at=long_ago,
            started=True,
        )
        history.write(
            connection, [history.Entry("order", "finished", HALASKARGAZI, None)], seen_at=later
        )
    run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = 'finished'")

    _runner(world).run_once()  # a full pass prunes (at most once an hour)

    kept = [(row.kind, row.subject, row.image is not None) for row in _rows(world)]
    # The finished order's rows and the old mark are gone; the order still active keeps
    # its row, however old, and the history says where it is complete from.
    assert ("order", "finished", True) not in kept and ("order", "finished", False) not in kept
    assert ("order", "abandoned", True) in kept
    with world.engine.connect() as connection:
        marks = history.marks(connection)
        state = history.state_at(connection, utcnow())
    pruned = [m for m in marks if m.what == "pruned"]
    assert len(pruned) == 1
    assert abs(pruned[0].seen_at - (utcnow() - timedelta(days=2))) < timedelta(minutes=5)
    assert [row.subject for row in state if row.kind == "order"] == ["abandoned"]

"""``autocancel sync`` against the simulator: orders land in the store, cooldown kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.domain.timeutil import utcnow
from daemon.service.sync import MalformedOrder, item_rows, order_row
from daemon.store import schema
from tests.world import AKAT, HALASKARGAZI, World


def _rows(world: World) -> dict[str, dict[str, Any]]:
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.orders)).mappings()
        return {row["payment_key"]: dict(row) for row in rows}


def _cooldown_over(world: World) -> None:
    """Move the last poll 31 s back, instead of waiting out the 30 s cooldown."""
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(schema.sync_state).values(last_poll_at=utcnow() - timedelta(seconds=31))
        )


def _enable_acknowledge(world: World) -> None:
    world.rules_path.write_text(world.rules_path.read_text() + "sync:\n  acknowledge: true\n")


def test_sync_once_stores_new_orders_with_items_and_no_acknowledgement(world: World) -> None:
    world.simulator.add_order(
        payment_key="from-platform",
        restaurant_id=HALASKARGAZI,
        date="2026-01-16 15:10:54",
        total=1417.5,
        customer={"name": "Kerim Test", "phone": "05335587642"},
        address={
            "address": "Dershane Sokak",
            "description": "kat 2",
            "latitude": 41.05,
            "longitude": 28.99,
        },
    )
    world.simulator.add_order(payment_key="akat-order", restaurant_id=AKAT, status_id=2)

    result = world.cli("sync", "--once")

    assert result.returncode == 0, result.stderr
    assert "received 2, stored 2, acknowledged 0" in result.stdout
    rows = _rows(world)
    order = rows["from-platform"]
    assert order["restaurant_id"] == HALASKARGAZI and order["status_id"] == 1
    assert order["customer_phone"] == "05335587642"
    assert (order["latitude"], order["longitude"]) == (41.05, 28.99)
    # Dükkango's "date" is Istanbul time (UTC+3).
    assert order["created_at"].isoformat() == "2026-01-16T12:10:54+00:00"
    assert order["raw_payload"]["restaurant_name"] == "Halaskargazi Şube"
    assert rows["akat-order"]["status_id"] == 2
    with world.engine.connect() as conn:
        items = conn.execute(
            sa.select(schema.order_items.c.payment_key, schema.order_items.c.food_id)
        ).all()
    assert ("from-platform", 1) in items
    assert world.simulator.requests("PUT", "orders/success") == []


def test_acknowledgement_only_when_enabled(world: World) -> None:
    _enable_acknowledge(world)
    world.simulator.add_order(payment_key="to-ack")
    result = world.cli("sync", "--once")
    assert result.returncode == 0, result.stderr
    assert [r.path for r in world.simulator.requests("PUT")] == ["orders/success/to-ack"]


def test_second_sync_waits_for_the_cooldown_instead_of_hitting_429(world: World) -> None:
    world.simulator.cooldown_seconds = 30  # the documented cooldown
    world.simulator.add_order(payment_key="first")
    world.set_up_with("sync", "--once")  # the first poll, in process: the second is checked
    world.simulator.add_order(payment_key="second")
    # Pretend 27 of the 30 seconds have passed, on both clocks: the second
    # sync must wait out the last 3 instead of calling at once.
    with world.engine.begin() as conn:
        last = conn.execute(sa.select(schema.sync_state.c.last_poll_at)).scalar_one()
        conn.execute(sa.update(schema.sync_state).values(last_poll_at=last - timedelta(seconds=27)))
    world.simulator.cooldown_seconds = 3

    result = world.cli("sync", "--once")

    assert result.returncode == 0, result.stderr
    statuses = [r.status for r in world.simulator.requests("GET", "orders/get-current")]
    assert statuses == [200, 200]
    assert "second" in _rows(world)


def test_vanished_orders_are_no_longer_active(world: World) -> None:
    world.configure("""\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
""")
    world.simulator.add_order(payment_key="will-finish")
    world.simulator.add_order(payment_key="stays")
    world.set_up_with("sync", "--once")  # the first poll (preparation)
    with world.engine.begin() as conn:  # the POS marks the payment failed meanwhile
        conn.execute(sa.update(schema.orders).values(payment_status="failed"))
    world.simulator.set_order_status("will-finish", 5)  # delivered: gone from get-current
    _cooldown_over(world)

    assert world.cli("sync", "--once").returncode == 0

    rows = _rows(world)
    assert rows["will-finish"]["vanished_at"] is not None
    assert rows["stays"]["vanished_at"] is None
    assert rows["stays"]["payment_status"] == "failed"  # the POS's column is kept
    decided = {d["payment_key"] for d in world.once()}
    assert decided == {"stays"}


def test_malformed_orders_are_reported_and_skipped() -> None:
    now = utcnow()
    good = {
        "payment_key": "k",
        "restaurant_id": "r",
        "status_id": 1,
        "items": [{"food_id": 3, "quantity": 2}, {"food_id": "x"}, "junk"],
    }
    assert order_row(good, now=now)["payment_key"] == "k"
    assert item_rows(good) == [{"payment_key": "k", "food_id": 3, "name": None, "quantity": 2}]
    assert item_rows({"payment_key": "k"}) is None  # no list at all: keep the POS's items
    for broken, problem in (
        ({}, "no payment_key"),
        ({"payment_key": "k"}, "order k has no restaurant_id"),
        (
            {"payment_key": "k", "restaurant_id": "r", "status_id": "1"},
            "order k has no integer status_id",
        ),
    ):
        with pytest.raises(MalformedOrder) as refused:
            order_row(broken, now=now)
        assert str(refused.value) == problem


def test_sync_needs_credentials(world: World) -> None:
    result = world.cli("sync", "--once", env={"DUKKANGO_ACCESS_TOKEN": ""})
    assert result.returncode == 1
    assert "DUKKANGO_ACCESS_TOKEN" in result.stderr

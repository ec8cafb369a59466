"""``autocancel sync`` never silently overwrites what a POS wrote.

Sync owns the orders it created (``orders.created_by = 'sync'``), or every
order with ``sync.owns: all``. In an order the POS wrote it only fills gaps
(NULL columns, an order without items), and reports each disagreement once.
A value Dükkango does not send (no coordinates) never erases a known one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.domain.timeutil import utcnow
from daemon.store import schema
from tests.world import HALASKARGAZI, NEAR, World, run_sql


def _row(world: World, key: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        return dict(
            conn.execute(sa.select(schema.orders).where(schema.orders.c.payment_key == key))
            .mappings()
            .one()
        )


def _items(world: World, key: str) -> list[tuple[int, int]]:
    with world.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.select(schema.order_items.c.food_id, schema.order_items.c.quantity)
                .where(schema.order_items.c.payment_key == key)
                .order_by(schema.order_items.c.id)
            )
        ]


def _sync(world: World) -> str:
    """``sync --once`` after the cooldown; its stderr."""
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(schema.sync_state).values(last_poll_at=utcnow() - timedelta(seconds=31))
        )
    result = world.cli("sync", "--once")
    assert result.returncode == 0, result.stderr
    return result.stderr


def _conflict_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "kept the POS's" in line]


def _pos_order_also_on_the_platform(world: World) -> None:
    world.add_order(
        "pos-order",
        shipping_method="pickup",
        coordinates=NEAR,
        phone="05551112233",
        items=[(7, 2)],
        on_platform=False,
    )
    run_sql(
        world,
        "UPDATE orders SET courier_type = NULL, order_number = NULL "
        "WHERE payment_key = 'pos-order'",
    )
    world.simulator.add_order(
        payment_key="pos-order",
        restaurant_id=HALASKARGAZI,
        id=4242,
        courier_type="fuudy",
        customer={"name": "Test Müşteri", "phone": "05335587642"},
        address={"address": "Dershane Sokak 4", "description": ""},  # no coordinates
    )


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_sync_fills_gaps_in_a_pos_order_and_never_overwrites_it(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    world: World = request.getfixturevalue("world" if store_kind == "sqlite" else "pg_world")
    _pos_order_also_on_the_platform(world)

    stderr = _sync(world)

    row = _row(world, "pos-order")
    assert row["shipping_method"] == "pickup"  # Dükkango says delivery
    assert (row["latitude"], row["longitude"]) == NEAR  # Dükkango sends none
    assert row["customer_phone"] == "05551112233"
    assert _items(world, "pos-order") == [(7, 2)]
    assert row["courier_type"] == "fuudy"  # a gap: filled
    assert row["order_number"] == 4242  # a gap: filled
    assert row["created_by"] is None  # still the POS's order
    assert row["raw_payload"]["shipping_method"] == "delivery"  # Dükkango's, kept aside
    (conflict,) = _conflict_lines(stderr)
    assert "order=pos-order" in conflict
    for column in ("shipping_method", "customer_phone", "items"):
        assert column in conflict
    for column in ("latitude", "courier_type", "order_number", "customer_name"):
        assert column not in conflict  # a gap or an agreement is no conflict

    assert _conflict_lines(_sync(world)) == []  # reported once, not every poll
    assert _row(world, "pos-order")["shipping_method"] == "pickup"

    world.simulator.set_order_status("pos-order", 2)
    (news,) = _conflict_lines(_sync(world))
    assert "status_id" in news and "shipping_method" not in news
    assert _row(world, "pos-order")["status_id"] == 1


def test_sync_keeps_the_orders_it_created_up_to_date(world: World) -> None:
    world.simulator.add_order(
        payment_key="from-platform",
        restaurant_id=HALASKARGAZI,
        address={
            "address": "Dershane Sokak",
            "description": "",
            "latitude": 41.05,
            "longitude": 28.99,
        },
    )
    _sync(world)
    assert _row(world, "from-platform")["created_by"] == "sync"

    world.simulator.set_order_status("from-platform", 2)
    stderr = _sync(world)

    row = _row(world, "from-platform")
    assert row["status_id"] == 2
    assert (row["latitude"], row["longitude"]) == (41.05, 28.99)
    assert _conflict_lines(stderr) == []


def test_a_value_the_platform_does_not_send_never_erases_one_in_a_synced_order(
    world: World,
) -> None:
    world.simulator.add_order(payment_key="geocoded-later", restaurant_id=HALASKARGAZI)
    _sync(world)
    # The POS (or an operator) adds the position Dükkango did not send.
    run_sql(
        world,
        "UPDATE orders SET latitude = 41.06, longitude = 28.98 "
        "WHERE payment_key = 'geocoded-later'",
    )
    _sync(world)
    row = _row(world, "geocoded-later")
    assert (row["latitude"], row["longitude"]) == (41.06, 28.98)


def test_sync_owns_all_orders_when_configured(world: World) -> None:
    world.rules_path.write_text(world.rules_path.read_text() + "sync:\n  owns: all\n")
    _pos_order_also_on_the_platform(world)

    stderr = _sync(world)

    row = _row(world, "pos-order")
    assert row["shipping_method"] == "delivery"
    assert row["customer_phone"] == "05335587642"
    assert (row["latitude"], row["longitude"]) == NEAR  # not sent: not erased
    assert _items(world, "pos-order") != [(7, 2)]
    assert _conflict_lines(stderr) == []


def test_sync_owns_takes_only_all_or_synced(world: World) -> None:
    world.rules_path.write_text(world.rules_path.read_text() + "sync:\n  owns: everything\n")
    result = world.cli("check")
    assert result.returncode == 2
    assert "owns" in result.stdout and "'all'" in result.stdout and "'synced'" in result.stdout

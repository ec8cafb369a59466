"""Rows a buggy POS wrote never crash a pass and never cause a cancellation on their own."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from daemon.config.load import load_config
from daemon.engine.passes import PassRunner
from daemon.store import schema
from tests.world import HALASKARGAZI, World

ALL_RULES = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""


def _insert(world: World, sql: str, **params: object) -> None:
    with world.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _order(world: World, key: str, **columns: object) -> None:
    values = {
        "payment_key": key,
        "restaurant_id": HALASKARGAZI,
        "status_id": 1,
        "shipping_method": "delivery",
        "payment_status": "ok",
        "created_at": "2099-01-01 00:00:00",
        "latitude": 41.0520,
        "longitude": 28.9900,
    }
    values.update(columns)
    names = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    _insert(world, f"INSERT INTO orders ({names}) VALUES ({placeholders})", **values)


def _now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def messy_store(world: World) -> World:
    """A store full of rows no sane POS writes, and one good order that must still go."""
    world.configure(ALL_RULES)
    now = _now_text()
    _insert(world, "INSERT INTO stock (food_id, available, quantity) VALUES (1, 0, 0)")
    _insert(world, "INSERT INTO stock (food_id, available, quantity) VALUES (5, 'maybe', 3)")
    # Items with unreadable or nonsensical quantities: never a shortage.
    _order(world, "bad-quantity", created_at=now)
    _insert(
        world,
        "INSERT INTO order_items (payment_key, food_id, quantity) VALUES "
        "('bad-quantity', 1, 'lots'), ('bad-quantity', 1, -2), ('bad-quantity', 1, 0)",
    )
    # A stock row that says nothing readable: the food counts as in stock.
    _order(world, "bad-stock-row", created_at=now)
    _insert(world, "INSERT INTO order_items (payment_key, food_id) VALUES ('bad-stock-row', 5)")
    # Positions that are no position: never "too far".
    _order(world, "text-latitude", created_at=now, latitude="north", longitude=28.99)
    _order(world, "out-of-range", created_at=now, latitude=95.0, longitude=28.99)
    _order(world, "null-island", created_at=now, latitude=0.0, longitude=0.0)
    # Unknown status, restaurant and times.
    _order(world, "odd-status", created_at=now, status_id=99, payment_status="failed")
    _order(world, "text-status", created_at=now, status_id="cancelled?", payment_status="failed")
    _order(world, "other-branch", created_at=now, restaurant_id="not-ours", payment_status="failed")
    _order(world, "garbage-time", created_at="yesterday-ish", payment_status="failed")
    _order(world, "future-time", created_at="2099-01-01 00:00:00", payment_status="failed")
    # Text no decoder likes, and a lot of it.
    _order(world, "mojibake", created_at=now, address="x" * 1_000_000)
    _insert(
        world,
        "UPDATE orders SET customer_name = CAST(x'C3FFFE41' AS TEXT) "
        "WHERE payment_key = 'mojibake'",
    )
    # The one order that really should be cancelled.
    world.add_order("really-failed", payment_status="failed", items=[(7, 1)])
    return world


def test_a_messy_store_never_crashes_the_pass_nor_causes_cancellations(
    messy_store: World,
) -> None:
    result = messy_store.cli("once", "--json")

    assert result.returncode == 0, result.stderr
    assert messy_store.cancel_calls() == [("really-failed", {"reason_id": 7})]
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    # Orders whose time cannot be trusted are skipped, saying why; the rest is no decision.
    assert {
        d["payment_key"]: (d["outcome"], d["evidence"].get("skipped_because")) for d in decisions
    } == {
        "garbage-time": ("skipped", "created_at_unknown"),
        "future-time": ("skipped", "created_at_in_future"),
        "really-failed": ("cancelled", None),
    }
    for key in ("bad-quantity", "text-latitude", "garbage-time"):
        assert f"order={key}" in result.stderr, key
    assert "stock:5" in result.stderr


def test_each_problem_is_reported_once_per_process(
    messy_store: World, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(messy_store.rules_path, environ={})
    runner = PassRunner(
        config=config, engine=messy_store.engine, executor_factory=None, dry_run=True
    )
    with caplog.at_level(logging.WARNING, logger="daemon.store.rowcheck"):
        runner.run_once()
        first = [r.getMessage() for r in caplog.records if "order=bad-quantity" in r.getMessage()]
        caplog.clear()
        runner.run_once()
        second = [r.getMessage() for r in caplog.records if "order=bad-quantity" in r.getMessage()]
    assert len(first) >= 1
    assert second == []


def test_bad_rows_are_visible_in_explain(messy_store: World) -> None:
    result = messy_store.cli("explain", "text-latitude")
    assert result.returncode == 0, result.stderr
    assert "too-far" in result.stdout and "skipped" in result.stdout
    with messy_store.engine.connect() as conn:
        status = conn.execute(
            sa.select(schema.orders.c.status_id).where(
                schema.orders.c.payment_key == "text-latitude"
            )
        ).scalar_one()
    assert status == 1

"""payment_failed end to end, and a mixed pass of several rules on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.world import PAYMENT_FAILED, World, assert_cancelled, assert_untouched

FAR = (41.1500, 29.1000)  # about 15 km from Halaskargazi


def test_only_a_failed_payment_is_cancelled(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    world.add_order("pending", payment_status="pending")
    world.add_order("ok", payment_status="ok")
    world.add_order("unknown", payment_status=None)

    decisions = world.once()

    assert_cancelled(
        world,
        decisions,
        "failed",
        rule="payment-failed",
        kind="payment_failed",
        reason_id=7,
        evidence={"payment_status": "failed"},
    )
    for key in ("pending", "ok", "unknown"):
        assert_untouched(world, decisions, key)
    assert [d["payment_key"] for d in decisions] == ["failed"]

    seen = len(world.simulator.requests())
    assert world.once() == []
    assert len(world.simulator.requests()) == seen


@pytest.mark.postgres
def test_mixed_pass_on_postgresql(pg_world: World) -> None:
    world = pg_world  # the shipped-like rules: out-of-stock, too-far, payment-failed, overloaded
    world.set_stock(2, available=False)
    world.add_order("out-of-stock", items=[(1, 1), (2, 1)])
    world.add_order("far", coordinates=FAR)
    world.add_order("failed", payment_status="failed")
    # Two rules match; the first in file order decides, the other is kept as evidence.
    world.add_order("failed-and-out", payment_status="failed", items=[(2, 1)])
    world.add_order("fine")
    world.add_order("pending", payment_status="pending", items=[(1, 2)])
    world.add_order("pickup-far", coordinates=FAR, shipping_method="pickup")

    decisions = world.once()

    assert_cancelled(
        world,
        decisions,
        "out-of-stock",
        rule="out-of-stock",
        kind="out_of_stock",
        reason_id=1,
        evidence={"food_ids": [2]},
    )
    assert_cancelled(
        world,
        decisions,
        "failed-and-out",
        rule="out-of-stock",
        kind="out_of_stock",
        reason_id=1,
        evidence={"food_ids": [2]},
    )
    other = next(d for d in decisions if d["payment_key"] == "failed-and-out")
    assert [m["rule"] for m in other["evidence"]["other_matches"]] == ["payment-failed"]
    assert_cancelled(
        world,
        decisions,
        "far",
        rule="too-far",
        kind="max_distance",
        reason_id=6,
        evidence={"max_km": 7.5},
    )
    assert_cancelled(
        world,
        decisions,
        "failed",
        rule="payment-failed",
        kind="payment_failed",
        reason_id=7,
        evidence={"payment_status": "failed"},
    )
    for key in ("fine", "pending", "pickup-far"):
        assert_untouched(world, decisions, key)
    assert len(decisions) == 4
    passive = [r.path for r in world.simulator.requests("PUT", "foods/status-passive/")]
    assert passive == ["foods/status-passive/2"]
    assert world.simulator.requests("PUT", "restaurants/status/") == []

    seen = len(world.simulator.requests())
    assert world.once() == []
    assert len(world.simulator.requests()) == seen

"""Safety limits: the hourly cap holds the excess; old and protected orders are skipped."""

from __future__ import annotations

from tests.world import (
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
)

KEYS = ("f1", "f2", "f3", "f4")


def test_hourly_cap_holds_the_excess_and_counts_from_the_ledger(world: World) -> None:
    world.configure(PAYMENT_FAILED, max_per_hour=2)
    for minutes, key in zip((20, 15, 10, 5), KEYS, strict=True):
        world.add_order(key, payment_status="failed", minutes_ago=minutes)

    decisions, stderr = once_json(world)

    outcomes = {d["payment_key"]: d["outcome"] for d in decisions}
    assert sorted(outcomes.values()) == ["cancelled", "cancelled", "held", "held"], outcomes
    held = sorted(key for key, outcome in outcomes.items() if outcome == "held")
    cancelled = sorted(key for key, outcome in outcomes.items() if outcome == "cancelled")
    assert "CRITICAL" in stderr
    assert sorted(key for key, _body in world.cancel_calls()) == cancelled
    for key in held:
        assert decision_for(decisions, key)["mode"] == "live"
        assert cancel_requests_for(world, key) == []
        assert world.status_of(key) == 1
        assert world.platform_order(key)["status_id"] == 1
        assert [row["outcome"] for row in ledger_rows(world, key)] == ["held"]
    for key in cancelled:
        assert world.status_of(key) == 6

    # Same hour, a new process: the two cancellations already made use the budget up.
    again, stderr = once_json(world)

    assert {d["payment_key"]: d["outcome"] for d in again} == dict.fromkeys(held, "held")
    assert "CRITICAL" in stderr
    assert len(world.cancel_calls()) == 2
    for key in held:
        assert world.status_of(key) == 1

    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    assert "safety budget: 0 of 2" in status.stdout


STOCK_THEN_PAYMENT = (
    """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
"""
    + PAYMENT_FAILED
)


def test_old_and_protected_orders_are_skipped_and_never_sent(world: World) -> None:
    world.configure(STOCK_THEN_PAYMENT, never_cancel=["vip-key", "+90 533 558 76 42"])
    world.set_stock(2, available=False)
    # "aged" comes first in the store and wants food 2 deactivated too.
    world.add_order(
        "aged", payment_status="failed", items=[(2, 1)], minutes_ago=200, phone="05001112233"
    )
    world.add_order("vip-key", payment_status="failed", phone="05001112234")
    world.add_order("vip-phone", payment_status="failed", phone="05335587642")
    world.add_order("normal", items=[(2, 1)], phone="05001112235")
    world.add_order("old-but-fine", minutes_ago=200, phone="05001112236")

    decisions, _ = once_json(world)

    assert sorted(d["payment_key"] for d in decisions) == ["aged", "normal", "vip-key", "vip-phone"]
    assert decision_for(decisions, "normal")["outcome"] == "cancelled"
    aged = decision_for(decisions, "aged")
    assert aged["outcome"] == "skipped"
    assert aged["evidence"]["skipped_because"] == "max_order_age_minutes"
    for key in ("vip-key", "vip-phone"):
        protected = decision_for(decisions, key)
        assert protected["outcome"] == "skipped", protected
        assert protected["evidence"]["skipped_because"] == "never_cancel", protected
    assert decision_for(decisions, "vip-phone")["evidence"]["matched"] == "customer_phone"

    for key in ("aged", "vip-key", "vip-phone"):
        assert cancel_requests_for(world, key) == []
        assert world.status_of(key) == 1
        assert world.platform_order(key)["status_id"] == 1
        [row] = ledger_rows(world, key)
        assert (row["mode"], row["outcome"]) == ("live", "skipped")
        assert "skipped_because" in row["evidence"]
    assert [key for key, _body in world.cancel_calls()] == ["normal"]
    # The skipped order does not stand in the way of the food the cancelled one ran out of.
    assert [r.path for r in world.simulator.requests("PUT", "foods/")] == ["foods/status-passive/2"]


def test_max_cancel_ratio_holds_a_suspiciously_large_pass(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.rules_path.write_text(
        world.rules_path.read_text().replace(
            "  never_cancel: []", "  never_cancel: []\n  max_cancel_ratio: 0.5"
        )
    )
    for n in range(3):
        world.add_order(f"failed-{n}", payment_status="failed")
    world.add_order("fine", payment_status="ok")

    result = world.cli("once", "--json")

    assert result.returncode == 0, result.stderr
    assert world.cancel_calls() == []
    assert "CRITICAL" in result.stderr and "max_cancel_ratio" in result.stderr
    assert {row["outcome"] for row in world.ledger()} == {"held"}

    world.add_order("fine-2", payment_status="ok")
    world.add_order("fine-3", payment_status="ok")  # 3 of 6 is within half
    decisions = world.once()
    assert sorted(d["payment_key"] for d in decisions if d["outcome"] == "cancelled") == [
        "failed-0",
        "failed-1",
        "failed-2",
    ]

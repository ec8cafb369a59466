"""One evaluation pass end to end: precedence, the ``once --json`` contract, idempotency.

Every pass is the installed ``autocancel once`` run as a subprocess against a
real store (SQLite file, or PostgreSQL) and the simulator over HTTP.
"""

from __future__ import annotations

import pytest

from tests.world import (
    World,
    assert_cancelled,
    assert_untouched,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
)

# payment-failed is listed first on purpose: the shipped order (out-of-stock
# first) would give the other answer, so only file order explains the result.
FAILED_THEN_STOCK = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""
CONTRACT_FIELDS = {"payment_key", "rule", "kind", "reason_id", "mode", "outcome", "evidence"}
FAR = (41.1500, 29.1000)  # about 15 km from Halaskargazi


def test_first_rule_in_file_order_decides_and_once_json_keeps_its_contract(world: World) -> None:
    world.configure(FAILED_THEN_STOCK)
    world.set_stock(2, available=False)
    world.add_order("both", payment_status="failed", items=[(2, 1)])
    world.add_order("stock-only", items=[(1, 1), (2, 1)])
    world.add_order("fine")

    decisions, stderr = once_json(world)

    # One object per decided order, none for the order no rule matched.
    assert sorted(d["payment_key"] for d in decisions) == ["both", "stock-only"]
    for decision in decisions:
        assert decision.keys() >= CONTRACT_FIELDS, decision
        assert type(decision["reason_id"]) is int
        assert isinstance(decision["evidence"], dict)

    both = decision_for(decisions, "both")
    assert (both["rule"], both["kind"], both["reason_id"], both["mode"], both["outcome"]) == (
        "payment-failed",
        "payment_failed",
        7,
        "live",
        "cancelled",
    )
    assert both["evidence"]["payment_status"] == "failed"
    others = both["evidence"]["other_matches"]
    assert [(m["rule"], m["kind"]) for m in others] == [("out-of-stock", "out_of_stock")]
    assert others[0]["evidence"]["food_ids"] == [2]
    [request] = cancel_requests_for(world, "both")
    assert request.body == {"reason_id": 7}
    [row] = ledger_rows(world, "both")
    assert (row["rule"], row["reason_id"], row["outcome"]) == ("payment-failed", 7, "cancelled")
    assert [m["rule"] for m in row["evidence"]["other_matches"]] == ["out-of-stock"]
    assert world.status_of("both") == 6

    stock_only = decision_for(decisions, "stock-only")
    assert "other_matches" not in stock_only["evidence"]
    assert_cancelled(
        world,
        decisions,
        "stock-only",
        rule="out-of-stock",
        kind="out_of_stock",
        reason_id=1,
        evidence={"food_ids": [2]},
    )
    assert_untouched(world, decisions, "fine")

    # The log lines went to stderr (stdout parsed as pure JSON above).
    assert "both" in stderr


def test_a_second_pass_sends_nothing_new(world: World) -> None:
    world.configure(FAILED_THEN_STOCK)
    world.add_order("failed", payment_status="failed")
    world.add_order("unknown-to-dukkango", payment_status="failed", on_platform=False)
    world.add_order("fine")

    first, _ = once_json(world)

    assert decision_for(first, "failed")["outcome"] == "cancelled"
    assert decision_for(first, "unknown-to-dukkango")["outcome"] == "failed"
    assert world.status_of("unknown-to-dukkango") == 1  # still active in the store
    sent = len(world.simulator.requests())
    rows = len(world.ledger())

    # The 404'd order is still active and still matches: it must not be sent again.
    again, _ = once_json(world)
    assert again == []
    assert len(world.simulator.requests()) == sent
    assert len(cancel_requests_for(world, "unknown-to-dukkango")) == 1
    assert len(cancel_requests_for(world, "failed")) == 1
    assert len(world.ledger()) == rows


@pytest.mark.postgres
def test_live_pass_on_postgresql(pg_world: World) -> None:
    world = pg_world
    world.configure(
        FAILED_THEN_STOCK
        + """\
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""
    )
    world.set_stock(2, available=False)
    world.add_order("both", payment_status="failed", items=[(2, 1)])
    world.add_order("far", coordinates=FAR)
    world.add_order("unknown-to-dukkango", payment_status="failed", on_platform=False)
    world.add_order("fine")

    decisions, _ = once_json(world)

    both = decision_for(decisions, "both")
    assert (both["rule"], both["reason_id"], both["outcome"]) == ("payment-failed", 7, "cancelled")
    assert [m["rule"] for m in both["evidence"]["other_matches"]] == ["out-of-stock"]
    assert_cancelled(
        world,
        decisions,
        "far",
        rule="too-far",
        kind="max_distance",
        reason_id=6,
        evidence={"max_km": 7.5},
    )
    assert_untouched(world, decisions, "fine")
    failed = decision_for(decisions, "unknown-to-dukkango")
    assert failed["outcome"] == "failed"
    [row] = ledger_rows(world, "unknown-to-dukkango")
    assert (row["outcome"], row["attempts"]) == ("failed", 1)
    assert "sipariş bulunamadı" in row["last_error"]
    assert world.status_of("both") == 6
    assert world.status_of("unknown-to-dukkango") == 1

    sent = len(world.simulator.requests())
    assert once_json(world)[0] == []
    assert len(world.simulator.requests()) == sent

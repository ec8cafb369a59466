"""Dry-run: the flag, the global key and per-rule shadows send nothing and block nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.world import (
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
    secret_keys_only,
)

FAR = (41.1500, 29.1000)  # about 15 km from Halaskargazi
MATCHING = ("out-of-stock", "far", "failed")


def _seed(world: World) -> None:
    """Three orders the shipped-like rules cancel (one through a deactivatable food), one not."""
    world.set_stock(2, available=False)
    world.add_order("out-of-stock", items=[(2, 1)])
    world.add_order("far", coordinates=FAR)
    world.add_order("failed", payment_status="failed")
    world.add_order("fine")


def _assert_dry(world: World, decisions: list[dict[str, Any]]) -> None:
    """Nothing reached Dükkango, nothing changed, every match is recorded as would_cancel."""
    assert world.simulator.requests() == []  # not a cancel, not a food, not even a login
    assert sorted(d["payment_key"] for d in decisions) == sorted(MATCHING)
    for key in MATCHING:
        decision = decision_for(decisions, key)
        assert (decision["mode"], decision["outcome"]) == ("dry_run", "would_cancel"), decision
        assert world.status_of(key) == 1
        assert world.platform_order(key)["status_id"] == 1
        [row] = ledger_rows(world, key)
        assert (row["mode"], row["outcome"], row["attempts"]) == ("dry_run", "would_cancel", 0)
        assert row["rule"] == decision["rule"]
    assert decision_for(decisions, "out-of-stock")["rule"] == "out-of-stock"
    assert decision_for(decisions, "far")["reason_id"] == 6
    assert ledger_rows(world, "fine") == []
    assert world.simulator.food_active(2)


def _assert_live_cancels_all(world: World) -> None:
    decisions, _ = once_json(world)
    for key, reason in zip(MATCHING, (1, 6, 7), strict=True):
        decision = decision_for(decisions, key)
        assert (decision["mode"], decision["outcome"]) == ("live", "cancelled"), decision
        [request] = cancel_requests_for(world, key)
        assert request.body == {"reason_id": reason}
        assert world.status_of(key) == 6
        assert world.platform_order(key)["status_id"] == 6
        live = [row for row in ledger_rows(world, key) if row["mode"] == "live"]
        assert [row["outcome"] for row in live] == ["cancelled"]
    assert [r.path for r in world.simulator.requests("PUT", "foods/")] == ["foods/status-passive/2"]
    assert world.status_of("fine") == 1


def test_dry_run_flag_sends_nothing_and_a_live_pass_still_cancels(world: World) -> None:
    _seed(world)

    decisions, _ = once_json(world, "--dry-run")

    _assert_dry(world, decisions)
    _assert_live_cancels_all(world)


def test_global_dry_run_key_behaves_like_the_flag(world: World) -> None:
    world.configure(dry_run=True)
    _seed(world)

    # Secret keys and no token: a dry pass that logged in would show in the request log.
    decisions, _ = once_json(world, env=secret_keys_only(world))

    _assert_dry(world, decisions)
    world.configure(dry_run=False)
    _assert_live_cancels_all(world)


SHADOW_FIRST = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
    dry_run: true
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""


def test_a_shadow_rule_never_changes_what_the_live_rules_do(world: World) -> None:
    world.configure(SHADOW_FIRST)
    world.set_stock(2, available=False)
    world.add_order("both", payment_status="failed", items=[(2, 1)])
    world.add_order("shadow-only", payment_status="failed")
    world.add_order("live-only", items=[(2, 1)])

    decisions, _ = once_json(world)

    assert len(decisions) == 3  # one line per order, shadows included in the ledger only
    both = decision_for(decisions, "both")
    assert (both["rule"], both["reason_id"], both["mode"], both["outcome"]) == (
        "out-of-stock",
        1,
        "live",
        "cancelled",
    )
    [request] = cancel_requests_for(world, "both")
    assert request.body == {"reason_id": 1}
    assert world.status_of("both") == 6
    rows = {(row["rule"], row["mode"], row["outcome"]) for row in ledger_rows(world, "both")}
    assert rows == {
        ("out-of-stock", "live", "cancelled"),
        ("payment-failed", "dry_run", "would_cancel"),
    }

    shadow = decision_for(decisions, "shadow-only")
    assert (shadow["rule"], shadow["reason_id"], shadow["mode"], shadow["outcome"]) == (
        "payment-failed",
        7,
        "dry_run",
        "would_cancel",
    )
    assert cancel_requests_for(world, "shadow-only") == []
    assert world.status_of("shadow-only") == 1
    assert world.platform_order("shadow-only")["status_id"] == 1
    [row] = ledger_rows(world, "shadow-only")
    assert (row["mode"], row["outcome"]) == ("dry_run", "would_cancel")

    assert decision_for(decisions, "live-only")["outcome"] == "cancelled"
    assert len(world.cancel_calls()) == 2


@pytest.mark.postgres
def test_dry_run_then_live_on_postgresql(pg_world: World) -> None:
    _seed(pg_world)

    decisions, _ = once_json(pg_world, "--dry-run")

    _assert_dry(pg_world, decisions)
    _assert_live_cancels_all(pg_world)

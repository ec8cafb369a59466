"""One plan for every command: the brakes, the load, the orders leaving, dry-run and explain.

End to end, the way an operator sees it: a real SQLite store, the simulator
over HTTP, ``autocancel once`` / ``once --dry-run`` / ``explain`` / ``status``
as subprocesses. The planner itself is tested in-process in tests/unit/test_plan.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.store import schema
from tests.world import (
    AKAT,
    HALASKARGAZI,
    PAYMENT_FAILED,
    World,
    decision_for,
    ledger_rows,
    once_json,
    requests_to,
    run_sql,
)

UNLISTED = "5d1e0c3a-0000-4000-8000-00000000beef"  # another branch sharing the store
OVERLOADED = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 20
    reopen_below: 15
    min_closed_minutes: 10
    reason_id: 3
"""
OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""
SHADOW_PAYMENT = """\
  - name: payment-check
    kind: payment_failed
    reason_id: 7
    dry_run: true
"""


def _with_ratio(world: World, ratio: float) -> None:
    text = world.rules_path.read_text(encoding="utf-8")
    world.rules_path.write_text(
        text.replace("  never_cancel:", f"  max_cancel_ratio: {ratio}\n  never_cancel:", 1),
        encoding="utf-8",
    )


def _closes(world: World) -> list[str]:
    return [r.path for r in world.simulator.requests("PUT", "restaurants/status/close/")]


def _opens(world: World) -> list[str]:
    return [r.path for r in world.simulator.requests("PUT", "restaurants/status/open/")]


def _cancelled_keys(world: World) -> list[str]:
    return sorted(key for key, _body in world.cancel_calls())


def _fill(
    world: World,
    prefix: str,
    count: int,
    *,
    first_minutes_ago: float = 10,
    restaurant_id: str = HALASKARGAZI,
    status_id: int = 2,
) -> list[str]:
    """``count`` plain orders no per-order rule matches, one minute apart."""
    return [
        world.add_order(
            f"{prefix}{n:02d}",
            restaurant_id=restaurant_id,
            status_id=status_id,
            minutes_ago=first_minutes_ago + n,
        )
        for n in range(count)
    ]


# --- 10. the ratio brake counts only orders the daemon may act on, per restaurant ------


def test_ratio_brake_is_not_diluted_by_another_branch_sharing_the_store(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    _with_ratio(world, 0.5)
    for n in range(3):
        world.add_order(f"failed-{n}", payment_status="failed")
    world.add_order("fine", payment_status="ok")
    # An unlisted branch's orders: never ours to cancel, so no part of the ratio.
    for n in range(10):
        world.add_order(f"other-{n}", restaurant_id=UNLISTED, on_platform=False)

    decisions, stderr = once_json(world)

    assert world.cancel_calls() == []
    assert "CRITICAL" in stderr and "max_cancel_ratio" in stderr
    for n in range(3):
        held = decision_for(decisions, f"failed-{n}")
        assert (held["mode"], held["outcome"]) == ("live", "held"), held
        assert held["evidence"]["held_because"] == "max_cancel_ratio"
        assert held["evidence"]["actionable_orders"] == 4
        assert [row["outcome"] for row in ledger_rows(world, f"failed-{n}")] == ["held"]
        assert world.status_of(f"failed-{n}") == 1


def test_ratio_brake_holds_the_one_restaurant_whose_rule_went_wild(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    _with_ratio(world, 0.5)
    # Every Halaskargazi order "failed": a broken payment terminal, not reality.
    for n in range(3):
        world.add_order(f"hal-failed-{n}", payment_status="failed")
    # Akat: one real failure among five; 4 of 8 in the whole pass is within half.
    world.add_order("akat-failed", restaurant_id=AKAT, payment_status="failed")
    for n in range(4):
        world.add_order(f"akat-fine-{n}", restaurant_id=AKAT)

    decisions, stderr = once_json(world)

    assert _cancelled_keys(world) == ["akat-failed"]
    assert decision_for(decisions, "akat-failed")["outcome"] == "cancelled"
    assert "CRITICAL" in stderr and HALASKARGAZI in stderr
    for n in range(3):
        held = decision_for(decisions, f"hal-failed-{n}")
        assert held["outcome"] == "held", held
        assert held["evidence"]["held_because"] == "max_cancel_ratio"
        assert held["evidence"]["restaurant_id"] == HALASKARGAZI
        assert world.status_of(f"hal-failed-{n}") == 1


# --- 11. a held pass takes no side effect at all ------------------------------------------


def test_a_cap_of_zero_holds_the_closure_too(world: World) -> None:
    world.configure(OVERLOADED, max_per_hour=0)
    for n in range(22):
        world.add_order(f"o{n:02d}", minutes_ago=40 - n)

    decisions, stderr = once_json(world)

    assert sorted((d["payment_key"], d["outcome"]) for d in decisions) == [
        ("o20", "held"),
        ("o21", "held"),
    ]
    assert "CRITICAL" in stderr
    assert world.simulator.requests() == []  # no cancel, no close, not even a status read
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"

    # The dry-run predicts the same: held, and no closure.
    predicted, _ = once_json(world, "--dry-run")
    assert sorted((d["payment_key"], d["mode"], d["outcome"]) for d in predicted) == [
        ("o20", "dry_run", "held"),
        ("o21", "dry_run", "held"),
    ]
    table = world.cli("once", "--dry-run")
    assert table.returncode == 0, table.stderr
    assert "close_restaurant" not in table.stdout
    assert world.simulator.requests() == []


def test_a_ratio_hold_neither_closes_nor_reopens(world: World) -> None:
    world.configure(OVERLOADED + PAYMENT_FAILED)
    _with_ratio(world, 0.1)
    # 25 orders, capacity 20: congestion wants 5 of them, a fifth of the pass.
    for n in range(25):
        world.add_order(f"o{n:02d}", minutes_ago=40 - n)

    decisions, _ = once_json(world)

    assert {d["outcome"] for d in decisions} == {"held"}
    assert len(decisions) == 5
    assert world.simulator.requests() == []
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"

    # Without the brake the same data closes the restaurant and cancels five.
    world.configure(OVERLOADED + PAYMENT_FAILED)
    decisions, _ = once_json(world)
    assert [d["outcome"] for d in decisions] == ["cancelled"] * 5
    assert _closes(world) == [f"restaurants/status/close/{HALASKARGAZI}"]

    # Load falls to 10, the closure is old enough: a reopen is due ...
    for n in range(10):
        run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = :key", key=f"o{n:02d}")
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(schema.restaurant_closures).values(
                closed_at=datetime.now(UTC) - timedelta(minutes=30)
            )
        )
    # ... but this pass would cancel 1 of its 11 orders, over a ratio of 0.05: held.
    world.add_order("failed", payment_status="failed", minutes_ago=1)
    _with_ratio(world, 0.05)
    decisions, _ = once_json(world)
    assert [(d["payment_key"], d["outcome"]) for d in decisions] == [("failed", "held")]
    assert _opens(world) == []
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"

    world.configure(OVERLOADED + PAYMENT_FAILED)
    decisions, _ = once_json(world)
    assert [(d["payment_key"], d["outcome"]) for d in decisions] == [("failed", "cancelled")]
    assert _opens(world) == [f"restaurants/status/open/{HALASKARGAZI}"]


# --- 12. stale orders are not load ---------------------------------------------------------


def test_orders_abandoned_in_the_pos_are_not_load(world: World) -> None:
    world.configure(OVERLOADED)
    # 21 active orders, capacity 20; but two were placed 200 minutes ago and never
    # closed in the POS (max_order_age_minutes 180): the kitchen has 19 to cook.
    world.add_order("abandoned-1", status_id=2, minutes_ago=200)
    world.add_order("abandoned-2", status_id=1, minutes_ago=250)
    _fill(world, "f", 19, status_id=1)

    decisions, _ = once_json(world)

    assert decisions == []
    assert world.simulator.requests() == []
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"

    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if "Halaskargazi" in line)
    assert "21 active" in line and "2 stale" in line, status.stdout


# --- 13. the orders leaving, computed once ------------------------------------------------


def test_an_order_another_rule_cancels_relieves_the_load_and_no_closure_follows(
    world: World,
) -> None:
    world.configure(OUT_OF_STOCK + OVERLOADED)
    world.set_stock(9, available=False)
    # 21 active orders, capacity 20; the out-of-stock one leaves: 20 remain.
    world.add_order("no-stock", items=[(9, 1)], minutes_ago=30)
    _fill(world, "f", 20, status_id=1)

    decisions, _ = once_json(world)

    assert [(d["payment_key"], d["rule"], d["outcome"]) for d in decisions] == [
        ("no-stock", "out-of-stock", "cancelled")
    ]
    assert _cancelled_keys(world) == ["no-stock"]
    assert _closes(world) == []
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"


def test_a_protected_order_is_not_leaving_and_is_never_chosen(world: World) -> None:
    world.configure(OUT_OF_STOCK + OVERLOADED, never_cancel=["vip-stock", "vip-new"])
    world.set_stock(9, available=False)
    # 22 active orders, capacity 20: two must go. The out-of-stock order is protected
    # (it stays), and so is the newest one: congestion takes the next two newest.
    world.add_order("vip-stock", items=[(9, 1)], minutes_ago=30)
    world.add_order("vip-new", minutes_ago=0.5)
    fill = _fill(world, "f", 20, first_minutes_ago=1, status_id=1)

    decisions, _ = once_json(world)

    assert _cancelled_keys(world) == sorted(fill[:2])
    skipped = decision_for(decisions, "vip-stock")
    assert (skipped["rule"], skipped["outcome"]) == ("out-of-stock", "skipped")
    assert [d for d in decisions if d["payment_key"] == "vip-new"] == []
    for key in fill[:2]:
        chosen = decision_for(decisions, key)
        assert (chosen["rule"], chosen["outcome"]) == ("overloaded", "cancelled")
        assert chosen["evidence"]["active_orders"] == 22


def _mixed_congestion(world: World) -> dict[str, list[str]]:
    """Halaskargazi overloaded, with every kind of order that must not count as leaving."""
    world.configure(
        OUT_OF_STOCK + SHADOW_PAYMENT + OVERLOADED, never_cancel=["vip-stock", "vip-new"]
    )
    world.set_stock(9, available=False)
    world.add_order("stock-old", items=[(9, 1)], minutes_ago=100)  # leaves (out of stock)
    world.add_order("vip-stock", items=[(9, 1)], minutes_ago=50)  # protected: stays
    world.add_order("stock-aged", items=[(9, 1)], minutes_ago=200)  # too old: skipped, stale
    world.add_order("stale", status_id=2, minutes_ago=190)  # abandoned in the POS
    world.add_order("vip-new", minutes_ago=0.5)  # newest, protected: never chosen
    world.add_order("shadow-new", payment_status="failed", minutes_ago=1)  # shadow: stays
    world.add_order("shadow-kept", payment_status="failed", status_id=2, minutes_ago=20)
    fill = _fill(world, "f", 19, first_minutes_ago=2, status_id=1)
    akat = _fill(world, "akat-", 3, restaurant_id=AKAT, first_minutes_ago=0.1, status_id=1)
    return {"fill": fill, "akat": akat}


def _decisions(decisions: list[dict[str, Any]]) -> set[tuple[str, str, int, str]]:
    return {(d["payment_key"], d["rule"], d["reason_id"], d["outcome"]) for d in decisions}


def _explained(world: World, *keys: str) -> dict[str, tuple[str, str] | None]:
    """Per key, (rule, outcome) from ``explain KEY...``'s decision lines; None: no rule decides.

    One process explains them all, on one plan, as one pass judges them.
    """
    result = world.cli("explain", *keys)
    assert result.returncode == 0, result.stderr
    found: dict[str, tuple[str, str] | None] = {}
    key = None
    for line in result.stdout.splitlines():
        if line.startswith("order "):
            key = line.split()[1]
        elif line.startswith("decision:"):
            assert key is not None, result.stdout
            decided = re.match(r"decision: (\S+) -> reason \d+ \(.*\), (live|dry_run), (.+)$", line)
            assert "no rule matches" in line or decided, line
            found[key] = (decided.group(1), decided.group(3)) if decided else None
    assert list(found) == list(keys), result.stdout
    return found


def test_dry_run_and_explain_predict_the_live_pass_exactly(world: World) -> None:
    _assert_dry_run_and_explain_predict_live(world)


@pytest.mark.postgres
def test_dry_run_predicts_the_live_pass_on_postgresql(pg_world: World) -> None:
    _assert_dry_run_and_explain_predict_live(pg_world, explain=False)  # explain: SQLite above


def _assert_dry_run_and_explain_predict_live(world: World, *, explain: bool = True) -> None:
    orders = _mixed_congestion(world)

    predicted, _ = once_json(world, "--dry-run")

    assert world.simulator.requests() == []
    assert {d["mode"] for d in predicted} == {"dry_run"}
    # explain runs the very same planner: the same rule and outcome for every order.
    explain_words = {
        "would_cancel": {"would be cancelled now", "would_cancel"},
        "skipped": {"skipped"},
        "held": {"held"},
    }
    if explain:
        undecided = ("vip-new", "stale", orders["fill"][5], *orders["akat"])
        explained = _explained(world, *(d["payment_key"] for d in predicted), *undecided)
        for decision in predicted:
            rule, outcome = explained[decision["payment_key"]] or ("-", "-")
            assert rule == decision["rule"], (decision, rule)
            assert outcome in explain_words[decision["outcome"]], (decision, outcome)
        for key in undecided:
            assert explained[key] is None, key

    live, _ = once_json(world)

    as_predicted = {
        (k, rule, reason, "would_cancel" if outcome == "cancelled" else outcome)
        for k, rule, reason, outcome in _decisions(live)
    }
    assert _decisions(predicted) == as_predicted
    # What that is: the out-of-stock order, and three newest unprotected received orders
    # for congestion (22 + 1 of load, less the one leaving, over capacity 20).
    fill = orders["fill"]
    assert _cancelled_keys(world) == sorted(["stock-old", "shadow-new", fill[0], fill[1]])
    assert {(k, rule, outcome) for k, rule, _r, outcome in _decisions(live)} == {
        ("stock-old", "out-of-stock", "cancelled"),
        ("vip-stock", "out-of-stock", "skipped"),
        ("stock-aged", "out-of-stock", "skipped"),
        ("shadow-new", "overloaded", "cancelled"),
        ("shadow-kept", "payment-check", "would_cancel"),
        (fill[0], "overloaded", "cancelled"),
        (fill[1], "overloaded", "cancelled"),
    }
    # Still 23 - 3 = 20 after it all ... but the closure is decided on 23, the same
    # number congestion's choice used: overloaded, so closed once.
    assert _closes(world) == [f"restaurants/status/close/{HALASKARGAZI}"]
    assert requests_to(world, "PUT", f"restaurants/status/close/{AKAT}") == []
    live_rows = {
        (row["payment_key"], row["rule"], row["outcome"])
        for row in world.ledger()
        if row["mode"] == "live"
    }
    assert live_rows == {
        (k, rule, outcome) for k, rule, _r, outcome in _decisions(live) if outcome != "would_cancel"
    }
    dry_rows = {
        (row["payment_key"], row["rule"], row["outcome"])
        for row in world.ledger()
        if row["mode"] == "dry_run"
    }
    assert ("shadow-new", "overloaded", "would_cancel") in dry_rows


def test_explain_runs_the_brakes_a_pass_runs(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    _with_ratio(world, 0.5)
    for n in range(3):
        world.add_order(f"failed-{n}", payment_status="failed")
    world.add_order("fine")

    assert _explained(world, "failed-0")["failed-0"] == ("payment-failed", "held")
    explained = world.cli("explain", "failed-0")
    assert "max_cancel_ratio" in explained.stdout

    decisions, _ = once_json(world)
    assert decision_for(decisions, "failed-0")["outcome"] == "held"

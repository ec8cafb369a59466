"""``autocancel replay`` and ``diff`` over the history a real ``autocancel run`` recorded.

Per backend (SQLite file, the real PostgreSQL), once for the module: a live
daemon against the simulator while a POS writes a scripted afternoon: a
failed payment at Akat, an order of a food out of stock, a restaurant
filling up past its capacity (closed, two orders cancelled), orders
delivered (reopened), then ``autocancel pause`` of the failed-payment rule
while two more failed payments come in at Akat (both skipped; one is
delivered meanwhile) and ``autocancel resume`` (the other is cancelled).
Then, reading only the store:

- replaying the rules file the daemon ran reproduces the ledger's live
  decisions (which orders, which rule and reason, which the pause skipped)
  and its closure;
- a lowered congestion threshold cancels more and closes sooner;
- the limits (hourly cap, ratio, age) hold in a replay as in a pass;
- ``diff`` of a file adding a rule and of one removing a rule.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.simulator.server import Simulator
from daemon.store import schema
from tests.test_daemon import Daemon, cancelled, eventually, fast, passes_from_now
from tests.test_pauses_daemon import pause, skipped_by_pause
from tests.world import AKAT, HALASKARGAZI, World, run_sql

RULES = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: overloaded
    kind: congestion
    max_active_orders: 3
    reopen_below: 2
    min_closed_minutes: 0
    reason_id: 3
"""
# What the daemon cancelled live: (payment_key, rule, reason_id).
LIVE = {
    ("akat-failed", "payment-failed", 7),
    ("no-chicken", "out-of-stock", 1),
    ("fourth", "overloaded", 3),
    ("fifth", "overloaded", 3),
    ("paused-failed", "payment-failed", 7),  # once the pause was resumed
}
# What the pause skipped live: the order cancelled after the resume, and one delivered before.
PAUSED = {"paused-failed", "paused-delivered"}


@dataclass
class Recorded:
    """A store whose history a live daemon recorded (see the module's docstring)."""

    world: World
    rules: str  # the rules file's text, as the daemon ran it

    def variant(self, name: str, *replacements: tuple[str, str]) -> Path:
        """A copy of the daemon's rules file with ``replacements`` made (each must apply)."""
        text = self.rules
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new)
        path = self.world.folder / name
        path.write_text(text)
        return path

    def replay(self, *args: str) -> dict[str, Any]:
        result = self.world.cli("replay", "--json", *args)
        assert result.returncode == 0, result.stderr
        # The report counts what the limits held; the live daemon's CRITICAL lines stay out.
        assert "CRITICAL" not in result.stderr and "holding" not in result.stderr, result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        return report


def _live_afternoon(world: World) -> None:
    fast(world, RULES)
    daemon = Daemon(world)
    try:
        eventually(passes_from_now(world, 1), what="the daemon's first pass")
        world.add_order("first")
        world.add_order("akat-failed", restaurant_id=AKAT, payment_status="failed")
        eventually(cancelled(world, "akat-failed"), what="the failed payment's cancellation")
        world.set_stock(2, available=False)
        world.add_order("no-chicken", items=[(2, 1)])
        eventually(cancelled(world, "no-chicken"), what="the out-of-stock cancellation")
        for key in ("second", "third"):
            world.add_order(key)
            eventually(passes_from_now(world, 2), what=f"two passes after {key}")
        world.add_order("fourth")  # four active orders, capacity three
        eventually(cancelled(world, "fourth"), what="congestion's cancellation")
        eventually(
            lambda: world.simulator.restaurant_status(HALASKARGAZI) == "Closed", what="the close"
        )
        world.add_order("fifth")
        eventually(cancelled(world, "fifth"), what="congestion's second cancellation")
        run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key IN ('first', 'second')")
        eventually(
            lambda: world.simulator.restaurant_status(HALASKARGAZI) == "Open", what="the reopen"
        )
        world.add_order("late")
        eventually(passes_from_now(world, 2), what="two passes after the late order")
        pause_id, _until = pause(
            world, "--rule", "payment-failed", "--for", "1h", "--comment", "kasa", "--by", "ayşe"
        )
        for key in sorted(PAUSED):
            world.add_order(key, restaurant_id=AKAT, payment_status="failed")
            eventually(partial(skipped_by_pause, world, key), what=f"{key} skipped")
        run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = 'paused-delivered'")
        eventually(passes_from_now(world, 2), what="two passes after the delivery")
        assert world.cli("resume", str(pause_id), "--by", "ayşe").returncode == 0
        eventually(cancelled(world, "paused-failed"), what="the cancel after the resume")
        eventually(passes_from_now(world, 2), what="two passes after the last cancel")
        assert daemon.stop() == 0, daemon.log()
    finally:
        daemon.kill()


def _pg_schema_url() -> Iterator[str]:
    base = os.environ.get("AUTOCANCEL_TEST_PG_URL")
    if not base:
        pytest.skip("AUTOCANCEL_TEST_PG_URL is not set: PostgreSQL tests need a server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Recorded]:
    folder = tmp_path_factory.mktemp(f"replay-{request.param}")
    urls = (
        iter([f"sqlite:///{folder / 'orders.db'}"])
        if request.param == "sqlite"
        else _pg_schema_url()
    )
    url = next(urls)
    with Simulator(cooldown_seconds=0.2) as simulator:
        world = World(folder=folder, store_url=url, simulator=simulator)
        _live_afternoon(world)
        yield Recorded(world=world, rules=world.rules_path.read_text())
        world.engine.dispose()
    for _rest in urls:  # drops the PostgreSQL schema
        pass


def _cancelled(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {
        (o["payment_key"], o["rule"], o["reason_id"])
        for o in report["orders"]
        if o["outcome"] == "cancelled"
    }


def test_replaying_the_rules_the_daemon_ran_reproduces_its_live_decisions(
    recorded: Recorded,
) -> None:
    world = recorded.world
    ledger = {
        (row["payment_key"], row["rule"], row["reason_id"])
        for row in world.ledger()
        if row["mode"] == "live" and row["outcome"] == "cancelled"
    }
    assert ledger == LIVE

    paused_live = {
        row["payment_key"]
        for row in world.ledger()
        if row["outcome"] == "skipped" and row["evidence"].get("skipped_because") == "paused"
    }
    assert paused_live == PAUSED

    report = recorded.replay()

    assert _cancelled(report) == ledger
    assert report["decisions"]["cancelled"] == 5
    assert report["decisions"]["revenue"] == "500.00"  # five orders of 100
    # The pause skipped the same orders, and the one still active when it was resumed went.
    outcomes = {o["payment_key"]: o for o in report["orders"]}
    assert {key for key, o in outcomes.items() if o["pause_id"] is not None} == PAUSED
    assert outcomes["paused-delivered"]["outcome"] == "skipped"
    assert outcomes["paused-delivered"]["because"] == "paused"
    (shown,) = report["pauses"]
    assert (shown["rule"], shown["by"], shown["orders_skipped"]) == ("payment-failed", "ayşe", 2)
    assert outcomes["paused-failed"]["at"] >= shown["to"]  # cancelled once it was resumed
    assert report["paused"] == {
        "orders": 1,
        "by_pause": {str(shown["id"]): 1},
        "then_cancelled": 1,
    }
    with world.engine.connect() as connection:
        closures = connection.execute(
            sa.select(schema.restaurant_closures.c.restaurant_id)
        ).scalars()
        assert list(closures) == [HALASKARGAZI]
    (closure,) = report["closures"]
    assert (closure["restaurant_id"], closure["rule"]) == (HALASKARGAZI, "overloaded")
    assert closure["reopened_at"] is not None and closure["minutes"] >= 0
    assert [food["food_id"] for food in report["foods_deactivated"]] == [2]
    by_rule = {row["rule"]: row["cancelled"] for row in report["by_rule"]}
    assert by_rule == {"out-of-stock": 1, "payment-failed": 2, "overloaded": 2}
    by_restaurant = {row["restaurant_id"]: row["cancelled"] for row in report["by_restaurant"]}
    assert by_restaurant == {HALASKARGAZI: 3, AKAT: 2}
    assert sum(row["cancelled"] for row in report["by_hour"]) == 5
    assert report["held"] == {"orders": 0, "by_limit": {}, "then_cancelled": 0}


def test_the_text_report_shows_rules_restaurants_hours_and_closures(recorded: Recorded) -> None:
    result = recorded.world.cli("replay")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "orders: 5 cancelled (revenue 500.00)" in out
    assert "held by pauses: 1 order(s)" in out and "1 paused, then cancelled" in out
    for heading in ("by rule and reason:", "by restaurant:", "by hour (Europe/Istanbul):"):
        assert heading in out
    assert "Halaskargazi Şube" in out and "overloaded" in out
    assert "closures:" in out


def test_a_lowered_congestion_threshold_cancels_more_and_closes_sooner(
    recorded: Recorded,
) -> None:
    lowered = recorded.variant(
        "lowered.yaml",
        ("max_active_orders: 3", "max_active_orders: 2"),
        ("reopen_below: 2", "reopen_below: 1"),
    )
    live = recorded.replay()
    report = recorded.replay("--rules", str(lowered))

    assert _cancelled(report) > _cancelled(live)
    assert ("third", "overloaded", 3) in _cancelled(report)
    (closure,) = report["closures"]
    (live_closure,) = live["closures"]
    # Times are reported to the second: a scripted afternoon may close both in the same one.
    assert closure["closed_at"] <= live_closure["closed_at"]


@pytest.mark.parametrize(
    ("setting", "value", "held", "skipped"),
    [
        # Two cancellations an hour: the congestion pair is held, and so is the failed
        # payment once its pause was resumed; the one delivered while paused stays skipped.
        (
            "max_cancellations_per_hour: 30",
            "max_cancellations_per_hour: 2",
            {"max_cancellations_per_hour": 3},
            {"paused": 1},
        ),
        # Every order was placed five minutes before it was written: all too old. Stale
        # orders are no load either, so congestion matches nothing.
        (
            "max_order_age_minutes: 180",
            "max_order_age_minutes: 1",
            {},
            {"max_order_age_minutes": 4},
        ),
        # At most a tenth of the orders it may act on, per pass: every cancellation held.
        (
            "never_cancel: []",
            "never_cancel: []\n  max_cancel_ratio: 0.1",
            {"max_cancel_ratio": 5},
            {"paused": 1},
        ),
    ],
)
def test_the_safety_limits_hold_in_a_replay(
    recorded: Recorded, setting: str, value: str, held: dict[str, int], skipped: dict[str, int]
) -> None:
    rules = recorded.variant("limited.yaml", (setting, value))
    report = recorded.replay("--rules", str(rules))
    assert report["held"]["by_limit"] == held
    assert report["skipped"] == skipped
    # The others: cancelled as live (the age limit protects congestion's orders from being
    # load, so they are neither cancelled nor skipped).
    cancelled = 0 if "max_order_age_minutes" in skipped else len(LIVE) - sum(held.values())
    assert report["decisions"]["cancelled"] == cancelled
    # What a brake holds takes its side effects with it: no closure, and a load
    # without stale orders closes nothing.
    assert report["closures"] == []


def _groups(report: dict[str, Any]) -> dict[str, set[str]]:
    return {
        name: {change["payment_key"] for change in group["changes"]}
        for name, group in report["replay"].items()
    }


def test_diff_of_a_file_that_adds_a_rule(recorded: Recorded) -> None:
    added = recorded.variant(
        "added.yaml",
        (
            "rules:\n",
            "rules:\n  - name: too-far\n    kind: max_distance\n    max_km: 0.1\n"
            "    reason_id: 6\n",
        ),
    )
    result = recorded.world.cli(
        "diff", str(recorded.world.rules_path), str(added), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    groups = _groups(report)
    # Every delivery is farther than 100 m: the new first rule decides every order, and
    # the pause of payment-failed does not hold it.
    assert groups["newly_cancelled"] == {"first", "second", "third", "late", "paused-delivered"}
    assert groups["different_rule_or_reason"] == {
        "akat-failed",
        "no-chicken",
        "fourth",
        "fifth",
        "paused-failed",
    }
    assert groups["no_longer_cancelled"] == set()
    assert report["replay"]["newly_cancelled"]["revenue"] == "500.00"
    change = next(
        c
        for c in report["replay"]["different_rule_or_reason"]["changes"]
        if c["payment_key"] == "fourth"
    )
    assert (change["old"]["rule"], change["new"]["rule"]) == ("overloaded", "too-far")

    markdown = recorded.world.cli(
        "diff", str(recorded.world.rules_path), str(added), "--format", "markdown"
    )
    assert markdown.returncode == 0, markdown.stderr
    assert "| newly cancelled | 5 | 500.00 |" in markdown.stdout
    assert "| no longer cancelled | 0 | 0.00 |" in markdown.stdout
    assert "| different rule or reason | 5 | 500.00 |" in markdown.stdout
    assert "| `fourth` | Halaskargazi Şube | overloaded (3 due to congestion) | too-far" in (
        markdown.stdout
    )


def test_diff_of_a_file_that_removes_a_rule(recorded: Recorded) -> None:
    removed = recorded.variant(
        "removed.yaml",
        ("  - name: payment-failed\n    kind: payment_failed\n    reason_id: 7\n", ""),
    )
    result = recorded.world.cli(
        "diff", str(recorded.world.rules_path), str(removed), "--format", "json", "--now"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert _groups(report) == {
        "newly_cancelled": set(),
        "no_longer_cancelled": {"akat-failed", "paused-failed"},
        "different_rule_or_reason": set(),
    }
    assert report["replay"]["no_longer_cancelled"]["revenue"] == "200.00"
    # On the store now, nothing is left that either file would cancel.
    assert all(group["orders"] == 0 for group in report["now"].values())

    table = recorded.world.cli("diff", str(recorded.world.rules_path), str(removed))
    assert table.returncode == 0, table.stderr
    assert "no longer cancelled: 2 order(s), revenue 200.00" in table.stdout
    assert "akat-failed" in table.stdout

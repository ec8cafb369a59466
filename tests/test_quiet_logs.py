"""Logs say each thing once, about what the operator asked, and nothing they cannot act on."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from daemon.store import schema
from daemon.store.rowcheck import BadDataReport
from tests.conftest import StartDaemon, run_cli
from tests.test_daemon import cancelled, eventually, fast
from tests.world import DEFAULT_RULES, HOME, World, run_sql

SHADOWED = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: stock-shadow
    kind: out_of_stock
    reason_id: 1
    dry_run: true
"""


def _passes(world: World) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.passes)
                .where(schema.passes.c.finished_at.is_not(None))
            ).scalar_one()
        )


def _bad_orders(world: World) -> None:
    """Two orders with bad data that have nothing to do with the one asked about."""
    world.add_order("unreadable-position")
    run_sql(world, "UPDATE orders SET latitude = 'abc' WHERE payment_key = 'unreadable-position'")
    world.add_order("swapped-position", coordinates=(HOME[1], HOME[0]))


def test_explain_and_cancel_log_no_bad_data_about_other_orders(world: World) -> None:
    world.configure(DEFAULT_RULES)
    _bad_orders(world)
    world.add_order("asked-about")

    explained = world.cli("explain", "asked-about")
    cancelled_by_hand = world.cli("cancel", "asked-about", "--reason", "4", "--yes")

    assert explained.returncode == 0, explained.stderr
    assert cancelled_by_hand.returncode == 0, cancelled_by_hand.stderr
    for result in (explained, cancelled_by_hand):
        assert "unreadable-position" not in result.stderr
        assert "swapped-position" not in result.stderr
        assert "bad data" not in result.stderr


def test_explain_still_logs_the_bad_data_of_the_order_asked_about(world: World) -> None:
    world.configure(DEFAULT_RULES)
    _bad_orders(world)

    result = world.cli("explain", "swapped-position")

    assert result.returncode == 0, result.stderr
    assert "bad data order=swapped-position" in result.stderr
    assert "unreadable-position" not in result.stderr


def test_run_logs_a_bad_row_and_a_shadow_match_once_not_every_pass(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, SHADOWED)
    world.set_stock(5, available=False)
    world.add_order("shadowed", items=[(5, 1)])
    world.add_order("bad-row")
    run_sql(world, "UPDATE orders SET latitude = 'abc' WHERE payment_key = 'bad-row'")
    daemon = start_daemon()
    eventually(lambda: _passes(world) >= 4, what="four passes")
    assert daemon.stop() == 0

    lines = daemon.log().splitlines()
    shadow = [line for line in lines if "decision order=shadowed rule=stock-shadow" in line]
    assert len(shadow) == 1, shadow
    assert "mode=dry_run outcome=would_cancel" in shadow[0]
    bad = [line for line in lines if "bad data order=bad-row" in line]
    assert len([line for line in bad if "latitude 'abc' is not a number" in line]) == 1
    assert len([line for line in bad if "only one of latitude and longitude" in line]) == 1


def test_a_pass_longer_than_the_interval_leaks_no_scheduler_warning(
    world: World, start_daemon: StartDaemon
) -> None:
    world.configure()
    text = world.rules_path.read_text().replace(
        "dry_run: false", "dry_run: false\nschedule:\n  interval_seconds: 0.2"
    )
    world.rules_path.write_text(text)
    world.add_order("slow-to-cancel", payment_status="failed")
    # The cancel call takes 2 s: ten intervals come due while the pass runs.
    world.simulator.inject_fault("hang", seconds=2, path_prefix="orders/cancel/slow-to-cancel")
    daemon = start_daemon()
    eventually(cancelled(world, "slow-to-cancel"), what="the slow cancel request")
    eventually(
        lambda: any(r["outcome"] == "cancelled" for r in world.ledger()),
        what="the slow cancellation's outcome",
    )
    after = _passes(world)
    eventually(lambda: _passes(world) > after, what="a pass after the slow one")
    assert daemon.stop() == 0

    log = daemon.log()
    assert "maximum number of running instances" not in log
    assert "apscheduler" not in log


def test_verbose_works_before_and_after_the_command_name(world: World) -> None:
    world.configure()

    def once(*args: str) -> subprocess.CompletedProcess[str]:
        world.add_order(f"cancel-me-{len(world.cancel_calls())}", payment_status="failed")
        return run_cli(*args, env=world.env)

    rules = str(world.rules_path)
    after = once("once", "-c", rules, "-v")
    before = once("-v", "once", "-c", rules)
    quiet = once("once", "-c", rules)

    for result in (after, before, quiet):
        assert result.returncode == 0, result.stderr
    assert "DEBUG" in after.stderr  # the API client's request lines
    assert "DEBUG" in before.stderr
    assert "DEBUG" not in quiet.stderr


def test_a_bad_row_is_logged_again_after_the_repeat_period_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    report = BadDataReport(clock=lambda: now[0])
    report.repeat_every(timedelta(days=1))
    with caplog.at_level("WARNING", logger="daemon.store.rowcheck"):
        report.problem("k", "latitude 'abc' is not a number")
        now[0] += 3600
        report.problem("k", "latitude 'abc' is not a number")
        now[0] += 86_400
        report.problem("k", "latitude 'abc' is not a number")
    assert len(caplog.records) == 2

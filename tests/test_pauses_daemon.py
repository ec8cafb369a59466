"""Pauses and running daemons: taken up at once, ended by the clock alone, shared by replicas.

Real ``autocancel run`` processes with a long pass interval, so whatever
happens quickly was woken by the store (the pause's write, its end), not by
the schedule. Real short pauses, waited for by condition, never by sleeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from daemon.domain.timeutil import parse_timestamp
from tests.conftest import StartDaemon
from tests.test_daemon import Daemon, cancelled, eventually, fast
from tests.test_metrics import Scraper, _free_port
from tests.world import PAYMENT_FAILED, World, ledger_rows

PAUSES_ACTIVE = "autocancel_pauses_active"


def pause(world: World, *args: str) -> tuple[int, datetime]:
    """``autocancel pause ARGS``: the pause's id and its end."""
    result = world.cli("pause", *args)
    assert result.returncode == 0, result.stderr
    found = re.search(r"\((\S+Z), in .*\): pause (\d+), by ", result.stdout)
    assert found, result.stdout
    return int(found[2]), parse_timestamp(found[1])


def skipped_by_pause(world: World, key: str) -> dict[str, Any] | None:
    """The order's live ``skipped`` row with a pause's evidence, once there is one."""
    return next(
        (
            row
            for row in ledger_rows(world, key)
            if row["outcome"] == "skipped" and row["evidence"].get("skipped_because") == "paused"
        ),
        None,
    )


def logged(daemon: Daemon, text: str) -> Callable[[], bool]:
    return lambda: text in daemon.log()


def test_a_daemon_obeys_a_pause_at_once_and_goes_on_the_moment_it_expires(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, PAYMENT_FAILED, interval=120)  # every pass after the first is woken
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    daemon = start_daemon()
    scraper = Scraper(port)
    eventually(lambda: world.finished_passes() >= 1, what="the first pass")
    eventually(scraper.up, what="the metrics endpoint")

    pause_id, until = pause(
        world, "--rule", "payment-failed", "--for", "8s", "--comment", "deneme", "--by", "ayse"
    )
    world.add_order("failed", payment_status="failed")

    row = eventually(lambda: skipped_by_pause(world, "failed"), what="the order skipped")
    assert row is not None
    assert (row["evidence"]["pause_id"], row["evidence"]["paused_by"]) == (pause_id, "ayse")
    assert world.cancel_calls() == []
    assert eventually(lambda: scraper.samples().get(PAUSES_ACTIVE) == 1, what="the gauge at 1")
    assert "paused: rule payment-failed at every restaurant" in daemon.log()

    # Nothing is run, nothing changes in the store: the pause's end alone lets it go.
    eventually(cancelled(world, "failed"), within=30, what="the cancel after the pause ended")
    sent = next(r for r in world.simulator.requests("PUT") if r.path == "orders/cancel/failed")
    assert sent.timestamp >= until
    assert eventually(lambda: scraper.samples().get(PAUSES_ACTIVE) == 0, what="the gauge at 0")
    assert f"pause {pause_id} expired" in daemon.log()
    listed = world.cli("pauses", "--all", "--json")
    (shown,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (shown["state"], shown["ended_at"]) == ("expired", shown["until"])
    audit = world.cli("audit").stdout
    assert re.search(rf"expired\s+{pause_id}\s+rule payment-failed", audit), audit
    assert "(the clock)" in audit
    assert daemon.stop() == 0


def test_a_resume_takes_effect_at_once_in_a_running_daemon(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, PAYMENT_FAILED, interval=120)
    daemon = start_daemon()
    eventually(lambda: world.finished_passes() >= 1, what="the first pass")
    pause_id, _until = pause(world, "--for", "1h", "--comment", "her şey dursun")
    world.add_order("failed", payment_status="failed")
    eventually(lambda: skipped_by_pause(world, "failed"), what="the order skipped")

    resumed = world.cli("resume", str(pause_id), "--by", "mehmet")

    assert resumed.returncode == 0, resumed.stderr
    eventually(cancelled(world, "failed"), what="the cancel after the resume")
    assert f"pause {pause_id} was resumed" in daemon.log()
    assert daemon.stop() == 0


@pytest.fixture
def pg_daemons(pg_world: World) -> Iterator[list[Daemon]]:
    """Two ``autocancel run`` replicas on the one PostgreSQL store, killed after the test."""
    fast(pg_world, PAYMENT_FAILED, interval=120)
    started = [Daemon(pg_world, log_name=f"replica-{n}.log") for n in (1, 2)]
    yield started
    for daemon in started:
        daemon.kill()


def test_every_replica_on_postgresql_honours_a_pause(
    pg_world: World, pg_daemons: list[Daemon]
) -> None:
    eventually(lambda: pg_world.finished_passes() >= 2, what="both replicas' first passes")
    pause_id, _until = pause(
        pg_world, "--restaurant", "Halaskargazi Şube", "--for", "30m", "--comment", "kasa arızası"
    )
    for replica in pg_daemons:  # each read the pause from the store, woken by its NOTIFY
        eventually(logged(replica, "paused: every rule at Halaskargazi"), what="the pause seen")
    pg_world.add_order("failed", payment_status="failed")
    eventually(lambda: skipped_by_pause(pg_world, "failed"), what="the order skipped")

    beside = pg_world.once()  # a third process on the store, judging for itself

    assert [(d["payment_key"], d["outcome"]) for d in beside] == [("failed", "skipped")]
    assert beside[0]["evidence"]["pause_id"] == pause_id
    assert pg_world.cancel_calls() == []

    assert pg_world.cli("resume", "--by", "mehmet").returncode == 0
    eventually(cancelled(pg_world, "failed"), what="one replica's cancel after the resume")
    eventually(
        lambda: all(f"pause {pause_id} was resumed" in r.log() for r in pg_daemons),
        what="both replicas seeing the resume",
    )
    assert pg_world.cancel_calls() == [("failed", {"reason_id": 7})]  # once, by one of them
    for replica in pg_daemons:
        assert replica.stop() == 0

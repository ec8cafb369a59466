"""The daemon stays up through API and store trouble, and acts only on what it can read."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.store import connect
from tests.test_daemon import Daemon, cancelled, eventually, fast, passes_from_now
from tests.world import PAYMENT_FAILED, World

PAYMENT_ONLY = PAYMENT_FAILED


@pytest.fixture
def daemon_for() -> Iterator[Callable[[World], Daemon]]:
    started: list[Daemon] = []

    def start(target: World) -> Daemon:
        daemon = Daemon(target)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def test_an_api_outage_opens_the_circuit_instead_of_a_flood_then_recovers(
    world: World, daemon_for: Callable[[World], Daemon]
) -> None:
    fast(world, PAYMENT_ONLY)
    text = world.rules_path.read_text().replace("max_attempts: 3", "max_attempts: 1")
    world.rules_path.write_text(text)
    for n in range(6):
        world.add_order(f"outage-{n}", payment_status="failed")
    world.simulator.inject_fault("status", status=503, count=1000, path_prefix="orders/cancel/")
    daemon = daemon_for(world)
    eventually(lambda: "pausing calls" in daemon.log(), what="the circuit opening")
    eventually(passes_from_now(world, 3), what="three more passes while the circuit is open")
    sent_while_open = len(world.simulator.requests("PUT", "orders/cancel/"))
    eventually(passes_from_now(world, 2), what="two passes more")
    assert len(world.simulator.requests("PUT", "orders/cancel/")) == sent_while_open
    assert daemon.log().count("pausing calls") == 1
    for row in world.ledger():
        # A 503 may have cancelled: counted as sent, kept for a re-checked resend.
        # An order the open circuit kept back surely was not sent: released.
        assert (row["outcome"], row["intent_key"] is not None, row["uncertain_sends"] > 0) in (
            ("pending", True, True),
            ("failed", False, False),
        ), row
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


def test_connection_refused_is_retried_on_a_later_pass(world: World) -> None:
    world.configure(PAYMENT_ONLY, max_attempts=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    world.add_order("refused", payment_status="failed")
    good = world.rules_path.read_text()
    world.rules_path.write_text(
        good.replace(world.simulator.url, f"http://127.0.0.1:{closed_port}/api/integrations")
    )

    first = world.once()
    assert [(d["payment_key"], d["outcome"]) for d in first] == [("refused", "failed")]
    assert "refused" in first[0]["last_error"].lower() or "connect" in first[0]["last_error"]

    world.rules_path.write_text(good)  # the API is reachable again
    second = world.once()
    assert [(d["payment_key"], d["outcome"]) for d in second] == [("refused", "cancelled")]
    assert world.cancel_calls() == [("refused", {"reason_id": 7})]


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its /proc/PID/fd links)."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # a descriptor closed while we looked
        return False


def test_a_briefly_locked_sqlite_store_only_delays_the_pass(world: World) -> None:
    world.configure(PAYMENT_ONLY)
    world.add_order("locked", payment_status="failed")
    store_file = Path(world.store_url.removeprefix("sqlite:///"))

    with connect.writer(world.engine) as conn, conn.begin():  # BEGIN IMMEDIATE: the write lock
        once = world.start_cli("once", "--json")
        eventually(lambda: _has_open(once.pid, store_file), what="`once` opening the store")
        # A brief lock (well inside SQLite's busy timeout): its length is the
        # scenario, not a wait; the pass's first write needs the lock.
        time.sleep(1.5)
        assert world.cancel_calls() == []
        released = datetime.now(UTC)
    out, err = once.communicate(timeout=30)

    assert once.returncode == 0, err
    decisions = [json.loads(line) for line in out.splitlines()]
    assert [(d["payment_key"], d["outcome"]) for d in decisions] == [("locked", "cancelled")]
    assert world.cancel_calls() == [("locked", {"reason_id": 7})]
    # The pass started while the store was locked, so it did wait for the lock.
    [row] = world.passes()
    assert row["started_at"] < released


@pytest.mark.postgres
def test_postgresql_restarting_under_the_daemon_is_survived(
    pg_world: World, daemon_for: Callable[[World], Daemon]
) -> None:
    fast(pg_world, PAYMENT_ONLY)
    daemon = daemon_for(pg_world)
    pg_world.add_order("before", payment_status="failed")
    eventually(cancelled(pg_world, "before"), what="a first cancel")
    # Every other connection to the database dies, as in a server restart.
    with pg_world.engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    pg_world.engine.dispose()
    pg_world.add_order("after", payment_status="failed")
    eventually(cancelled(pg_world, "after"), what="a cancel after the restart")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0

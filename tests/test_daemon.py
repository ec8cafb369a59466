"""``autocancel run`` as a real process: schedule, reload, signals, watchdog, metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from daemon.simulator.defaults import AKAT
from tests.conftest import (
    SimulatorFactory,
    StartDaemon,
    autocancel_executable,
    run_cli,
    without_test_extras,
)
from tests.world import PAYMENT_FAILED, World

PAYMENT_ONLY = PAYMENT_FAILED
T = TypeVar("T")
WITH_STOCK = (
    PAYMENT_ONLY
    + """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""
)


class Daemon:
    """A running ``autocancel run`` whose stderr is collected in a file."""

    def __init__(
        self,
        world: World,
        *extra: str,
        env: dict[str, str] | None = None,
        log_name: str = "daemon.log",
    ) -> None:
        self.log_path = world.folder / log_name
        self._log = self.log_path.open("w")
        self._terminating = False
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DUKKANGO_", "AUTOCANCEL_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))
        }
        full_env.update(world.env)
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [*autocancel_executable(), "run", "-c", str(world.rules_path), *extra],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=without_test_extras(full_env),
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)
        if signum == signal.SIGTERM:
            self._terminating = True

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (once: a second one while it shuts down would kill it) and the exit code."""
        if self.process.poll() is None and not self._terminating:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def eventually(check: Callable[[], T], *, within: float = 15, what: str = "") -> T:
    """Wait for ``check()`` to be true, and return what it returned; fail after ``within`` s.

    The one way tests wait: for a condition (a pass recorded, a request held by
    the simulator, a ledger row), never for a fixed time.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.05)


def cancelled(world: World, key: str) -> Callable[[], bool]:
    return lambda: any(k == key for k, _body in world.cancel_calls())


def passes_from_now(world: World, count: int) -> Callable[[], bool]:
    """True once ``count`` passes that start after this call have finished.

    Lets time pass in the daemon's own unit: "two more passes, and nothing was
    sent twice" holds only after two passes really ran, however slow the machine.
    """
    mark = datetime.now(UTC)
    return lambda: world.finished_passes(started_after=mark) >= count


def fast(
    world: World,
    rules: str = PAYMENT_ONLY,
    *,
    interval: float = 1,
    full_pass: float | None = None,
    **options: Any,
) -> None:
    """World.configure(rules, **options), with a pass every ``interval`` seconds.

    ``full_pass``: ``schedule.full_pass_seconds`` (the default, 300, if None).
    """
    world.configure(rules, **options)
    schedule = f"schedule:\n  interval_seconds: {interval}"
    if full_pass is not None:
        schedule += f"\n  full_pass_seconds: {full_pass}"
    text = world.rules_path.read_text().replace("dry_run: false", f"dry_run: false\n{schedule}")
    world.rules_path.write_text(text)


def test_run_cancels_a_new_matching_order_and_stops_cleanly_on_sigterm(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world)
    daemon = start_daemon()
    world.add_order("late-arrival", payment_status="failed")
    eventually(cancelled(world, "late-arrival"), what="the new order's cancel request")
    world.add_order("survivor", payment_status="ok")

    assert daemon.stop() == 0
    assert [k for k, _ in world.cancel_calls()] == ["late-arrival"]
    (row,) = world.ledger()
    assert (row["payment_key"], row["outcome"], row["reason_id"]) == (
        "late-arrival",
        "cancelled",
        7,
    )
    assert world.status_of("late-arrival") == 6
    assert "stopped" in daemon.log()


def test_sighup_with_an_invalid_file_keeps_the_last_good_rules(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world)
    daemon = start_daemon()
    eventually(lambda: "running" in daemon.log(), what="start-up")
    good = world.rules_path.read_text()
    world.rules_path.write_text(
        good + "  - name: broken\n    kind: no_such_kind\n    reason_id: 9\n"
    )
    daemon.signal(signal.SIGHUP)
    eventually(lambda: "reload rejected" in daemon.log(), what="the rejected reload")
    log = daemon.log()
    assert "unknown kind 'no_such_kind'" in log
    assert "reason_id must be an integer from 1 to 8 (got 9)" in log

    world.add_order("still-cancelled", payment_status="failed")
    eventually(cancelled(world, "still-cancelled"), what="a cancel under the old rules")
    assert daemon.stop() == 0


def test_a_valid_change_on_disk_takes_effect_without_a_restart(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world)
    world.set_stock(2, available=False)
    daemon = start_daemon()
    world.add_order("out-of-stock", items=[(2, 1)])
    eventually(passes_from_now(world, 2), what="two passes that saw the order")
    assert world.cancel_calls() == []  # the payment rule alone does not match it

    fast(world, WITH_STOCK)  # a changed mtime, no signal
    eventually(cancelled(world, "out-of-stock"), what="the new rule acting")
    assert "rule added: out-of-stock" in daemon.log()
    assert world.cancel_calls() == [("out-of-stock", {"reason_id": 1})]
    assert daemon.stop() == 0


def test_a_failing_pass_does_not_stop_the_schedule(world: World, start_daemon: StartDaemon) -> None:
    fast(world)
    daemon = start_daemon()
    eventually(lambda: "running" in daemon.log(), what="start-up")
    with world.engine.begin() as conn:  # the store "goes away" for a moment
        conn.execute(sa.text("ALTER TABLE orders RENAME TO orders_away"))
    eventually(lambda: "pass failed" in daemon.log(), what="a failed pass")
    with world.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders_away RENAME TO orders"))
    world.add_order("after-outage", payment_status="failed")
    eventually(cancelled(world, "after-outage"), what="a cancel after the outage")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


def test_dry_run_daemon_sends_nothing(world: World, start_daemon: StartDaemon) -> None:
    fast(world)
    world.add_order("would-go", payment_status="failed")
    daemon = start_daemon("--dry-run", env={"DUKKANGO_ACCESS_TOKEN": ""})
    eventually(
        lambda: any(r["outcome"] == "would_cancel" for r in world.ledger()),
        what="a dry-run decision",
    )
    assert daemon.stop() == 0
    assert world.simulator.requests() == []
    assert world.status_of("would-go") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_and_status_after_a_pass(world: World, start_daemon: StartDaemon) -> None:
    fast(world)
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    daemon = start_daemon()
    world.add_order("counted", payment_status="failed")
    eventually(cancelled(world, "counted"), what="the cancel")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    eventually(lambda: 'outcome="cancelled"' in scrape(), what="the counter")
    metrics = scrape()
    assert (
        'autocancel_decisions_total{mode="live",outcome="cancelled",reason_id="7",'
        'rule="payment-failed"} 1.0'
    ) in metrics
    assert "autocancel_pass_duration_seconds_count" in metrics
    assert "autocancel_last_successful_pass_timestamp_seconds" in metrics

    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    assert "last pass:" in status.stdout and "result ok" in status.stdout
    assert "safety budget: 29 of 30" in status.stdout
    assert daemon.stop() == 0


def test_systemd_notifications_ready_and_watchdog(
    world: World, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    fast(world)
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(15)
        daemon = start_daemon(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        messages: list[str] = []
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        assert daemon.stop() == 0
        assert "STOPPING=1" in listener.recv(4096).decode()


def test_run_refuses_live_mode_without_credentials(world: World) -> None:
    result = run_cli("run", "-c", str(world.rules_path), timeout=30)
    assert result.returncode == 1
    assert "DUKKANGO_ACCESS_TOKEN" in result.stderr


def slow(world: World, rules: str = PAYMENT_ONLY) -> None:
    """The default 15 s interval: only the change signal can explain a quick reaction."""
    world.configure(rules)


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_a_new_order_is_acted_on_long_before_the_interval(
    store_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    simulator_factory: SimulatorFactory,
) -> None:
    target: World = request.getfixturevalue("world" if store_kind == "sqlite" else "pg_world")
    slow(target)
    daemon = Daemon(target, log_name=f"{store_kind}.log")
    try:
        # The first pass is done; the next interval pass is 15 s away.
        eventually(lambda: target.finished_passes() >= 1, what="the first pass")
        target.add_order("noticed", payment_status="failed")
        eventually(cancelled(target, "noticed"), within=5, what="a prompt reaction")
        target.add_order("noticed-too", payment_status="failed")
        eventually(cancelled(target, "noticed-too"), within=5, what="a second prompt reaction")
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def _scope(row: dict[str, Any]) -> str:
    return str((row["summary"] or {}).get("scope", {}).get("scope"))


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_a_new_order_is_judged_by_a_pass_over_its_restaurant_only(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    target: World = request.getfixturevalue("world" if store_kind == "sqlite" else "pg_world")
    slow(target)
    with target.rules_path.open("a", encoding="utf-8") as rules:
        rules.write("schedule:\n  full_pass_seconds: 3600\n")
    for n in range(5):
        target.add_order(f"akat-{n}", restaurant_id=AKAT)
    daemon = Daemon(target, log_name=f"{store_kind}.log")
    try:
        eventually(lambda: target.finished_passes() >= 1, what="the first pass")
        target.add_order("noticed", payment_status="failed")
        eventually(cancelled(target, "noticed"), within=5, what="a prompt reaction")

        (decided,) = [row for row in target.ledger() if row["payment_key"] == "noticed"]

        def pass_of(pass_id: str) -> dict[str, Any]:
            """The pass's row once it finished (an empty dict before)."""
            found = [row for row in target.passes() if row["id"] == pass_id]
            return found[0] if found and found[0]["finished_at"] is not None else {}

        judging = eventually(lambda: pass_of(decided["pass_id"]), what="the pass to finish")
        first = target.passes()[0]
        assert _scope(first) == "full" and first["orders_seen"] == 5
        assert judging["summary"]["scope"] == {
            "scope": "incremental",
            "restaurants": 1,
            "changes": 2,
        }
        assert judging["orders_seen"] == 1  # Akat's five orders were not read again
        status = run_cli("status", "--json", "-c", str(target.rules_path), env=target.env)
        last = json.loads(status.stdout)["last_pass"]
        assert last["scope"]["scope"] in ("incremental", "full")
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_full_pass_comes_when_due_between_incremental_ones(world: World) -> None:
    world.configure(PAYMENT_ONLY)
    with world.rules_path.open("a", encoding="utf-8") as rules:
        rules.write("schedule:\n  interval_seconds: 0.2\n  full_pass_seconds: 1\n")
    daemon = Daemon(world)
    try:

        def kinds() -> list[str]:
            return [_scope(row) for row in world.passes() if row["finished_at"] is not None]

        # full, then incremental passes, then a full one again once a second has gone by.
        eventually(
            lambda: "full" in kinds()[1:] and "incremental" in kinds(),
            within=10,
            what="a second full pass after incremental ones",
        )
        assert kinds()[0] == "full"
        assert daemon.stop() == 0
    finally:
        daemon.kill()

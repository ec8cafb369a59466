"""The systemd watchdog: a heartbeat while passes make progress, none once they stall.

systemd restarts the daemon when ``WATCHDOG=1`` stops arriving. The stall
bounds are long (a pass may legitimately wait out every attempt's timeout and
a 429's 30 s), so they are checked on the judge itself with a hand-driven
clock; the processes show what the notification socket receives around a
pass that is slow or failing.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.config.load import load_config
from daemon.config.models import Config
from daemon.service.watchdog import PassProgress, longest_pass_seconds
from tests.test_daemon import Daemon, cancelled, eventually, fast
from tests.world import World

# --- the judge, on a clock the test moves --------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _config(tmp_path: Path, *, pass_deadline_seconds: float) -> Config:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "store:\n  url: sqlite:///orders.db\n"
        "api:\n  timeout_seconds: 2\n  max_attempts: 3\n"
        f"  pass_deadline_seconds: {pass_deadline_seconds}\n"
        "schedule:\n  interval_seconds: 15\n"
        "restaurants:\n  - id: r-1\n"
        "rules:\n  - name: payment-failed\n    kind: payment_failed\n    reason_id: 7\n",
        encoding="utf-8",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # A short pass deadline: the bound is one call's every attempt (156 s below).
    return _config(tmp_path, pass_deadline_seconds=20)


def test_the_longest_pass_allows_every_attempt_a_timeout_and_a_429_wait(config: Config) -> None:
    # 3 attempts x (2 s timeout + 30 s rate-limit wait), and a minute for store and geocoder.
    assert longest_pass_seconds(config) == 3 * (2 + 30) + 60


def test_a_pass_may_send_until_its_deadline_without_losing_the_heartbeat(tmp_path: Path) -> None:
    """A pass of many orders sends until api.pass_deadline_seconds (up to an hour).

    Its last attempt may start just before the deadline and take its timeout;
    systemd must not restart a daemon that is doing exactly what it was told.
    """
    config = _config(tmp_path, pass_deadline_seconds=600)
    assert longest_pass_seconds(config) == 600 + 2 + 60
    clock = Clock()
    progress = PassProgress(clock)
    progress.pass_started()

    clock.advance(600 + 2 + 60)  # sending to the deadline, the last answer, the store
    assert progress.stall(config) is None
    clock.advance(1)
    assert progress.stall(config) is not None


def test_a_pass_running_past_the_longest_pass_withholds_the_heartbeat_until_it_ends(
    config: Config,
) -> None:
    clock = Clock()
    progress = PassProgress(clock)
    progress.pass_started()

    clock.advance(156)  # as long as a pass can legitimately run
    assert progress.stall(config) is None
    clock.advance(1)
    assert progress.stall(config) == (
        "a pass has been running for 157 s; withholding the watchdog heartbeat "
        "so systemd restarts the daemon"
    )

    assert progress.pass_finished() == 157
    assert progress.stall(config) is None  # it ended: the heartbeat resumes


def test_no_pass_for_three_intervals_and_the_longest_pass_withholds_the_heartbeat(
    config: Config,
) -> None:
    clock = Clock()
    progress = PassProgress(clock)
    progress.pass_started()
    clock.advance(5)
    progress.pass_finished()

    clock.advance(3 * 15 + 156)
    assert progress.stall(config) is None
    clock.advance(1)
    assert progress.stall(config) == "no pass for 202 s; withholding the watchdog heartbeat"

    progress.pass_started()  # the schedule runs again
    assert progress.stall(config) is None


def test_short_passes_one_after_another_never_withhold_the_heartbeat(config: Config) -> None:
    clock = Clock()
    progress = PassProgress(clock)
    for _ in range(100):
        progress.pass_started()
        assert not progress.stall(config)
        clock.advance(10)
        assert progress.pass_finished() == 10
        clock.advance(15)
        assert progress.stall(config) is None


# --- the daemon, on a notification socket the test owns ------------------------------------

# WATCHDOG_USEC as systemd sets it; the daemon beats at half of it, every 0.2 s.
WATCHDOG_USEC = "400000"


class NotifySocket:
    """The NOTIFY_SOCKET systemd would listen on: each datagram, with when it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.setblocking(False)
        self._received: list[tuple[float, str]] = []

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": WATCHDOG_USEC}

    def messages(self) -> list[str]:
        self._drain()
        return [message for _at, message in self._received]

    def heartbeats_since(self, moment: float) -> int:
        self._drain()
        return sum(1 for at, message in self._received if at > moment and message == "WATCHDOG=1")

    def _drain(self) -> None:
        while True:
            try:
                data = self._socket.recv(4096)
            except BlockingIOError:
                return
            self._received.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_the_heartbeat_goes_on_while_a_pass_waits_for_a_slow_api_answer(
    world: World, start_daemon: Callable[..., Daemon], notify_socket: NotifySocket
) -> None:
    fast(world, timeout=10, max_attempts=1)
    world.add_order("slow-answer", payment_status="failed")
    world.simulator.inject_fault("hang", seconds=4, path_prefix="orders/cancel/")
    daemon = start_daemon(env=notify_socket.env())

    eventually(world.simulator.in_flight, what="the cancel request held by the simulator")
    held_since = time.monotonic()
    eventually(
        lambda: notify_socket.heartbeats_since(held_since) >= 3,
        within=3,
        what="heartbeats while the pass waits",
    )
    assert world.simulator.in_flight() == 1  # all of them while the call was still held

    eventually(lambda: world.status_of("slow-answer") == 6, what="the answer recorded")
    answered = time.monotonic()
    eventually(
        lambda: notify_socket.heartbeats_since(answered) >= 2, what="heartbeats after the pass"
    )
    assert daemon.stop() == 0
    messages = notify_socket.messages()
    assert [m for m in messages if m.startswith("READY=1")] == ["READY=1\nSTATUS=running (live)"]
    assert "STOPPING=1" in messages
    assert "withholding the watchdog heartbeat" not in daemon.log()


def test_failing_passes_are_progress_the_heartbeat_goes_on_while_the_store_is_away(
    world: World, start_daemon: Callable[..., Daemon], notify_socket: NotifySocket
) -> None:
    fast(world, interval=0.5)
    daemon = start_daemon(env=notify_socket.env())
    eventually(lambda: world.finished_passes() >= 1, what="a first pass")
    with world.engine.begin() as conn:  # the store "goes away"
        conn.execute(sa.text("ALTER TABLE orders RENAME TO orders_away"))
    eventually(lambda: daemon.log().count("pass failed") >= 2, what="two failed passes")
    failing_since = time.monotonic()
    eventually(
        lambda: (
            daemon.log().count("pass failed") >= 4
            and notify_socket.heartbeats_since(failing_since) >= 3
        ),
        what="heartbeats while passes keep failing",
    )
    with world.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders_away RENAME TO orders"))
    world.add_order("after-the-outage", payment_status="failed")
    eventually(cancelled(world, "after-the-outage"), what="a cancel once the store is back")
    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0
    assert "withholding the watchdog heartbeat" not in daemon.log()

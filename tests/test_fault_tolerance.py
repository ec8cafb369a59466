"""The daemon stays up through API and store trouble, and acts only on what it can read."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.config.load import load_config
from daemon.dukkango.executor import CircuitBreaker
from daemon.engine.passes import PassRunner
from daemon.service.runtime import ApiSession
from daemon.store import connect
from tests.conftest import SimulatorFactory, database_of_its_own
from tests.test_daemon import Daemon, cancelled, eventually, fast
from tests.world import PAYMENT_FAILED, World, cancel_requests_for

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


OUTAGE_KEYS = [f"outage-{n}" for n in range(6)]
OPENED = "the Dükkango API failed 5 calls in a row; pausing calls for 60 s"
CLOSED = "the Dükkango API answers again; resuming calls"


def _an_outage(world: World, *, interval_seconds: float | None = None) -> None:
    """Six failed payments, and a cancel endpoint that answers 503 to everything.

    One attempt per pass and one call at a time: the five calls that open the
    circuit are the first five sent, and the sixth is the one it keeps back.
    """
    world.configure(PAYMENT_ONLY, max_attempts=1, api_extra={"concurrency": 1})
    if interval_seconds is not None:
        text = world.rules_path.read_text()
        world.rules_path.write_text(
            text.replace(
                "dry_run: false",
                f"dry_run: false\nschedule:\n  interval_seconds: {interval_seconds}",
            )
        )
    for key in OUTAGE_KEYS:
        world.add_order(key, payment_status="failed")
    world.simulator.inject_fault("status", status=503, count=1000, path_prefix="orders/cancel/")


def _ledger_states(world: World) -> Counter[tuple[str, bool, int]]:
    return Counter(
        (row["outcome"], row["intent_key"] is not None, row["uncertain_sends"])
        for row in world.ledger()
    )


# A 503 may have cancelled: counted as sent, kept pending for a re-checked resend.
# The order the open circuit kept back surely was not sent: released, decided afresh.
AFTER_THE_OUTAGE = Counter({("pending", True, 1): 5, ("failed", False, 0): 1})


def test_an_api_outage_opens_the_circuit_instead_of_a_flood(
    world: World, daemon_for: Callable[..., Daemon]
) -> None:
    _an_outage(world, interval_seconds=1)
    daemon = daemon_for(world)
    eventually(lambda: "pausing calls" in daemon.log(), what="the circuit opening")
    eventually(lambda: world.finished_passes() >= 1, what="the pass that opened it ending")
    passes_when_opened = world.finished_passes()
    sent_when_opened = len(world.cancel_calls())

    eventually(
        lambda: world.finished_passes() >= passes_when_opened + 3,
        what="three more passes while the circuit is open",
    )

    assert sent_when_opened == 5
    assert len(world.cancel_calls()) == 5  # no call while the circuit is open
    assert daemon.log().count("pausing calls") == 1
    assert _ledger_states(world) == AFTER_THE_OUTAGE
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


class FakeClock:
    """A monotonic clock the test moves on: the circuit's minute passes at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_closes_when_the_api_answers_again_and_the_held_orders_are_cancelled(
    world: World, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    _an_outage(world)
    config = load_config(world.rules_path, environ={})
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    session = ApiSession(config, environ=world.env, breaker=breaker)
    request.addfinalizer(session.close)
    runner = PassRunner(
        config=config,
        engine=world.engine,
        executor_factory=session.executor,
        breaker=breaker,
    )
    caplog.set_level(logging.WARNING, logger="daemon.dukkango.executor")

    runner.run_once()  # five 503s open the circuit; the sixth cancel is kept back
    [kept_back] = [key for key in OUTAGE_KEYS if not cancel_requests_for(world, key)]
    assert _ledger_states(world) == AFTER_THE_OUTAGE
    assert _status(world)["api"]["circuit"] == "open"
    assert _circuit_lines(caplog) == [OPENED]

    world.simulator.clear_faults()  # the API is back, but the circuit's minute is not over
    clock.now += 59
    runner.run_once()
    assert len(world.cancel_calls()) == 5

    clock.now += 1
    runner.run_once()

    assert _circuit_lines(caplog) == [OPENED, CLOSED]
    assert {key: [r.status for r in cancel_requests_for(world, key)] for key in OUTAGE_KEYS} == {
        key: [200] if key == kept_back else [503, 200] for key in OUTAGE_KEYS
    }
    assert {key: world.status_of(key) for key in OUTAGE_KEYS} == dict.fromkeys(OUTAGE_KEYS, 6)
    live = [row for row in world.ledger() if row["mode"] == "live"]
    assert Counter((row["payment_key"], row["outcome"]) for row in live) == Counter(
        [*((key, "cancelled") for key in OUTAGE_KEYS), (kept_back, "failed")]
    )
    assert _status(world)["api"]["circuit"] == "closed"


def test_while_the_circuit_is_open_parked_intents_wait_untouched_and_the_pass_is_degraded(
    world: World, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    """An open circuit defers the resends of lost answers as it defers new cancels.

    Nothing is sent, so nothing new is lost: the parked rows keep the error of
    the call that was lost, no "answer was lost" line is logged again, and the
    pass is degraded (cancellations kept back), not failed.
    """
    _an_outage(world)
    config = load_config(world.rules_path, environ={})
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    session = ApiSession(config, environ=world.env, breaker=breaker)
    request.addfinalizer(session.close)
    runner = PassRunner(
        config=config, engine=world.engine, executor_factory=session.executor, breaker=breaker
    )
    runner.run_once()  # five 503s: five lost answers parked, the circuit opens
    parked_before = [
        (row["payment_key"], row["outcome"], row["last_error"], row["attempts"])
        for row in world.ledger()
        if row["uncertain_sends"]
    ]
    assert len(parked_before) == 5

    caplog.clear()
    caplog.set_level(logging.INFO)
    clock.now += 30  # still open
    runner.run_once()

    assert len(world.cancel_calls()) == 5  # nothing sent while open
    parked_after = [
        (row["payment_key"], row["outcome"], row["last_error"], row["attempts"])
        for row in world.ledger()
        if row["uncertain_sends"]
    ]
    assert parked_after == parked_before
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "answer to its cancellation was lost" in m] == []
    assert _status(world)["last_pass"]["result"] == "degraded"


def _circuit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The circuit's own log lines: one when it opens, one when it closes."""
    messages = [record.getMessage() for record in caplog.records]
    return [m for m in messages if m.endswith(("pausing calls for 60 s", "resuming calls"))]


def _status(world: World) -> dict[str, Any]:
    result = world.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


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
    refused = f"[Errno {errno.ECONNREFUSED}] {os.strerror(errno.ECONNREFUSED)}"
    assert first[0]["last_error"] == f"PUT orders/cancel/refused: ConnectError: {refused}"

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


def _sleeping(pid: int) -> bool:
    """Whether process ``pid`` sleeps in a timer (Linux: /proc/PID/wchan).

    SQLite's busy handler waits for a lock by sleeping in short steps; starting
    Python, importing and reading never sleep in a timer, so a process that has
    the store open and sleeps is waiting for the lock.
    """
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in {"hrtimer_nanosleep", "do_nanosleep"}
    except OSError:  # the process ended while we looked
        return False


def test_a_briefly_locked_sqlite_store_only_delays_the_pass(world: World) -> None:
    world.configure(PAYMENT_ONLY)
    world.add_order("locked", payment_status="failed")
    store_file = Path(world.store_url.removeprefix("sqlite:///"))

    with connect.writer(world.engine) as conn, conn.begin():  # BEGIN IMMEDIATE: the write lock
        once = world.start_cli("once", "--json")
        eventually(
            lambda: _has_open(once.pid, store_file) and _sleeping(once.pid),
            what="`once` waiting for the store's write lock",
        )
        assert world.cancel_calls() == []
        released = datetime.now(UTC)
    out, err = once.communicate(timeout=30)

    assert once.returncode == 0, err
    decisions = [json.loads(line) for line in out.splitlines()]
    assert [(d["payment_key"], d["outcome"]) for d in decisions] == [("locked", "cancelled")]
    assert world.cancel_calls() == [("locked", {"reason_id": 7})]
    [row] = world.passes()
    assert row["finished_at"] > released


@pytest.fixture
def pg_world_alone(tmp_path: Path, simulator_factory: SimulatorFactory) -> Iterator[World]:
    """pg_world on a PostgreSQL database of its own, dropped afterwards.

    The test below ends every connection to its database, as a server restart
    would; on the database the other tests share (each in a schema of its own),
    that would end the connections of the tests other workers are running too.
    """
    with database_of_its_own("autocancel_restart") as url:
        world = World(
            folder=tmp_path, store_url=url, simulator=simulator_factory(cooldown_seconds=0.2)
        )
        try:
            yield world
        finally:
            world.engine.dispose()


@pytest.mark.postgres
def test_postgresql_restarting_under_the_daemon_is_survived(
    pg_world_alone: World, daemon_for: Callable[[World], Daemon]
) -> None:
    pg_world = pg_world_alone
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

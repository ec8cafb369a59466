"""``autocancel run`` keeps the README's promises about stopping, syncing and its journal.

Real processes, real signals, the simulator over HTTP on 127.0.0.1 and a real
SQLite file; every wait is for a condition.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

import sqlalchemy as sa

from tests.test_daemon import Daemon, cancelled, eventually, fast, passes_from_now
from tests.world import HALASKARGAZI, NEAR, World, cancel_requests_for, secret_keys_only

# --- SIGTERM during an API call ------------------------------------------------------------


def test_sigterm_during_a_cancel_call_waits_for_its_answer_and_records_it(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, timeout=10, max_attempts=1)
    world.add_order("in-flight", payment_status="failed")
    world.simulator.inject_fault("hang", seconds=2, path_prefix="orders/cancel/")
    daemon = start_daemon()
    eventually(world.simulator.in_flight, what="the cancel request held by the simulator")

    daemon.signal(signal.SIGTERM)
    assert world.simulator.in_flight() == 1  # the signal came while the call was open
    assert [row["outcome"] for row in world.ledger()] == ["pending"]

    assert daemon.stop() == 0
    [row] = world.ledger()
    assert (row["payment_key"], row["rule"], row["reason_id"], row["outcome"]) == (
        "in-flight",
        "payment-failed",
        7,
        "cancelled",
    )
    assert (row["attempts"], row["uncertain_sends"]) == (1, 0)
    assert [r.status for r in cancel_requests_for(world, "in-flight")] == [200]
    assert world.status_of("in-flight") == 6
    log = daemon.log()
    stopping = log.index("stopping: letting the pass in flight finish")
    outcome = log.index("decision order=in-flight rule=payment-failed")
    assert stopping < outcome < log.index("stopped", outcome)
    assert "outcome=cancelled" in log[outcome:].splitlines()[0]


def test_sigterm_during_a_call_whose_answer_never_comes_keeps_the_intent_for_the_restart(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, timeout=1, max_attempts=1)
    world.add_order("answer-lost", payment_status="failed")
    # Held past the daemon's 1 s timeout; the platform cancels the order afterwards.
    world.simulator.inject_fault("hang", seconds=3, path_prefix="orders/cancel/")
    daemon = start_daemon()
    eventually(world.simulator.in_flight, what="the cancel request held by the simulator")

    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0

    # The call may have reached the platform: counted as sent, kept for a re-checked resend.
    [row] = world.ledger()
    assert (row["outcome"], row["intent_key"], row["attempts"], row["uncertain_sends"]) == (
        "pending",
        "answer-lost",
        1,
        1,
    )
    assert "timed out" in (row["last_error"] or "")
    assert world.status_of("answer-lost") == 1
    eventually(lambda: world.simulator.in_flight() == 0, what="the held request to end")

    [decision] = world.once()  # the restart
    assert (decision["payment_key"], decision["outcome"]) == ("answer-lost", "cancelled")
    [row] = world.ledger()
    assert (row["outcome"], row["reason_id"]) == ("cancelled", 7)
    assert world.status_of("answer-lost") == 6
    # Towards the platform it was cancelled once; the resend was told "already canceled".
    assert [r.status for r in cancel_requests_for(world, "answer-lost")] == [200, 400]


# --- sync.enabled inside `autocancel run` --------------------------------------------------

TOO_FAR = """\
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""
FAR = (41.2000, 29.3000)  # about 30 km from Halaskargazi Şube


def test_run_with_sync_enabled_cancels_orders_it_pulled_from_the_platform(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, TOO_FAR)
    world.rules_path.write_text(world.rules_path.read_text() + "sync:\n  enabled: true\n")
    for key, (latitude, longitude) in (("far-away", FAR), ("next-door", NEAR)):
        world.simulator.add_order(
            payment_key=key,
            restaurant_id=HALASKARGAZI,
            address={"address": "Dershane Sokak", "latitude": latitude, "longitude": longitude},
        )
    assert world.ledger() == [] and _stored_keys(world) == set()

    daemon = start_daemon()
    eventually(cancelled(world, "far-away"), what="the pulled far order cancelled")
    eventually(passes_from_now(world, 1), what="a pass after the cancel")
    assert daemon.stop() == 0

    assert _stored_keys(world) == {"far-away", "next-door"}
    assert world.cancel_calls() == [("far-away", {"reason_id": 6})]
    [row] = world.ledger()
    assert (row["payment_key"], row["rule"], row["reason_id"], row["outcome"]) == (
        "far-away",
        "too-far",
        6,
        "cancelled",
    )
    assert row["evidence"]["distance_km"] > 7.5
    assert (world.status_of("far-away"), world.status_of("next-door")) == (6, 1)
    assert world.simulator.order("far-away")["status_id"] == 6  # type: ignore[index]
    assert world.simulator.order("next-door")["status_id"] == 1  # type: ignore[index]
    # One poll at start; the next waits out get-current's 30 s cooldown.
    assert len(world.simulator.requests("GET", "orders/get-current")) == 1
    assert "sync received=2 stored=2" in daemon.log()


def test_the_daemon_logs_in_once_for_its_sync_polls_and_all_its_passes(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world)
    world.rules_path.write_text(world.rules_path.read_text() + "sync:\n  enabled: true\n")
    world.simulator.add_order(payment_key="on-the-platform")
    daemon = start_daemon(env=secret_keys_only(world))
    eventually(lambda: _stored_keys(world) == {"on-the-platform"}, what="the first sync poll")
    for key in ("first", "second", "third"):  # each one cancelled by a pass of its own
        world.add_order(key, payment_status="failed")
        eventually(cancelled(world, key), what=f"{key} cancelled")
    assert daemon.stop() == 0

    # The README: the daemon logs in and reuses the token until an hour before it expires.
    assert len(world.simulator.requests("POST", "auth/login")) == 1
    used = {
        r.headers.get("access-token") for r in world.simulator.requests() if r.path != "auth/login"
    }
    assert len(used) == 1, used


def _stored_keys(world: World) -> set[str]:
    with world.engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT payment_key FROM orders")).scalars())


# --- the log format: journal or terminal ------------------------------------------------------

LEVELS = "DEBUG|INFO|WARNING|ERROR|CRITICAL"
JOURNAL_LINE = re.compile(rf"^(?:{LEVELS}) [a-z_][\w.]*: \S")
TERMINAL_LINE = re.compile(
    rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} (?:{LEVELS}) [a-z_][\w.]*: \S"
)


def _outcome(world: World, key: str) -> str | None:
    return next((row["outcome"] for row in world.ledger() if row["payment_key"] == key), None)


def _eventful_run(world: World, start_daemon: Callable[..., Daemon], **env: str) -> Daemon:
    """A daemon that logs in, retries a 503, meets a failing store and a 401, reloads, stops."""
    fast(world)
    world.simulator.inject_fault("status", status=503, count=1, path_prefix="orders/cancel/first")
    world.simulator.inject_fault("unauthorized", count=1, path_prefix="orders/cancel/second")
    daemon = start_daemon(env={**secret_keys_only(world), **env})
    world.add_order("first", payment_status="failed")
    eventually(lambda: _outcome(world, "first") == "cancelled", what="a cancel after a 503")
    with world.engine.begin() as conn:  # the store "goes away" for a moment
        conn.execute(sa.text("ALTER TABLE orders RENAME TO orders_away"))
    eventually(lambda: "pass failed" in daemon.log(), what="a failed pass")
    with world.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders_away RENAME TO orders"))
    world.add_order("second", payment_status="failed")
    eventually(lambda: _outcome(world, "second") == "cancelled", what="a cancel after a 401")
    daemon.signal(signal.SIGHUP)
    eventually(lambda: "rules reloaded" in daemon.log(), what="the reload")
    assert daemon.stop() == 0
    return daemon


def test_under_systemd_every_log_line_is_one_event_with_level_and_logger_and_no_secret(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = _eventful_run(world, start_daemon, JOURNAL_STREAM="8:12345")

    lines = daemon.log().splitlines()
    assert [line for line in lines if not JOURNAL_LINE.match(line)] == []

    def count(event: str) -> int:
        return sum(line.startswith(event) for line in lines)

    assert count("INFO daemon.service.daemon: autocancel running (live)") == 1
    assert count("WARNING daemon.dukkango.executor: cancel order=first: attempt 1 failed") == 1
    assert (
        count(
            "INFO daemon.engine.passes: decision order=first rule=payment-failed "
            "kind=payment_failed reason=7 mode=live outcome=cancelled attempts=2"
        )
        == 1
    )
    assert count("ERROR daemon.service.daemon: pass failed, no action taken: cannot read") >= 1
    assert (
        count(
            "INFO daemon.engine.passes: decision order=second rule=payment-failed "
            "kind=payment_failed reason=7 mode=live outcome=cancelled attempts=1"
        )
        == 1
    )
    assert count("INFO daemon.service.daemon: rules reloaded from") == 1
    assert count("INFO daemon.service.daemon: stopped") == 1
    assert "Traceback" not in daemon.log()
    tokens = {
        r.headers["access-token"] for r in world.simulator.requests() if "access-token" in r.headers
    }
    secrets = {world.simulator.app_secret_key, world.simulator.rest_secret_key, *tokens}
    assert len(secrets) >= 4  # the two keys, the token the 401 refused and the one after it
    assert [secret for secret in secrets if secret in daemon.log()] == []


def test_on_a_terminal_every_log_line_starts_with_its_time(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = _eventful_run(world, start_daemon)

    lines = daemon.log().splitlines()
    assert lines
    assert [line for line in lines if not TERMINAL_LINE.match(line)] == []
    assert "Traceback" not in daemon.log()

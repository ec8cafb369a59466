"""The send path under faults: lost answers, stale decisions, crashes, races, hangs.

Each test drives the real CLI against the simulator over real HTTP and a real
SQLite file, and asserts what the restaurant would notice: which cancel (and
close/reopen, deactivate) requests reached Dükkango, what the platform did,
and what the ledger says.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from daemon.store import schema
from tests.conftest import run_cli
from tests.test_daemon import eventually
from tests.world import (
    HALASKARGAZI,
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
    requests_to,
    run_sql,
)

OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
"""
CONGESTION = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 2
    reopen_below: 1
    min_closed_minutes: 0
    close_restaurant: true
    reason_id: 3
"""  # its tests' orders are all accepted (status 2): it closes and cancels nothing


@contextmanager
def running(world: World, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A CLI process for the duration of the block; killed if the test left it running."""
    process = world.start_cli(*args)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_promptly(process: subprocess.Popen[str]) -> None:
    """SIGTERM ends the daemon within seconds, whatever it was waiting for."""
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert time.monotonic() - stopped_at < 8


def platform_cancelled(world: World) -> list[str]:
    return sorted(o["payment_key"] for o in world.simulator.orders() if o["status_id"] == 6)


# --- 1. hostile keys ----------------------------------------------------------------------

HOSTILE_KEYS = (".", "..", "a/b", "../restaurants/status/close/x", "a?b", "a#b", "a b", " ")


def test_a_key_that_cannot_be_a_path_segment_is_bad_data_never_sent(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("good", payment_status="failed")
    for key in HOSTILE_KEYS:
        world.add_order(key, payment_status="failed", on_platform=False)

    decisions, stderr = once_json(world)

    assert decision_for(decisions, "good")["outcome"] == "cancelled"
    assert [key for key, _ in world.cancel_calls()] == ["good"]
    assert world.status_of("good") == 6
    for key in HOSTILE_KEYS:
        assert [d for d in decisions if d["payment_key"] == key] == []
        assert all(row["outcome"] != "pending" for row in ledger_rows(world, key))
        assert world.status_of(key) == 1
    assert "Traceback" not in stderr
    assert "cannot be sent to Dükkango" in stderr

    # The next pass neither crashes nor sends anything, and says so only once.
    decisions, stderr = once_json(world)
    assert decisions == []
    assert [key for key, _ in world.cancel_calls()] == ["good"]


def test_an_exception_in_one_call_never_loses_another_calls_outcome() -> None:
    from daemon.dukkango.client import DukkangoClient
    from daemon.dukkango.executor import Attempted, Executor

    def work(item: int) -> Attempted:
        if item == 2:
            raise RuntimeError("a bug in one call")
        return Attempted(ok=True, attempts=1)

    with DukkangoClient(base_url="http://127.0.0.1:9", access_token="t") as client:
        executor = Executor(client=client, concurrency=3)
        results = dict(executor.map_concurrently(work, [1, 2, 3]))

    assert results[1].ok and results[3].ok
    assert not results[2].ok and "a bug in one call" in (results[2].error_text or "")


# --- 2. lost answers count as sent -----------------------------------------------------------


def test_lost_answers_count_against_the_hourly_cap(world: World) -> None:
    world.configure(PAYMENT_FAILED, max_per_hour=2)
    for number in range(4):
        world.add_order(f"o{number}", payment_status="failed", minutes_ago=10 - number)
    # Every cancel reaches the platform, and every answer is lost.
    world.simulator.inject_fault(
        "drop", count=100, after_effect=True, method="PUT", path_prefix="orders/cancel/"
    )

    once_json(world)
    assert platform_cancelled(world) == ["o0", "o1"]
    # The POS (or sync) learns that those two are cancelled; the answers stay lost.
    run_sql(world, "UPDATE orders SET status_id = 6 WHERE payment_key IN ('o0', 'o1')")
    for _ in range(2):
        once_json(world)

    assert platform_cancelled(world) == ["o0", "o1"]
    sent = {key for key, _ in world.cancel_calls()}
    assert sent == {"o0", "o1"}, "held orders must stay held while lost answers count"
    held = [row for row in world.ledger() if row["outcome"] == "held"]
    assert {row["payment_key"] for row in held} == {"o2", "o3"}


def test_a_lost_answer_is_resent_a_bounded_number_of_times_then_failed(world: World) -> None:
    world.configure(PAYMENT_FAILED, api_extra={"lost_answer_retries": 2})
    world.add_order("lost", payment_status="failed", on_platform=False)
    # The platform never answers readably: 200 with an HTML page.
    world.simulator.inject_fault(
        "body",
        count=100,
        status=200,
        body="<html>ok</html>",
        method="PUT",
        path_prefix="orders/cancel/",
    )

    stderr = ""
    for _ in range(5):
        _, stderr_now = once_json(world)
        stderr += stderr_now

    assert len(cancel_requests_for(world, "lost")) == 3  # the first send and two more
    [row] = ledger_rows(world, "lost")
    assert row["outcome"] == "failed"
    assert row["attempts"] == 3
    assert "CRITICAL" in stderr
    assert "lost" in stderr


def test_a_lost_answer_that_the_platform_acted_on_is_cancelled_on_resend(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("acted", payment_status="failed")
    world.simulator.inject_fault(
        "body",
        status=200,
        body='{"status": false}',
        after_effect=True,
        method="PUT",
        path_prefix="orders/cancel/",
    )

    first, _ = once_json(world)
    shown = decision_for(first, "acted")
    assert shown["outcome"] == "failed"
    assert shown["evidence"]["answer_lost"] is True
    [row] = ledger_rows(world, "acted")
    assert row["outcome"] == "pending" and row["intent_key"] == "acted"

    once_json(world)
    [row] = ledger_rows(world, "acted")
    assert row["outcome"] == "cancelled"
    assert [r.status for r in cancel_requests_for(world, "acted")] == [200, 400]
    assert world.status_of("acted") == 6


# --- 3. stale decisions: re-check right before the call ----------------------------------------


def test_an_order_paid_while_the_geocoder_was_slow_is_not_cancelled(world: World) -> None:
    world.configure(
        PAYMENT_FAILED
        + """\
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
""",
        geocoder=True,
    )
    world.add_order("paid-late", payment_status="failed")
    world.add_order("needs-geocoding", payment_status="ok", coordinates=None)
    # The geocoder request hangs, which holds the pass between snapshot and send.
    world.simulator.inject_fault("hang", seconds=1.5, path_prefix="/search")

    process = world.start_cli("once", "--json")
    eventually(lambda: world.simulator.in_flight() == 1, what="the geocoder request")
    run_sql(world, "UPDATE orders SET payment_status = 'ok' WHERE payment_key = 'paid-late'")
    out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert cancel_requests_for(world, "paid-late") == []
    [row] = ledger_rows(world, "paid-late")
    assert row["outcome"] == "skipped"
    assert row["evidence"]["skipped_because"] == "no_longer_qualifies"
    assert "payment_status" in json.dumps(row["evidence"])
    shown = [json.loads(line) for line in out.splitlines()]
    assert decision_for(shown, "paid-late")["outcome"] == "skipped"


def test_a_retry_after_a_server_error_is_not_sent_for_an_order_that_moved(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("moved", payment_status="failed")
    # The first attempt is held by the server for a second and answered 503
    # without acting; the order is picked up by a courier meanwhile.
    world.simulator.inject_fault(
        "hang", seconds=1, process=False, status=503, path_prefix="orders/cancel/"
    )

    process = world.start_cli("once", "--json")
    eventually(lambda: world.simulator.in_flight() == 1, what="the first cancel request")
    run_sql(world, "UPDATE orders SET status_id = 16 WHERE payment_key = 'moved'")
    _, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert [r.status for r in cancel_requests_for(world, "moved")] == [503]
    [row] = ledger_rows(world, "moved")
    assert row["outcome"] == "skipped"
    assert "status" in json.dumps(row["evidence"])
    assert world.platform_order("moved")["status_id"] == 1


# --- 4. crash recovery re-checks too -----------------------------------------------------------


def _kill_mid_cancel(world: World, key: str) -> None:
    process = world.start_cli("once", "--json")
    eventually(lambda: world.simulator.in_flight() == 1, what="the cancel request")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    [row] = ledger_rows(world, key)
    assert row["outcome"] == "pending"


def test_crash_recovery_does_not_resend_for_an_order_that_was_paid_since(world: World) -> None:
    world.configure(PAYMENT_FAILED, timeout=5, max_attempts=1)
    world.add_order("crash", payment_status="failed")
    world.simulator.inject_fault("hang", seconds=1, process=False, path_prefix="orders/cancel/")
    _kill_mid_cancel(world, "crash")
    eventually(lambda: world.simulator.in_flight() == 0, what="the hung request to end")
    run_sql(world, "UPDATE orders SET payment_status = 'ok' WHERE payment_key = 'crash'")

    once_json(world)

    assert len(cancel_requests_for(world, "crash")) == 1  # only the one before the crash
    [row] = ledger_rows(world, "crash")
    assert row["outcome"] == "skipped"
    assert row["evidence"]["skipped_because"] == "no_longer_qualifies"
    assert row["evidence"]["may_have_reached_platform"] is True


def test_crash_recovery_does_not_resend_for_an_order_too_old_now(world: World) -> None:
    world.configure(PAYMENT_FAILED, timeout=5, max_attempts=1)
    world.add_order("aged", payment_status="failed", minutes_ago=170)
    world.simulator.inject_fault("hang", seconds=1, process=False, path_prefix="orders/cancel/")
    _kill_mid_cancel(world, "aged")
    eventually(lambda: world.simulator.in_flight() == 0, what="the hung request to end")
    with world.engine.begin() as conn:  # the clock moved on: 190 minutes old now
        conn.execute(
            sa.update(schema.orders)
            .where(schema.orders.c.payment_key == "aged")
            .values(created_at=sa.func.datetime("now", "-190 minutes"))
        )

    once_json(world)

    assert len(cancel_requests_for(world, "aged")) == 1
    [row] = ledger_rows(world, "aged")
    assert row["outcome"] == "skipped"
    assert "max_order_age_minutes" in json.dumps(row["evidence"])


# --- 5. an owner that is alive keeps its intent -----------------------------------------------


def test_an_intent_whose_owner_waits_out_429s_is_not_taken_over(world: World) -> None:
    world.configure(PAYMENT_FAILED, max_attempts=3)
    world.add_order("busy", payment_status="failed")
    world.simulator.inject_fault("rate_limit", count=100, path_prefix="orders/cancel/")
    with running(world, "run") as owner:
        eventually(lambda: len(cancel_requests_for(world, "busy")) == 1, what="the first 429")
        # Time passes while the owner waits: its intent looks old ...
        run_sql(
            world,
            "UPDATE ledger SET updated_at = datetime('now', '-2 hours') WHERE payment_key = 'busy'",
        )
        # ... until the owner's heartbeat shows it is alive.
        eventually(
            lambda: _age_seconds(ledger_rows(world, "busy")[0]) < 60, what="the owner's heartbeat"
        )
        second = run_cli("once", "--json", "-c", str(world.rules_path), env=world.env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == ""
        assert len(cancel_requests_for(world, "busy")) == 1
        stop_promptly(owner)  # SIGTERM interrupts the owner's 30 s wait at once
    world.simulator.clear_faults()

    decisions, _ = once_json(world)  # the owner stopped: the order is sent once more, once

    assert decision_for(decisions, "busy")["outcome"] == "cancelled"
    assert [r.status for r in cancel_requests_for(world, "busy")] == [429, 200]


def _age_seconds(row: dict[str, Any]) -> float:
    from datetime import UTC, datetime

    updated_at: datetime = row["updated_at"]
    return (datetime.now(UTC) - updated_at).total_seconds()


# --- 6. a trickling or hanging server ---------------------------------------------------------


def test_a_trickling_answer_is_given_up_within_the_request_deadline(world: World) -> None:
    world.configure(PAYMENT_FAILED, timeout=1, max_attempts=4)
    world.add_order("trickle", payment_status="failed")
    world.simulator.inject_fault(
        "trickle", count=100, seconds=0.5, method="PUT", path_prefix="orders/cancel/"
    )

    started = time.monotonic()
    result = run_cli("once", "--json", "-c", str(world.rules_path), env=world.env, timeout=30)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert elapsed < 10, f"one trickling answer held the pass for {elapsed:.1f} s"
    # A timeout is ambiguous: not retried in the same pass, counted as sent.
    assert len(cancel_requests_for(world, "trickle")) == 1
    [row] = ledger_rows(world, "trickle")
    assert row["outcome"] == "pending" and row["intent_key"] == "trickle"
    assert "timed out" in (row["last_error"] or "")


def test_sigterm_stops_the_daemon_during_a_trickling_answer(world: World) -> None:
    world.configure(PAYMENT_FAILED, timeout=30)
    world.add_order("trickle", payment_status="failed")
    world.simulator.inject_fault(
        "trickle", count=100, seconds=1, method="PUT", path_prefix="orders/cancel/"
    )
    with running(world, "run") as daemon:
        # The simulator records a request once it has acted on it; the answer
        # then trickles out on the wire.
        eventually(lambda: len(cancel_requests_for(world, "trickle")) == 1, what="the trickle")
        stop_promptly(daemon)
    [row] = ledger_rows(world, "trickle")
    assert row["outcome"] == "pending"  # the answer was lost: counted as sent


# --- 8. our own close whose answer was lost --------------------------------------------------


def test_a_close_whose_answer_was_lost_is_still_ours_to_reopen(world: World) -> None:
    world.configure(CONGESTION)
    for number in range(3):
        world.add_order(f"busy{number}", status_id=2)
    world.simulator.inject_fault(
        "drop", count=100, after_effect=True, method="PUT", path_prefix="restaurants/status/close/"
    )

    once_json(world)
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    with world.engine.connect() as conn:
        [closure] = conn.execute(sa.select(schema.restaurant_closures)).mappings().all()
    assert closure["active_key"] == HALASKARGAZI  # the claim is kept: the close is ours

    run_sql(world, "UPDATE orders SET status_id = 5")  # the rush is over
    once_json(world)

    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
    assert len(requests_to(world, "PUT", f"restaurants/status/open/{HALASKARGAZI}")) == 1


# --- 15. a food deactivation that failed for a passing reason is retried ----------------------


def test_a_food_deactivation_that_failed_with_5xx_is_retried_on_a_later_pass(
    world: World,
) -> None:
    world.configure(OUT_OF_STOCK)
    world.set_stock(2, available=False)
    world.add_order("short", items=[(2, 1)])
    world.simulator.inject_fault(
        "status", count=100, status=503, method="PUT", path_prefix="foods/status-passive/"
    )

    world.set_up_with("once", "--json")  # the failing attempt, in process: the retry is checked
    assert world.simulator.food_active(2)
    world.simulator.clear_faults()

    once_json(world)  # no new order needs the food: the failed deactivation is retried

    assert not world.simulator.food_active(2)
    with world.engine.connect() as conn:
        [row] = conn.execute(sa.select(schema.food_deactivations)).mappings().all()
    assert row["outcome"] == "done"


def test_a_food_back_in_stock_is_not_deactivated_on_retry(world: World) -> None:
    world.configure(OUT_OF_STOCK)
    world.set_stock(2, available=False)
    world.add_order("short", items=[(2, 1)])
    world.simulator.inject_fault(
        "status", count=100, status=503, method="PUT", path_prefix="foods/status-passive/"
    )
    world.set_up_with("once", "--json")  # the failing attempt (preparation)
    world.simulator.clear_faults()
    world.set_stock(2, available=True)
    world.simulator.clear_requests()

    once_json(world)

    assert requests_to(world, "PUT", "foods/status-passive/2") == []
    assert world.simulator.food_active(2)


def test_no_call_starts_after_the_pass_deadline() -> None:
    from daemon.dukkango.client import DukkangoClient
    from daemon.dukkango.errors import NotSent
    from daemon.dukkango.executor import Executor

    now = [0.0]
    calls: list[str] = []
    with DukkangoClient(base_url="http://127.0.0.1:9", access_token="t") as client:
        executor = Executor(client=client, deadline_seconds=30, clock=lambda: now[0])
        assert executor.attempt(lambda: calls.append("early"), what="early").ok
        now[0] = 31.0
        late = executor.attempt(lambda: calls.append("late"), what="late", mutation=True)

    assert calls == ["early"]
    assert isinstance(late.error, NotSent) and "ran out of time" in str(late.error)
    assert not late.answer_lost  # surely not sent: a later pass decides afresh

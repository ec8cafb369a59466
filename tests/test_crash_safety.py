"""Exactly-once cancellation across crashes: SIGKILL between intent and outcome."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import autocancel_executable
from tests.world import PAYMENT_FAILED, World

PAYMENT_ONLY = PAYMENT_FAILED


def _start_once(world: World) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUKKANGO_", "AUTOCANCEL_"))}
    env.update(world.env)
    return subprocess.Popen(
        [*autocancel_executable(), "once", "--json", "-c", str(world.rules_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_pending_intent(world: World, key: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r["payment_key"] == key and r["outcome"] == "pending" for r in world.ledger()):
            return
        time.sleep(0.05)
    raise AssertionError("the intent was never committed")


def _kill_mid_call(world: World, key: str) -> None:
    process = _start_once(world)
    _wait_for_pending_intent(world, key)
    deadline = time.monotonic() + 15
    while world.simulator.in_flight() == 0:  # the cancel reached the (hung) API
        assert time.monotonic() < deadline, "the cancel request never arrived"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    (row,) = world.ledger()
    assert row["outcome"] == "pending" and row["intent_key"] == key


@pytest.mark.parametrize("reached_the_api", [False, True], ids=["before-call", "after-call"])
def test_sigkill_between_intent_and_outcome_cancels_exactly_once(
    world: World, reached_the_api: bool
) -> None:
    world.configure(PAYMENT_ONLY, timeout=5, max_attempts=1)
    world.add_order("crash", payment_status="failed")
    # The first cancel request hangs: with process=False it never reaches the
    # API (killed "before the call"); with True the API cancels the order
    # after the daemon died ("after the call, before the outcome commit").
    world.simulator.inject_fault(
        "hang", seconds=2, process=reached_the_api, path_prefix="orders/cancel/"
    )

    _kill_mid_call(world, "crash")
    deadline = time.monotonic() + 15
    while world.simulator.in_flight():  # let the hung request finish (or drop) on the server
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert world.platform_order("crash")["status_id"] == (6 if reached_the_api else 1)

    decisions = world.once()  # the restart

    assert [d["payment_key"] for d in decisions] == ["crash"]
    assert decisions[0]["outcome"] == "cancelled"
    (row,) = world.ledger()
    assert (row["outcome"], row["reason_id"], row["rule"]) == ("cancelled", 7, "payment-failed")
    assert world.status_of("crash") == 6
    # Towards the API the order was cancelled once: the resend either did it,
    # or was told "already canceled".
    answers = [r.status for r in world.simulator.requests("PUT", "orders/cancel/crash")]
    assert answers.count(200) == 1
    assert answers in ([0, 200], [200, 400])
    assert world.once() == []  # and never again


def test_a_live_peer_intent_is_not_stolen(world: World) -> None:
    """A pending intent of a process that still runs is left to it."""
    world.configure(PAYMENT_ONLY, timeout=5, max_attempts=1)
    world.add_order("busy", payment_status="failed")
    world.simulator.inject_fault("hang", seconds=3, path_prefix="orders/cancel/")
    first = _start_once(world)
    _wait_for_pending_intent(world, "busy")

    assert world.once() == []  # a second process at the same time sends nothing

    assert first.wait(timeout=20) == 0
    assert len(world.simulator.requests("PUT", "orders/cancel/busy")) == 1
    (row,) = world.ledger()
    assert row["outcome"] == "cancelled"

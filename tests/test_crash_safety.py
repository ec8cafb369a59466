"""Exactly-once cancellation across crashes: SIGKILL between intent and outcome."""

from __future__ import annotations

import signal

import pytest

from tests.test_daemon import eventually
from tests.world import PAYMENT_FAILED, World

PAYMENT_ONLY = PAYMENT_FAILED


def _wait_for_pending_intent(world: World, key: str) -> None:
    eventually(
        lambda: any(r["payment_key"] == key and r["outcome"] == "pending" for r in world.ledger()),
        what=f"the intent for {key} committed",
    )


def _kill_mid_call(world: World, key: str) -> None:
    process = world.start_cli("once", "--json")
    _wait_for_pending_intent(world, key)
    eventually(world.simulator.in_flight, what="the cancel request held by the (hung) API")
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
    eventually(
        lambda: world.simulator.in_flight() == 0,
        what="the hung request finished (or dropped) on the server",
    )
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
    first = world.start_cli("once", "--json")
    _wait_for_pending_intent(world, "busy")

    assert world.once() == []  # a second process at the same time sends nothing

    assert first.wait(timeout=20) == 0
    assert len(world.simulator.requests("PUT", "orders/cancel/busy")) == 1
    (row,) = world.ledger()
    assert row["outcome"] == "cancelled"

"""The pass against a misbehaving Dükkango, missing credentials, and a broken store or file."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.world import (
    NO_CREDENTIALS,
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
    point_store_at,
    secret_keys_only,
)


def test_server_errors_are_retried_until_the_cancel_goes_through(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("after-500", payment_status="failed")
    world.add_order("after-503", payment_status="failed")
    world.simulator.inject_fault(
        "status", status=500, method="PUT", path_prefix="orders/cancel/after-500"
    )
    world.simulator.inject_fault(
        "status", status=503, method="PUT", path_prefix="orders/cancel/after-503"
    )

    decisions, _ = once_json(world)

    for key, first_status in (("after-500", 500), ("after-503", 503)):
        decision = decision_for(decisions, key)
        assert decision["outcome"] == "cancelled", decision
        requests = cancel_requests_for(world, key)
        assert [r.status for r in requests] == [first_status, 200]
        assert all(r.body == {"reason_id": 7} for r in requests)
        [row] = ledger_rows(world, key)
        assert (row["outcome"], row["attempts"]) == ("cancelled", 2)
        assert world.status_of(key) == 6
        assert world.platform_order(key)["cancel_reason_id"] == 7
    assert len(world.cancel_calls()) == 4


def test_an_order_dukkango_does_not_know_fails_once_without_retries(world: World) -> None:
    world.configure(PAYMENT_FAILED, max_attempts=4)
    world.add_order("unknown", payment_status="failed", on_platform=False)

    decisions, _ = once_json(world)  # exit 0: the pass ran; one cancel failed

    assert decision_for(decisions, "unknown")["outcome"] == "failed"
    [request] = cancel_requests_for(world, "unknown")
    assert request.status == 404
    [row] = ledger_rows(world, "unknown")
    assert (row["outcome"], row["attempts"]) == ("failed", 1)
    assert "sipariş bulunamadı" in row["last_error"]
    assert world.status_of("unknown") == 1


def test_a_hanging_api_is_given_up_after_one_timeout_per_pass(world: World) -> None:
    world.configure(PAYMENT_FAILED, timeout=0.5, max_attempts=2)
    world.add_order("slow", payment_status="failed")
    # Each hang outlasts the test; stopping the simulator releases it.
    world.simulator.inject_fault(
        "hang", count=2, seconds=60, method="PUT", path_prefix="orders/cancel/"
    )

    for expected_requests in (1, 2):
        # Bounded: one 0.5 s timeout per pass, far inside this limit. A timeout
        # may have cancelled, so it is not repeated at once: the next pass
        # re-checks the order and sends again.
        result = run_cli("once", "-c", str(world.rules_path), "--json", env=world.env, timeout=20)
        assert result.returncode == 0, result.stderr
        [decision] = [json.loads(line) for line in result.stdout.splitlines()]
        assert (decision["payment_key"], decision["outcome"]) == ("slow", "failed")
        [row] = ledger_rows(world, "slow")
        assert (row["outcome"], row["intent_key"]) == ("pending", "slow")  # counted as sent
        assert (row["attempts"], row["uncertain_sends"]) == (expected_requests,) * 2
        assert "timed out" in row["last_error"]
        hangs_left = [f["count"] for f in world.simulator.faults()]
        assert hangs_left == ([1] if expected_requests == 1 else [])  # one request per pass
    assert world.status_of("slow") == 1


def test_a_rejected_static_token_without_secret_keys_fails_the_cancel(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    world.simulator.revoke_tokens()

    decisions, _ = once_json(world)

    assert decision_for(decisions, "failed")["outcome"] == "failed"
    [row] = ledger_rows(world, "failed")
    assert row["outcome"] == "failed"
    assert "401" in row["last_error"]
    assert world.simulator.requests("POST", "auth/login") == []
    assert world.status_of("failed") == 1
    assert world.platform_order("failed")["status_id"] == 1


def test_secret_keys_log_in_once_and_cancel(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    keys = ("k1", "k2", "k3")
    for key in keys:
        world.add_order(key, payment_status="failed")

    decisions, _ = once_json(world, env=secret_keys_only(world))

    [login] = world.simulator.requests("POST", "auth/login")
    assert login.status == 200
    tokens = {r.headers.get("access-token") for r in world.simulator.requests("PUT")}
    assert len(tokens) == 1
    assert tokens != {world.simulator.static_token}
    for key in keys:
        assert decision_for(decisions, key)["outcome"] == "cancelled"
        assert world.status_of(key) == 6


def test_a_rejected_static_token_with_secret_keys_logs_in_and_cancels(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    world.simulator.revoke_tokens()
    env = {**secret_keys_only(world), "DUKKANGO_ACCESS_TOKEN": world.access_token}

    decisions, _ = once_json(world, env=env)

    assert decision_for(decisions, "failed")["outcome"] == "cancelled"
    assert len(world.simulator.requests("POST", "auth/login")) == 1
    assert [r.status for r in cancel_requests_for(world, "failed")] == [401, 200]
    assert world.status_of("failed") == 6


def test_live_mode_without_credentials_stops_before_deciding(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")

    result = world.cli("once", "--json", env=NO_CREDENTIALS)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "DUKKANGO_ACCESS_TOKEN" in result.stderr
    assert "credentials" in result.stderr
    assert world.ledger() == []
    assert world.simulator.requests() == []
    assert world.status_of("failed") == 1


def test_an_unreachable_store_is_a_runtime_failure(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    point_store_at(world, "postgresql+psycopg://autocancel@127.0.0.1:9/orders")

    result = world.cli("once", "--json")

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "127.0.0.1" in result.stderr
    assert world.simulator.requests() == []


def test_an_invalid_rules_file_is_exit_2_and_nothing_happens(world: World) -> None:
    world.configure(PAYMENT_FAILED.replace("reason_id: 7", "reason_id: 9"))
    world.add_order("failed", payment_status="failed")

    result = world.cli("once", "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "rules.yaml:" in result.stderr
    assert "reason" in result.stderr
    assert world.ledger() == []
    assert world.simulator.requests() == []


def test_a_refused_cancel_is_failed_unless_the_order_is_already_canceled(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("refused", payment_status="failed")
    world.add_order("canceled-elsewhere", payment_status="failed")
    world.simulator.set_order_status("canceled-elsewhere", 6)  # e.g. by the customer
    # A refusal that talks about cancelling is still a refusal (contract: 400 is failed).
    world.simulator.inject_fault(
        "status",
        status=400,
        error="geçersiz durum",
        message="This order cannot be cancelled by the restaurant",
        method="PUT",
        path_prefix="orders/cancel/refused",
    )

    decisions, _ = once_json(world)

    refused = decision_for(decisions, "refused")
    assert refused["outcome"] == "failed", refused
    [row] = ledger_rows(world, "refused")
    assert (row["outcome"], row["attempts"]) == ("failed", 1)
    assert "cannot be cancelled" in row["last_error"]
    assert world.status_of("refused") == 1
    assert len(cancel_requests_for(world, "refused")) == 1

    # Dükkango saying the order is canceled already: the goal holds, the store follows.
    assert decision_for(decisions, "canceled-elsewhere")["outcome"] == "cancelled"
    [request] = cancel_requests_for(world, "canceled-elsewhere")
    assert request.status == 400
    assert world.status_of("canceled-elsewhere") == 6

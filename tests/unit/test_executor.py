"""The executor's retry waits and the circuit breaker, with an injected clock and sleep.

Calls go to the project's simulator, in-process on 127.0.0.1, so the errors
are the client's real classification of real answers; nothing waits: the
executor's ``sleep`` records each backoff instead of sleeping it, and the
breaker's ``clock`` is a number the test moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import CircuitOpen, NoLongerQualifies, NotSent
from daemon.dukkango.executor import Attempted, CircuitBreaker, Executor, RetryPolicy
from daemon.simulator.defaults import HALASKARGAZI
from daemon.simulator.server import Simulator

POLICY = RetryPolicy(max_attempts=4, initial_backoff_seconds=1, max_backoff_seconds=30)


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(simulator: Simulator) -> Iterator[DukkangoClient]:
    with DukkangoClient(
        base_url=simulator.url, timeout=2.0, access_token=simulator.static_token
    ) as built:
        yield built


@pytest.fixture
def waits() -> list[float]:
    """Every backoff the executor asked for, in seconds, in order."""
    return []


def executor_for(
    client: DukkangoClient,
    waits: list[float],
    *,
    policy: RetryPolicy = POLICY,
    breaker: CircuitBreaker | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Executor:
    return Executor(
        client=client, policy=policy, breaker=breaker, stop=stop, sleep=sleep or waits.append
    )


def cancels(simulator: Simulator) -> list[str]:
    """The cancel requests the platform received, by payment_key, in order."""
    return [
        r.path.removeprefix("orders/cancel/") for r in simulator.requests("PUT", "orders/cancel/")
    ]


def cancel(
    executor: Executor,
    client: DukkangoClient,
    key: str,
    *,
    recheck: Callable[[], None] | None = None,
) -> Attempted:
    """Cancel ``key`` with reason 7 through the executor, as a pass does."""
    return executor.attempt(
        lambda: client.cancel_order(key, 7), what=f"cancel {key}", mutation=True, recheck=recheck
    )


def platform_status(simulator: Simulator, key: str) -> int:
    """The order's status_id on the platform: 6 once a cancel went through."""
    found = simulator.order(key)
    assert found is not None, key
    return int(found["status_id"])


def failing_cancels(simulator: Simulator, status: int = 503, count: int = 100) -> None:
    simulator.inject_fault("status", status=status, count=count, path_prefix="orders/cancel/")


# --- the retry waits --------------------------------------------------------------------------


def test_server_errors_back_off_exponentially_until_the_cancel_goes_through(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    failing_cancels(simulator, count=3)

    executor = executor_for(client, waits)
    result = cancel(executor, client, "k1")

    assert (result.ok, result.attempts, result.uncertain) == (True, 4, 3)
    assert waits == [1.0, 2.0, 4.0]
    assert cancels(simulator) == ["k1"] * 4
    assert platform_status(simulator, "k1") == 6
    calls = executor.calls.summary()
    assert (calls.succeeded, dict(calls.failures)) == (1, {"http_503": 3})


def test_the_backoff_never_grows_beyond_its_maximum(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    failing_cancels(simulator, count=5)
    capped = RetryPolicy(max_attempts=6, initial_backoff_seconds=1, max_backoff_seconds=5)

    executor = executor_for(client, waits, policy=capped)
    assert cancel(executor, client, "k1").ok

    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_429_waits_at_least_the_documented_30_seconds(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    simulator.inject_fault("rate_limit", count=2, path_prefix="orders/cancel/")

    executor = executor_for(client, waits)
    result = cancel(executor, client, "k1")

    assert (result.ok, result.attempts) == (True, 3)
    assert waits == [30.0, 30.0]
    assert cancels(simulator) == ["k1"] * 3


def test_attempts_stop_at_max_attempts_with_the_last_error(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    failing_cancels(simulator)

    executor = executor_for(client, waits)
    result = cancel(executor, client, "k1")

    assert (result.ok, result.attempts, result.uncertain) == (False, 4, 4)
    assert waits == [1.0, 2.0, 4.0]
    assert result.error_text == "PUT orders/cancel/k1: 503 sunucu hatası: Service Unavailable"
    assert result.answer_lost  # a 5xx may have cancelled it: a later pass re-checks first


@pytest.mark.parametrize(
    ("prepare", "error_text"),
    [
        (lambda sim: None, "PUT orders/cancel/k1: 404 sipariş bulunamadı (order not found)"),
        (
            lambda sim: sim.add_order(payment_key="k1", status_id=5),
            "PUT orders/cancel/k1: 400 geçersiz durum: Order is already completed",
        ),
        (
            lambda sim: sim.inject_fault(
                "status", status=403, error="URL hatalı", message="bad id", count=5
            ),
            "PUT orders/cancel/k1: 403 URL hatalı (URL is wrong): bad id",
        ),
    ],
    ids=["404-unknown-order", "400-already-completed", "403"],
)
def test_400_403_and_404_are_final_after_one_attempt(
    simulator: Simulator,
    client: DukkangoClient,
    waits: list[float],
    prepare: Callable[[Simulator], object],
    error_text: str,
) -> None:
    prepare(simulator)

    executor = executor_for(client, waits)
    result = cancel(executor, client, "k1")

    assert (result.ok, result.attempts, result.error_text) == (False, 1, error_text)
    assert waits == []
    assert cancels(simulator) == ["k1"]
    assert not result.answer_lost


def test_a_cancel_whose_answer_was_lost_is_left_to_a_later_pass_but_a_read_is_retried(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    # The platform cancels, then the connection drops before the answer.
    simulator.inject_fault("drop", count=1, after_effect=True, path_prefix="orders/cancel/")
    simulator.inject_fault("drop", count=1, path_prefix="restaurants/status/get/")

    executor = executor_for(client, waits)
    lost = cancel(executor, client, "k1")
    read = executor.attempt(
        lambda: client.restaurant_status(HALASKARGAZI), what="status of Halaskargazi"
    )

    assert (lost.ok, lost.attempts, lost.uncertain, lost.answer_lost) == (False, 1, 1, True)
    assert cancels(simulator) == ["k1"]  # not repeated in this pass
    assert platform_status(simulator, "k1") == 6
    assert (read.ok, read.attempts, read.value) == (True, 2, "Open")
    assert waits == [1.0]  # only the read waited


def test_the_recheck_before_each_attempt_stops_a_retry_for_an_order_that_moved(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    failing_cancels(simulator, count=1)
    checks: list[str] = []

    def recheck() -> None:
        checks.append("checked")
        if len(checks) > 1:  # during the backoff the POS marked it paid
            raise NoLongerQualifies({"change": "the payment went through"})

    executor = executor_for(client, waits)
    result = cancel(executor, client, "k1", recheck=recheck)

    assert result.no_longer_qualifies is not None
    assert result.error_text == "not sent: the payment went through"
    assert (result.attempts, checks, waits) == (1, ["checked", "checked"], [1.0])
    assert cancels(simulator) == ["k1"]
    assert platform_status(simulator, "k1") == 1


def test_a_shutdown_during_a_backoff_sends_nothing_more(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    simulator.add_order(payment_key="k1")
    failing_cancels(simulator)
    stop = threading.Event()

    def shutdown_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        stop.set()  # SIGTERM arrives during the backoff

    executor = executor_for(client, waits, stop=stop, sleep=shutdown_while_waiting)
    interrupted = cancel(executor, client, "k1")
    after = cancel(executor, client, "k1")

    assert isinstance(interrupted.error, NotSent)
    assert (interrupted.attempts, interrupted.uncertain) == (1, 1)
    assert isinstance(after.error, NotSent) and after.attempts == 0
    assert str(after.error) == "cancel k1: not sent, shutting down"
    assert cancels(simulator) == ["k1"]
    assert waits == [1.0]


# --- the circuit breaker ----------------------------------------------------------------------

ONE_TRY = RetryPolicy(max_attempts=1)


def test_the_circuit_opens_after_failures_in_a_row_and_sends_nothing_until_the_cool_off(
    simulator: Simulator,
    client: DukkangoClient,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cool_off_seconds=60, clock=clock)
    for key in ("k1", "k2", "k3", "k4"):
        simulator.add_order(payment_key=key)
    failing_cancels(simulator)

    executor = executor_for(client, waits, policy=ONE_TRY, breaker=breaker)
    failed = [cancel(executor, client, key) for key in ("k1", "k2", "k3")]
    held_back = cancel(executor, client, "k4")
    clock.now += 59.9
    still_held = cancel(executor, client, "k4")

    assert [r.error_text for r in failed] == [
        f"PUT orders/cancel/{key}: 503 sunucu hatası: Service Unavailable"
        for key in ("k1", "k2", "k3")
    ]
    assert breaker.is_open
    for result in (held_back, still_held):
        assert isinstance(result.error, CircuitOpen)
        assert str(result.error) == "cancel k4: not sent, the API circuit is open"
        assert (result.attempts, result.answer_lost) == (0, False)
    assert cancels(simulator) == ["k1", "k2", "k3"]  # nothing while open
    opened = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert opened == ["the Dükkango API failed 3 calls in a row; pausing calls for 60 s"]


def test_after_the_cool_off_one_success_closes_the_circuit(
    simulator: Simulator,
    client: DukkangoClient,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cool_off_seconds=60, clock=clock)
    for key in ("k1", "k2", "k3", "k4"):
        simulator.add_order(payment_key=key)
    failing_cancels(simulator, count=2)

    executor = executor_for(client, waits, policy=ONE_TRY, breaker=breaker)
    cancel(executor, client, "k1")
    cancel(executor, client, "k2")
    assert breaker.is_open
    clock.now += 60
    recovered = cancel(executor, client, "k3")
    after = cancel(executor, client, "k4")

    assert recovered.ok and after.ok
    assert not breaker.is_open and breaker.open_since is None
    assert cancels(simulator) == ["k1", "k2", "k3", "k4"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"][
        -1
    ] == ("WARNING", "the Dükkango API answers again; resuming calls")


def test_a_failure_right_after_the_cool_off_reopens_the_circuit_at_once(
    simulator: Simulator,
    client: DukkangoClient,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cool_off_seconds=60, clock=clock)
    for key in ("k1", "k2", "k3", "k4", "k5"):
        simulator.add_order(payment_key=key)
    failing_cancels(simulator)

    executor = executor_for(client, waits, policy=ONE_TRY, breaker=breaker)
    for key in ("k1", "k2", "k3"):
        cancel(executor, client, key)
    clock.now += 60
    probe = cancel(executor, client, "k4")  # one call is let through: still down
    held_back = cancel(executor, client, "k5")

    assert probe.attempts == 1 and not probe.ok
    assert isinstance(held_back.error, CircuitOpen)
    assert cancels(simulator) == ["k1", "k2", "k3", "k4"]
    opened = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert opened[1] == "the Dükkango API failed 4 calls in a row; pausing calls for 60 s"


def test_an_answer_that_is_final_means_the_api_is_up(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    breaker = CircuitBreaker(threshold=3, cool_off_seconds=60, clock=FakeClock())
    for key in ("k1", "k2", "k4", "k5"):
        simulator.add_order(payment_key=key)
    failing_cancels(simulator, count=2)

    executor = executor_for(client, waits, policy=ONE_TRY, breaker=breaker)
    cancel(executor, client, "k1")
    cancel(executor, client, "k2")
    unknown = cancel(executor, client, "k3")  # 404: the API answered
    failing_cancels(simulator, count=2)
    cancel(executor, client, "k4")
    cancel(executor, client, "k5")

    assert unknown.error_text == "PUT orders/cancel/k3: 404 sipariş bulunamadı (order not found)"
    assert not breaker.is_open  # 2 + 2 passing failures, never 3 in a row


def test_calls_not_sent_never_count_as_failures(
    simulator: Simulator, client: DukkangoClient, waits: list[float]
) -> None:
    breaker = CircuitBreaker(threshold=1, cool_off_seconds=60, clock=FakeClock())
    simulator.add_order(payment_key="k1")

    def moved() -> None:
        raise NoLongerQualifies({"change": "delivered meanwhile"})

    executor = executor_for(client, waits, policy=ONE_TRY, breaker=breaker)
    result = cancel(executor, client, "k1", recheck=moved)

    assert result.no_longer_qualifies is not None and result.attempts == 0
    assert not breaker.is_open
    assert cancels(simulator) == []


def test_the_operator_sees_since_when_the_circuit_is_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cool_off_seconds=60, clock=clock)
    opened_at = datetime(2031, 5, 17, 12, 0, 5, tzinfo=UTC)

    with time_machine.travel(opened_at, tick=False):
        breaker.record(passing_failure=True)
        assert breaker.open_since is None  # one failure is not an outage
        breaker.record(passing_failure=True)

    assert breaker.open_since == opened_at
    clock.now += 60
    assert breaker.open_since is None and not breaker.is_open

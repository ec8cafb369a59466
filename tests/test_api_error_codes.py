"""Every API failure carries a code, decided once where the answer is read.

Real HTTP against the simulator on loopback: each answer (or its absence)
produces its error and code; the executor's own refusals have theirs; the
metrics' ``api_errors`` label and the "already canceled" judgement come from
those codes, never from the error's words.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from daemon.config.load import load_config
from daemon.domain.apierrors import ApiErrorCode
from daemon.dukkango import errors
from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import BadRequest, DukkangoError, NoLongerQualifies
from daemon.dukkango.executor import Attempted, CircuitBreaker, Executor, RetryPolicy
from daemon.engine.passes import PassRunner
from daemon.service.metrics import Metrics
from daemon.service.runtime import ApiSession
from daemon.simulator.server import Simulator
from tests.world import PAYMENT_FAILED, World

KEY = "3e9caf87-5cb7-4c4e-adcb-fc2ec54cf24e"
Provoke = Callable[[Simulator, DukkangoClient], object]


@pytest.fixture
def sim(simulator_factory: Callable[..., Simulator]) -> Simulator:
    sim = simulator_factory(cooldown_seconds=30)
    sim.add_order(payment_key=KEY)
    return sim


@pytest.fixture
def client(sim: Simulator) -> Iterator[DukkangoClient]:
    with DukkangoClient(base_url=sim.url, timeout=0.5, access_token=sim.static_token) as client:
        yield client


def _on_cancel(kind: str, **fault: Any) -> Provoke:
    def provoke(sim: Simulator, client: DukkangoClient) -> None:
        sim.inject_fault(kind, path_prefix="orders/cancel", **fault)
        client.cancel_order(KEY, 1)

    return provoke


def _cancel_twice(sim: Simulator, client: DukkangoClient) -> None:
    client.cancel_order(KEY, 1)
    client.cancel_order(KEY, 1)


def _without_credentials(sim: Simulator, client: DukkangoClient) -> None:
    with DukkangoClient(base_url=sim.url) as anonymous:
        anonymous.cancel_order(KEY, 1)


ANSWERS = [
    pytest.param(_cancel_twice, ApiErrorCode.BAD_REQUEST, id="400-invalid-state"),
    pytest.param(
        _on_cancel("status", status=400, error="eksik alan", message="reason_id is required"),
        ApiErrorCode.BAD_REQUEST,
        id="400-eksik-alan",
    ),
    pytest.param(_on_cancel("unauthorized"), ApiErrorCode.UNAUTHORIZED, id="401"),
    pytest.param(lambda s, c: c.deactivate_food(999), ApiErrorCode.FORBIDDEN, id="403"),
    pytest.param(lambda s, c: c.cancel_order("no-such-order", 1), ApiErrorCode.NOT_FOUND, id="404"),
    pytest.param(
        lambda s, c: (c.current_orders(), c.current_orders()),
        ApiErrorCode.RATE_LIMITED,
        id="429-cooldown",
    ),
    pytest.param(_on_cancel("status", status=503), ApiErrorCode.SERVER_ERROR, id="503-envelope"),
    pytest.param(
        _on_cancel("body", status=502, body="<html>Bad Gateway</html>"),
        ApiErrorCode.SERVER_ERROR,
        id="502-html",
    ),
    pytest.param(
        _on_cancel("body", status=200, body="<html>Maintenance</html>"),
        ApiErrorCode.UNREADABLE,
        id="200-html",
    ),
    pytest.param(
        _on_cancel("body", status=404, body="<h1>Not Found</h1>"),
        ApiErrorCode.UNREADABLE,
        id="404-html-wrong-url",
    ),
    pytest.param(
        _on_cancel(
            "body",
            status=409,
            body='{"status": false, "error": "çakışma"}',
            content_type="application/json",
        ),
        ApiErrorCode.UNREADABLE,
        id="409-other-4xx",
    ),
    pytest.param(_on_cancel("hang", seconds=3), ApiErrorCode.TIMEOUT, id="timeout"),
    pytest.param(_on_cancel("trickle", seconds=0.3), ApiErrorCode.TIMEOUT, id="trickling-body"),
    pytest.param(_on_cancel("drop"), ApiErrorCode.CONNECTION, id="dropped-connection"),
    pytest.param(lambda s, c: c.cancel_order("a/b", 1), ApiErrorCode.INVALID_ID, id="invalid-id"),
    pytest.param(_without_credentials, ApiErrorCode.NO_CREDENTIALS, id="no-credentials"),
]


@pytest.mark.parametrize(("provoke", "code"), ANSWERS)
def test_each_answer_gives_its_code(
    sim: Simulator, client: DukkangoClient, provoke: Provoke, code: ApiErrorCode
) -> None:
    with pytest.raises(DukkangoError) as caught:
        provoke(sim, client)
    assert caught.value.code is code


def test_a_connection_refused_is_a_connection_error() -> None:
    # Port 9 (discard) is closed on the test machine's loopback.
    client = DukkangoClient(base_url="http://127.0.0.1:9", access_token="t")
    with client, pytest.raises(DukkangoError) as caught:
        client.cancel_order(KEY, 1)
    assert caught.value.code is ApiErrorCode.CONNECTION
    assert not caught.value.maybe_acted  # never connected: it cannot have acted


# --- "already canceled" -------------------------------------------------------------


def test_cancelling_a_canceled_order_is_recognised_from_the_answer(
    sim: Simulator, client: DukkangoClient
) -> None:
    sim.set_order_status(KEY, 6)  # by the customer, say
    with pytest.raises(BadRequest) as caught:
        client.cancel_order(KEY, 1)
    assert caught.value.already_canceled


@pytest.mark.parametrize(
    ("message", "already"),
    [
        ("Order is already canceled", True),
        ("Order is already cancelled", True),
        ("Sipariş zaten iptal edildi", True),
        ("Bu sipariş iptal edilmiş", True),
        ("This order cannot be cancelled by the restaurant", False),
        ("Order is already completed", False),
    ],
)
def test_only_a_refusal_saying_canceled_already_counts_as_done(
    sim: Simulator, client: DukkangoClient, message: str, already: bool
) -> None:
    sim.inject_fault("status", status=400, error="geçersiz durum", message=message)
    with pytest.raises(BadRequest) as caught:
        client.cancel_order(KEY, 1)
    assert caught.value.already_canceled is already


# --- the executor's codes -------------------------------------------------------------


def _attempt(executor: Executor, client: DukkangoClient, **options: Any) -> Attempted:
    return executor.attempt(
        lambda: client.cancel_order(KEY, 1), what="cancel", mutation=True, **options
    )


def test_a_failed_call_returns_its_code_and_words(sim: Simulator, client: DukkangoClient) -> None:
    sim.inject_fault("status", count=10, status=500, path_prefix="orders/cancel")
    executor = Executor(client=client, policy=RetryPolicy(initial_backoff_seconds=0.01))
    result = _attempt(executor, client)
    assert result.error_code is ApiErrorCode.SERVER_ERROR
    assert result.error_text is not None and "500" in result.error_text
    assert [r.status for r in sim.requests("PUT", "orders/cancel")] == [500] * 4
    # The pass's record (``status``) keeps each HTTP answer's exact status.
    assert executor.calls.summary().failures == {"http_500": 4}


def test_calls_not_made_have_their_own_codes(sim: Simulator, client: DukkangoClient) -> None:
    stopped = threading.Event()
    stopped.set()
    breaker = CircuitBreaker(threshold=1, cool_off_seconds=60)
    breaker.record(passing_failure=True)

    def changed() -> None:
        raise NoLongerQualifies({"change": "paid after all"})

    executor = Executor(client=client, stop=stopped)
    shutting_down = _attempt(executor, client)
    executor = Executor(client=client, breaker=breaker)
    circuit_open = _attempt(executor, client)
    executor = Executor(client=client)
    rejudged = _attempt(executor, client, recheck=changed)

    assert shutting_down.error_code is ApiErrorCode.NOT_SENT
    assert circuit_open.error_code is ApiErrorCode.CIRCUIT_OPEN
    assert rejudged.error_code is ApiErrorCode.NO_LONGER_QUALIFIES
    assert sim.requests("PUT", "orders/cancel") == []
    order = sim.order(KEY)
    assert order is not None and order["status_id"] == 1


def test_a_bug_while_calling_is_an_internal_error(client: DukkangoClient) -> None:
    def crash(item: int) -> Attempted:
        raise RuntimeError("a bug")

    executor = Executor(client=client)
    [(_, result)] = list(executor.map_concurrently(crash, [1]))
    assert result.error_code is ApiErrorCode.INTERNAL
    assert result.answer_lost  # whether the request left is unknown


def test_every_error_class_declares_its_code() -> None:
    def subclasses(cls: type[DukkangoError]) -> Iterator[type[DukkangoError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    bases = {errors.DukkangoError, errors.ApiError}  # never raised themselves
    concrete = [cls for cls in subclasses(DukkangoError) if cls not in bases]
    assert len(concrete) >= 16
    missing = [
        c.__name__ for c in concrete if not isinstance(getattr(c, "code", None), ApiErrorCode)
    ]
    assert missing == []


# --- metrics ----------------------------------------------------------------------------


def test_the_api_errors_label_is_the_code_not_the_words(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("refused", payment_status="failed")
    world.add_order("dropped", payment_status="failed")
    world.add_order("fine", payment_status="failed")
    # A 403 whose words quote a 401: reading the text would label it 401.
    world.simulator.inject_fault(
        "status",
        status=403,
        error="URL hatalı",
        message="upstream said: 401 unauthorized",
        path_prefix="orders/cancel/refused",
    )
    world.simulator.inject_fault("drop", path_prefix="orders/cancel/dropped")
    config = load_config(world.rules_path, environ={})
    with ApiSession(config, environ=world.env) as session:
        runner = PassRunner(config=config, engine=world.engine, executor_factory=session.executor)
        report = runner.run_once()
    metrics = Metrics()
    metrics.record_pass(report.decisions, report.actions, seconds=0.1, finished_at=time.time())

    outcomes = {d.payment_key: d.outcome for d in report.decisions}
    assert outcomes == {"refused": "failed", "dropped": "failed", "fine": "cancelled"}
    refused = next(d for d in report.decisions if d.payment_key == "refused")
    assert "401" in (refused.last_error or "")
    assert _api_errors(metrics) == {"403": 1.0, "transport": 1.0}


def _api_errors(metrics: Metrics) -> dict[str, float]:
    [family] = [m for m in metrics.registry.collect() if m.name == "autocancel_api_errors"]
    return {
        sample.labels["kind"]: sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }

"""How fast calls go out: ``api.concurrency`` at once, and at least 30 s after a 429."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from daemon.config.load import load_config
from daemon.engine.passes import PassRunner
from daemon.service.runtime import ApiSession
from daemon.simulator.server import Simulator
from tests.world import PAYMENT_FAILED, World, cancel_requests_for, ledger_rows, once_json

KEYS = [f"order-{n}" for n in range(4)]


@contextmanager
def peak_in_flight(simulator: Simulator) -> Iterator[list[int]]:
    """The most API requests the simulator held at once while the block ran.

    Each request below is held 0.3 s by a hang fault, so sampling every 2 ms
    cannot miss a moment when one more was in flight.
    """
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], simulator.in_flight())
            done.wait(0.002)

    sampler = threading.Thread(target=sample, name="peak-in-flight")
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_no_more_cancellations_are_in_flight_than_api_concurrency(
    world: World, concurrency: int
) -> None:
    world.configure(PAYMENT_FAILED, api_extra={"concurrency": concurrency})
    for key in KEYS:
        world.add_order(key, payment_status="failed")
    world.simulator.inject_fault(
        "hang", count=len(KEYS), seconds=0.3, method="PUT", path_prefix="orders/cancel/"
    )

    with peak_in_flight(world.simulator) as peak:
        decisions, _ = once_json(world)

    assert peak[0] == concurrency  # never more, and as many as allowed
    assert {d["payment_key"]: d["outcome"] for d in decisions} == dict.fromkeys(KEYS, "cancelled")
    assert sorted(key for key, _body in world.cancel_calls()) == KEYS


class RecordedWaits(threading.Event):
    """A stop event whose timed waits return at once, each written down.

    The executor sleeps between attempts by waiting on its stop event (so that
    SIGTERM ends any wait at once); handed this one, it waits no time at all
    and the test reads how long it would have waited.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        self.waits.append(timeout)
        return self.is_set()


TOO_MANY = json.dumps({"status": False, "error": "çok fazla istek"})
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "rate_limit"},
    # A Retry-After shorter than the documented cooldown does not shorten it.
    "429-retry-after-1s": {
        "kind": "body",
        "status": 429,
        "body": TOO_MANY,
        "content_type": "application/json",
        "headers": {"Retry-After": "1"},
    },
    # The contrast: any other passing failure backs off as configured (0.05 s).
    "503": {"kind": "status", "status": 503},
}


@pytest.mark.parametrize(
    ("fault", "status", "wait"),
    [("429", 429, 30.0), ("429-retry-after-1s", 429, 30.0), ("503", 503, 0.05)],
    ids=["429", "429-retry-after-1s", "503"],
)
def test_a_429_waits_at_least_30_seconds_before_the_next_attempt(
    world: World, fault: str, status: int, wait: float, request: pytest.FixtureRequest
) -> None:
    world.configure(PAYMENT_FAILED)  # backoff_seconds 0.05, max_attempts 3
    world.add_order("limited", payment_status="failed")
    options = dict(FAULTS[fault])
    world.simulator.inject_fault(
        options.pop("kind"), method="PUT", path_prefix="orders/", **options
    )
    config = load_config(world.rules_path, environ={})
    waits = RecordedWaits()
    session = ApiSession(config, environ=world.env, stop=waits)
    request.addfinalizer(session.close)
    runner = PassRunner(
        config=config,
        engine=world.engine,
        executor_factory=session.executor,
    )

    report = runner.run_once()

    assert waits.waits == [wait]
    assert [(d.payment_key, d.outcome, d.attempts) for d in report.primary] == [
        ("limited", "cancelled", 2)
    ]
    assert [r.status for r in cancel_requests_for(world, "limited")] == [status, 200]
    [row] = ledger_rows(world, "limited")
    assert (row["outcome"], row["attempts"]) == ("cancelled", 2)

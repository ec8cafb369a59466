"""Sending decisions to Dükkango: retries, backoff and bounded concurrency.

The executor knows nothing of rules or the store; it turns one API call into
an :class:`Attempted` result. Dry-run needs no executor at all: a dry pass
never builds a client, so it cannot send anything, not even a login.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeVar

import tenacity

from daemon.api import DukkangoClient, DukkangoError, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """5xx, timeouts and connection errors back off exponentially; 429 waits longer."""

    max_attempts: int = 4
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    rate_limit_wait_seconds: float = 30.0  # the API's documented cooldown


@dataclass(frozen=True, slots=True)
class Attempted:
    ok: bool
    attempts: int
    error: DukkangoError | None = None
    value: object = None  # what the call returned, e.g. "Open" for a status read

    @property
    def error_text(self) -> str | None:
        return None if self.error is None else str(self.error)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DukkangoError) and exc.retryable


def _wait_for(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    exponential = tenacity.wait_exponential(
        multiplier=policy.initial_backoff_seconds, max=policy.max_backoff_seconds
    )

    def wait(state: tenacity.RetryCallState) -> float:
        delay = float(exponential(state))
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return max(delay, policy.rate_limit_wait_seconds)
        return delay

    return wait


class CircuitOpen(DukkangoError):
    """The API failed too often in a row; calls are paused for a while."""

    retryable = True


class CircuitBreaker:
    """After ``threshold`` calls in a row that failed for passing reasons (5xx,
    timeouts, refused connections, 429), stop calling for ``cool_off_seconds``
    instead of hammering an API that is down; then let calls through again.
    One log line when it opens and one when it closes, not one per call.
    """

    def __init__(self, *, threshold: int = 5, cool_off_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._cool_off = cool_off_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return (self._opened_at is not None
                    and self._clock() - self._opened_at < self._cool_off)

    def record(self, *, passing_failure: bool) -> None:
        with self._lock:
            if not passing_failure:
                if self._opened_at is not None:
                    log.warning("the Dükkango API answers again; resuming calls")
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._failures >= self._threshold and (
                self._opened_at is None or self._clock() - self._opened_at >= self._cool_off
            ):
                self._opened_at = self._clock()
                log.error("the Dükkango API failed %d calls in a row; pausing calls for %.0f s",
                          self._failures, self._cool_off)


class Executor:
    """Runs API calls for one pass against a live client."""

    def __init__(
        self,
        *,
        client: DukkangoClient,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        stop: threading.Event | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self._policy = policy or RetryPolicy()
        self._concurrency = max(1, concurrency)
        # Set on shutdown: no new attempt starts and no backoff is waited out;
        # the call in flight finishes or times out.
        self._stop = stop or threading.Event()
        self._breaker = breaker

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.close()

    def attempt(self, call: Callable[[], object], *, what: str) -> Attempted:
        """Run ``call`` with the retry policy; never raises a DukkangoError."""
        if self._breaker is not None and self._breaker.is_open:
            return Attempted(ok=False, attempts=0,
                             error=CircuitOpen(f"{what}: not sent, the API circuit is open"))
        if self._stop.is_set():
            return Attempted(ok=False, attempts=0,
                             error=CircuitOpen(f"{what}: not sent, shutting down"))
        result = self._attempt(call, what=what)
        if self._breaker is not None:
            self._breaker.record(passing_failure=result.error is not None
                                 and result.error.retryable)
        return result

    def _attempt(self, call: Callable[[], object], *, what: str) -> Attempted:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_retryable),
            stop=(tenacity.stop_after_attempt(self._policy.max_attempts)
                  | tenacity.stop_when_event_set(self._stop)),
            wait=_wait_for(self._policy),
            sleep=tenacity.sleep_using_event(self._stop),
            before_sleep=lambda state: log.warning(
                "%s: attempt %d failed (%s); retrying",
                what, state.attempt_number, state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        )
        try:
            value = retrying(call)
        except DukkangoError as exc:
            return Attempted(ok=False, attempts=retrying.statistics.get("attempt_number", 1),
                             error=exc)
        return Attempted(
            ok=True, attempts=retrying.statistics.get("attempt_number", 1), value=value
        )

    def map_concurrently(
        self, work: Callable[[T], Attempted], items: Iterable[T]
    ) -> Iterator[tuple[T, Attempted]]:
        """Yield each item with its result as soon as it is done (record outcomes early)."""
        pending = list(items)
        if not pending:
            return
        with ThreadPoolExecutor(
            max_workers=min(self._concurrency, len(pending)), thread_name_prefix="autocancel-api"
        ) as pool:
            futures = {pool.submit(work, item): item for item in pending}
            for future in as_completed(futures):
                yield futures[future], future.result()

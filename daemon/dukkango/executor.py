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
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import tenacity

from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.timeutil import utcnow
from daemon.dukkango.callstats import CallTally
from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import (
    BadRequest,
    CallCrashed,
    CircuitOpen,
    DukkangoError,
    NoLongerQualifies,
    NotSent,
    RateLimited,
    TransportError,
)

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
    """What became of one call, retries included."""

    ok: bool
    attempts: int
    error: DukkangoError | None = None
    value: object = None  # what the call returned, e.g. "Open" for a status read
    # Attempts whose answer was lost: the platform may have acted on them.
    uncertain: int = 0

    @property
    def error_code(self) -> ApiErrorCode | None:
        """Why it failed, as a code (None when it went through)."""
        return None if self.error is None else self.error.code

    @property
    def error_text(self) -> str | None:
        """Why it failed, in words for the ledger and the logs."""
        return None if self.error is None else str(self.error)

    @property
    def already_canceled(self) -> bool:
        """Refused because the order is canceled already: the goal of a cancel holds."""
        return isinstance(self.error, BadRequest) and self.error.already_canceled

    @property
    def answer_lost(self) -> bool:
        """It failed, and the platform may have carried the call out all the same."""
        return not self.ok and self.error is not None and self.error.maybe_acted

    @property
    def no_longer_qualifies(self) -> NoLongerQualifies | None:
        return self.error if isinstance(self.error, NoLongerQualifies) else None


def _retry_in_pass(exc: BaseException, *, mutation: bool) -> bool:
    """Whether to try again within this pass.

    A call that changes something and whose answer was lost in transit (a
    timeout, a dropped connection) may have acted: it is not repeated at once
    but left to a later pass, which re-judges the order on current data first.
    """
    if not isinstance(exc, DukkangoError) or not exc.retryable or isinstance(exc, NotSent):
        return False
    return not (mutation and isinstance(exc, TransportError) and exc.maybe_acted)


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


class CircuitBreaker:
    """After ``threshold`` calls in a row that failed for passing reasons (5xx,
    timeouts, refused connections, 429), stop calling for ``cool_off_seconds``
    instead of hammering an API that is down; then let calls through again.
    One log line when it opens and one when it closes, not one per call.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        cool_off_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cool_off = cool_off_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._opened_wall: datetime | None = None  # the same moment, for operators
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._is_open_locked()

    def _is_open_locked(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at < self._cool_off

    @property
    def open_since(self) -> datetime | None:
        """When the circuit opened (UTC), while it is open; None when calls go through."""
        with self._lock:
            return self._opened_wall if self._is_open_locked() else None

    def record(self, *, passing_failure: bool) -> None:
        with self._lock:
            if not passing_failure:
                if self._opened_at is not None:
                    log.warning("the Dükkango API answers again; resuming calls")
                self._failures, self._opened_at, self._opened_wall = 0, None, None
                return
            self._failures += 1
            if self._failures >= self._threshold and (
                self._opened_at is None or self._clock() - self._opened_at >= self._cool_off
            ):
                self._opened_at, self._opened_wall = self._clock(), utcnow()
                log.error(
                    "the Dükkango API failed %d calls in a row; pausing calls for %.0f s",
                    self._failures,
                    self._cool_off,
                )


class Executor:
    """Runs API calls for one pass against a live client (which it borrows, never closes)."""

    def __init__(
        self,
        *,
        client: DukkangoClient,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        stop: threading.Event | None = None,
        breaker: CircuitBreaker | None = None,
        deadline_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self._policy = policy or RetryPolicy()
        self._concurrency = max(1, concurrency)
        # Set on shutdown: no new attempt starts and no backoff is waited out;
        # the call in flight finishes or times out.
        self._stop = stop or threading.Event()
        self._breaker = breaker
        # The pass's deadline: after it no new attempt starts (what is left is
        # "not sent", decided again by a later pass).
        self._clock = clock
        self._deadline = None if deadline_seconds is None else clock() + deadline_seconds
        # How a backoff is waited out: by default on ``stop``, so that a shutdown
        # cuts the wait short (tests pass one that records the waits instead).
        self._sleep = sleep or tenacity.sleep_using_event(self._stop)
        # Every request's answer, as codes, for the pass's record (``status``).
        self.calls = CallTally()

    @property
    def max_attempts(self) -> int:
        return self._policy.max_attempts

    def _out_of_time(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def attempt(
        self,
        call: Callable[[], object],
        *,
        what: str,
        mutation: bool = False,
        recheck: Callable[[], None] | None = None,
    ) -> Attempted:
        """Run ``call`` with the retry policy; never raises a DukkangoError.

        ``mutation`` marks a call that changes something on the platform (see
        :func:`_retry_in_pass`). ``recheck`` runs right before every attempt,
        the first included; it raises :class:`NoLongerQualifies` to stop.
        """
        not_sent = self._why_not_sent(what)
        if not_sent is not None:
            return Attempted(ok=False, attempts=0, error=not_sent)
        result = self._attempt(call, what=what, mutation=mutation, recheck=recheck)
        if (
            self._breaker is not None
            and result.attempts
            and not isinstance(result.error, (NotSent, NoLongerQualifies))
        ):
            self._breaker.record(
                passing_failure=result.error is not None and result.error.retryable
            )
        return result

    def _stop_condition(self) -> tenacity.stop.stop_base:
        stop = tenacity.stop_after_attempt(self._policy.max_attempts) | (
            tenacity.stop_when_event_set(self._stop)
        )
        if self._deadline is None:
            return stop
        return stop | tenacity.stop_after_delay(max(0.0, self._deadline - self._clock()))

    def _why_not_sent(self, what: str) -> NotSent | None:
        if self._breaker is not None and self._breaker.is_open:
            return CircuitOpen(f"{what}: not sent, the API circuit is open")
        if self._stop.is_set():
            return NotSent(f"{what}: not sent, shutting down")
        if self._out_of_time():
            return NotSent(f"{what}: not sent, the pass ran out of time")
        return None

    def _attempt(
        self,
        call: Callable[[], object],
        *,
        what: str,
        mutation: bool,
        recheck: Callable[[], None] | None,
    ) -> Attempted:
        sent = uncertain = 0

        def one_attempt() -> object:
            nonlocal sent, uncertain
            # A wait interrupted by shutdown (or a circuit that opened meanwhile)
            # ends here: tenacity would otherwise try once more after the sleep.
            not_sent = self._why_not_sent(what) if sent else None
            if not_sent is not None:
                raise not_sent
            if recheck is not None:
                recheck()
            sent += 1
            try:
                value = call()
            except DukkangoError as exc:
                uncertain += exc.maybe_acted
                self.calls.failed(exc)
                raise
            self.calls.succeeded()
            return value

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: _retry_in_pass(exc, mutation=mutation)),
            stop=self._stop_condition(),
            wait=_wait_for(self._policy),
            sleep=self._sleep,
            before_sleep=lambda state: log.warning(
                "%s: attempt %d failed (%s); retrying",
                what,
                state.attempt_number,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        )
        try:
            value = retrying(one_attempt)
        except DukkangoError as exc:
            return Attempted(ok=False, attempts=sent, error=exc, uncertain=uncertain)
        return Attempted(ok=True, attempts=sent, value=value, uncertain=uncertain)

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
                yield futures[future], _result_of(future)


def _result_of(future: Future[Attempted]) -> Attempted:
    """The call's result; a bug in one call becomes its failure, never another's loss."""
    try:
        return future.result()
    except Exception as exc:
        log.exception("a call failed inside autocancel itself")
        return Attempted(
            ok=False,
            attempts=1,
            uncertain=1,
            error=CallCrashed(f"internal error: {type(exc).__name__}: {exc}"),
        )

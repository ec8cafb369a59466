"""Sending decisions to Dükkango: retries, backoff and bounded concurrency.

The executor knows nothing of rules or the store; it turns one API call into
an :class:`Attempted` result. Dry-run needs no executor at all: a dry pass
never builds a client, so it cannot send anything, not even a login.
"""

from __future__ import annotations

import logging
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


class Executor:
    """Runs API calls for one pass against a live client."""

    def __init__(
        self,
        *,
        client: DukkangoClient,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._policy = policy or RetryPolicy()
        self._concurrency = max(1, concurrency)
        self._sleep = sleep

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
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_retryable),
            stop=tenacity.stop_after_attempt(self._policy.max_attempts),
            wait=_wait_for(self._policy),
            sleep=self._sleep,
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

"""Remembering what was logged, so each thing is logged once (or once a period).

A daemon that re-reads the same bad row or re-finds the same shadow match
every 15 seconds would bury the journal in repeats. ``first(key)`` is true
the first time a key is seen, and again once ``period`` has passed since it
was last logged (never, without a period). Old keys are forgotten after a
period, so a daemon that runs for months does not grow without bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import timedelta


class LogOnce:
    def __init__(
        self, *, period: timedelta | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._period: float | None = None
        self._seen: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0
        self.repeat_every(period)

    def repeat_every(self, period: timedelta | None) -> None:
        """Log a key again once ``period`` has passed (None: once for the process)."""
        with self._lock:
            self._period = None if period is None else period.total_seconds()

    def first(self, key: Hashable) -> bool:
        with self._lock:
            now = self._clock()
            period = self._period
            if period is not None and now >= self._next_prune:
                self._seen = {k: at for k, at in self._seen.items() if now - at < period}
                self._next_prune = now + period
            logged_at = self._seen.get(key)
            if logged_at is not None and (period is None or now - logged_at < period):
                return False
            self._seen[key] = now
            return True

"""When the systemd watchdog heartbeat is withheld: when passes stop making progress.

``autocancel run`` sends ``WATCHDOG=1`` from its scheduler, beside the passes
rather than from them, so a long pass does not silence it by itself. It is
withheld, and systemd restarts the daemon (``WatchdogSec``), only when

* the pass in flight has run longer than any pass can: sending until the
  pass's deadline (``api.pass_deadline_seconds``) and then its last attempt's
  timeout, or one call's every attempt timing out after a 429's wait,
  whichever is longer, and a minute more for the store and the geocoder (a
  pass hung on a lock, a call that never returns);
* or no pass is running and none has finished for three intervals and that
  long: the schedule itself stopped.

A pass that fails is progress: it ends, and the schedule goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from daemon.config.models import Config

# The longest an API attempt may wait before it is made: a 429's cooldown.
RATE_LIMIT_WAIT_SECONDS = 30
# What a pass may spend outside the API: store reads and writes, geocoding.
OUTSIDE_THE_API_SECONDS = 60
# Intervals without a pass (and none running) before the schedule counts as stopped.
MISSED_INTERVALS = 3


def longest_pass_seconds(config: Config) -> float:
    """The longest a pass can legitimately run with these settings."""
    api = config.api
    # No attempt starts after the deadline; one started just before it takes its timeout.
    until_the_deadline = api.pass_deadline_seconds + api.timeout_seconds
    one_call = api.max_attempts * (api.timeout_seconds + RATE_LIMIT_WAIT_SECONDS)
    return max(until_the_deadline, one_call) + OUTSIDE_THE_API_SECONDS


class PassProgress:
    """The passes' starts and ends, on a monotonic clock, for the watchdog to judge."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: float | None = None
        self._last_finished = clock()

    @property
    def running(self) -> bool:
        return self._started is not None

    def pass_started(self) -> None:
        self._started = self._clock()

    def pass_finished(self) -> float:
        """The pass is over (whatever its result); returns how long it ran, in seconds."""
        now = self._clock()
        ran = 0.0 if self._started is None else now - self._started
        self._started, self._last_finished = None, now
        return ran

    def stall(self, config: Config) -> str | None:
        """Why the heartbeat must be withheld now; None while passes make progress."""
        now = self._clock()
        longest = longest_pass_seconds(config)
        started = self._started
        if started is not None and now - started > longest:
            return (
                f"a pass has been running for {now - started:.0f} s; withholding the "
                "watchdog heartbeat so systemd restarts the daemon"
            )
        idle = now - self._last_finished
        if started is None and idle > MISSED_INTERVALS * config.schedule.interval_seconds + longest:
            return f"no pass for {idle:.0f} s; withholding the watchdog heartbeat"
        return None

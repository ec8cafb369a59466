"""How far a long replay is, on the operator's terminal: one line, rewritten in place.

A month of a chain's history takes about an hour to replay: without a word
the command looks hung. On a terminal (stderr), every few seconds, the line
says how far the simulated clock got and about how long is left; it is
erased when the replay ends, however it ends, so the report (stdout) and a
pipe or a log file (not a terminal) see nothing of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TextIO

from daemon.domain.printable import printable
from daemon.domain.timeutil import isoformat_z

# Erase from the cursor to the end of the line (ECMA-48 EL).
_ERASE = "\x1b[K"


class ReplayProgress:
    """Told the simulated clock by a replay (daemon.engine.replay.run.Replay.run)."""

    def __init__(
        self,
        what: str,
        *,
        start: datetime,
        end: datetime,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        every_seconds: float = 2.0,
    ) -> None:
        self._what = printable(what)
        self._start, self._end = start, end
        self._stream = stream
        self._clock = clock
        self._every = every_seconds
        self._on = stream.isatty()
        self._began = clock()
        self._shown: float | None = None

    def __enter__(self) -> ReplayProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._shown is not None:
            self._stream.write("\r" + _ERASE)
            self._stream.flush()

    def __call__(self, now: datetime) -> None:
        if not self._on:
            return
        moment = self._clock()
        if moment - (self._shown if self._shown is not None else self._began) < self._every:
            return
        self._shown = moment
        span = (self._end - self._start).total_seconds()
        share = min(max((now - self._start).total_seconds() / span, 0.0), 1.0) if span else 1.0
        elapsed = moment - self._began
        left = f", about {_duration(elapsed / share - elapsed)} left" if share > 0 else ""
        self._stream.write(
            f"\r{self._what}: at {isoformat_z(now)}, {share:.0%} of the history{left}{_ERASE}"
        )
        self._stream.flush()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min"

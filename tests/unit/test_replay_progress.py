"""A long replay says how far it got, on a terminal only (daemon.cli.progress, Replay.run)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from daemon.cli.progress import ReplayProgress
from daemon.domain.distance import Distances
from daemon.engine.replay.run import PROGRESS_EVERY, Replay
from daemon.engine.replay.world import Start
from tests.unit.builders import NOW
from tests.unit.test_replay_engine import T0, at, config, no_locations

START, END = NOW, NOW + timedelta(days=30)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_one_line_every_few_seconds_then_erased() -> None:
    stream, clock = Terminal(), Clock()
    with ReplayProgress(
        "replaying rules.yaml", start=START, end=END, stream=stream, clock=clock
    ) as progress:
        progress(START + timedelta(days=1))
        assert stream.getvalue() == ""  # not two seconds yet: nothing to say
        clock.now += 60
        progress(START + timedelta(days=15))
        assert stream.getvalue() == (
            "\rreplaying rules.yaml: at 2031-06-01T12:00:00Z, 50% of the history, "
            "about 60 s left\x1b[K"
        )
        clock.now += 1  # within two seconds of the last line: not rewritten
        progress(START + timedelta(days=20))
        assert stream.getvalue().count("\r") == 1
        clock.now += 899  # 960 s in, 80 % done: 240 s to go
        progress(START + timedelta(days=24))
        assert stream.getvalue().endswith("80% of the history, about 4 min left\x1b[K")
    assert stream.getvalue().endswith("\r\x1b[K")  # the line is gone: the report is alone


def test_nothing_is_written_where_stderr_is_not_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    with ReplayProgress("replaying", start=START, end=END, stream=stream, clock=clock) as progress:
        clock.now += 600
        progress(START + timedelta(days=15))
    assert stream.getvalue() == ""


def test_a_file_name_cannot_forge_a_line() -> None:
    stream, clock = Terminal(), Clock()
    with ReplayProgress(
        "replaying x\nerror: forged.yaml", start=START, end=END, stream=stream, clock=clock
    ) as progress:
        clock.now += 10
        progress(START)
    assert "\n" not in stream.getvalue()
    assert "replaying x\\nerror: forged.yaml: at" in stream.getvalue()


def test_the_replay_tells_the_simulated_clock_every_thousand_passes() -> None:
    told: list[datetime] = []
    interval = 15
    run = Replay(
        config(interval=interval), Start(at=T0), locate=no_locations, distances=Distances.exact()
    )
    result = run.run([], until=at(PROGRESS_EVERY * 2.5 * interval), progress=told.append)
    assert result.passes > 2 * PROGRESS_EVERY
    # Pass 1 000 runs at the start plus 999 intervals, pass 2 000 at 1 999.
    assert told == [at((PROGRESS_EVERY - 1) * interval), at((2 * PROGRESS_EVERY - 1) * interval)]

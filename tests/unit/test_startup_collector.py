"""The start-up thresholds of the collector (daemon.cli.main) give way after its first collection.

Back to the interpreter's, unless a command set its own before that first
collection (``replay`` and ``diff`` make collections rarer while they run):
those stay.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from daemon.cli.main import _StartUpCollector
from daemon.cli.review import REPLAY_GC_THRESHOLDS


@pytest.fixture
def interpreter_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_the_first_collection_puts_the_interpreters_thresholds_back(
    interpreter_thresholds: tuple[int, int, int],
) -> None:
    _StartUpCollector().collect_rarely()
    assert gc.get_threshold() == (_StartUpCollector.THRESHOLD, 10, 10)
    gc.collect()
    assert gc.get_threshold() == interpreter_thresholds


def test_a_commands_own_thresholds_outlive_the_first_collection(
    interpreter_thresholds: tuple[int, int, int],
) -> None:
    collector = _StartUpCollector()
    collector.collect_rarely()
    gc.set_threshold(*REPLAY_GC_THRESHOLDS)  # as daemon.cli.review does while replaying
    gc.collect()
    assert gc.get_threshold() == REPLAY_GC_THRESHOLDS
    assert collector.thresholds_back not in gc.callbacks  # done with, either way

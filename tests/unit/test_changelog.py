"""A reader's place in the change log: every row once, in order, gaps waited for.

The log is an in-memory SQLite table here, written with explicit numbers so
that PostgreSQL's out-of-order commits (12 visible while 11 is in flight)
can be staged; the clock is injected. Real triggers on real stores:
tests/test_incremental.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from daemon.store import changelog, schema
from daemon.store.changelog import ChangeBatch, ChangeCursor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log() -> Iterator[sa.Connection]:
    engine = sa.create_engine("sqlite://")
    schema.change_log.create(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def write(connection: sa.Connection, *seqs: int) -> None:
    connection.execute(
        sa.insert(schema.change_log),
        [
            {"seq": seq, "source": "orders", "payment_key": f"k{seq}", "restaurant_id": "r"}
            for seq in seqs
        ],
    )


def keys(batch: ChangeBatch) -> list[str | None]:
    assert batch.complete
    return [change.payment_key for change in batch.changes]


def test_each_row_is_handed_out_once_in_order(log: sa.Connection) -> None:
    cursor = ChangeCursor()
    cursor.start(log)
    write(log, 1, 2)
    assert keys(cursor.read(log)) == ["k1", "k2"]
    assert keys(cursor.read(log)) == []
    write(log, 3)
    assert keys(cursor.read(log)) == ["k3"]


def test_a_new_reader_starts_after_what_its_full_read_saw(log: sa.Connection) -> None:
    write(log, 1, 2, 3)
    cursor = ChangeCursor()
    cursor.start(log)
    assert keys(cursor.read(log)) == []
    write(log, 4)
    assert keys(cursor.read(log)) == ["k4"]


def test_a_number_committed_late_is_still_handed_out(log: sa.Connection) -> None:
    clock = Clock()
    cursor = ChangeCursor(clock=clock)
    cursor.start(log)
    write(log, 1, 3)  # 2 is still in flight
    assert keys(cursor.read(log)) == ["k1", "k3"]
    assert cursor.open_gaps == 1
    clock.now += 30
    write(log, 2)
    assert keys(cursor.read(log)) == ["k2"]
    assert cursor.open_gaps == 0
    assert keys(cursor.read(log)) == []


def test_a_number_in_flight_while_the_full_read_ran_is_handed_out(log: sa.Connection) -> None:
    write(log, 1, 3)
    cursor = ChangeCursor()
    cursor.start(log)  # the full read saw 1 and 3, and not 2
    write(log, 2)
    assert keys(cursor.read(log)) == ["k2"]


def test_a_gap_is_given_up_after_a_while_and_reading_goes_on(log: sa.Connection) -> None:
    clock = Clock()
    cursor = ChangeCursor(clock=clock, gap_seconds=60)
    cursor.start(log)
    write(log, 1, 3)  # 2 was rolled back: sequences never give a number back
    assert keys(cursor.read(log)) == ["k1", "k3"]
    clock.now += 61
    write(log, 4)
    assert keys(cursor.read(log)) == ["k4"]
    assert cursor.open_gaps == 0


def test_rows_pruned_before_the_reader_saw_them_ask_for_a_full_read(log: sa.Connection) -> None:
    cursor = ChangeCursor()
    cursor.start(log)
    write(log, 1)
    assert keys(cursor.read(log)) == ["k1"]
    write(log, *range(2, 12))
    assert changelog.prune(log, keep=3) == 8  # 1..8 go, 9..11 stay
    assert cursor.read(log) == ChangeBatch((), complete=False)


def test_pruning_keeps_the_tail_a_reader_may_still_need(log: sa.Connection) -> None:
    cursor = ChangeCursor()
    cursor.start(log)
    write(log, *range(1, 6))
    assert keys(cursor.read(log)) == ["k1", "k2", "k3", "k4", "k5"]
    assert changelog.prune(log, keep=10) == 0
    assert changelog.prune(log, keep=2) == 3
    write(log, 6)
    assert keys(cursor.read(log)) == ["k6"]


def test_a_renumbered_log_asks_for_a_full_read(log: sa.Connection) -> None:
    cursor = ChangeCursor()
    cursor.start(log)
    write(log, 1)
    assert keys(cursor.read(log)) == ["k1"]
    write(log, 1 + changelog.MAX_OPEN_GAPS * 3)
    assert not cursor.read(log).complete


def test_a_reader_that_started_on_an_empty_log_takes_its_place_from_the_first_row(
    log: sa.Connection,
) -> None:
    """Emptied by hand or pruned to nothing: the numbering goes on where it was."""
    cursor = ChangeCursor()
    cursor.start(log)
    assert keys(cursor.read(log)) == []
    write(log, 5000, 5002)
    assert keys(cursor.read(log)) == ["k5000", "k5002"]
    write(log, 4999, 5001)  # in flight while the first rows were read
    assert keys(cursor.read(log)) == ["k4999", "k5001"]
    write(log, 5003)
    assert keys(cursor.read(log)) == ["k5003"]

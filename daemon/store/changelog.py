"""Reading the change log (migration 0009) from where the last read stopped.

A :class:`ChangeCursor` is one reader's place in the log. It hands out every
row once, in the order of ``seq``, and says when it cannot: rows it never
saw were pruned, so only a full read can tell what they changed.

PostgreSQL numbers a row when it is written, not when it commits: a reader
may see 12 while 11 is still in flight. The cursor keeps such a gap open and
looks again on every read, for :data:`GAP_SECONDS`; a number still missing
then was most likely rolled back (sequences never give a number back), and
the periodic full pass is the safety net for a transaction slower than that.
SQLite commits one writer at a time, so it has no gaps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daemon.store import schema

# How long a missing number is waited for (see the module docstring).
GAP_SECONDS = 60.0
# How far back a new reader starts, so a number in flight when it started is still seen.
LOOKBACK_ROWS = 1_000
# More missing numbers than this at once: the log was tampered with or renumbered.
MAX_OPEN_GAPS = 10_000
# Rows a full pass leaves in the log (about three hours at ten changes a second).
KEEP_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class Change:
    """One changed row of a contract table, as its trigger logged it (one side of it)."""

    source: str  # orders, order_items or stock
    payment_key: str | None
    restaurant_id: str | None
    food_id: object  # as stored: an integer, unless a POS wrote something else


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    changes: tuple[Change, ...]
    # False: rows this reader never saw are gone; only a full read can catch up.
    complete: bool = True


class ChangeCursor:
    """One reader's place in the change log."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, gap_seconds: float = GAP_SECONDS
    ) -> None:
        self._clock = clock
        self._gap_seconds = gap_seconds
        # Every number up to here was handed out (or given up on). None: the log
        # was empty when this reader started, so its first row says where it is.
        self._floor: int | None = 0
        # The oldest row when this reader took its place: what was gone before
        # was in the full read already, so missing it is no loss.
        self._oldest_known = 0
        self._seen: set[int] = set()  # numbers above the floor already handed out
        self._gaps: dict[int, float] = {}  # numbers above the floor still missing, since when

    @property
    def open_gaps(self) -> int:
        return len(self._gaps)

    def start(self, connection: sa.Connection) -> None:
        """Start at the end of the log, as a full read in ``connection``'s transaction sees it.

        The last :data:`LOOKBACK_ROWS` numbers that are missing are gaps, so
        a write that was in flight during the full read is still handed out.
        """
        log = schema.change_log
        oldest, top = connection.execute(
            sa.select(sa.func.min(log.c.seq), sa.func.max(log.c.seq))
        ).one()
        if top is None:  # empty (new, or emptied by hand): the numbering may be anywhere
            self._floor, self._seen, self._gaps = None, set(), {}
            return
        self._oldest_known = oldest
        self._open_from(max(0, top - LOOKBACK_ROWS), top, connection)

    def _open_from(self, floor: int, top: int, connection: sa.Connection) -> None:
        """Take ``floor`` as handed out, and every number missing up to ``top`` as a gap."""
        log = schema.change_log
        present = set(
            connection.execute(
                sa.select(log.c.seq).where(log.c.seq > floor, log.c.seq <= top)
            ).scalars()
        )
        since = self._clock()
        self._floor, self._seen = floor, present
        self._gaps = {seq: since for seq in range(floor + 1, top + 1) if seq not in present}
        self._advance()

    def read(self, connection: sa.Connection) -> ChangeBatch:
        """The rows written since the last read (or still missing then), in ``seq`` order."""
        log = schema.change_log
        if self._floor is None:
            first = connection.execute(sa.select(sa.func.min(log.c.seq))).scalar()
            if first is None:
                return ChangeBatch(())
            # Everything in the log was written after the full read began; a
            # smaller number may still be in flight (PostgreSQL), as at start.
            self._oldest_known = first
            self._open_from(max(0, first - 1 - LOOKBACK_ROWS), first - 1, connection)
        assert self._floor is not None
        rows = connection.execute(
            sa.select(
                log.c.seq, log.c.source, log.c.payment_key, log.c.restaurant_id, log.c.food_id
            )
            .where(log.c.seq > self._floor)
            .order_by(log.c.seq)
        ).all()
        if self._lost_rows(connection, rows):
            return ChangeBatch((), complete=False)
        fresh = [row for row in rows if row[0] not in self._seen]
        now = self._clock()
        top = max((row[0] for row in rows), default=self._floor)
        if top - self._floor > MAX_OPEN_GAPS + len(rows):
            return ChangeBatch((), complete=False)
        self._seen.update(row[0] for row in fresh)
        for seq in range(self._floor + 1, top + 1):
            if seq not in self._seen:
                self._gaps.setdefault(seq, now)
            else:
                self._gaps.pop(seq, None)
        self._advance()
        return ChangeBatch(tuple(Change(*row[1:]) for row in fresh))

    def _lost_rows(self, connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> bool:
        """Whether numbers right after the floor were pruned before this reader saw them."""
        assert self._floor is not None
        if rows and rows[0][0] == self._floor + 1:
            return False
        oldest = connection.execute(sa.select(sa.func.min(schema.change_log.c.seq))).scalar()
        # Pruning keeps a tail of the log: a row after the floor is gone only if
        # pruning went past the floor since this reader took its place.
        return oldest is not None and oldest > max(self._floor + 1, self._oldest_known)

    def _advance(self) -> None:
        """Move the floor over every number handed out or waited for long enough."""
        now = self._clock()
        while self._floor is not None:
            following = self._floor + 1
            if following in self._seen:
                self._seen.discard(following)
            elif following in self._gaps and now - self._gaps[following] >= self._gap_seconds:
                del self._gaps[following]
            else:
                return
            self._floor = following


def prune(connection: sa.Connection, *, keep: int = KEEP_ROWS) -> int:
    """Delete all but the last ``keep`` rows of the log; how many went."""
    log = schema.change_log
    top = connection.execute(sa.select(sa.func.max(log.c.seq))).scalar() or 0
    if top <= keep:
        return 0
    return connection.execute(sa.delete(log).where(log.c.seq <= top - keep)).rowcount

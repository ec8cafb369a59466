"""Noticing new or changed orders within a second, without scanning the store.

SQLite: a trigger-maintained counter (migration 0004), read by primary key
whenever the database or its write-ahead log changes on disk (a ``stat`` of
both 50 times a second costs next to nothing; the counter is read at least
once a second anyway). PostgreSQL: LISTEN on the channel the triggers
NOTIFY. On a change the daemon runs a pass at once instead of waiting for
the interval; the interval stays as the safety net.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from daemon.store import schema, storefile

log = logging.getLogger(__name__)

STAT_SECONDS = 0.02  # a look at the SQLite files' stamps
POLL_SECONDS = 1.0  # the counter is read at least this often, stamps or not
RETRY_SECONDS = 5.0


def _stamp(database: Path | None) -> tuple[object, ...] | None:
    """What changes on disk when anyone commits to the SQLite file (WAL or not)."""
    if database is None:
        return None
    stamps: list[object] = []
    for path in (database, database.with_name(database.name + "-wal")):
        try:
            info = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


class ChangeWatcher(threading.Thread):
    def __init__(
        self,
        *,
        engine: Callable[[], sa.Engine],
        on_change: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="autocancel-changes", daemon=True)
        self._engine = engine
        self._on_change = on_change
        self._stop = stop

    def run(self) -> None:
        failing = False
        while not self._stop.is_set():
            engine = self._engine()
            try:
                if engine.dialect.name == "postgresql":
                    self._listen(engine)
                else:
                    self._poll(engine)
                failing = False
            except Exception as exc:  # the interval still runs passes meanwhile
                if not failing:
                    log.warning(
                        "change watch interrupted (%s); passes keep their interval, "
                        "retrying the watch every %.0f s",
                        exc,
                        RETRY_SECONDS,
                    )
                failing = True
                self._stop.wait(RETRY_SECONDS)

    def _poll(self, engine: sa.Engine) -> None:
        counter = schema.change_counter
        query = sa.select(counter.c.value).where(counter.c.id == 1)
        database = storefile.sqlite_file(str(engine.url))
        last: int | None = None
        stamp: tuple[object, ...] | None = None
        read_at = 0.0
        while not self._stop.is_set() and self._engine() is engine:
            now_stamp = _stamp(database)
            if now_stamp != stamp or time.monotonic() - read_at >= POLL_SECONDS or not database:
                stamp, read_at = now_stamp, time.monotonic()
                with engine.connect() as connection:
                    value = connection.execute(query).scalar()
                if last is not None and value != last:
                    self._on_change()
                last = value
            self._stop.wait(STAT_SECONDS if database else POLL_SECONDS / 4)

    def _listen(self, engine: sa.Engine) -> None:
        raw = engine.raw_connection()
        try:
            connection = raw.driver_connection
            assert connection is not None
            connection.autocommit = True
            connection.execute(f"LISTEN {schema.CHANGE_CHANNEL}")
            while not self._stop.is_set() and self._engine() is engine:
                if any(True for _ in connection.notifies(timeout=0.5, stop_after=1)):
                    self._on_change()
        finally:
            raw.invalidate()  # a LISTENing session must not go back to the pool

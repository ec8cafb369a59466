"""Noticing new or changed orders within a second, without scanning the store.

SQLite: a trigger-maintained counter (migration 0004), read by primary key a
few times a second. PostgreSQL: LISTEN on the channel the triggers NOTIFY.
On a change the daemon runs a pass at once instead of waiting for the
interval; the interval stays as the safety net.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from daemon.store import schema

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
RETRY_SECONDS = 5.0


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
        last: int | None = None
        while not self._stop.is_set() and self._engine() is engine:
            with engine.connect() as connection:
                value = connection.execute(query).scalar()
            if last is not None and value != last:
                self._on_change()
            last = value
            self._stop.wait(POLL_SECONDS)

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

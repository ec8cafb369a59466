"""One get-current poll: call, store, acknowledge; and the cooldown between polls.

Persist first, acknowledge second (only when configured): a crash between the
two only causes a harmless redelivery. The time of the last poll is kept in
``sync_state``, so the documented 30 s cooldown holds across processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from daemon.config.models import SyncOwnership
from daemon.domain.timeutil import utcnow
from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import DukkangoError
from daemon.service.sync.report import SyncReport
from daemon.service.sync.storing import store_orders
from daemon.service.sync.translate import MalformedOrder, item_rows, order_row
from daemon.store import connect, schema

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

COOLDOWN = timedelta(seconds=30)  # documented for get-current
STATE_KEY = "get-current"


class Syncer:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        client: DukkangoClient,
        acknowledge: bool = False,
        owns: SyncOwnership = "synced",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._client = client
        self._acknowledge = acknowledge
        self._owns = owns
        self._clock = clock

    def wait_needed(self) -> float:
        """Seconds until the get-current cooldown allows another call."""
        with self._engine.connect() as connection:
            last = connection.execute(
                sa.select(schema.sync_state.c.last_poll_at).where(
                    schema.sync_state.c.name == STATE_KEY
                )
            ).scalar()
        if last is None:
            return 0.0
        remaining: timedelta = last + COOLDOWN - self._clock()
        return max(0.0, remaining.total_seconds())

    def poll(self) -> SyncReport:
        """One get-current call, stored. Never raises for API or payload problems."""
        report = SyncReport()
        try:
            orders = self._client.current_orders()
        except DukkangoError as exc:
            report.error = str(exc)
            # The cooldown runs from the answer, which is after the API's own clock
            # started it: waiting from here can never be too short.
            self._remember(self._clock(), error=report.error)
            log.warning("sync: get-current failed: %s", exc)
            return report
        now = self._clock()
        report.received = len(orders)
        rows, items = [], {}
        for payload in orders:
            try:
                row = order_row(payload, now=now)
            except MalformedOrder as exc:
                report.malformed.append(str(exc))
                log.warning("sync: skipped a malformed order: %s", exc)
                continue
            rows.append(row)
            items[row["payment_key"]] = item_rows(payload)
        store_orders(
            self._engine,
            rows,
            items,
            report,
            now=now,
            owns=self._owns,
            acknowledge=self._acknowledge,
        )
        self._remember(now, error=None, success=True)
        if self._acknowledge:
            for row in rows:
                try:
                    self._client.acknowledge_order(row["payment_key"])
                    report.acknowledged += 1
                except DukkangoError as exc:
                    log.warning("sync: could not acknowledge %s: %s", row["payment_key"], exc)
        return report

    def _remember(self, now: datetime, *, error: str | None, success: bool = False) -> None:
        state = schema.sync_state
        values: dict[str, Any] = {"last_poll_at": now, "last_error": error}
        if success:
            values["last_success_at"] = now
        with connect.writer(self._engine) as connection, connection.begin():
            updated = connection.execute(
                sa.update(state).where(state.c.name == STATE_KEY).values(**values)
            ).rowcount
            if not updated:
                connection.execute(sa.insert(state).values(name=STATE_KEY, **values))

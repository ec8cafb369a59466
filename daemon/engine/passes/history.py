"""The pass's side of the order history: what it saw change, written with its decisions.

The entries come from :class:`daemon.engine.recorder.HistoryRecorder`; they
are written in the transaction that commits the pass's decisions (no extra
commit per pass), inside a savepoint: a history that cannot be written costs
the history a gap, never a pass its cancellations. Pruning runs on full
passes, at most once an hour.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa

from daemon.domain import images
from daemon.domain.orders import Order, Snapshot, StockLevel
from daemon.engine.active import PassScope
from daemon.engine.recorder import HistoryRecorder
from daemon.store import connect
from daemon.store import history as stored
from daemon.store.rowcheck import integer

log = logging.getLogger(__package__)

PRUNE_EVERY_SECONDS: Final = 3600.0


@dataclass(frozen=True)
class Seen:
    """What one pass saw change, to be written with its decisions."""

    entries: list[stored.Entry]
    seen_at: datetime
    first: bool  # the recorder's first write since it was primed: a STARTED mark


class PassHistory:
    def __init__(self, engine: sa.Engine, *, retention_days: int) -> None:
        self._engine = engine
        self._retention = timedelta(days=retention_days)
        self._recorder = HistoryRecorder()
        self._written_since_prime = False
        self._pruned_at = float("-inf")

    def seen(self, snapshot: Snapshot, scope: PassScope) -> Seen | None:
        """What ``snapshot`` shows changed since the history's last row; None: not known now."""
        recorder = self._recorder
        if not recorder.primed:
            # Any read compares with the open rows of the restaurants it read; what
            # it did not read is compared by the next full pass.
            if not self._prime():
                return None
            self._written_since_prime = False
        return Seen(
            entries=recorder.changes(snapshot, scope),
            seen_at=snapshot.taken_at,
            first=not self._written_since_prime,
        )

    def _prime(self) -> bool:
        try:
            with connect.snapshot_reader(self._engine) as connection, connection.begin():
                rows = stored.open_rows(connection)
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "cannot read the order history (%s): not recording this pass",
                connect.describe_db_error(exc),
            )
            return False
        orders: dict[str, Order] = {}
        stock: dict[int, StockLevel] = {}
        for row in sorted(rows, key=lambda r: (r.seen_at, r.id)):  # a replica's later row wins
            assert row.image is not None
            try:
                if row.kind == "order":
                    orders[row.subject] = images.decode_order(
                        row.subject, row.restaurant_id, row.image
                    )
                elif (food := integer(row.subject)) is not None:
                    stock[food] = images.decode_stock(food, row.image)
            except images.BadImage as exc:  # written anew by this pass, if it is still there
                log.warning("order history: %s", exc)
        self._recorder.prime(orders.values(), stock.values())
        return True

    def write(self, connection: sa.Connection, seen: Seen, *, pass_id: str) -> None:
        """Write ``seen`` in the caller's transaction; on failure only the history loses it."""
        if not seen.entries and not seen.first:
            return
        try:
            with connection.begin_nested():
                started_after = (
                    stored.last_pass_end(connection, other_than=pass_id) if seen.first else None
                )
                stored.write(
                    connection,
                    seen.entries,
                    seen_at=seen.seen_at,
                    started=seen.first,
                    started_after=started_after,
                )
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "could not write the order history (%s): it starts again from the next full pass",
                connect.describe_db_error(exc),
            )
            self.forget()
            return
        self._written_since_prime = True

    def forget(self) -> None:
        """The pass failed or its write did: what it saw may not be in the history."""
        self._recorder.forget()

    def prune_if_due(self, now: datetime) -> None:
        """Forget what is older than the retention, at most once an hour."""
        clock = time.monotonic()
        if clock - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = clock
        try:
            with connect.writer(self._engine) as connection, connection.begin():
                gone = stored.prune(connection, before=now - self._retention)
        except sa.exc.SQLAlchemyError as exc:  # the history only grows a little longer
            log.warning("could not prune the order history: %s", connect.describe_db_error(exc))
            return
        if gone:
            log.info("order history: pruned %d row(s) older than the retention", gone)

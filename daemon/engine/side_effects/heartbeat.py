"""The heartbeat that tells replicas a pending intent still has a live sender.

While a batch of cancellations is being sent, a thread refreshes the
``updated_at`` of its intents (see ``ledger.heartbeat``). A pending intent
whose heartbeat stopped ``TAKEOVER_AFTER`` ago is resent by whoever finds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from daemon.domain.timeutil import utcnow
from daemon.store import connect, ledger

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

# Seconds between heartbeats on the intents a sender holds (see ledger.heartbeat).
HEARTBEAT_SECONDS = 5.0
# A pending intent whose heartbeat stopped this long ago has no live sender.
# Waits never stop the heartbeat (it runs in its own thread), so this bound
# does not depend on timeouts, backoff or 429 cooldowns.
TAKEOVER_AFTER = timedelta(seconds=max(60.0, 6 * HEARTBEAT_SECONDS))


class Heartbeat:
    """While a batch is being sent, keep its intents' ``updated_at`` fresh."""

    def __init__(self, engine: sa.Engine, ledger_ids: Sequence[int], *, every: float) -> None:
        self._engine = engine
        self._ids = list(ledger_ids)
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="autocancel-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._ids:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._every):
            try:
                with connect.writer(self._engine) as connection, connection.begin():
                    ledger.heartbeat(connection, self._ids, now=utcnow())
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not refresh the heartbeat of pending intents: %s", exc)

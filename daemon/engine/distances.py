"""The geodesic distances a judge knows across its passes: read from the store, written back.

A process reads the store's ``distance_cache`` once (its first pass), keeps
what it measures in memory, and writes each pass's new pairs back, so the
next process (a restart, ``once``, ``explain``) does not measure them again.
The table only ever holds the pairs a pass had to measure exactly (the
band near a limit and the matches); pairs older than :data:`RETENTION` are
dropped whenever new ones are written.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

import sqlalchemy as sa

from daemon.domain.distance import Distances, GeodesicFunction, Pair
from daemon.domain.location import geodesic_km
from daemon.domain.timeutil import utcnow
from daemon.store import connect
from daemon.store import distances as stored

log = logging.getLogger(__name__)

# An order is active for hours; a pair this old concerns a long finished order.
RETENTION: Final = timedelta(days=2)
# In memory the pairs only pile up in a daemon running for weeks; start over then.
MAX_REMEMBERED: Final = 100_000


class DistanceBook:
    """Known geodesics for the passes of one judge; :meth:`table` gives each pass its own."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        geodesic: GeodesicFunction = geodesic_km,
        use_bound: bool = True,
    ) -> None:
        self._engine = engine
        self._geodesic = geodesic
        # False measures every distance exactly: the benchmarks' and tests' baseline.
        self._use_bound = use_bound
        self._known: dict[Pair, float] | None = None

    def table(self) -> Distances:
        """A pass's geodesic table: the known pairs, and the bound unless disabled."""
        if self._known is None:
            self._known = self._read()
        return Distances(self._known, geodesic=self._geodesic, use_bound=self._use_bound)

    def keep(self, distances: Distances) -> None:
        """Remember what ``distances`` measured, here and in the store."""
        fresh = distances.fresh()
        if not fresh:
            return
        if self._known is None or len(self._known) + len(fresh) > MAX_REMEMBERED:
            self._known = {}
        self._known.update(fresh)
        now = utcnow()
        try:
            with connect.writer(self._engine) as connection, connection.begin():
                stored.remember(connection, fresh, now=now, forget_before=now - RETENTION)
        except sa.exc.SQLAlchemyError as exc:
            # Only a cache: the next process measures these pairs again.
            log.warning("could not store measured distances: %s", connect.describe_db_error(exc))

    def _read(self) -> dict[Pair, float]:
        try:
            with self._engine.connect() as connection:
                return stored.read_known(connection, since=utcnow() - RETENTION)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not read stored distances: %s", connect.describe_db_error(exc))
            return {}

"""Distances between two positions: a free spherical bound, and the exact geodesic once per pair.

The rules compare distances with limits (``max_km``, ``max_plausible_km``).
The exact WGS 84 geodesic (geopy) is what the evidence shows and what the
verdict rests on, but it costs ~0.1 ms a pair; the haversine distance on a
sphere of the earth's mean radius costs ~1 µs and is never off by more than
:data:`HAVERSINE_MARGIN` of the geodesic (the worst case is a short
north-south line at the equator, where the sphere is 0.56 % too long; at the
poles it is 0.45 % too short). So a haversine distance below
``limit * (1 - HAVERSINE_MARGIN)`` proves the geodesic is within the limit,
and only the band near a limit (and the evidence of a match) needs the
geodesic itself.

:class:`Distances` is the geodesic table of one pass: the pairs already
known (the engine reads them from the store), the ones computed during the
pass (:meth:`Distances.fresh`, which the engine writes back), and whether the
bound may decide at all (a table built without one measures everything
exactly, as every distance was measured before).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from daemon.domain.location import geodesic_km

Point = tuple[float, float]
Pair = tuple[Point, Point]
GeodesicFunction = Callable[[Point, Point], float]

# Mean earth radius (IUGG R1), the sphere the haversine bound measures on.
EARTH_RADIUS_KM: Final = 6371.0088
# |haversine / geodesic - 1| is at most 0.0057 on WGS 84; the margin leaves room.
HAVERSINE_MARGIN: Final = 0.0075


def haversine_km(origin: Point, destination: Point) -> float:
    """Great-circle kilometres on the mean sphere: within 0.6 % of the geodesic."""
    lat1, lon1 = math.radians(origin[0]), math.radians(origin[1])
    lat2, lon2 = math.radians(destination[0]), math.radians(destination[1])
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def surely_within(spherical_km: float, limit_km: float) -> bool:
    """True when a haversine distance proves the geodesic is at most ``limit_km``."""
    return spherical_km < limit_km * (1 - HAVERSINE_MARGIN)


class Distances:
    """Geodesic kilometres per (origin, destination) pair: known, or computed once and kept.

    ``known`` are pairs measured before (the store's table); ``geodesic`` is
    the exact function (injectable, so tests can count its calls);
    ``use_bound`` lets callers skip the geodesic where the haversine bound
    already decides (see :func:`surely_within`).
    """

    __slots__ = ("_fresh", "_geodesic", "_known", "use_bound")

    def __init__(
        self,
        known: Mapping[Pair, float] | None = None,
        *,
        geodesic: GeodesicFunction = geodesic_km,
        use_bound: bool = True,
    ) -> None:
        # Read, never written: the engine's book may hand in its own mapping.
        self._known: Mapping[Pair, float] = known if known is not None else {}
        self._fresh: dict[Pair, float] = {}
        self._geodesic = geodesic
        self.use_bound = use_bound

    @classmethod
    def exact(cls) -> Distances:
        """Every distance measured by the geodesic, nothing known beforehand."""
        return cls(use_bound=False)

    def geodesic_km(self, origin: Point, destination: Point) -> float:
        pair = (origin, destination)
        km = self._known.get(pair)
        if km is None:
            km = self._fresh.get(pair)
        if km is None:
            km = float(self._geodesic(origin, destination))
            self._fresh[pair] = km
        return km

    def surely_within(self, origin: Point, destination: Point, limit_km: float) -> float | None:
        """The haversine distance when it proves the pair within ``limit_km``, else None.

        Always None without the bound. Whether the geodesic happens to be
        known does not matter: the same order reads the same in every process.
        """
        if not self.use_bound:
            return None
        spherical = haversine_km(origin, destination)
        return spherical if surely_within(spherical, limit_km) else None

    def fresh(self) -> dict[Pair, float]:
        """The pairs measured since this table was made (what the store does not hold yet)."""
        return dict(self._fresh)

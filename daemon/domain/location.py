"""Where a delivery goes, as the rules see it (no I/O, cheap to import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.domain.distance import Distances


class LocationStatus(StrEnum):
    KNOWN = "known"  # coordinates were in the order
    GEOCODED = "geocoded"  # from the geocoder (now or cached)
    NOT_FOUND = "not_found"  # the geocoder definitely has no result
    UNKNOWN = "unknown"  # could not find out; never act on it


@dataclass(frozen=True, slots=True)
class Location:
    status: LocationStatus
    coordinates: tuple[float, float] | None = None
    detail: str = ""
    # Bad data behind an unknown position (a garbage geocoder answer, ...):
    # logged once per order, never a reason to act.
    problem: str = ""
    # Facts for the rules' evidence when the position was refused.
    evidence: Mapping[str, object] = field(default_factory=dict)


def valid_coordinates(latitude: float | None, longitude: float | None) -> bool:
    """A position a real delivery can have: in range, and not the (0, 0) null island."""
    if latitude is None or longitude is None:
        return False
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return False
    return not (latitude == 0.0 and longitude == 0.0)


@lru_cache(maxsize=200_000)
def geodesic_km(origin: tuple[float, float], destination: tuple[float, float]) -> float:
    """Geodesic (WGS 84) kilometres; remembered, since an order's position never moves.

    The first pass pays for each order once; every later pass is a lookup.
    """
    from geopy.distance import geodesic  # only passes need geopy, not `check`

    return float(geodesic(origin, destination).km)


def implausible(
    location: Location,
    origin: tuple[float, float] | None,
    max_km: float,
    distances: Distances | None = None,
) -> Location | None:
    """``location`` refused as bad data when it is farther from ``origin`` than ``max_km``.

    No delivery goes 1,400 km: such a position is swapped latitude and
    longitude, or a street of the same name in another city. It is unknown,
    not a distance match (and, geocoded, not "found" either).

    With ``distances`` (the pass's geodesic table) a position the haversine
    bound proves plausible costs no geodesic.
    """
    if location.coordinates is None or origin is None:
        return None
    if distances is None:
        km = geodesic_km(origin, location.coordinates)
    elif distances.surely_within(origin, location.coordinates, max_km) is not None:
        return None
    else:
        km = distances.geodesic_km(origin, location.coordinates)
    if km <= max_km:
        return None
    source = "stored" if location.status is LocationStatus.KNOWN else "geocoded"
    detail = (
        f"the {source} position {location.coordinates} is {km:.0f} km from the restaurant, "
        f"farther than safety.max_plausible_km ({max_km:g} km): implausible, treated as "
        "unknown (latitude and longitude swapped?)"
    )
    return Location(
        LocationStatus.UNKNOWN,
        detail=detail,
        problem=detail,
        evidence={
            "implausible_km": round(km, 2),
            "max_plausible_km": max_km,
            "position": list(location.coordinates),
            "position_source": source,
        },
    )

"""Where a delivery goes, as the rules see it (no I/O, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


def valid_coordinates(latitude: float | None, longitude: float | None) -> bool:
    """A position a real delivery can have: in range, and not the (0, 0) null island."""
    if latitude is None or longitude is None:
        return False
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return False
    return not (latitude == 0.0 and longitude == 0.0)

"""What a rule may know about the rest of rules.yaml when it checks itself.

``Rule.validate_against`` receives this small, explicit picture instead of
the whole configuration, so the rules package depends on nothing but the
domain: the configuration layer builds it (``daemon.config``), rules read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestaurantFacts:
    """One entry of ``restaurants:``, at its index in the file."""

    index: int
    display_name: str
    has_coordinates: bool


@dataclass(frozen=True, slots=True)
class ValidationContext:
    restaurants: tuple[RestaurantFacts, ...] = ()
    geocoder_configured: bool = False
    # safety.max_plausible_km: farther positions are treated as bad data.
    max_plausible_km: float = 100.0

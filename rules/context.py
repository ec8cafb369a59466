"""Everything a rule may look at during one pass, read-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from daemon.location import Location, LocationStatus

if TYPE_CHECKING:
    from daemon.snapshot import Order, Snapshot


class Place(Protocol):
    """A configured restaurant, as the rules see it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...


@dataclass(frozen=True)
class PassContext:
    now: datetime
    snapshot: Snapshot
    restaurants: Mapping[str, Place]
    locations: Mapping[str, Location] = field(default_factory=dict)
    geocoding_enabled: bool = False

    def location(self, order: Order) -> Location:
        return self.locations.get(
            order.payment_key,
            Location(LocationStatus.UNKNOWN, detail="position not resolved for this order"),
        )

"""Everything a rule may look at during one pass, read-only.

:class:`RestaurantLoad` is computed once per pass by the planner
(``daemon.planning``) and handed to every consumer: congestion's choice of
orders, its close/reopen decision, ``explain`` and ``status``. Nobody counts
a restaurant's orders a second time, so nobody counts them differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from daemon.domain.distance import Distances
from daemon.domain.location import Location, LocationStatus
from daemon.domain.timeutil import ISTANBUL

if TYPE_CHECKING:
    from daemon.domain.orders import Order, Snapshot


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


@dataclass(frozen=True, slots=True)
class RestaurantLoad:
    """One listed restaurant's orders in one pass, and what the kitchen still has to cook.

    ``active`` orders (status 1, 2, 16) split into ``stale`` ones (older than
    ``max_order_age_minutes``: abandoned in the POS, not cooking), ``leaving``
    ones (cancelled this pass by a live per-order rule and not protected by
    safety, or with a live cancellation already pending or confirmed), and the
    ``staying`` rest: the load. ``actionable`` are the active orders the daemon
    may act on at all (safety allows it, never decided live before): what the
    ``max_cancel_ratio`` brake counts, and where congestion may choose.
    """

    restaurant_id: str
    active: int
    stale: frozenset[str]
    leaving: frozenset[str]
    staying: tuple[Order, ...]
    actionable: frozenset[str]

    @property
    def load(self) -> int:
        """The number compared with capacities: active, less stale, less leaving."""
        return len(self.staying)

    def evidence(self) -> dict[str, int]:
        # active_orders is the load itself (the contract's example compares it
        # with max_active_orders); the counts left out of it are shown beside.
        return {
            "active_orders": self.load,
            "stale_orders": len(self.stale),
            "leaving_orders": len(self.leaving),
        }


@dataclass(frozen=True)
class PassContext:
    now: datetime
    snapshot: Snapshot
    restaurants: Mapping[str, Place]
    locations: Mapping[str, Location] = field(default_factory=dict)
    geocoding_enabled: bool = False
    # The pass's geodesic table (daemon.domain.distance). Built by hand, a
    # context measures every distance exactly; the engine hands in the known
    # pairs and lets the haversine bound decide the clear cases.
    distances: Distances = field(default_factory=Distances.exact)
    # rules.yaml's `timezone`: the wall clock of active_hours, active_days and
    # quiet_windows, read on ``now``.
    timezone: tzinfo = ISTANBUL

    def location(self, order: Order) -> Location:
        return self.locations.get(
            order.payment_key,
            Location(LocationStatus.UNKNOWN, detail="position not resolved for this order"),
        )

"""What the rules see in one pass, built from a configuration and a snapshot: one recipe.

A pass on the store (:class:`daemon.engine.passes.judge.Judge`) and a pass in
memory (:class:`daemon.engine.simulated.SimulatedStore`, behind ``autocancel
test``) both build their limits, positions and :class:`rules.context.PassContext`
here, so they cannot see different restaurants, positions, distances or clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from daemon.domain.distance import Distances
from daemon.domain.orders import Snapshot
from daemon.engine.active import FULL, PassScope
from daemon.engine.geo import Geocoder, Locator
from daemon.engine.reactivation import abandoned_after
from daemon.engine.safety import SafetyLimits
from rules.context import PassContext

if TYPE_CHECKING:
    import sqlalchemy as sa

    from daemon.config.models import Config


def safety_limits(config: Config) -> SafetyLimits:
    """The limits of rules.yaml's ``safety`` and ``quiet_windows``, as the planner reads them."""
    return SafetyLimits(
        max_cancellations_per_hour=config.safety.max_cancellations_per_hour,
        max_order_age_minutes=config.safety.max_order_age_minutes,
        never_cancel=frozenset(config.safety.never_cancel),
        max_cancel_ratio=config.safety.max_cancel_ratio,
        quiet_windows=config.quiet,
    )


def reactivations_abandoned_after(config: Config) -> timedelta:
    """How long a claimed food reactivation may wait for its sender (daemon.engine.reactivation)."""
    return abandoned_after(
        pass_deadline_seconds=config.api.pass_deadline_seconds,
        timeout_seconds=config.api.timeout_seconds,
    )


def locator_for(
    config: Config, *, engine: sa.Engine | None, geocoder: Geocoder | None, provider: str = ""
) -> Locator:
    """Delivery positions for ``config``'s restaurants; ``engine`` None keeps no geocode cache."""
    return Locator(
        engine=engine,
        geocoder=geocoder,
        provider=provider,
        origins={
            r.id: (r.latitude, r.longitude)
            for r in config.restaurants
            if r.latitude is not None and r.longitude is not None
        },
        max_plausible_km=config.safety.max_plausible_km,
    )


def pass_context(
    config: Config,
    snapshot: Snapshot,
    *,
    locator: Locator,
    distances: Distances,
    locate: Sequence[str] | None = None,
    scope: PassScope = FULL,
) -> PassContext:
    """What the rules see on ``snapshot``, at its clock; ``locate``: geocode only those orders.

    An incremental ``scope`` limits the restaurants whose loads are judged to
    those it re-read: the others' orders are not in the snapshot.
    """
    needs_locations = any(rule.needs_location for rule in config.rules if rule.enabled)
    to_locate = (
        snapshot.orders
        if locate is None
        else [o for o in snapshot.orders if o.payment_key in locate]
    )
    locations = locator.locate_all(to_locate, distances) if needs_locations else {}
    return PassContext(
        now=snapshot.taken_at,
        snapshot=snapshot,
        restaurants={
            r.id: r for r in config.restaurants if scope.full or r.id in scope.restaurants
        },
        locations=locations,
        geocoding_enabled=locator.geocoding_enabled,
        distances=distances,
        timezone=config.zone,
    )

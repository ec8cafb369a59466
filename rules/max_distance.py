"""``max_distance``: a delivery farther from the restaurant than ``max_km``.

Geodesic distance (geopy) from the restaurant's configured coordinates to the
order's; pickup orders never match. Orders without coordinates are geocoded
when a geocoder is configured and skipped otherwise. Evidence:
``{"distance_km": 12.34, "max_km": 7.5}``.

The geodesic is asked of the pass's table (``ctx.distances``) only where it
can change the verdict: when the table allows the haversine bound and that
bound proves the delivery well within ``max_km``, the order stays without
it, and the evidence says so: ``{"haversine_km": 3.21, "max_km": 7.5,
"decided_by": "haversine bound"}``. Every match carries the geodesic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from daemon.domain.distance import HAVERSINE_MARGIN
from daemon.domain.location import LocationStatus
from daemon.domain.problems import Problem, YamlPath
from rules.base import Rule, describe_rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext
    from rules.validation import ValidationContext


# How a verdict the haversine bound decided reads (explain): the bound, and why it is safe.
_BY_THE_BOUND = f" (haversine, within {HAVERSINE_MARGIN:.2%} of the geodesic)"


@registry.register("max_distance")
class MaxDistanceRule(Rule):
    max_km: float = Field(gt=0, description="the delivery radius in kilometres, e.g. 7.5")

    needs_location: ClassVar[bool] = True
    # Reads the order, its position, its restaurant and the distance table.
    order_local: ClassVar[bool] = True
    order_fields: ClassVar[frozenset[str] | None] = frozenset({"shipping_method", "restaurant_id"})

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        if not order.is_delivery:
            return Verdict.no_match(
                f"{order.shipping_method or 'no shipping method'} order, not a delivery"
            )
        restaurant = ctx.restaurants.get(order.restaurant_id)
        if restaurant is None or restaurant.latitude is None or restaurant.longitude is None:
            return Verdict.skipped("the restaurant has no coordinates in rules.yaml")
        location = ctx.location(order)
        if location.coordinates is None:
            return Verdict.skipped(
                f"no position for the delivery: {location.detail}", **location.evidence
            )
        origin = (restaurant.latitude, restaurant.longitude)
        geocoded = location.status is LocationStatus.GEOCODED
        spherical = ctx.distances.surely_within(origin, location.coordinates, self.max_km)
        if spherical is not None:
            bounded: dict[str, object] = {
                "haversine_km": round(spherical, 2),
                "max_km": self.max_km,
                "decided_by": "haversine bound",
            }
            if geocoded:
                bounded["geocoded"] = True
            return Verdict.no_match(
                f"about {spherical:.2f} km{_BY_THE_BOUND} is clearly within {self.max_km} km",
                **bounded,
            )
        km = ctx.distances.geodesic_km(origin, location.coordinates)
        evidence: dict[str, object] = {"distance_km": round(km, 2), "max_km": self.max_km}
        if geocoded:
            evidence["geocoded"] = True
        if km > self.max_km:
            return Verdict.match(f"{km:.2f} km is beyond {self.max_km} km", **evidence)
        return Verdict.no_match(f"{km:.2f} km is within {self.max_km} km", **evidence)

    def validate_against(self, setting: ValidationContext, *, at: YamlPath) -> list[Problem]:
        problems = super().validate_against(setting, at=at)
        plausible = setting.max_plausible_km
        if self.max_km >= plausible:
            # Beyond the plausible distance a position is bad data, so this
            # radius could never cancel anything out there.
            problems.append(
                Problem.error(
                    (*at, "max_km"),
                    f"{describe_rule(at, self.name)}: max_km {self.max_km:g} must be smaller "
                    f"than safety.max_plausible_km ({plausible:g}); positions farther than "
                    "that are treated as bad data",
                )
            )
        if not self.enabled:
            # A disabled distance rule measures nothing; operators often disable
            # it precisely because the coordinates are not known yet.
            return problems
        for restaurant in setting.restaurants:
            index = restaurant.index
            if restaurant.has_coordinates:
                continue
            problems.append(
                Problem.error(
                    ("restaurants", index),
                    f"restaurants[{index}] ({restaurant.display_name}) has no latitude and "
                    f"longitude, which rule '{self.name}' (max_distance, {describe_rule(at, None)})"
                    " needs to measure delivery distances; add both coordinates, or disable "
                    "the rule",
                    anchor="key",
                )
            )
        return problems

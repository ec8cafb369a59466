"""``max_distance``: a delivery farther from the restaurant than ``max_km``.

Geodesic distance (geopy) from the restaurant's configured coordinates to the
order's; pickup orders never match. Orders without coordinates are geocoded
when a geocoder is configured and skipped otherwise. Evidence:
``{"distance_km": 12.34, "max_km": 7.5}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from rules.base import Rule, describe_rule
from rules.registry import registry
from rules.yamlsource import Problem, YamlPath

if TYPE_CHECKING:
    from daemon.config import Config


@registry.register("max_distance")
class MaxDistanceRule(Rule):
    max_km: float = Field(gt=0, description="the delivery radius in kilometres, e.g. 7.5")

    def validate_against(self, config: Config, *, at: YamlPath) -> list[Problem]:
        problems = super().validate_against(config, at=at)
        if not self.enabled:
            # A disabled distance rule measures nothing; operators often disable
            # it precisely because the coordinates are not known yet.
            return problems
        for index, restaurant in enumerate(config.restaurants):
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

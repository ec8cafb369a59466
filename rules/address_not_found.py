"""``address_not_found``: a delivery address the configured geocoder cannot resolve.

Evidence: ``{"address": "..."}``. Without a geocoder nothing can be resolved
or not, so the rule never matches; the configuration check warns about that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.base import Rule, describe_rule
from rules.registry import registry
from rules.yamlsource import Problem, YamlPath

if TYPE_CHECKING:
    from daemon.config import Config


@registry.register("address_not_found")
class AddressNotFoundRule(Rule):
    """No parameters of its own; the geocoder is configured under ``geocoder:``."""

    def validate_against(self, config: Config, *, at: YamlPath) -> list[Problem]:
        problems = super().validate_against(config, at=at)
        if self.enabled and config.geocoder is None:
            problems.append(
                Problem.warning(
                    (*at, "kind"),
                    f"{describe_rule(at, self.name)}: address_not_found can never match "
                    "without a geocoder; configure 'geocoder:' or set 'enabled: false'",
                )
            )
        return problems

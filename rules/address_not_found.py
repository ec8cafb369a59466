"""``address_not_found``: a delivery address the configured geocoder cannot resolve.

Evidence: ``{"address": "..."}``. Without a geocoder nothing can be resolved
or not, so the rule never matches; the configuration check warns about that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from daemon.domain.location import LocationStatus
from daemon.domain.problems import Problem, YamlPath
from rules.base import Rule, describe_rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext
    from rules.validation import ValidationContext


@registry.register("address_not_found")
class AddressNotFoundRule(Rule):
    """No parameters of its own; the geocoder is configured under ``geocoder:``."""

    needs_location: ClassVar[bool] = True
    # Reads the order, its position and whether geocoding is enabled.
    order_local: ClassVar[bool] = True
    order_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"shipping_method", "latitude", "longitude", "address"}
    )

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        if not order.is_delivery:
            return Verdict.no_match(
                f"{order.shipping_method or 'no shipping method'} order, not a delivery"
            )
        if order.coordinates is not None:
            return Verdict.no_match("the order carries coordinates")
        if not ctx.geocoding_enabled:
            return Verdict.skipped("no geocoder configured: an address cannot be checked")
        location = ctx.location(order)
        if location.status is LocationStatus.NOT_FOUND:
            return Verdict.match(location.detail, address=order.address or "")
        if location.status is LocationStatus.GEOCODED:
            return Verdict.no_match("the geocoder found the address")
        # A geocoder that failed or timed out, or an implausible answer, is
        # "unknown", never "not found".
        return Verdict.skipped(location.detail, **location.evidence)

    def validate_against(self, setting: ValidationContext, *, at: YamlPath) -> list[Problem]:
        problems = super().validate_against(setting, at=at)
        if self.enabled and not setting.geocoder_configured:
            problems.append(
                Problem.warning(
                    (*at, "kind"),
                    f"{describe_rule(at, self.name)}: address_not_found can never match "
                    "without a geocoder; configure 'geocoder:' or set 'enabled: false'",
                )
            )
        return problems

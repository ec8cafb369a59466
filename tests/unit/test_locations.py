"""The two rules that need a delivery's position: max_distance and address_not_found.

Positions are handed to the rules as resolved :class:`Location` values (what
daemon/engine/geo.py produces from the order, the cache or the geocoder), so
no geocoder runs here.
"""

from __future__ import annotations

from typing import Any

import pytest

from daemon.domain.location import Location, LocationStatus
from daemon.domain.orders import Order
from daemon.domain.problems import Problem
from rules.address_not_found import AddressNotFoundRule
from rules.max_distance import MaxDistanceRule
from rules.validation import RestaurantFacts, ValidationContext
from rules.verdict import Verdict, VerdictKind
from tests.unit.builders import AKAT, HAL_POSITION, context, decided, order, plan

TOO_FAR = MaxDistanceRule(name="too-far", reason_id=6, max_km=7.5)
NOT_FOUND = AddressNotFoundRule(name="address-not-found", reason_id=2)
AT = ("rules", 1)
# About 11.1 km and 1.1 km north of Halaskargazi.
FAR = (HAL_POSITION[0] + 0.1, HAL_POSITION[1])
NEAR = (HAL_POSITION[0] + 0.01, HAL_POSITION[1])


def delivery(**fields: Any) -> Order:
    return order("x", address="Dershane Sokak 5", **fields)


def judged(rule: MaxDistanceRule | AddressNotFoundRule, wanted: Order, **ctx: Any) -> Verdict:
    return rule.evaluate(wanted, context([wanted], **ctx))


def at(
    status: LocationStatus, coordinates: tuple[float, float] | None = None, **more: Any
) -> dict[str, Location]:
    return {"x": Location(status, coordinates, **more)}


# --- max_distance ---------------------------------------------------------------------------


def test_a_delivery_beyond_max_km_is_cancelled_with_the_distance_as_evidence() -> None:
    far = delivery(latitude=FAR[0], longitude=FAR[1])

    result = plan([TOO_FAR], context([far], locations=at(LocationStatus.KNOWN, FAR)))

    decision = decided(result, "x")
    assert (decision.rule, decision.reason_id, decision.outcome) == ("too-far", 6, "pending")
    assert decision.evidence["distance_km"] == pytest.approx(11.1, abs=0.05)
    assert decision.evidence["max_km"] == 7.5
    assert "geocoded" not in decision.evidence


def test_a_delivery_within_max_km_stays_and_a_geocoded_one_says_so() -> None:
    near = judged(TOO_FAR, delivery(), locations=at(LocationStatus.GEOCODED, NEAR))
    far = judged(TOO_FAR, delivery(), locations=at(LocationStatus.GEOCODED, FAR))

    assert near.kind is VerdictKind.NO_MATCH
    assert near.why == "1.11 km is within 7.5 km"
    assert near.evidence == {"distance_km": 1.11, "max_km": 7.5, "geocoded": True}
    assert far.kind is VerdictKind.MATCH
    assert far.why == "11.11 km is beyond 7.5 km"
    assert far.evidence["geocoded"] is True


@pytest.mark.parametrize(("shipping", "what"), [("pickup", "pickup"), (None, "no shipping method")])
def test_a_pickup_is_never_too_far(shipping: str | None, what: str) -> None:
    verdict = judged(
        TOO_FAR, delivery(shipping_method=shipping), locations=at(LocationStatus.KNOWN, FAR)
    )

    assert (verdict.kind, verdict.why) == (VerdictKind.NO_MATCH, f"{what} order, not a delivery")


def test_a_restaurant_without_coordinates_measures_nothing() -> None:
    verdict = judged(TOO_FAR, delivery(restaurant=AKAT), locations=at(LocationStatus.KNOWN, FAR))

    assert (verdict.kind, verdict.why) == (
        VerdictKind.SKIPPED,
        "the restaurant has no coordinates in rules.yaml",
    )


def test_an_unknown_position_is_skipped_with_its_reason() -> None:
    implausible = at(
        LocationStatus.UNKNOWN,
        detail="the stored position is 1400 km from the restaurant",
        evidence={"implausible_km": 1400.0},
    )

    refused = judged(TOO_FAR, delivery(), locations=implausible)
    unresolved = judged(TOO_FAR, delivery())  # no position resolved for it at all

    assert refused.kind is VerdictKind.SKIPPED
    assert (
        refused.why
        == "no position for the delivery: the stored position is 1400 km from the restaurant"
    )
    assert refused.evidence == {"implausible_km": 1400.0}
    assert unresolved.why == "no position for the delivery: position not resolved for this order"


def _facts(*restaurants: tuple[str, bool]) -> ValidationContext:
    return ValidationContext(
        restaurants=tuple(
            RestaurantFacts(index=i, display_name=name, has_coordinates=has)
            for i, (name, has) in enumerate(restaurants)
        )
    )


def test_max_distance_needs_every_restaurant_to_have_coordinates() -> None:
    problems = TOO_FAR.validate_against(_facts(("Halaskargazi", True), ("Akat", False)), at=AT)

    assert problems == [
        Problem.error(
            ("restaurants", 1),
            "restaurants[1] (Akat) has no latitude and longitude, which rule 'too-far' "
            "(max_distance, rules[1]) needs to measure delivery distances; add both "
            "coordinates, or disable the rule",
            anchor="key",
        )
    ]
    disabled = TOO_FAR.model_copy(update={"enabled": False})
    assert disabled.validate_against(_facts(("Akat", False)), at=AT) == []


def test_max_km_must_be_below_the_plausible_distance_even_when_disabled() -> None:
    wide = MaxDistanceRule(name="too-far", reason_id=6, max_km=100, enabled=False)

    [problem] = wide.validate_against(ValidationContext(max_plausible_km=100), at=AT)

    assert (problem.path, problem.severity) == (("rules", 1, "max_km"), "error")
    assert problem.message.startswith(
        "rules[1] (too-far): max_km 100 must be smaller than safety.max_plausible_km (100)"
    )
    assert (
        MaxDistanceRule(name="too-far", reason_id=6, max_km=99.9).validate_against(
            ValidationContext(max_plausible_km=100), at=AT
        )
        == []
    )


# --- address_not_found ----------------------------------------------------------------------


def test_an_address_the_geocoder_has_no_result_for_is_cancelled_with_the_address() -> None:
    unknown = at(LocationStatus.NOT_FOUND, detail="the geocoder has no result for the address")

    result = plan([NOT_FOUND], context([delivery()], locations=unknown, geocoding_enabled=True))

    decision = decided(result, "x")
    assert (decision.rule, decision.reason_id, decision.outcome) == (
        "address-not-found",
        2,
        "pending",
    )
    assert decision.evidence == {"address": "Dershane Sokak 5"}


@pytest.mark.parametrize(
    ("wanted", "locations", "geocoding", "kind", "why"),
    [
        (
            delivery(shipping_method="pickup"),
            {},
            True,
            VerdictKind.NO_MATCH,
            "pickup order, not a delivery",
        ),
        (
            delivery(latitude=41.0, longitude=29.0),
            {},
            True,
            VerdictKind.NO_MATCH,
            "the order carries coordinates",
        ),
        (
            delivery(),
            {},
            False,
            VerdictKind.SKIPPED,
            "no geocoder configured: an address cannot be checked",
        ),
        (
            delivery(),
            at(LocationStatus.GEOCODED, NEAR),
            True,
            VerdictKind.NO_MATCH,
            "the geocoder found the address",
        ),
        # A geocoder that failed is "unknown", never "not found".
        (
            delivery(),
            at(LocationStatus.UNKNOWN, detail="geocoder timed out"),
            True,
            VerdictKind.SKIPPED,
            "geocoder timed out",
        ),
    ],
)
def test_everything_but_a_definite_no_result_keeps_the_order(
    wanted: Order,
    locations: dict[str, Location],
    geocoding: bool,
    kind: VerdictKind,
    why: str,
) -> None:
    verdict = judged(NOT_FOUND, wanted, locations=locations, geocoding_enabled=geocoding)

    assert (verdict.kind, verdict.why) == (kind, why)


def test_an_unknown_position_carries_its_evidence() -> None:
    garbage = at(
        LocationStatus.UNKNOWN, detail="garbage answer", evidence={"geocoder_reply": "abc"}
    )

    verdict = judged(NOT_FOUND, delivery(), locations=garbage, geocoding_enabled=True)

    assert verdict.evidence == {"geocoder_reply": "abc"}


def test_address_not_found_without_a_geocoder_is_a_warning_unless_disabled() -> None:
    [warning] = NOT_FOUND.validate_against(ValidationContext(geocoder_configured=False), at=AT)

    assert (warning.path, warning.severity) == (("rules", 1, "kind"), "warning")
    assert "address_not_found can never match without a geocoder" in warning.message
    assert NOT_FOUND.validate_against(ValidationContext(geocoder_configured=True), at=AT) == []
    disabled = NOT_FOUND.model_copy(update={"enabled": False})
    assert disabled.validate_against(ValidationContext(geocoder_configured=False), at=AT) == []

"""The haversine band: verdicts equal the all-geodesic verdicts, for less geodesic work.

Hand-built contexts: one measures every distance exactly (as a context built
without a table does), the other lets the haversine bound decide the clear
cases (as the engine's do). On random positions, many of them within ±1 % of
``max_km`` (the borderline band), both give the same verdict, and every
match carries the same geodesic evidence.
"""

from __future__ import annotations

import math
from dataclasses import replace

from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.domain.distance import HAVERSINE_MARGIN, Distances, Point, haversine_km
from daemon.domain.location import Location, LocationStatus, geodesic_km, implausible
from rules.max_distance import MaxDistanceRule
from rules.verdict import Verdict, VerdictKind
from tests.unit.builders import HAL, RESTAURANTS, Branch, context, order


class Counting:
    """The exact geodesic, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, origin: Point, destination: Point) -> float:
        self.calls += 1
        return geodesic_km(origin, destination)


def _point(origin: Point, km: float, bearing: float) -> Point:
    found = geodesic(kilometers=km).destination(origin, bearing)
    return (found.latitude, found.longitude)


origins = st.tuples(
    st.floats(min_value=-80, max_value=80, allow_nan=False),
    st.floats(min_value=-179, max_value=179, allow_nan=False),
)
limits = st.floats(min_value=0.5, max_value=60, allow_nan=False)
bearings = st.floats(min_value=0, max_value=360, allow_nan=False, exclude_max=True)
# Distance as a multiple of max_km: mostly the ±1 % band, also the clear cases.
factors = st.one_of(
    st.floats(min_value=0.99, max_value=1.01),
    st.floats(min_value=0.985, max_value=1.015),
    st.floats(min_value=0.0, max_value=3.0),
)


def _verdicts(origin: Point, destination: Point, max_km: float) -> tuple[Verdict, Verdict, int]:
    """(all-geodesic verdict, band verdict, geodesic calls the band made)."""
    rule = MaxDistanceRule(name="too-far", reason_id=6, max_km=max_km)
    restaurants = {**RESTAURANTS, HAL: Branch(HAL, "Halaskargazi", *origin)}
    delivery = order("x", latitude=destination[0], longitude=destination[1])
    exact = context(
        [delivery],
        restaurants=restaurants,
        locations={"x": Location(LocationStatus.KNOWN, destination)},
    )
    counted = Counting()
    banded = replace(exact, distances=Distances(geodesic=counted))
    return rule.evaluate(delivery, exact), rule.evaluate(delivery, banded), counted.calls


@settings(max_examples=400, deadline=None)
@given(origin=origins, max_km=limits, factor=factors, bearing=bearings)
def test_band_verdicts_equal_all_geodesic_verdicts(
    origin: Point, max_km: float, factor: float, bearing: float
) -> None:
    destination = _point(origin, max_km * factor, bearing)

    exact, banded, calls = _verdicts(origin, destination, max_km)

    assert banded.kind is exact.kind
    if banded.kind is VerdictKind.MATCH:
        # A match's evidence is the geodesic's, to the rounding.
        assert banded.evidence == exact.evidence
        assert banded.why == exact.why
        assert calls == 1
    elif calls == 0:
        assert banded.evidence["decided_by"] == "haversine bound"
        assert "distance_km" not in banded.evidence
    else:
        assert banded.evidence == exact.evidence


@settings(max_examples=300, deadline=None)
@given(origin=origins, km=st.floats(min_value=0.001, max_value=15_000), bearing=bearings)
def test_the_haversine_distance_is_within_the_margin_of_the_geodesic(
    origin: Point, km: float, bearing: float
) -> None:
    destination = _point(origin, km, bearing)

    ratio = haversine_km(origin, destination) / geodesic_km(origin, destination)

    assert abs(ratio - 1) < HAVERSINE_MARGIN


@settings(max_examples=200, deadline=None)
@given(
    origin=origins,
    max_km=st.floats(min_value=20, max_value=500),
    factor=factors,
    bearing=bearings,
)
def test_plausibility_by_the_band_equals_plausibility_by_the_geodesic(
    origin: Point, max_km: float, factor: float, bearing: float
) -> None:
    location = Location(LocationStatus.KNOWN, _point(origin, max_km * factor, bearing))

    assert implausible(location, origin, max_km, Distances()) == implausible(
        location, origin, max_km
    )


def test_clear_deliveries_cost_no_geodesic_and_say_the_bound_decided() -> None:
    origin = RESTAURANTS[HAL].latitude, RESTAURANTS[HAL].longitude
    assert origin[0] is not None and origin[1] is not None
    home = (origin[0], origin[1])
    near, far, border = _point(home, 1.1, 0), _point(home, 11.1, 0), _point(home, 7.49, 90)

    near_exact, near_band, near_calls = _verdicts(home, near, 7.5)
    far_exact, far_band, far_calls = _verdicts(home, far, 7.5)
    border_exact, border_band, border_calls = _verdicts(home, border, 7.5)

    assert (near_band.kind, near_calls) == (VerdictKind.NO_MATCH, 0)
    assert near_band.evidence == {
        "haversine_km": round(haversine_km(home, near), 2),
        "max_km": 7.5,
        "decided_by": "haversine bound",
    }
    assert near_band.why.startswith("about 1.10 km (haversine")
    assert near_band.why.endswith("is clearly within 7.5 km")
    assert near_exact.evidence == {"distance_km": 1.1, "max_km": 7.5}
    # A match, and the band near the limit, are measured exactly.
    assert (far_band, far_calls) == (far_exact, 1)
    assert (border_band, border_calls) == (border_exact, 1)
    assert border_band.kind is VerdictKind.NO_MATCH


def test_a_pair_is_measured_once_per_table_and_known_pairs_not_at_all() -> None:
    home: Point = (41.0493, 28.9877)
    there = _point(home, 7.5, 45)
    counted = Counting()
    table = Distances(geodesic=counted)

    first, second = table.geodesic_km(home, there), table.geodesic_km(home, there)

    assert first == second == geodesic_km(home, there)
    assert counted.calls == 1
    assert table.fresh() == {(home, there): first}
    known = Distances({(home, there): first}, geodesic=counted)
    assert known.geodesic_km(home, there) == first
    assert counted.calls == 1
    assert known.fresh() == {}
    assert math.isclose(haversine_km(home, there), first, rel_tol=HAVERSINE_MARGIN)

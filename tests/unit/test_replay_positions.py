"""A replay locates each order once per position, not once per version (daemon.engine.replay.load).

A new version that changed only the status keeps the very Location (so the
verdicts kept beside it hold); a version that moved, lost its coordinates,
changed restaurant or stopped being a delivery is located anew.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.domain.distance import Distances
from daemon.domain.location import LocationStatus
from daemon.domain.orders import Order
from daemon.domain.row_problems import RowProblem, RowProblemCode
from daemon.engine.geo import Locator
from daemon.engine.replay.load import Locations
from tests.unit.builders import AKAT, HAL, HAL_POSITION, order

NEAR = (HAL_POSITION[0] + 0.01, HAL_POSITION[1])
AKAT_FAR_AWAY = (39.93, 32.86)  # as if Akat were in Ankara: NEAR is implausible from there


def locations() -> Locations:
    locator = Locator(
        engine=None,
        geocoder=None,
        origins={HAL: HAL_POSITION, AKAT: AKAT_FAR_AWAY},
        max_plausible_km=100,
    )
    return Locations(locator, Distances.exact())


def test_a_new_status_keeps_the_position_and_a_move_is_located_again() -> None:
    locate = locations()
    placed = order("a", latitude=NEAR[0], longitude=NEAR[1])
    first = locate([placed])["a"]
    assert first.status is LocationStatus.KNOWN and first.coordinates == NEAR
    assert locate([replace(placed, status_id=2)])["a"] is first
    moved = replace(placed, status_id=2, latitude=NEAR[0] + 5)  # hundreds of km away
    assert locate([moved])["a"].status is LocationStatus.UNKNOWN  # implausibly far: refused
    assert locate([replace(moved, latitude=None, longitude=None)])["a"].coordinates is None


def test_a_version_that_is_no_longer_a_delivery_has_no_position() -> None:
    locate = locations()
    placed = order("a", latitude=NEAR[0], longitude=NEAR[1])
    locate([placed])
    assert "a" not in locate([replace(placed, shipping_method="pickup")])
    assert locate([placed])["a"].coordinates == NEAR


def test_unreadable_coordinates_or_another_restaurant_are_located_again() -> None:
    locate = locations()
    placed = order("a", latitude=NEAR[0], longitude=NEAR[1])
    assert locate([placed])["a"].status is LocationStatus.KNOWN
    bad: Order = replace(
        placed, problems=(RowProblem(RowProblemCode.BAD_LATITUDE, "latitude 'x'"),)
    )
    assert locate([bad])["a"].status is LocationStatus.UNKNOWN
    assert locate([placed])["a"].status is LocationStatus.KNOWN
    # The same coordinates, judged from another restaurant's door: refused there.
    assert locate([replace(placed, restaurant_id=AKAT)])["a"].status is LocationStatus.UNKNOWN


def test_an_order_not_located_for_a_long_time_is_forgotten() -> None:
    """A month's replay sees millions of orders: only the ones still being judged are kept."""
    locate = Locations(
        Locator(engine=None, geocoder=None, origins={HAL: HAL_POSITION}, max_plausible_km=100),
        Distances.exact(),
        forget_after=3,
    )
    gone = order("gone", latitude=NEAR[0], longitude=NEAR[1])
    staying = order("staying", latitude=NEAR[0], longitude=NEAR[1])
    kept = locate([gone, staying])["staying"]
    for _ in range(6):
        assert locate([staying])["staying"] is kept  # judged every pass: the very Location
    assert len(locate) == 1  # "gone" left three or more passes ago
    assert locate([gone])["gone"].coordinates == NEAR  # back: located again
    assert len(locate) == 2

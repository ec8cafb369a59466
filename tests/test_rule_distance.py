"""max_distance, end to end: geodesic distances, pickup, geocoding and its cache in the store."""

from __future__ import annotations

from geopy.distance import geodesic, great_circle

from tests.world import (
    HOME,
    NEAR,
    DecidingRule,
    World,
    assert_cancelled,
    assert_untouched,
    once_json,
)

MAX_KM = 7.5
TOO_FAR = f"""\
  - name: too-far
    kind: max_distance
    max_km: {MAX_KM}
    reason_id: 6
"""
FAR = (41.1500, 29.1000)  # Kandilli-ish, about 15 km from Halaskargazi
RULE: DecidingRule = {"rule": "too-far", "kind": "max_distance", "reason_id": 6}


def _km(point: tuple[float, float]) -> float:
    return float(geodesic(HOME, point).km)


def _borderline(*, geodesic_beyond: bool) -> tuple[float, float]:
    """A point where geodesic and spherical great-circle distance disagree about MAX_KM.

    With ``geodesic_beyond`` the geodesic distance is over the limit and the
    great-circle one within it; otherwise the other way round. Searched along
    bearings, keeping the point farthest (in metres) from both edges.
    """
    best: tuple[float, tuple[float, float]] = (0.0, HOME)
    for bearing in range(0, 360, 30):
        for metres in range(7450, 7552, 2):
            found = geodesic(kilometers=metres / 1000).destination(HOME, bearing)
            point = (found.latitude, found.longitude)
            ellipsoid, sphere = _km(point), float(great_circle(HOME, point).km)
            over, within = (ellipsoid, sphere) if geodesic_beyond else (sphere, ellipsoid)
            margin = min(over - MAX_KM, MAX_KM - within)
            if margin > best[0]:
                best = (margin, point)
    margin, point = best
    assert margin > 0.003, "no point found where the two distances disagree by 3 m or more"
    return point


def test_far_deliveries_are_cancelled_by_geodesic_distance(world: World) -> None:
    world.configure(TOO_FAR)
    over_geodesically = _borderline(geodesic_beyond=True)
    over_on_a_sphere = _borderline(geodesic_beyond=False)
    assert great_circle(HOME, over_geodesically).km <= MAX_KM < _km(over_geodesically)
    assert _km(over_on_a_sphere) <= MAX_KM < great_circle(HOME, over_on_a_sphere).km
    world.add_order("far", coordinates=FAR)
    world.add_order("near", coordinates=NEAR)
    world.add_order("pickup-far", coordinates=FAR, shipping_method="pickup")
    world.add_order("border-over", coordinates=over_geodesically)
    world.add_order("border-within", coordinates=over_on_a_sphere)
    world.add_order("no-coordinates", coordinates=None, address="Abide-i Hürriyet Cd. 12")

    decisions = world.once()

    assert_cancelled(
        world,
        decisions,
        "far",
        **RULE,
        evidence={"distance_km": round(_km(FAR), 2), "max_km": MAX_KM},
    )
    distance = next(d for d in decisions if d["payment_key"] == "far")["evidence"]["distance_km"]
    assert distance > 10
    assert distance == float(f"{distance:.2f}")  # two decimals
    assert_cancelled(
        world,
        decisions,
        "border-over",
        **RULE,
        evidence={"distance_km": round(_km(over_geodesically), 2), "max_km": MAX_KM},
    )
    assert_untouched(world, decisions, "near")
    assert_untouched(world, decisions, "pickup-far")
    assert_untouched(world, decisions, "border-within")
    assert_untouched(world, decisions, "no-coordinates")
    assert sorted(d["payment_key"] for d in decisions) == ["border-over", "far"]

    # Without a geocoder the order without coordinates is skipped, visibly.
    explained = world.cli("explain", "no-coordinates")
    assert explained.returncode == 0, explained.stderr
    verdict = next(line for line in explained.stdout.splitlines() if "too-far [" in line)
    assert "skipped" in verdict
    assert "no coordinates" in verdict
    assert "no geocoder" in verdict
    assert "decision: no rule matches" in explained.stdout


def test_geocoded_far_address_is_cancelled_and_each_address_geocoded_once(
    world: World,
) -> None:
    world.configure(TOO_FAR, geocoder=True)
    far_address, near_address = "Kandilli Yolu 15, Üsküdar", "Dershane Sokak 4, Şişli"
    world.simulator.add_geocoder_address(far_address, *FAR)
    world.simulator.add_geocoder_address(near_address, *NEAR)
    world.add_order("far-1", coordinates=None, address=far_address)
    world.add_order("far-2", coordinates=None, address=far_address)
    world.add_order("near", coordinates=None, address=near_address)

    decisions = world.once()

    evidence = {"distance_km": round(_km(FAR), 2), "max_km": MAX_KM}
    assert_cancelled(world, decisions, "far-1", **RULE, evidence=evidence)
    assert_cancelled(world, decisions, "far-2", **RULE, evidence=evidence)
    assert_untouched(world, decisions, "near")

    # The next pass meets the same address again (a new order) and the still
    # active near order: both answered from the cache in the store.
    world.add_order("far-3", coordinates=None, address=far_address)
    decisions = world.once()

    assert_cancelled(world, decisions, "far-3", **RULE, evidence=evidence)
    assert_untouched(world, decisions, "near")
    searched = [r.query["q"] for r in world.simulator.requests("GET", "/search")]
    assert sorted(searched) == sorted([far_address, near_address])


ADDRESS_NOT_FOUND = """\
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
"""
SWAPPED = (NEAR[1], NEAR[0])  # latitude and longitude swapped: in the Syrian desert
IZMIR = (38.4237, 27.1428)  # a street of the same name, about 330 km away


def _verdicts(world: World, key: str) -> dict[str, str]:
    """``explain KEY``: rule name -> its verdict line and the evidence line after it."""
    explained = world.cli("explain", key)
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    verdicts = {}
    for number, line in enumerate(lines):
        if " [" in line and line.startswith("  ") and not line.startswith("   "):
            following = lines[number + 1] if number + 1 < len(lines) else ""
            evidence = following if following.strip().startswith("evidence") else ""
            verdicts[line.split(" [")[0].strip()] = f"{line}\n{evidence}"
    assert "decision: no rule matches" in explained.stdout
    return verdicts


def test_implausibly_far_positions_are_bad_data_not_too_far(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND + TOO_FAR, geocoder=True)
    assert _km(SWAPPED) > 1_000 and 300 < _km(IZMIR) < 400
    izmir_address, far_address = "Cumhuriyet Caddesi 1", "Kandilli Yolu 15, Üsküdar"
    world.simulator.add_geocoder_address(izmir_address, *IZMIR)
    world.simulator.add_geocoder_address(far_address, *FAR)
    world.add_order("swapped", coordinates=SWAPPED)
    world.add_order("far", coordinates=FAR)
    world.add_order("geocoded-izmir", coordinates=None, address=izmir_address)
    world.add_order("geocoded-far", coordinates=None, address=far_address)

    decisions, stderr = once_json(world)

    evidence = {"distance_km": round(_km(FAR), 2), "max_km": MAX_KM}
    assert_cancelled(world, decisions, "far", **RULE, evidence=evidence)
    assert_cancelled(world, decisions, "geocoded-far", **RULE, evidence=evidence)
    assert_untouched(world, decisions, "swapped")
    assert_untouched(world, decisions, "geocoded-izmir")
    for key, km in (("swapped", _km(SWAPPED)), ("geocoded-izmir", _km(IZMIR))):
        logged = [line for line in stderr.splitlines() if f"order={key} " in line]
        assert len(logged) == 1, stderr
        assert f"{km:.0f} km" in logged[0] and "100" in logged[0]

    swapped = _verdicts(world, "swapped")
    assert "skipped" in swapped["too-far"] and "implausible" in swapped["too-far"]
    assert '"max_plausible_km": 100' in swapped["too-far"]
    assert f'"implausible_km": {round(_km(SWAPPED), 2)}' in swapped["too-far"]
    izmir = _verdicts(world, "geocoded-izmir")
    assert "skipped" in izmir["too-far"] and "implausible" in izmir["too-far"]
    # Found, but somewhere no delivery goes: not "not found" either.
    assert "skipped" in izmir["address-not-found"], izmir
    assert "implausible" in izmir["address-not-found"]


def test_the_plausible_distance_is_configurable(world: World) -> None:
    world.configure(TOO_FAR, max_plausible_km=12)
    found = geodesic(kilometers=10).destination(HOME, 0)
    ten_km = (found.latitude, found.longitude)
    world.add_order("ten-km", coordinates=ten_km)  # beyond 7.5 km, within this operator's 12
    world.add_order("far", coordinates=FAR)  # 15 km: more than 12, implausible here

    decisions, _ = once_json(world)

    assert_cancelled(
        world,
        decisions,
        "ten-km",
        **RULE,
        evidence={"distance_km": round(_km(ten_km), 2), "max_km": MAX_KM},
    )
    assert_untouched(world, decisions, "far")
    assert '"max_plausible_km": 12' in _verdicts(world, "far")["too-far"]

"""address_not_found, end to end: the simulator's Nominatim-compatible geocoder decides."""

from __future__ import annotations

from tests.world import NEAR, World, assert_cancelled, assert_untouched

ADDRESS_NOT_FOUND = """\
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
"""
RULE = {"rule": "address-not-found", "kind": "address_not_found", "reason_id": 2}
UNKNOWN = "Olmayan Sokak 999, Hiçbiryer"
KNOWN = "Dershane Sokak 4, Şişli"


def _searched(world: World) -> list[str | None]:
    return [r.query.get("q") for r in world.simulator.requests("GET", "/search")]


def test_unknown_delivery_address_is_cancelled_and_the_rest_survive(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND, geocoder=True)
    world.simulator.add_geocoder_address(KNOWN, *NEAR)
    world.add_order("unknown", coordinates=None, address=UNKNOWN)
    world.add_order("known", coordinates=None, address=KNOWN)
    world.add_order("pickup", coordinates=None, address="Gel Al Yok Sokak 1",
                    shipping_method="pickup")
    world.add_order("with-coordinates", coordinates=NEAR, address="Koordinatlı Yok Sokak 2")

    decisions = world.once()

    assert_cancelled(world, decisions, "unknown", **RULE, evidence={"address": UNKNOWN})
    assert_untouched(world, decisions, "known")
    assert_untouched(world, decisions, "pickup")
    assert_untouched(world, decisions, "with-coordinates")
    assert [d["payment_key"] for d in decisions] == ["unknown"]
    # Pickups and orders that carry coordinates are never looked up.
    assert sorted(_searched(world)) == sorted([KNOWN, UNKNOWN])


def test_a_failing_geocoder_is_unknown_not_not_found(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND, geocoder=True)
    world.add_order("unknown", coordinates=None, address=UNKNOWN)
    # The geocoder answers 500. (A path_prefix of "/search" would not match: see
    # test_a_fault_on_the_search_path_reaches_the_geocoder.) This world sends no
    # other GET, so the fault hits only the geocoder.
    world.simulator.inject_fault("status", status=500, method="GET", count=5)

    decisions = world.once()

    assert [r.status for r in world.simulator.requests("GET", "/search")] == [500]
    assert_untouched(world, decisions, "unknown")
    assert decisions == []

    # The failure was not remembered as "not found": once the geocoder answers, it counts.
    world.simulator.clear_faults()
    decisions = world.once()

    assert_cancelled(world, decisions, "unknown", **RULE, evidence={"address": UNKNOWN})
    assert [r.status for r in world.simulator.requests("GET", "/search")] == [500, 200]


def test_a_fault_on_the_search_path_reaches_the_geocoder(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND, geocoder=True)
    world.add_order("unknown", coordinates=None, address=UNKNOWN)
    world.simulator.inject_fault("status", status=500, path_prefix="/search", count=5)

    decisions = world.once()

    assert [r.status for r in world.simulator.requests("GET", "/search")] == [500]
    assert_untouched(world, decisions, "unknown")

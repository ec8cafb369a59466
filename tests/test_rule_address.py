"""address_not_found, end to end: the simulator's Nominatim-compatible geocoder decides."""

from __future__ import annotations

from tests.world import (
    NEAR,
    PAYMENT_FAILED,
    DecidingRule,
    World,
    assert_cancelled,
    assert_untouched,
    once_json,
)

ADDRESS_NOT_FOUND = """\
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
"""
RULE: DecidingRule = {"rule": "address-not-found", "kind": "address_not_found", "reason_id": 2}
UNKNOWN = "Olmayan Sokak 999, Hiçbiryer"
KNOWN = "Dershane Sokak 4, Şişli"


def _searched(world: World) -> list[str]:
    return [r.query["q"] for r in world.simulator.requests("GET", "/search")]


def test_unknown_delivery_address_is_cancelled_and_the_rest_survive(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND, geocoder=True)
    world.simulator.add_geocoder_address(KNOWN, *NEAR)
    world.add_order("unknown", coordinates=None, address=UNKNOWN)
    world.add_order("known", coordinates=None, address=KNOWN)
    world.add_order(
        "pickup", coordinates=None, address="Gel Al Yok Sokak 1", shipping_method="pickup"
    )
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


TOO_FAR = """\
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""
# Bodies a broken geocoder (or a proxy in front of it) has answered with.
GARBAGE_ANSWERS = {
    "Harf Enlem Sokak 1": '[{"lat": "abc", "lon": "28.99", "display_name": "x"}]',
    "Sonsuz Enlem Sokak 2": '[{"lat": "1e999", "lon": "28.99", "display_name": "x"}]',
    "Nesne Cevap Sokak 3": '{"message": "Too many requests"}',
    "Metin Liste Sokak 4": '["41.05", "28.99"]',
}


def test_garbage_geocoder_answers_are_unknown_for_their_order_only(world: World) -> None:
    world.configure(ADDRESS_NOT_FOUND + TOO_FAR + PAYMENT_FAILED, geocoder=True)
    far_address = "Kandilli Yolu 15, Üsküdar"
    world.simulator.add_geocoder_address(far_address, 41.15, 29.10)
    garbage_keys = []
    for number, (address, body) in enumerate(GARBAGE_ANSWERS.items()):
        world.simulator.add_geocoder_reply(address, body)
        garbage_keys.append(
            world.add_order(
                f"garbage-{number}", coordinates=None, address=address, payment_status="ok"
            )
        )
    world.add_order("far", coordinates=None, address=far_address)
    world.add_order("unknown", coordinates=None, address=UNKNOWN)
    world.add_order("payment", payment_status="failed")

    decisions, stderr = once_json(world)

    # Every other order is still decided and cancelled ...
    assert_cancelled(world, decisions, "unknown", **RULE, evidence={"address": UNKNOWN})
    assert_cancelled(
        world,
        decisions,
        "far",
        rule="too-far",
        kind="max_distance",
        reason_id=6,
        evidence={"max_km": 7.5, "geocoded": True},
    )
    assert_cancelled(
        world,
        decisions,
        "payment",
        rule="payment-failed",
        kind="payment_failed",
        reason_id=7,
        evidence={"payment_status": "failed"},
    )
    assert sorted(_searched(world)) == sorted([*GARBAGE_ANSWERS, far_address, UNKNOWN])
    # ... and an order whose address got garbage back is left alone, its problem logged once.
    for key in garbage_keys:
        assert_untouched(world, decisions, key)
        logged = [line for line in stderr.splitlines() if f"order={key} " in line]
        assert len(logged) == 1, stderr
        assert "geocoder" in logged[0] and "no action is based on it" in logged[0]
    assert "Traceback" not in stderr

    # Its position is unknown, not "not found": both location rules skip it.
    explained = world.cli("explain", garbage_keys[0])
    assert explained.returncode == 0, explained.stderr
    verdicts = {
        line.split(" [")[0].strip(): line for line in explained.stdout.splitlines() if " [" in line
    }
    assert "skipped" in verdicts["address-not-found"]
    assert "unreadable" in verdicts["address-not-found"]
    assert "skipped" in verdicts["too-far"]
    assert "decision: no rule matches" in explained.stdout

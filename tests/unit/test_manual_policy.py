"""What stands in the way of a staff-confirmed cancellation, and what --force overrides.

``autocancel cancel`` asks this before it records the intent; the re-check
before each call asks it again (test_rejudge.py).
"""

from __future__ import annotations

from daemon.engine.manual_policy import Finding, Obstacle, blocking, findings, is_manual
from tests.unit.builders import HAL, RESTAURANTS, UNLISTED, order


def obstacles(found: list[Finding]) -> list[Obstacle]:
    return [f.obstacle for f in found]


def test_a_plain_active_order_of_a_listed_restaurant_has_no_obstacle() -> None:
    assert findings(order("x"), restaurant_ids=RESTAURANTS, never_cancel=frozenset()) == []


def test_an_order_not_in_the_store_is_the_only_finding() -> None:
    assert obstacles(findings(None, restaurant_ids=RESTAURANTS, never_cancel=frozenset({"x"}))) == [
        Obstacle.NOT_IN_STORE
    ]


def test_every_obstacle_is_listed_most_fundamental_first_with_its_details() -> None:
    hopeless = order("a/b", restaurant=UNLISTED, status=5, customer_phone="0533 558 76 42")

    found = findings(hopeless, restaurant_ids=RESTAURANTS, never_cancel=frozenset({"05335587642"}))

    assert found == [
        Finding(obstacle=Obstacle.BAD_PAYMENT_KEY),
        Finding(obstacle=Obstacle.FINISHED, details={"status_id": 5, "status": "delivered"}),
        Finding(obstacle=Obstacle.RESTAURANT_NOT_IN_RULES, details={"restaurant_id": UNLISTED}),
        Finding(obstacle=Obstacle.NEVER_CANCEL, details={"matched": "customer_phone"}),
    ]
    assert [f.forceable for f in found] == [False, False, True, True]


def test_force_overrides_only_what_the_daemon_itself_refuses() -> None:
    found = findings(
        order("a/b", restaurant=UNLISTED, status=6),
        restaurant_ids=[HAL],
        never_cancel=frozenset({"a/b"}),
    )
    everything = [o.value for o in Obstacle]

    assert obstacles(blocking(found, forced=everything)) == [
        Obstacle.BAD_PAYMENT_KEY,
        Obstacle.FINISHED,
    ]
    assert obstacles(blocking(found, forced=["never_cancel"])) == [
        Obstacle.BAD_PAYMENT_KEY,
        Obstacle.FINISHED,
        Obstacle.RESTAURANT_NOT_IN_RULES,
    ]
    assert blocking(found, forced=()) == found


def test_only_the_manual_kind_is_manual() -> None:
    assert is_manual("manual")
    assert not is_manual("payment_failed")

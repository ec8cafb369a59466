"""Each order-local rule reads of an order only what its ``order_fields`` declare.

A replay keeps a rule's verdict across new versions of an order that changed
none of those attributes (daemon.engine.verdictmemo), so a rule that read
one more, undeclared, would keep a verdict its new input changed. Each rule
here judges orders of every shape through a proxy that records every
attribute read, properties (``is_delivery``, ``coordinates`` ...) followed
down to the fields they read.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from daemon.domain.location import Location, LocationStatus
from daemon.domain.orders import Item, Order
from rules.address_not_found import AddressNotFoundRule
from rules.base import Rule
from rules.max_distance import MaxDistanceRule
from rules.out_of_stock import OutOfStockRule
from rules.payment_failed import PaymentFailedRule
from rules.registry import registry
from tests.unit.builders import AKAT, HAL_POSITION, OUT_OF_FOOD, PLAIN_FOOD, context, order

FIELDS = frozenset(f.name for f in fields(Order))


class Reading:
    """Stands for an order and records which of its fields are read."""

    def __init__(self, order: Order, read: set[str]) -> None:
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_read", read)

    def __getattr__(self, name: str) -> Any:
        found = getattr(type(self._order), name, None)
        if isinstance(found, property):
            assert found.fget is not None
            return found.fget(self)  # a property reads fields: through the proxy, recorded
        self._read.add(name)
        return getattr(self._order, name)


SHAPES = [
    order("plain"),
    order("short", out_of_stock=True),
    order("two-lines", items=(Item(OUT_OF_FOOD, "ayran", 1), Item(PLAIN_FOOD, "pide", 2))),
    order("failed", payment_status="failed"),
    order("pickup", shipping_method="pickup"),
    order("near", latitude=HAL_POSITION[0] + 0.001, longitude=HAL_POSITION[1]),
    order("far", latitude=HAL_POSITION[0] + 0.3, longitude=HAL_POSITION[1]),
    order("address only", address="Halaskargazi Cd. 1"),
    order("elsewhere", restaurant=AKAT, latitude=41.06, longitude=28.99),
]
LOCATIONS = {
    "near": Location(LocationStatus.KNOWN, (HAL_POSITION[0] + 0.001, HAL_POSITION[1])),
    "far": Location(LocationStatus.KNOWN, (HAL_POSITION[0] + 0.3, HAL_POSITION[1])),
    "address only": Location(LocationStatus.NOT_FOUND, detail="no such street"),
    "elsewhere": Location(LocationStatus.KNOWN, (41.06, 28.99)),
}
RULES: list[Rule] = [
    PaymentFailedRule(name="payment", reason_id=7),
    OutOfStockRule(name="stock", reason_id=1),
    MaxDistanceRule(name="distance", reason_id=6, max_km=5),
    AddressNotFoundRule(name="address", reason_id=5),
]


def test_every_order_local_kind_declares_what_it_reads() -> None:
    classes = [registry.get(kind) for kind in registry.kinds()]
    declared = {
        found.KIND: found.order_fields
        for found in classes
        if found is not None and found.order_local
    }
    assert {rule.kind for rule in RULES} == set(declared)
    assert all(found is not None and found <= FIELDS for found in declared.values())


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.kind)
@pytest.mark.parametrize("geocoding", [False, True], ids=["no geocoder", "geocoder"])
def test_a_rule_reads_only_its_declared_fields(rule: Rule, geocoding: bool) -> None:
    ctx = context(SHAPES, locations=LOCATIONS, geocoding_enabled=geocoding)
    read: set[str] = set()
    proxies: list[Any] = [Reading(shape, read) for shape in SHAPES]
    matched = {proxy.payment_key for proxy in proxies if rule.evaluate(proxy, ctx).matched}
    assert rule.order_fields is not None
    assert read - {"payment_key"} <= rule.order_fields
    # The shapes take the rule down its matching path too (without a geocoder, no
    # address is ever "not found").
    assert matched or (rule.kind == "address_not_found" and not geocoding)

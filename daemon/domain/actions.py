"""Side effects a rule asks for besides cancelling orders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CloseRestaurant:
    restaurant_id: str
    rule: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReopenRestaurant:
    restaurant_id: str
    rule: str
    closure_id: int
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeactivateFood:
    food_id: int
    restaurant_id: str | None
    rule: str
    payment_key: str


RestaurantAction = CloseRestaurant | ReopenRestaurant

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
    rule: str  # the rule whose closure it ends
    closure_id: int
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # Who asked for it: None for the rule's own reopening, the operator's name
    # for ``autocancel reopen`` (the same claim, call and read-back; audited as theirs).
    by: str | None = None


@dataclass(frozen=True, slots=True)
class OverrideSpent:
    """People ended our closure (daemon.domain.overrides) and the overload is over since.

    The pass records it (no API call): from then on the restaurant is judged
    as usual again, and a new overload closes it again.
    """

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
    # The row of an earlier pass's deactivation this one retries (None: a new one).
    deactivation_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReactivateFood:
    """Put a food this daemon deactivated back on sale (``foods/status-active``).

    ``trigger`` says why (``back_in_stock``, ``snooze``, ``manual``) and
    ``evidence`` what it rests on; ``rule`` is the deactivating rule's name.
    """

    food_id: int
    restaurant_id: str | None
    rule: str
    deactivation_id: int
    trigger: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    requested_by: str | None = None  # a person, for a manual reactivation
    note: str | None = None


RestaurantAction = CloseRestaurant | ReopenRestaurant

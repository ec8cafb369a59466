"""The daemon's food deactivations in force, and the way back: when a food may be sold again.

A :class:`FoodOff` is one deactivation this daemon made and still holds
(``food_deactivations.active_key`` set), read with the food's stock row as
it is now and the reactivation under way, if any (:class:`ReactivationClaim`).
Pure values: the planner (``daemon.engine.reactivation``) decides on them,
the store reads them, the operator commands show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from daemon.domain.orders import StockLevel

Trigger = Literal["back_in_stock", "snooze", "manual"]
TRIGGERS: Final[tuple[str, ...]] = get_args(Trigger)

ReactivationOutcome = Literal[
    "pending",  # claimed: a sender is calling foods/status-active now
    "retry",  # surely not carried out (401, 429, refused connection, ...): tried again when due
    "uncertain",  # the answer was lost: counted as sent, re-checked and resent (bounded)
    "reactivated",  # the platform confirmed it: the food is on sale, no longer ours
    "maybe_reactivated",  # answers were lost and the food ran out again: counted as sent
    "failed",  # refused (400/403/404), or no answer after every resend: for a person
]
REACTIVATION_OUTCOMES: Final[tuple[str, ...]] = get_args(ReactivationOutcome)
# A claim in one of these may be taken again (a stale "pending" only when its sender is gone).
RECLAIMABLE: Final = frozenset({"pending", "retry", "uncertain"})
# The deactivation ends with these: the food is no longer the daemon's.
CLOSING: Final = frozenset({"reactivated", "maybe_reactivated"})


def sellable(level: StockLevel | None, restaurant_id: str | None) -> bool:
    """The stock row says the food can be sold again: available and not counted at zero.

    No row, an unreadable one (None), another restaurant's row, or a count of
    zero or less says nothing of the kind: the food stays off.
    """
    if level is None or (restaurant_id is not None and not level.speaks_for(restaurant_id)):
        return False
    return level.available and (level.quantity is None or level.quantity > 0)


def describe_stock(level: StockLevel | None) -> dict[str, object] | None:
    """The stock row as evidence: ``{"available": true, "quantity": 4}``; None without one."""
    if level is None:
        return None
    return {"available": level.available, "quantity": level.quantity}


@dataclass(frozen=True, slots=True)
class ReactivationClaim:
    """The reactivation of one deactivation, as far as it got (``food_reactivations``)."""

    id: int
    outcome: str
    trigger: str
    updated_at: datetime  # when it was last claimed or recorded
    attempts: int = 0
    uncertain_sends: int = 0  # calls whose answer was lost: they may have acted
    last_error: str | None = None
    requested_by: str | None = None  # a person's name for a manual one
    note: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class FoodOff:
    """A deactivation this daemon holds, with the food's stock row as it is now."""

    deactivation_id: int
    food_id: int
    restaurant_id: str | None
    rule: str
    payment_key: str | None  # the order whose cancellation deactivated it
    deactivated_at: datetime
    outcome: str  # of the deactivation: pending, retry, done, failed, uncertain
    uncertain_sends: int = 0
    last_error: str | None = None
    stock: StockLevel | None = None  # None: no stock row, or an unreadable one
    stock_unreadable: bool = False
    reactivation: ReactivationClaim | None = None

    @property
    def may_be_off(self) -> bool:
        """Our call may have switched the food off: it went through, or its answer was lost.

        A deactivation still being tried (pending, retry) or refused by the
        platform never switched anything off, so there is nothing to undo.
        """
        if self.outcome == "done":
            return True
        return self.uncertain_sends > 0 and self.outcome in ("failed", "uncertain")

    @property
    def sellable(self) -> bool:
        return sellable(self.stock, self.restaurant_id)


def describe_stock_words(stock: object) -> str:
    """A stock row as evidence (:func:`describe_stock`), in words: ``available, 4 left``."""
    if not isinstance(stock, dict):
        return "no readable stock row"
    quantity = stock.get("quantity")
    state = "available" if stock.get("available") else "unavailable"
    return state if quantity is None else f"{state}, {quantity} left"


def describe_reason(trigger: str, evidence: object, note: str | None = None) -> str:
    """Why a food was (or is being) put back on sale, for ``audit`` and ``foods``."""
    found = evidence if isinstance(evidence, dict) else {}
    if trigger == "back_in_stock":
        why = f"back in stock (stock row: {describe_stock_words(found.get('stock'))})"
    elif trigger == "snooze":
        minutes = found.get("reactivate_after_minutes")
        why = f"snooze: reactivate_after_minutes {minutes} was up"
        if "stock" in found:
            why += f" (stock row: {describe_stock_words(found.get('stock'))})"
    elif trigger == "manual":
        why = "by hand (autocancel food-reactivate)"
    else:
        why = trigger
    if found.get("resend"):
        why += "; a resend after a lost answer"
    if note:
        why += f"; note: {note}"
    return why

"""Foods come back: which of the daemon's deactivations to undo now, and why. Pure; no I/O.

A food this daemon switched off goes back on sale (``foods/status-active``)
when its stock row says it can be sold again (available, and not counted at
zero), or, with ``reactivate_after_minutes`` on the rule that deactivated
it, that long after the deactivation whatever the stock row says (a snooze,
for kitchens that forget to update it). Never a food someone else switched
off: only the daemon's own deactivations in force are ever considered, and
only those whose call may have reached the platform.

Judged every pass, full or incremental, on every deactivation in force (a
small table, read whole by the snapshot): the way back depends on the
stock rows and the clock, not on which restaurants the pass re-read. The
same judgement runs again right before each call (:func:`reason_now`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from daemon.domain.actions import ReactivateFood
from daemon.domain.foods import RECLAIMABLE, FoodOff, describe_stock
from daemon.domain.timeutil import isoformat_z

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rules.base import Rule


def abandoned_after(*, pass_deadline_seconds: float, timeout_seconds: float) -> timedelta:
    """How long a claimed reactivation may stay ``pending`` while its sender is alive.

    A sender starts no call after its pass deadline, each call ends within
    the request timeout, and one backoff (at most 30 s, a 429's wait) may
    follow; a minute more for clocks and commits. Past that, nobody is
    sending it: its call may have left, so it counts as sent and is resent.
    """
    return timedelta(seconds=pass_deadline_seconds + 2 * timeout_seconds + 30 + 60)


#: With the default api settings (pass_deadline_seconds 90, timeout_seconds 10).
DEFAULT_ABANDONED_AFTER = abandoned_after(pass_deadline_seconds=90, timeout_seconds=10)


def snoozes(rules: Sequence[Rule]) -> dict[str, timedelta]:
    """Each rule's ``reactivate_after_minutes``, by name (rules without one left out).

    A rule that is disabled, shadowed or outside its window still brings its
    foods back: every action the daemon took keeps its way back.
    """
    return {rule.name: delay for rule in rules if (delay := rule.reactivation_delay) is not None}


def reason_now(
    food: FoodOff, snooze: timedelta | None, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """Why ``food`` may go back on sale at ``now`` (trigger, evidence), or None.

    The stock row first: it is the kitchen's own word. The snooze, when the
    rule has one, once its time is up.
    """
    if food.sellable:
        return "back_in_stock", {"stock": describe_stock(food.stock)}
    if snooze is not None and now >= food.deactivated_at + snooze:
        return "snooze", {
            "reactivate_after_minutes": int(snooze.total_seconds() // 60),
            "deactivated_at": isoformat_z(food.deactivated_at),
            "due_at": isoformat_z(food.deactivated_at + snooze),
            "stock": describe_stock(food.stock),
        }
    return None


def due_at(food: FoodOff, snooze: timedelta | None) -> datetime | None:
    """When the snooze brings ``food`` back (None: only its stock row will)."""
    return None if snooze is None else food.deactivated_at + snooze


def _owed_resend(food: FoodOff, *, abandoned_before: datetime) -> bool:
    """A call of this reactivation may have reached the platform, and nobody is sending it.

    Its answer was lost (``uncertain``), or its sender stopped between the
    claim and the outcome (``pending`` since before ``abandoned_before``).
    """
    claim = food.reactivation
    if claim is None:
        return False
    if claim.outcome == "uncertain":
        return True
    return claim.outcome == "pending" and claim.updated_at < abandoned_before


def due_reactivations(
    foods: Iterable[FoodOff],
    snooze_of: Mapping[str, timedelta],
    now: datetime,
    *,
    abandoned_before: datetime,
) -> tuple[ReactivateFood, ...]:
    """The reactivations to send in a pass at ``now``.

    A deactivation whose reactivation is under way (``pending``, until its
    sender is presumed gone), finished, or failed for good (``failed``: a
    person decides, with ``autocancel food-reactivate``) is left alone. One
    whose earlier call may have acted is planned again whatever the stock
    says: the re-check right before the call decides (:func:`reason_now`),
    and a lost answer counts as sent.
    """
    due = []
    evidence: dict[str, Any]
    for food in foods:
        claim = food.reactivation
        if not food.may_be_off or (claim is not None and claim.outcome not in RECLAIMABLE):
            continue
        owed = _owed_resend(food, abandoned_before=abandoned_before)
        if claim is not None and claim.outcome == "pending" and not owed:
            continue  # being sent right now, by this daemon or a replica
        found = reason_now(food, snooze_of.get(food.rule), now)
        if found is None and not owed:
            continue
        if owed and claim is not None and (claim.trigger == "manual" or found is None):
            # A person's request stands; an automatic one no longer due is planned
            # all the same, so that the re-check settles it (counted as sent).
            trigger, evidence = claim.trigger, {}
        else:
            assert found is not None
            trigger, evidence = found
        if owed:
            evidence = {**evidence, "resend": True}
        due.append(
            ReactivateFood(
                food_id=food.food_id,
                restaurant_id=food.restaurant_id,
                rule=food.rule,
                deactivation_id=food.deactivation_id,
                trigger=trigger,
                evidence=evidence,
                requested_by=claim.requested_by if claim is not None and owed else None,
                note=claim.note if claim is not None and owed else None,
            )
        )
    return tuple(due)

"""What a replay decided: one outcome per order, the closures, the foods off and back. Pure.

An order is judged by many simulated passes; what counts is the strongest
thing that happened to it, the first time it happened: cancelled (a live
cancellation, which a replay takes as sent and confirmed), else would have
been cancelled (a dry-run decision), else held by a limit, else skipped
(protected by safety, or suspended: a quiet window, a pause). A cancelled
order that a limit held first says so (``held_before``), and an order a
pause skipped keeps that pause's id (``pause_id``) whatever came of it
once the pause ended. Shadow matches (a ``dry_run`` rule beside the deciding
one) are kept apart, one per order and rule. Closures people ended
(``autocancel reopen``/``release``, staff) end the replay's closure spans
and are listed with what the replay made of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Final

from daemon.domain.decisions import Decision, Mode
from daemon.domain.pauses import SKIPPED_BECAUSE as PAUSED
from daemon.domain.pauses import Pause
from daemon.engine.plan import Plan
from daemon.engine.replay.world import Effects

# The replay's outcome of a decision: a live "pending" is what gets sent, and a
# replay takes every call as confirmed.
_OUTCOME: Final = {
    "pending": "cancelled",
    "cancelled": "cancelled",
    "would_cancel": "would_cancel",
    "held": "held",
    "skipped": "skipped",
    "failed": "failed",
}
_STRENGTH: Final = {"cancelled": 4, "would_cancel": 3, "held": 2, "failed": 1, "skipped": 1}
OUTCOMES: Final = ("cancelled", "would_cancel", "held", "skipped")


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    payment_key: str
    restaurant_id: str
    rule: str
    kind: str
    reason_id: int
    mode: Mode
    outcome: str  # cancelled, would_cancel, held or skipped
    at: datetime  # the pass clock of the decision
    total: Decimal | None
    because: str | None = None  # held_because / skipped_because
    held_before: bool = False  # held by a limit in an earlier pass, then cancelled
    pause_id: int | None = None  # the pause that skipped it (now or in an earlier pass)

    @property
    def cancels(self) -> bool:
        return self.outcome == "cancelled"

    @property
    def paused(self) -> bool:
        """Skipped by a pause, and nothing stronger came of it."""
        return self.outcome == "skipped" and self.because == PAUSED


@dataclass(frozen=True, slots=True)
class ClosureSpan:
    restaurant_id: str
    rule: str
    closed_at: datetime
    reopened_at: datetime | None  # None: still closed when the replay ended
    # How it ended: None by the rule (or not yet), else the people's override kind.
    ended_by: str | None = None

    def minutes(self, end: datetime) -> float:
        return ((self.reopened_at or end) - self.closed_at).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class FoodOff:
    food_id: int
    restaurant_id: str | None
    rule: str
    payment_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FoodBack:
    """A food a replayed pass put back on sale, ending a deactivation of ours."""

    food_id: int
    restaurant_id: str | None
    rule: str  # the rule whose deactivation it ended
    trigger: str  # back_in_stock or snooze (daemon.engine.reactivation)
    at: datetime
    deactivated_at: datetime  # when that deactivation was made (maybe before the start)


@dataclass(frozen=True, slots=True)
class OverrideReplayed:
    """A closure people ended live, and what the replay made of it."""

    restaurant_id: str
    kind: str  # reopen, release or staff
    by: str | None
    at: datetime
    ended_closure: bool  # False: the replay had no closure of that restaurant to end
    # When a replayed pass saw the load below reopen_below: respected no longer.
    respect_ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Unwatched:
    """A stretch of time no daemon ran: nothing was seen, and a replay runs no pass in it."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class ReplayResult:
    start: datetime
    end: datetime
    passes: int
    full_passes: int
    changes: int  # history rows replayed
    orders_seen: int  # distinct orders active at some moment of the replay
    orders: Mapping[str, OrderOutcome]
    shadows: tuple[OrderOutcome, ...] = ()
    closures: tuple[ClosureSpan, ...] = ()
    foods: tuple[FoodOff, ...] = ()
    foods_reactivated: tuple[FoodBack, ...] = ()
    unwatched: tuple[Unwatched, ...] = ()
    pauses: tuple[Pause, ...] = ()  # every pause in force during the replay, as stored at its end
    overrides: tuple[OverrideReplayed, ...] = ()


def _outcome(decision: Decision, at: datetime) -> OrderOutcome:
    evidence = decision.evidence
    because = evidence.get("held_because") or evidence.get("skipped_because")
    return OrderOutcome(
        payment_key=decision.payment_key,
        restaurant_id=decision.order.restaurant_id,
        rule=decision.rule,
        kind=decision.kind,
        reason_id=decision.reason_id,
        mode=decision.mode,
        outcome=_OUTCOME[decision.outcome],
        at=at,
        total=decision.order.total,
        because=str(because) if because is not None else None,
        pause_id=evidence.get("pause_id") if because == PAUSED else None,
    )


@dataclass
class Collector:
    """Gathers the outcomes of every simulated pass of one replay."""

    orders: dict[str, OrderOutcome] = field(default_factory=dict)
    shadows: dict[tuple[str, str], OrderOutcome] = field(default_factory=dict)
    closures: dict[int, ClosureSpan] = field(default_factory=dict)
    foods: list[FoodOff] = field(default_factory=list)
    foods_back: list[FoodBack] = field(default_factory=list)
    overrides: list[OverrideReplayed] = field(default_factory=list)
    # The replay's closure id -> its entry in ``overrides``, while respected.
    _ended_by_override: dict[int, int] = field(default_factory=dict)
    passes: int = 0
    full_passes: int = 0

    def add(self, plan: Plan, effects: Effects, *, full: bool) -> None:
        self.passes += 1
        self.full_passes += full
        for decision in plan.decisions:
            found = _outcome(decision, plan.now)
            if not decision.primary:
                self.shadows.setdefault((found.payment_key, found.rule), found)
                continue
            known = self.orders.get(found.payment_key)
            if known is None or _STRENGTH[found.outcome] > _STRENGTH[known.outcome]:
                if known is not None and known.outcome == "held" and found.cancels:
                    found = replace(found, held_before=True)
                if known is not None and known.pause_id is not None:
                    found = replace(found, pause_id=known.pause_id)
                self.orders[found.payment_key] = found
        for closure in effects.closed:
            self.closures[closure.id] = ClosureSpan(
                closure.restaurant_id, closure.rule, closure.closed_at, None
            )
        for closure, at in effects.reopened:
            span = self.closures.get(closure.id)
            self.closures[closure.id] = ClosureSpan(
                closure.restaurant_id,
                closure.rule,
                closure.closed_at if span is None else span.closed_at,
                at,
            )
        self._people(effects, plan.now)
        for food in effects.deactivated:
            self.foods.append(
                FoodOff(food.food_id, food.restaurant_id, food.rule, food.payment_key, plan.now)
            )
        for back, ended in effects.reactivated:
            self.foods_back.append(
                FoodBack(
                    back.food_id,
                    back.restaurant_id,
                    back.rule,
                    back.trigger,
                    plan.now,
                    ended.deactivated_at,
                )
            )

    def _people(self, effects: Effects, now: datetime) -> None:
        for taken in effects.people:
            override, closure = taken.override, taken.closure
            if closure is not None:
                span = self.closures.get(closure.id)
                self.closures[closure.id] = ClosureSpan(
                    closure.restaurant_id,
                    closure.rule,
                    closure.closed_at if span is None else span.closed_at,
                    override.at,
                    ended_by=override.kind,
                )
                self._ended_by_override[closure.id] = len(self.overrides)
            self.overrides.append(
                OverrideReplayed(
                    override.restaurant_id,
                    override.kind,
                    override.by,
                    override.at,
                    ended_closure=closure is not None,
                )
            )
        for spent in effects.respect_ended:
            index = self._ended_by_override.pop(spent.closure_id, None)
            if index is not None:  # not one respected since before the replay's start
                self.overrides[index] = replace(self.overrides[index], respect_ended_at=now)

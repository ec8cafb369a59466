"""The daemon's own state in memory, and what a plan's live effects do to it. Pure.

Two stores in memory run the one planner and feed each plan's effects to the
next pass: the replay's (daemon.engine.replay.world) and the one behind
``autocancel test`` (daemon.engine.simulated). Beside their orders and stock
rows, both keep what the daemon's own tables give a pass, in an
:class:`OwnState`, and both apply a plan to it as the executor and the store
apply a live pass whose every API call went through (:meth:`OwnState.apply`):

- a live cancellation (a primary decision, live, pending: :func:`cancels`)
  counts in the rolling hour of ``max_cancellations_per_hour`` from the pass
  clock, as the ledger counts it (HOURLY_WINDOW); what becomes of the order
  is the store's to say (:attr:`Applied.cancelled`);
- a live close makes a closure of ours at the pass clock, unless one is in
  force or someone else had closed the restaurant (the executor reads the
  platform's state first, then takes nothing: never ours to reopen); a live
  reopen ends the closure it names;
- a live food deactivation, once per food (:func:`chosen_foods`), puts a
  deactivation of ours in force (a :class:`~daemon.domain.foods.FoodOff` at
  the pass clock, done); a live reactivation ends the deactivation it names,
  as the store clears its ``active_key``, so the next shortage switches the
  food off anew;
- dry-run decisions and side effects change nothing.

A pass reads the deactivations as ``read_snapshot`` gives them: each with its
food's stock row now (:meth:`OwnState.foods_off`). That tuple is kept between
passes (a replay runs hundreds of thousands) and built again only when a
deactivation or the stock row of a food off changed (:meth:`stock_changed`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from daemon.domain.actions import CloseRestaurant, DeactivateFood, ReactivateFood, ReopenRestaurant
from daemon.domain.decisions import Decision, Mode
from daemon.domain.foods import FoodOff
from daemon.domain.orders import Closure, StockLevel
from daemon.engine.plan import Plan, foods_to_deactivate
from daemon.store.ledger import HOURLY_WINDOW


def cancels(decision: Decision) -> bool:
    """The decision is a live cancellation a pass sends (and, here, the platform confirms)."""
    return decision.primary and decision.mode == "live" and decision.outcome == "pending"


def chosen_foods(plan: Plan) -> list[tuple[DeactivateFood, Mode]]:
    """The foods the pass deactivates, once each: of the orders whose cancellation goes ahead.

    In memory the ledger takes every decision going ahead (live or dry run),
    so those are the plan's own.
    """
    going_ahead = {
        d.payment_key
        for d in plan.decisions
        if d.primary and d.outcome in ("pending", "would_cancel")
    }
    return foods_to_deactivate(plan, going_ahead)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one plan's live effects changed."""

    cancelled: tuple[Decision, ...] = ()  # the live cancellations, in the plan's order
    closed: tuple[Closure, ...] = ()
    reopened: tuple[Closure, ...] = ()  # the closures ended, at the plan's clock
    deactivated: tuple[DeactivateFood, ...] = ()
    # Each reactivation with the deactivation it ended.
    reactivated: tuple[tuple[ReactivateFood, FoodOff], ...] = ()


class OwnState:
    """Closures of ours, food deactivations in force, the rolling hour's cancellations.

    Ids of what it makes (closures, deactivations, and whatever else a store
    asks :meth:`new_id` for) come from one counter, above every id it starts with.
    """

    def __init__(
        self,
        *,
        closures: Mapping[str, Closure] | None = None,
        foods_off: Iterable[FoodOff] = (),
        cancelled_at: Iterable[datetime] = (),
        ids_above: int = 0,
    ) -> None:
        self.closures: dict[str, Closure] = dict(closures or {})
        self._foods_off = {off.food_id: off for off in foods_off}
        self._cancelled_at = sorted(cancelled_at)
        self._last_id = max(
            (
                ids_above,
                *(c.id for c in self.closures.values()),
                *(off.deactivation_id for off in self._foods_off.values()),
            )
        )
        self._off_ids: frozenset[int] = frozenset(self._foods_off)
        self._view: tuple[FoodOff, ...] | None = None  # foods_off() as last built
        # Each deactivation with its food's stock row, as last read: a stock change
        # re-reads only that food's (a replay changes stock rows thousands of times a day).
        self._read: dict[int, FoodOff] = {}

    def new_id(self) -> int:
        self._last_id += 1
        return self._last_id

    # --- the rolling hour ----------------------------------------------------------

    def record_cancellations(self, moments: Iterable[datetime]) -> None:
        """Live cancellations made at ``moments`` (before the passes that follow)."""
        for moment in moments:
            insort(self._cancelled_at, moment)

    def hourly_used(self, now: datetime) -> int:
        """Live cancellations in the rolling hour before ``now``, as the ledger counts them."""
        window = self._cancelled_at
        return bisect_right(window, now) - bisect_left(window, now - HOURLY_WINDOW)

    # --- food deactivations ---------------------------------------------------------

    @property
    def deactivated_foods(self) -> frozenset[int]:
        """Foods with a deactivation of ours in force: never deactivated a second time."""
        return self._off_ids

    def foods_off(self, stock: Mapping[int, StockLevel]) -> tuple[FoodOff, ...]:
        """The deactivations in force, oldest first, each with its food's row in ``stock``.

        ``stock`` is the store's stock now; a store tells :meth:`stock_changed`
        of every change to it, so the tuple kept from the last call still holds.
        """
        if self._view is None:
            read = self._read
            for food_id, off in self._foods_off.items():
                if food_id not in read:
                    read[food_id] = replace(off, stock=stock.get(food_id))
            self._view = tuple(read[food_id] for food_id in self._foods_off)
        return self._view

    def stock_changed(self, food_id: int) -> None:
        """The food's stock row changed: a deactivation of it reads the new one."""
        if food_id in self._off_ids:
            self._read.pop(food_id, None)
            self._view = None

    def deactivate(
        self,
        food_id: int,
        *,
        rule: str,
        at: datetime,
        restaurant_id: str | None,
        payment_key: str | None = None,
    ) -> FoodOff:
        """A deactivation of ours in force since ``at``, its call confirmed (``done``)."""
        off = FoodOff(
            deactivation_id=self.new_id(),
            food_id=food_id,
            restaurant_id=restaurant_id,
            rule=rule,
            payment_key=payment_key,
            deactivated_at=at,
            outcome="done",
        )
        self._foods_off[food_id] = off
        self._foods_changed(food_id)
        return off

    def _reactivate(self, food: ReactivateFood) -> FoodOff | None:
        """End the deactivation ``food`` names; None if it is not the one in force."""
        off = self._foods_off.get(food.food_id)
        if off is None or off.deactivation_id != food.deactivation_id:
            return None
        del self._foods_off[food.food_id]
        self._foods_changed(food.food_id)
        return off

    def _foods_changed(self, food_id: int) -> None:
        self._off_ids = frozenset(self._foods_off)
        self._read.pop(food_id, None)
        self._view = None

    # --- closures ---------------------------------------------------------------------

    def close(self, restaurant_id: str, *, rule: str, at: datetime) -> Closure:
        """A closure of ours in force since ``at`` (in place of one in force before)."""
        closure = Closure(self.new_id(), restaurant_id, rule, at)
        self.closures[restaurant_id] = closure
        return closure

    # --- a plan ---------------------------------------------------------------------

    def apply(self, plan: Plan, *, closed_by_others: Collection[str] = ()) -> Applied:
        """Apply ``plan``'s live effects, as after a pass whose every API call succeeded.

        ``closed_by_others``: restaurants someone else closed on the platform.
        """
        cancelled = tuple(d for d in plan.decisions if cancels(d))
        for _decision in cancelled:
            insort(self._cancelled_at, plan.now)
        closed: list[Closure] = []
        reopened: list[Closure] = []
        for action, mode in plan.restaurant_actions:
            if mode != "live":
                continue
            rid = action.restaurant_id
            if isinstance(action, CloseRestaurant):
                if rid not in self.closures and rid not in closed_by_others:
                    closed.append(self.close(rid, rule=action.rule, at=plan.now))
            elif isinstance(action, ReopenRestaurant):
                ended = self.closures.get(rid)
                if ended is not None and ended.id == action.closure_id:
                    del self.closures[rid]
                    reopened.append(ended)
        deactivated = [
            food
            for food, mode in chosen_foods(plan)
            if mode == "live" and food.food_id not in self._off_ids
        ]
        for food in deactivated:
            self.deactivate(
                food.food_id,
                rule=food.rule,
                at=plan.now,
                restaurant_id=food.restaurant_id,
                payment_key=food.payment_key,
            )
        reactivated = [
            (food, undone)
            for food, mode in plan.food_reactivations
            if mode == "live" and (undone := self._reactivate(food)) is not None
        ]
        return Applied(
            cancelled=cancelled,
            closed=tuple(closed),
            reopened=tuple(reopened),
            deactivated=tuple(deactivated),
            reactivated=tuple(reactivated),
        )

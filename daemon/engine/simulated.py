"""An order store in memory, and passes run on it whose effects feed the next pass.

:class:`SimulatedStore` holds what a pass reads from the store (the active
orders with their items, the stock rows, the daemon's closures, food
deactivations and live cancellations) and runs passes on it with the one
planner (:func:`daemon.engine.plan.plan_pass`), the configuration's safety
limits and the pass context every pass builds (:mod:`daemon.engine.context`).
After each pass it applies the plan's effects to its state, as the executor
and the store apply them after a pass whose every API call went through:

- a live cancellation sets the order's ``status_id`` to 6 (it leaves the
  active orders) and counts against the rolling hourly cap from that pass's clock;
- a live close creates a :class:`daemon.domain.orders.Closure` with
  ``closed_at`` = the pass clock, unless someone else had closed the
  restaurant already (the executor reads the platform's state first, then
  takes nothing: never ours to reopen); a live reopen ends our closure;
- a live food deactivation (once per food, as a pass sends it) puts a
  deactivation of ours in force (:class:`daemon.domain.foods.FoodOff`, at the
  pass clock), and a live reactivation ends it: the food may be deactivated
  again later;
- dry-run decisions and effects change nothing, as in a dry-run pass.

Pauses (``autocancel pause``) are state too: :meth:`pause` puts one in, and
the planner judges it at each pass clock, as it judges the store's.

``autocancel test`` runs each step of a rules test on one
(:mod:`daemon.engine.ruletest`). It is written to be shared: a replay of
recorded history (issue 14, item 3) puts each recorded moment's rows in with
:meth:`put_order`, :meth:`put_stock` ... and calls :meth:`run_pass` at each
pass clock, and gets the same feedback.

What it does not model: API failures, lost answers and retries (every call
succeeds, so no reactivation is ever left claimed), the re-check right
before each send (nothing changes within a pass in memory), and a geocode
cache (every pass asks ``geocoder``, at most
:data:`daemon.engine.geo.MAX_GEOCODES_PER_PASS` new addresses per pass).

Pure: no store, no network, no wall clock; every pass is given its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from daemon.domain.actions import (
    CloseRestaurant,
    DeactivateFood,
    ReactivateFood,
    ReopenRestaurant,
)
from daemon.domain.decisions import Decision, Mode
from daemon.domain.distance import Distances
from daemon.domain.foods import FoodOff
from daemon.domain.orders import Closure, Order, Snapshot, StockLevel
from daemon.domain.pauses import Pause
from daemon.domain.statuses import ACTIVE_STATUSES, CANCELED
from daemon.engine.context import (
    locator_for,
    pass_context,
    reactivations_abandoned_after,
    safety_limits,
)
from daemon.engine.plan import Plan, foods_to_deactivate, plan_pass

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.engine.geo import Geocoder

# The rolling window of safety.max_cancellations_per_hour (daemon.store.ledger).
HOURLY_WINDOW = timedelta(minutes=60)

EffectAction = Literal["close", "reopen", "deactivate", "reactivate"]


@dataclass(frozen=True, slots=True)
class Effect:
    """One side effect a pass took (live) or would have taken (dry_run)."""

    action: EffectAction
    target: str | int  # the restaurant id (close, reopen) or the food id (de/reactivate)
    rule: str
    mode: Mode


@dataclass(frozen=True)
class SimulatedPass:
    """What one pass in memory did: its plan, its decisions' final outcomes, its effects."""

    plan: Plan
    # The plan's decisions with a live cancellation's outcome as the API confirmed it
    # ("cancelled"); every other outcome as planned.
    decisions: tuple[Decision, ...]
    effects: tuple[Effect, ...]

    @property
    def now(self) -> datetime:
        return self.plan.now


class SimulatedStore:
    """The store and the daemon's own state, in memory, for passes on one configuration."""

    def __init__(self, config: Config, *, geocoder: Geocoder | None = None) -> None:
        self.config = config
        # No engine: no geocode cache, no read, no write.
        self._locator = locator_for(
            config,
            engine=None,
            geocoder=geocoder,
            provider=config.geocoder.provider if config.geocoder is not None else "",
        )
        self._orders: dict[str, Order] = {}
        self._stock: dict[int, StockLevel] = {}
        self._closures: dict[str, Closure] = {}
        self._closed_by_others: set[str] = set()
        self._foods_off: dict[int, FoodOff] = {}  # our deactivations in force, by food
        self._pauses: list[Pause] = []
        self._live_intents: dict[str, str] = {}
        self._cancelled_at: list[datetime] = []  # live cancellations, for the hourly cap
        self._next_id = 1  # of closures, deactivations and pauses

    # --- the state, as a POS, a person or a recorded history changes it -----

    @property
    def orders(self) -> Mapping[str, Order]:
        """Every order put in, active or not, by payment_key."""
        return dict(self._orders)

    def put_order(self, order: Order) -> None:
        """Insert or replace an order row (with its items)."""
        self._orders[order.payment_key] = order

    def change_order(self, payment_key: str, **columns: Any) -> Order:
        """Change some columns of an order put in before; KeyError if there is none."""
        changed = replace(self._orders[payment_key], **columns)
        self._orders[payment_key] = changed
        return changed

    def put_stock(self, level: StockLevel) -> None:
        """Insert or replace the stock row of ``level.food_id``."""
        self._stock[level.food_id] = level

    def remove_stock(self, food_id: int) -> None:
        self._stock.pop(food_id, None)

    def close_ours(self, restaurant_id: str, *, rule: str, closed_at: datetime) -> None:
        """A closure of this daemon in force since ``closed_at`` (as after its live close)."""
        self._closed_by_others.discard(restaurant_id)
        self._closures[restaurant_id] = Closure(
            id=self._new_id(), restaurant_id=restaurant_id, rule=rule, closed_at=closed_at
        )

    def close_by_others(self, restaurant_id: str) -> None:
        """Closed on the platform by someone else: never closed or reopened by us."""
        self._closures.pop(restaurant_id, None)
        self._closed_by_others.add(restaurant_id)

    def open(self, restaurant_id: str) -> None:
        """Open, with no closure of ours in force."""
        self._closures.pop(restaurant_id, None)
        self._closed_by_others.discard(restaurant_id)

    def deactivate(
        self,
        food_id: int,
        *,
        rule: str,
        at: datetime,
        restaurant_id: str | None,
        payment_key: str | None = None,
    ) -> None:
        """A deactivation of ours in force since ``at`` (as after its live call went through).

        ``rule`` is the rule that asked for it (its ``reactivate_after_minutes``
        counts from ``at``); ``restaurant_id`` the order's restaurant.
        """
        self._foods_off[food_id] = FoodOff(
            deactivation_id=self._new_id(),
            food_id=food_id,
            restaurant_id=restaurant_id,
            rule=rule,
            payment_key=payment_key,
            deactivated_at=at,
            outcome="done",
        )

    def pause(
        self,
        *,
        rule: str | None,
        restaurant_id: str | None,
        since: datetime,
        until: datetime,
        comment: str = "",
        by: str = "",
    ) -> None:
        """A pause (``autocancel pause``) of ``rule`` at ``restaurant_id`` (None: all)."""
        self._pauses.append(
            Pause(
                id=self._new_id(),
                rule=rule,
                restaurant_id=restaurant_id,
                created_at=since,
                until=until,
                comment=comment,
                created_by=by,
            )
        )

    def record_cancellations(self, moments: Iterable[datetime]) -> None:
        """Live cancellations made at ``moments`` (before the first pass): the hourly cap."""
        self._cancelled_at.extend(moments)

    # --- what a pass reads ----------------------------------------------------

    def snapshot(self, now: datetime) -> Snapshot:
        """The store as a full pass at ``now`` reads it: active orders and the stock they name."""
        active = tuple(
            order for order in self._orders.values() if order.status_id in ACTIVE_STATUSES
        )
        ordered = {item.food_id for order in active for item in order.items}
        return Snapshot(
            taken_at=now,
            orders=active,
            stock={food: level for food, level in self._stock.items() if food in ordered},
            live_intents={
                key: outcome
                for key, outcome in self._live_intents.items()
                if key in {order.payment_key for order in active}
            },
            closures=dict(self._closures),
            deactivated_foods=frozenset(self._foods_off),
            # Stored from their start: a pause put in for later holds from then on.
            pauses=tuple(p for p in self._pauses if p.created_at <= now and p.in_force(now)),
            foods_off=tuple(
                replace(off, stock=self._stock.get(food_id))
                for food_id, off in self._foods_off.items()
            ),
        )

    def hourly_used(self, now: datetime) -> int:
        """Live cancellations in the rolling hour before ``now`` (as the ledger counts them)."""
        since = now - HOURLY_WINDOW
        return sum(1 for moment in self._cancelled_at if since <= moment <= now)

    def plan(self, now: datetime) -> Plan:
        """The plan a full pass at ``now`` makes on this state (nothing is applied)."""
        ctx = pass_context(
            self.config,
            self.snapshot(now),
            locator=self._locator,
            distances=Distances(),
        )
        return plan_pass(
            self.config.rules,
            ctx,
            safety_limits(self.config),
            hourly_used=self.hourly_used(now),
            dry_run=self.config.dry_run,
            reactivations_abandoned_after=reactivations_abandoned_after(self.config),
        )

    # --- a pass ---------------------------------------------------------------

    def run_pass(self, now: datetime) -> SimulatedPass:
        """Plan a full pass at ``now``, then apply its effects as a live pass would."""
        return self.apply(self.plan(now))

    def apply(self, plan: Plan) -> SimulatedPass:
        """Apply ``plan``'s live cancellations and side effects to the state."""
        decisions = tuple(self._cancel(d, plan.now) for d in plan.decisions)
        going_ahead = {
            d.payment_key
            for d in plan.decisions
            if d.primary and d.outcome in ("pending", "would_cancel")
        }
        effects = [
            *self._restaurant_effects(plan),
            *self._food_effects(foods_to_deactivate(plan, going_ahead), plan.now),
            *self._comebacks(plan.food_reactivations),
        ]
        return SimulatedPass(plan=plan, decisions=decisions, effects=tuple(effects))

    def _cancel(self, decision: Decision, now: datetime) -> Decision:
        if not (decision.primary and decision.mode == "live" and decision.outcome == "pending"):
            return decision
        key = decision.payment_key
        self._orders[key] = replace(self._orders[key], status_id=CANCELED)
        self._live_intents[key] = "cancelled"
        self._cancelled_at.append(now)
        return decision.with_outcome("cancelled")

    def _restaurant_effects(self, plan: Plan) -> list[Effect]:
        effects = []
        for action, mode in plan.restaurant_actions:
            kind: EffectAction = "close" if isinstance(action, CloseRestaurant) else "reopen"
            if mode == "live":
                if isinstance(action, ReopenRestaurant):
                    self._closures.pop(action.restaurant_id, None)
                elif action.restaurant_id in self._closed_by_others:
                    continue  # the executor finds it closed already: it does nothing
                else:
                    self.close_ours(action.restaurant_id, rule=action.rule, closed_at=plan.now)
            effects.append(Effect(kind, action.restaurant_id, action.rule, mode))
        return effects

    def _food_effects(
        self, foods: Iterable[tuple[DeactivateFood, Mode]], now: datetime
    ) -> list[Effect]:
        effects = []
        for food, mode in foods:
            if mode == "live":
                self.deactivate(
                    food.food_id,
                    rule=food.rule,
                    at=now,
                    restaurant_id=food.restaurant_id,
                    payment_key=food.payment_key,
                )
            effects.append(Effect("deactivate", food.food_id, food.rule, mode))
        return effects

    def _comebacks(self, foods: Iterable[tuple[ReactivateFood, Mode]]) -> list[Effect]:
        effects = []
        for food, mode in foods:
            if mode == "live":
                self._foods_off.pop(food.food_id, None)  # reactivated: no longer ours
            effects.append(Effect("reactivate", food.food_id, food.rule, mode))
        return effects

    def _new_id(self) -> int:
        new, self._next_id = self._next_id, self._next_id + 1
        return new

"""An order store in memory, and passes run on it whose effects feed the next pass.

:class:`SimulatedStore` holds what a pass reads from the store (the active
orders with their items, the stock rows, the daemon's closures, food
deactivations and live cancellations) and runs passes on it with the one
planner (:func:`daemon.engine.plan.plan_pass`), the configuration's safety
limits and the pass context every pass builds (:mod:`daemon.engine.context`).
After each pass it applies the plan's effects to its state, as the executor
and the store apply them after a pass whose every API call went through, with
the replay's store (daemon.engine.replay.world): the daemon's own state and
the effects on it are daemon.engine.own_state's (the rolling hour, closures of
ours, food deactivations and their reactivations). What is this store's own:

- a live cancellation sets the order's ``status_id`` to 6 (it leaves the
  active orders) and records its live intent;
- a restaurant can be closed by someone else (:meth:`close_by_others`): a
  live close of it takes nothing, as the executor finds it closed already;
- every side effect the plan takes, live or dry run, is reported as an
  :class:`Effect` (the lines ``autocancel test`` checks).

Pauses (``autocancel pause``) are state too: :meth:`pause` puts one in, and
the planner judges it at each pass clock, as it judges the store's.

``autocancel test`` runs each step of a rules test on one
(:mod:`daemon.engine.ruletest`): a full pass at each step's clock. A replay
of recorded history judges only the restaurants a pass would, on partial
snapshots, so it has a store of its own (daemon.engine.replay.world) that
applies the same effects to the same daemon.engine.own_state.

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
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from daemon.domain.actions import CloseRestaurant
from daemon.domain.decisions import Decision, Mode
from daemon.domain.distance import Distances
from daemon.domain.orders import Order, Snapshot, StockLevel
from daemon.domain.pauses import Pause
from daemon.domain.statuses import ACTIVE_STATUSES, CANCELED
from daemon.engine.context import (
    locator_for,
    pass_context,
    reactivations_abandoned_after,
    safety_limits,
)
from daemon.engine.own_state import OwnState, cancels, chosen_foods
from daemon.engine.plan import Plan, plan_pass

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.engine.geo import Geocoder

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
        # Closures of ours, deactivations in force, the hour's cancellations; its ids
        # are the pauses' too.
        self._own = OwnState()
        self._closed_by_others: set[str] = set()
        self._pauses: list[Pause] = []
        self._live_intents: dict[str, str] = {}

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
        self._own.stock_changed(level.food_id)

    def remove_stock(self, food_id: int) -> None:
        self._stock.pop(food_id, None)
        self._own.stock_changed(food_id)

    def close_ours(self, restaurant_id: str, *, rule: str, closed_at: datetime) -> None:
        """A closure of this daemon in force since ``closed_at`` (as after its live close)."""
        self._closed_by_others.discard(restaurant_id)
        self._own.close(restaurant_id, rule=rule, at=closed_at)

    def close_by_others(self, restaurant_id: str) -> None:
        """Closed on the platform by someone else: never closed or reopened by us."""
        self._own.closures.pop(restaurant_id, None)
        self._closed_by_others.add(restaurant_id)

    def open(self, restaurant_id: str) -> None:
        """Open, with no closure of ours in force."""
        self._own.closures.pop(restaurant_id, None)
        self._closed_by_others.discard(restaurant_id)

    def deactivate(
        self, food_id: int, *, rule: str, at: datetime, restaurant_id: str | None
    ) -> None:
        """A deactivation of ours in force since ``at`` (as after its live call went through).

        ``rule`` is the rule that asked for it (its ``reactivate_after_minutes``
        counts from ``at``); ``restaurant_id`` the order's restaurant.
        """
        self._own.deactivate(food_id, rule=rule, at=at, restaurant_id=restaurant_id)

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
                id=self._own.new_id(),
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
        self._own.record_cancellations(moments)

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
            closures=dict(self._own.closures),
            deactivated_foods=self._own.deactivated_foods,
            # Stored from their start: a pause put in for later holds from then on.
            pauses=tuple(p for p in self._pauses if p.created_at <= now and p.in_force(now)),
            foods_off=self._own.foods_off(self._stock),
        )

    def hourly_used(self, now: datetime) -> int:
        """Live cancellations in the rolling hour before ``now`` (as the ledger counts them)."""
        return self._own.hourly_used(now)

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
        applied = self._own.apply(plan, closed_by_others=self._closed_by_others)
        for decision in applied.cancelled:
            key = decision.payment_key
            self._orders[key] = replace(self._orders[key], status_id=CANCELED)
            self._live_intents[key] = "cancelled"
        decisions = tuple(d.with_outcome("cancelled") if cancels(d) else d for d in plan.decisions)
        return SimulatedPass(plan=plan, decisions=decisions, effects=self._effects(plan))

    def _effects(self, plan: Plan) -> tuple[Effect, ...]:
        """Every side effect the plan takes, in mode; a live close of a restaurant closed by
        someone else takes none (the executor finds it closed already)."""
        effects = [
            Effect(
                "close" if isinstance(action, CloseRestaurant) else "reopen",
                action.restaurant_id,
                action.rule,
                mode,
            )
            for action, mode in plan.restaurant_actions
            if not (
                mode == "live"
                and isinstance(action, CloseRestaurant)
                and action.restaurant_id in self._closed_by_others
            )
        ]
        effects += (Effect("deactivate", f.food_id, f.rule, m) for f, m in chosen_foods(plan))
        effects += (Effect("reactivate", f.food_id, f.rule, m) for f, m in plan.food_reactivations)
        return tuple(effects)

"""The store in memory, as a replay rebuilds it: the history's rows, and what the plans did. Pure.

:class:`SimulatedStore` holds what a pass reads (active orders with their
items, stock levels, the daemon's closures, deactivated foods and live
intents, the rolling hour's cancellations), takes the history's changes one
by one (:meth:`SimulatedStore.take`), hands each simulated pass its
:class:`~daemon.domain.orders.Snapshot` (:meth:`SimulatedStore.snapshot`),
and applies a plan's effects as a live pass would once every API call
succeeded (:meth:`SimulatedStore.apply`):

- a live cancellation (a primary decision ``live``/``pending``) makes the
  order status 6: it leaves the active orders for good (whatever the history
  says of it later: the platform cancelled it), and counts in the rolling
  hour of ``max_cancellations_per_hour`` at the pass clock;
- a live close creates a :class:`~daemon.domain.orders.Closure` at the pass
  clock; a live reopen ends it;
- a live food deactivation of an order going ahead adds the food to the
  deactivated foods (never deactivated twice, as in the store).

Dry-run decisions and side effects change nothing, as in a live dry run.
Nothing here knows the rules: the planner decides, this only keeps score.

(``autocancel test`` has the same need on hand-written steps; this module is
the one place a plan's effects are applied in memory.)
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from daemon.domain.actions import CloseRestaurant, DeactivateFood, ReopenRestaurant
from daemon.domain.decisions import Decision
from daemon.domain.orders import Closure, Order, Snapshot, StockLevel
from daemon.domain.statuses import ACTIVE_STATUSES
from daemon.engine.plan import Plan
from daemon.store.ledger import HOURLY_WINDOW


@dataclass(frozen=True)
class Start:
    """The store at the moment a replay starts from, as the history and the ledger knew it."""

    at: datetime
    orders: Mapping[str, Order] = field(default_factory=dict)
    stock: Mapping[int, StockLevel] = field(default_factory=dict)
    # payment_key -> outcome of the live intents recorded before ``at``: never decided again.
    live_intents: Mapping[str, str] = field(default_factory=dict)
    closures: Mapping[str, Closure] = field(default_factory=dict)
    deactivated_foods: frozenset[int] = frozenset()
    # When the automatic cancellations of the hour before ``at`` went out.
    cancelled_at: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """One history row: an order or stock row as a pass saw it (``value`` None: gone)."""

    seen_at: datetime
    kind: str  # order or stock
    subject: str  # payment_key, or the food_id as text
    value: Order | StockLevel | None


@dataclass(frozen=True, slots=True)
class Effects:
    """What one plan did to the simulated store."""

    cancelled: tuple[Decision, ...] = ()
    closed: tuple[Closure, ...] = ()
    reopened: tuple[tuple[Closure, datetime], ...] = ()
    deactivated: tuple[DeactivateFood, ...] = ()


class SimulatedStore:
    def __init__(self, start: Start) -> None:
        self._orders: dict[str, Order] = {}
        self._by_restaurant: defaultdict[str, dict[str, Order]] = defaultdict(dict)
        # food -> restaurant -> its active orders with the food: whom a stock change concerns.
        self._holders: defaultdict[int, Counter[str]] = defaultdict(Counter)
        for order in start.orders.values():
            self._put(order)
        self._stock = dict(start.stock)
        self._live_intents = dict(start.live_intents)
        self._closures = dict(start.closures)
        self._deactivated = frozenset(start.deactivated_foods)
        self._cancelled: set[str] = set()  # by this replay: gone for good
        self._cancelled_at: deque[datetime] = deque(sorted(start.cancelled_at))
        self._closure_ids = max((c.id for c in start.closures.values()), default=0)

    # --- the history --------------------------------------------------------------

    @property
    def closed(self) -> frozenset[str]:
        return frozenset(self._closures)

    def active_orders(self) -> Iterable[Order]:
        return self._orders.values()

    def restaurants(self) -> Iterable[str]:
        """Restaurants with an active order."""
        return self._by_restaurant.keys()

    def take(self, change: Change) -> frozenset[str]:
        """Apply one history row; the restaurants whose decisions it may change."""
        if change.kind == "order":
            return self._take_order(change.subject, change.value)
        food = int(change.subject)
        if change.value is None:
            self._stock.pop(food, None)
        else:
            assert isinstance(change.value, StockLevel)
            self._stock[food] = change.value
        return frozenset(self._holders.get(food, ()))

    def _take_order(self, key: str, value: Order | StockLevel | None) -> frozenset[str]:
        old = self._drop(key)
        touched = set() if old is None else {old.restaurant_id}
        if isinstance(value, Order) and key not in self._cancelled:
            self._put(value)
            touched.add(value.restaurant_id)
        return frozenset(touched)

    def _put(self, order: Order) -> None:
        self._orders[order.payment_key] = order
        self._by_restaurant[order.restaurant_id][order.payment_key] = order
        for food in {item.food_id for item in order.items}:
            self._holders[food][order.restaurant_id] += 1

    def _drop(self, key: str) -> Order | None:
        order = self._orders.pop(key, None)
        if order is None:
            return None
        mine = self._by_restaurant[order.restaurant_id]
        del mine[key]
        if not mine:
            del self._by_restaurant[order.restaurant_id]
        for food in {item.food_id for item in order.items}:
            holders = self._holders[food]
            holders[order.restaurant_id] -= 1
            if holders[order.restaurant_id] <= 0:
                del holders[order.restaurant_id]
            if not holders:
                del self._holders[food]
        return order

    # --- what a pass reads ----------------------------------------------------------

    def snapshot(self, now: datetime, restaurants: Collection[str]) -> Snapshot:
        """What a pass at ``now`` reads of ``restaurants`` (their active orders, and the rest)."""
        orders = tuple(
            order
            for rid in restaurants
            for order in self._by_restaurant.get(rid, {}).values()
            if order.status_id in ACTIVE_STATUSES
        )
        foods = {item.food_id for order in orders for item in order.items}
        level = self._stock.get
        intents = self._live_intents
        return Snapshot(
            taken_at=now,
            orders=orders,
            stock={food: found for food in foods if (found := level(food)) is not None},
            live_intents={
                o.payment_key: intents[o.payment_key] for o in orders if o.payment_key in intents
            }
            if intents
            else {},
            closures=dict(self._closures) if self._closures else {},
            deactivated_foods=self._deactivated,
        )

    def hourly_used(self, now: datetime) -> int:
        """The automatic cancellations of the rolling hour before ``now``."""
        window = self._cancelled_at
        while window and window[0] < now - HOURLY_WINDOW:
            window.popleft()
        return len(window)

    # --- what a pass does --------------------------------------------------------------

    def apply(self, plan: Plan) -> Effects:
        """Apply ``plan``'s live effects, as a pass whose every API call succeeded."""
        cancelled = tuple(
            d for d in plan.decisions if d.primary and d.mode == "live" and d.outcome == "pending"
        )
        for decision in cancelled:
            self._drop(decision.payment_key)
            self._cancelled.add(decision.payment_key)
            self._cancelled_at.append(plan.now)
        closed: list[Closure] = []
        reopened: list[tuple[Closure, datetime]] = []
        for action, mode in plan.restaurant_actions:
            if mode != "live":
                continue
            if isinstance(action, CloseRestaurant) and action.restaurant_id not in self._closures:
                self._closure_ids += 1
                closure = Closure(self._closure_ids, action.restaurant_id, action.rule, plan.now)
                self._closures[action.restaurant_id] = closure
                closed.append(closure)
            elif isinstance(action, ReopenRestaurant):
                ended = self._closures.get(action.restaurant_id)
                if ended is not None and ended.id == action.closure_id:
                    del self._closures[action.restaurant_id]
                    reopened.append((ended, plan.now))
        going_ahead = {
            d.payment_key
            for d in plan.decisions
            if d.primary and d.outcome in ("pending", "would_cancel")
        }
        deactivated: dict[int, DeactivateFood] = {}
        for food, mode in plan.food_deactivations:
            if (
                mode == "live"
                and food.payment_key in going_ahead
                and food.food_id not in self._deactivated
            ):
                deactivated.setdefault(food.food_id, food)
        self._deactivated = self._deactivated | deactivated.keys()
        return Effects(
            cancelled=cancelled,
            closed=tuple(closed),
            reopened=tuple(reopened),
            deactivated=tuple(deactivated.values()),
        )

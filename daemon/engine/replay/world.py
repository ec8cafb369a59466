"""The store in memory, as a replay rebuilds it: the history's rows, and what the plans did. Pure.

:class:`SimulatedStore` holds what a pass reads (active orders with their
items, stock levels, the daemon's closures, deactivated foods and live
intents, the rolling hour's cancellations), takes the history's changes one
by one (:meth:`SimulatedStore.take`), hands each simulated pass its
:class:`~daemon.domain.orders.Snapshot` (:meth:`SimulatedStore.snapshot`),
and applies a plan's effects as a live pass would once every API call
succeeded (:meth:`SimulatedStore.apply`). The daemon's own state and what a
plan does to it are daemon.engine.own_state's: the rolling hour of
``max_cancellations_per_hour``, closures of ours made and reopened at the
pass clock, food deactivations (:class:`~daemon.domain.foods.FoodOff`, read
by every pass with the food's stock row, as the store's snapshot reads
them) and their reactivations, after which the next shortage deactivates
the food anew. What is this store's own:

- a live cancellation makes the order status 6: it leaves the active
  orders for good (whatever the history says of it later: the platform
  cancelled it);
- an override spent (the load fell below ``reopen_below`` after people
  ended a closure) ends its respect, in every mode, as the ledger writes it.

People's decisions come in with the history, as rows of the daemon's own
tables at the moment they were made (:mod:`.load` reads them):

- a pause (``autocancel pause``) is stored at its ``created_at``, and
  stored again, resumed, at its ``ended_at``; each snapshot carries the
  pauses stored then that have not ended, as the store's does, and the
  planner judges them on the pass clock (Pause.in_force), as live;
- an override (``autocancel reopen``/``release``, or staff reopening on
  Dükkango) at its ``reopened_at`` ends the replay's closure of that
  restaurant, if it has one then, and is respected from then on exactly as
  the live snapshot offers it to the congestion rule
  (daemon.domain.overrides.newest_overrides). Without a closure of the
  replay's to end (the replayed rules had not closed it) it changes
  nothing: there was nothing of ours to end.

Dry-run decisions and side effects change nothing, as in a live dry run.
Nothing here knows the rules: the planner decides, this only keeps score.

(``autocancel test`` has the same need on hand-written steps:
daemon.engine.simulated applies a plan's effects with the same
daemon.engine.own_state, for one full pass at a time, and adds closures by
others, which this store does not model; this one adds what a replay needs:
partial snapshots of the restaurants a pass judges, the history's changes,
and people's decisions as they were made.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from daemon.domain.actions import DeactivateFood, OverrideSpent, ReactivateFood
from daemon.domain.decisions import Decision
from daemon.domain.foods import FoodOff
from daemon.domain.orders import Closure, Order, Snapshot, StockLevel
from daemon.domain.overrides import MAX_RESPECT, Override, newest_overrides
from daemon.domain.pauses import Pause, in_force, pause_ids
from daemon.domain.statuses import ACTIVE_STATUSES
from daemon.engine.own_state import OwnState
from daemon.engine.plan import Plan


@dataclass(frozen=True)
class Start:
    """The store at the moment a replay starts from, as the history and the ledger knew it."""

    at: datetime
    orders: Mapping[str, Order] = field(default_factory=dict)
    stock: Mapping[int, StockLevel] = field(default_factory=dict)
    # payment_key -> outcome of the live intents recorded before ``at``: never decided again.
    live_intents: Mapping[str, str] = field(default_factory=dict)
    closures: Mapping[str, Closure] = field(default_factory=dict)
    # The food deactivations of ours in force at ``at`` (without stock rows: a
    # pass reads each with the food's row in ``stock``).
    foods_off: tuple[FoodOff, ...] = ()
    # When the automatic cancellations of the hour before ``at`` went out.
    cancelled_at: tuple[datetime, ...] = ()
    # The pauses in force at ``at``, as stored then (not resumed yet).
    pauses: tuple[Pause, ...] = ()
    # The closures people ended before ``at`` whose respect had not ended, oldest first.
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """One history row: an order or stock row as a pass saw it (``value`` None: gone).

    Or a person's decision, from the daemon's own tables: a pause row as
    stored from ``seen_at`` on (kind ``pause``; also at the moment it
    expires, when no row changes but the daemon wakes for it), or a closure
    of ours that people ended then (kind ``override``).
    """

    seen_at: datetime
    kind: str  # order, stock, pause or override
    subject: str  # payment_key, the food_id, the pause id as text, or the restaurant_id
    value: Order | StockLevel | Pause | Override | None

    @property
    def recorded(self) -> bool:
        """A row of the order history (not a person's decision)."""
        return self.kind in ("order", "stock")


@dataclass(frozen=True, slots=True)
class PeopleEnded:
    """A closure people ended live (``override``), as the replay took it."""

    override: Override  # as recorded live: how, by whom, when
    closure: Closure | None  # the replay's closure it ended; None: it had none then


@dataclass(frozen=True, slots=True)
class Effects:
    """What one plan did to the simulated store."""

    cancelled: tuple[Decision, ...] = ()
    closed: tuple[Closure, ...] = ()
    reopened: tuple[tuple[Closure, datetime], ...] = ()
    deactivated: tuple[DeactivateFood, ...] = ()
    # Each with the deactivation it ended.
    reactivated: tuple[tuple[ReactivateFood, FoodOff], ...] = ()
    # People's decisions taken since the last plan, and the overrides this plan spent.
    people: tuple[PeopleEnded, ...] = ()
    respect_ended: tuple[OverrideSpent, ...] = ()


_NOTHING = Effects()


class SimulatedStore:
    def __init__(self, start: Start) -> None:
        self._orders: dict[str, Order] = {}
        self._by_restaurant: defaultdict[str, dict[str, Order]] = defaultdict(dict)
        # food -> restaurant -> its orders with the food: whom a stock change concerns.
        self._holders: defaultdict[int, Counter[str]] = defaultdict(Counter)
        # restaurant -> food -> its active orders with the food: the stock rows a pass reads.
        self._foods: defaultdict[str, Counter[int]] = defaultdict(Counter)
        # What a pass reads of each restaurant, kept from pass to pass (most restaurants a
        # pass judges changed little since the pass before): its active orders, dropped
        # when one of them changes, and its foods' stock rows, dropped when one of those
        # rows or the set of its foods changes (a new status, the usual change, keeps them).
        self._orders_of: dict[str, tuple[Order, ...]] = {}
        self._stock_of: dict[str, dict[int, StockLevel]] = {}
        # By restaurant: how many stock rows of the foods its orders hold changed so far.
        self._stock_versions: dict[str, int] = {}
        for order in start.orders.values():
            self._put(order)
        self._stock = dict(start.stock)
        self._live_intents = dict(start.live_intents)
        self._cancelled: set[str] = set()  # by this replay: gone for good
        # Every pause stored so far, as stored now (a resume stores it again), by id.
        self._pauses = {pause.id: pause for pause in start.pauses}
        # Closures people ended whose respect has not ended, oldest closure first.
        self._ended: list[Override] = list(start.overrides)
        self._people: list[PeopleEnded] = []  # taken since the last plan
        self._own = OwnState(
            closures=start.closures,
            foods_off=start.foods_off,
            cancelled_at=start.cancelled_at,
            ids_above=max((o.closure_id for o in start.overrides), default=0),
        )

    # --- the history --------------------------------------------------------------

    @property
    def closed(self) -> frozenset[str]:
        return frozenset(self._own.closures)

    def active_orders(self) -> Iterable[Order]:
        return self._orders.values()

    def restaurants(self) -> Iterable[str]:
        """Restaurants with an active order."""
        return self._by_restaurant.keys()

    @property
    def pauses(self) -> tuple[Pause, ...]:
        """Every pause stored so far, as it is stored now."""
        return tuple(self._pauses.values())

    def respected(self, now: datetime) -> frozenset[str]:
        """Restaurants whose closure people ended, respect not ended: time alone may end it."""
        return frozenset(o.restaurant_id for o in self._recent_overrides(now))

    def _recent_overrides(self, now: datetime) -> list[Override]:
        """The overrides the store's snapshot would read at ``now``: of the last MAX_RESPECT."""
        self._ended = [o for o in self._ended if o.at >= now - MAX_RESPECT]
        return self._ended

    def pauses_in_force(self, now: datetime) -> frozenset[int]:
        """Which pauses hold at ``now``: when it changes, a pass judges every restaurant."""
        return pause_ids(self._pauses.values(), now)

    def take(self, change: Change) -> frozenset[str]:
        """Apply one history row; the restaurants whose decisions it may change.

        A pause changes none by itself: the pass that sees the pauses in
        force changed judges every restaurant (:meth:`pauses_in_force`).
        """
        if change.kind == "order":
            return self._take_order(change.subject, change.value)
        if change.kind == "pause":
            assert isinstance(change.value, Pause)
            self._pauses[change.value.id] = change.value
            return frozenset()
        if change.kind == "override":
            assert isinstance(change.value, Override)
            return self._take_override(change.value)
        food = int(change.subject)
        if change.value is None:
            self._stock.pop(food, None)
        else:
            assert isinstance(change.value, StockLevel)
            self._stock[food] = change.value
        self._own.stock_changed(food)
        holders = frozenset(self._holders.get(food, ()))
        versions = self._stock_versions
        for restaurant_id in holders:
            self._stock_of.pop(restaurant_id, None)
            versions[restaurant_id] = versions.get(restaurant_id, 0) + 1
        return holders

    def _take_order(self, key: str, value: object) -> frozenset[str]:
        old = self._orders.get(key)
        if (
            old is not None
            and isinstance(value, Order)
            and value.restaurant_id == old.restaurant_id
            and value.items == old.items
        ):
            # A new status, mostly: the same foods, held by the same restaurant.
            restaurant_id = old.restaurant_id
            mine = self._by_restaurant[restaurant_id]
            self._orders_of.pop(restaurant_id, None)
            del mine[key]  # and put back last, where _drop and _put would put it
            mine[key] = self._orders[key] = value
            active = value.status_id in ACTIVE_STATUSES
            if active != (old.status_id in ACTIVE_STATUSES):
                self._count_foods(value, 1 if active else -1)
            return frozenset((restaurant_id,))
        old = self._drop(key)
        touched = set() if old is None else {old.restaurant_id}
        if isinstance(value, Order) and key not in self._cancelled:
            self._put(value)
            touched.add(value.restaurant_id)
        return frozenset(touched)

    def _take_override(self, override: Override) -> frozenset[str]:
        """People ended our closure of the restaurant: it is theirs, and respected, from now."""
        restaurant_id = override.restaurant_id
        closure = self._own.closures.pop(restaurant_id, None)
        self._people.append(PeopleEnded(override, closure))
        if closure is None:
            return frozenset()
        self._ended.append(
            Override(
                closure_id=closure.id,
                restaurant_id=restaurant_id,
                rule=closure.rule,
                kind=override.kind,
                at=override.at,
                by=override.by,
            )
        )
        return frozenset({restaurant_id})

    def _put(self, order: Order) -> None:
        self._orders[order.payment_key] = order
        self._by_restaurant[order.restaurant_id][order.payment_key] = order
        self._orders_of.pop(order.restaurant_id, None)
        for food in {item.food_id for item in order.items}:
            self._holders[food][order.restaurant_id] += 1
        if order.status_id in ACTIVE_STATUSES:
            self._count_foods(order, 1)

    def _drop(self, key: str) -> Order | None:
        order = self._orders.pop(key, None)
        if order is None:
            return None
        mine = self._by_restaurant[order.restaurant_id]
        self._orders_of.pop(order.restaurant_id, None)
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
        if order.status_id in ACTIVE_STATUSES:
            self._count_foods(order, -1)
        return order

    def _count_foods(self, order: Order, by: int) -> None:
        """An active order of the restaurant came (+1) or went (-1): the foods it reads.

        The restaurant's stock rows kept for passes follow its set of foods: a copy
        with the foods that came and without those that went (a snapshot may hold
        the old one).
        """
        restaurant_id = order.restaurant_id
        foods = self._foods[restaurant_id]
        came, went = [], []
        for food in {item.food_id for item in order.items}:
            held = foods[food] = foods[food] + by
            if held <= 0:
                del foods[food]
                went.append(food)
            elif held == 1 and by > 0:
                came.append(food)
        if not foods:
            del self._foods[restaurant_id]
        kept = self._stock_of.get(restaurant_id)
        if kept is None or not (came or went):
            return
        stock = dict(kept)
        for food in went:
            stock.pop(food, None)
        for food in came:
            if (level := self._stock.get(food)) is not None:
                stock[food] = level
        self._stock_of[restaurant_id] = stock

    # --- what a pass reads ----------------------------------------------------------

    def snapshot(self, now: datetime, restaurants: Collection[str]) -> Snapshot:
        """What a pass at ``now`` reads of ``restaurants`` (their active orders, and the rest)."""
        orders = tuple(chain.from_iterable(self._orders_in(rid) for rid in restaurants))
        parts = [self._stock_in(rid) for rid in restaurants]
        if len(parts) == 1:
            stock = parts[0]  # never changed once handed out: a change builds a new one
        else:
            stock = {}
            for part in parts:
                stock.update(part)
        intents = self._live_intents
        own = self._own
        closures = own.closures
        return Snapshot(
            taken_at=now,
            orders=orders,
            stock=stock,
            stock_versions={rid: self._stock_versions.get(rid, 0) for rid in restaurants},
            live_intents={
                o.payment_key: intents[o.payment_key] for o in orders if o.payment_key in intents
            }
            if intents
            else {},
            closures=dict(closures) if closures else {},
            deactivated_foods=own.deactivated_foods,
            # As the store's snapshot reads them: the pauses not over, the
            # overrides of the last day (MAX_RESPECT) whose respect has not ended,
            # and every deactivation in force, with its food's stock row.
            pauses=in_force(self._pauses.values(), now),
            overrides=newest_overrides(self._recent_overrides(now), closed=closures),
            foods_off=own.foods_off(self._stock),
        )

    def _orders_in(self, restaurant_id: str) -> tuple[Order, ...]:
        """The restaurant's active orders, oldest row first."""
        orders = self._orders_of.get(restaurant_id)
        if orders is None:
            orders = self._orders_of[restaurant_id] = tuple(
                order
                for order in self._by_restaurant.get(restaurant_id, {}).values()
                if order.status_id in ACTIVE_STATUSES
            )
        return orders

    def _stock_in(self, restaurant_id: str) -> dict[int, StockLevel]:
        """The stock rows of the foods the restaurant's active orders hold."""
        stock = self._stock_of.get(restaurant_id)
        if stock is None:
            level = self._stock.get
            stock = self._stock_of[restaurant_id] = {
                food: found
                for food in self._foods.get(restaurant_id, ())
                if (found := level(food)) is not None
            }
        return stock

    def hourly_used(self, now: datetime) -> int:
        """The automatic cancellations of the rolling hour before ``now``."""
        return self._own.hourly_used(now)

    # --- what a pass does --------------------------------------------------------------

    def apply(self, plan: Plan) -> Effects:
        """Apply ``plan``'s live effects, as a pass whose every API call succeeded."""
        if plan.empty and not self._people:
            return _NOTHING  # most passes
        applied = self._own.apply(plan)
        for decision in applied.cancelled:
            self._drop(decision.payment_key)
            self._cancelled.add(decision.payment_key)
        # Written with the ledger in every mode, as record._end_overrides does.
        spent = {found.closure_id: found for found in plan.overrides_spent}
        respect_ended = tuple(found for found in spent.values() if self._end_respect(found))
        people, self._people = tuple(self._people), []
        return Effects(
            cancelled=applied.cancelled,
            closed=applied.closed,
            reopened=tuple((closure, plan.now) for closure in applied.reopened),
            deactivated=applied.deactivated,
            reactivated=applied.reactivated,
            people=people,
            respect_ended=respect_ended,
        )

    def _end_respect(self, spent: OverrideSpent) -> bool:
        kept = [o for o in self._ended if o.closure_id != spent.closure_id]
        ended = len(kept) != len(self._ended)
        self._ended = kept
        return ended

"""Which restaurants a batch of changes touches: the scope of an incremental pass.

Every rule judges an order on its own rows, its foods' stock rows and its
restaurant's load, so a change can alter the decisions of one restaurant
only: the order's (before and after a move), or, for a stock row, every
restaurant with an active order of that food. An incremental pass re-reads
and re-judges exactly those restaurants; the full pass, every
``schedule.full_pass_seconds``, re-reads everything and checks that the
incremental reads left :class:`ActiveOrders` where a full read puts it.

Pure: the reads happen in daemon.engine.passes.judge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from daemon.domain.orders import Order, Snapshot
from daemon.store.changelog import Change
from daemon.store.rowcheck import integer


@dataclass(frozen=True, slots=True)
class PassScope:
    """What one pass re-judged: everything, or the restaurants its changes touched."""

    full: bool
    restaurants: frozenset[str] = frozenset()
    changes: int = 0  # change-log rows behind an incremental scope

    @property
    def name(self) -> str:
        return "full" if self.full else "incremental"

    def to_json(self) -> dict[str, object]:
        if self.full:
            return {"scope": "full"}
        return {
            "scope": "incremental",
            "restaurants": len(self.restaurants),
            "changes": self.changes,
        }


FULL = PassScope(full=True)

# Seconds between two incremental passes that judge every closed restaurant again.
CLOSED_EVERY = 10.0


class ActiveOrders:
    """The active orders of every restaurant, as the reads so far left them.

    A full read replaces the whole picture (:meth:`reset`); a read of some
    restaurants replaces theirs (:meth:`update`). Kept alongside: which
    restaurant each active order belongs to and which restaurants have an
    active order of each food, so that a change names its restaurants
    without a query (:meth:`touched`).
    """

    def __init__(self) -> None:
        self._orders: dict[str, dict[str, Order]] = {}
        self._restaurant_of: dict[str, str] = {}
        self._restaurants_of_food: defaultdict[int, set[str]] = defaultdict(set)
        self._closed: frozenset[str] = frozenset()
        self._overridden: frozenset[str] = frozenset()
        self._closed_judged_at = float("-inf")

    @property
    def closed(self) -> frozenset[str]:
        """Restaurants closed at the last read (see :meth:`closed_due`)."""
        return self._closed

    @property
    def overridden(self) -> frozenset[str]:
        """Restaurants whose closure people ended, at the last read (daemon.domain.overrides).

        Judged again with the closed ones (:meth:`closed_due`): the time their
        override is respected runs out by the clock alone, which no change log
        records.
        """
        return self._overridden

    def _remember_closures(self, snapshot: Snapshot) -> None:
        # The snapshot reads every restaurant's closures and overrides, whatever
        # restaurants it reads orders of: a closure ended by hand, by staff or a
        # release shows here at the next read.
        self._closed = frozenset(snapshot.closures)
        self._overridden = frozenset(snapshot.overrides)

    def reset(self, snapshot: Snapshot, *, now: float | None = None) -> None:
        """A full read: the whole picture, every closed restaurant judged (at ``now``)."""
        if now is not None:
            self._closed_judged_at = now
        self._orders.clear()
        self._restaurant_of.clear()
        self._restaurants_of_food.clear()
        self._take(_active_by_restaurant(snapshot))
        self._remember_closures(snapshot)

    def update(self, restaurants: Collection[str], snapshot: Snapshot) -> None:
        """Replace what ``restaurants`` hold with ``snapshot``, a read of exactly them."""
        for restaurant_id in restaurants:
            for key, order in self._orders.pop(restaurant_id, {}).items():
                del self._restaurant_of[key]
                for item in order.items:
                    self._forget_food(item.food_id, restaurant_id)
        fresh = _active_by_restaurant(snapshot)
        self._take({rid: fresh.get(rid, {}) for rid in restaurants})
        self._remember_closures(snapshot)

    def _take(self, by_restaurant: dict[str, dict[str, Order]]) -> None:
        for restaurant_id, orders in by_restaurant.items():
            if not orders:
                continue
            self._orders[restaurant_id] = orders
            for key, order in orders.items():
                self._restaurant_of[key] = restaurant_id
                for item in order.items:
                    self._restaurants_of_food[item.food_id].add(restaurant_id)

    def _forget_food(self, food_id: int, restaurant_id: str) -> None:
        holders = self._restaurants_of_food.get(food_id)
        if holders is not None:
            holders.discard(restaurant_id)
            if not holders:
                del self._restaurants_of_food[food_id]

    def closed_due(self, now: float) -> frozenset[str]:
        """The closed (and overridden) restaurants, when :data:`CLOSED_EVERY` went by
        since they were last due.

        Time alone may reopen a restaurant (``min_closed_minutes``, orders
        growing stale), or end the respect of a closure people ended
        (``respect_staff_minutes``), and time writes no change: so they are
        judged again at this pace whatever changed. ``now`` is a monotonic clock.
        """
        if now - self._closed_judged_at < CLOSED_EVERY:
            return frozenset()
        self._closed_judged_at = now
        return self._closed | self._overridden

    def touched(self, changes: Iterable[Change]) -> frozenset[str]:
        """The restaurants whose decisions ``changes`` may alter."""
        touched: set[str] = set()
        for change in changes:
            if change.source == "orders":
                touched.add(change.restaurant_id or "")
            elif change.source == "order_items":
                # An item of an order not active here: either that order is not
                # active (nothing to judge) or its own row changed too (then its
                # change names the restaurant).
                owner = self._restaurant_of.get(change.payment_key or "")
                if owner is not None:
                    touched.add(owner)
            else:
                food = integer(change.food_id)
                if food is not None:
                    touched.update(self._restaurants_of_food.get(food, ()))
        return frozenset(touched)

    def disagreements(self, snapshot: Snapshot) -> frozenset[str]:
        """Restaurants where a full read differs from this picture (a change never seen)."""
        full = _active_by_restaurant(snapshot)
        return frozenset(
            restaurant_id
            for restaurant_id in self._orders.keys() | full.keys()
            if not _same(self._orders.get(restaurant_id, {}), full.get(restaurant_id, {}))
        )


def _same(mine: dict[str, Order], theirs: dict[str, Order]) -> bool:
    if mine.keys() != theirs.keys():
        return False
    # The row cache hands out the same object for an unchanged row: identity first.
    return all(order is theirs[key] or order == theirs[key] for key, order in mine.items())


def _active_by_restaurant(snapshot: Snapshot) -> dict[str, dict[str, Order]]:
    by_restaurant: dict[str, dict[str, Order]] = defaultdict(dict)
    for order in snapshot.orders:
        if order.payment_key not in snapshot.looked_up:
            by_restaurant[order.restaurant_id][order.payment_key] = order
    return by_restaurant

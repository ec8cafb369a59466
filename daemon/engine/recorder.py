"""What a pass saw change: the rows the order history gets from each pass. Pure.

The pass reads either everything or the restaurants the change log named
(daemon.engine.active); :class:`HistoryRecorder` compares what it read with
what it recorded last and hands out one :class:`daemon.store.history.Entry`
per order or stock row that differs: new or changed (its image), or no
longer there (gone). An order no longer active is gone whatever became of
it (delivered, cancelled, deleted, vanished from get-current); an order
moving to another restaurant is one changed row, since the change log
names both sides and the pass reads both.

Only the values the rules see are compared (the snapshot's ``Order`` and
``StockLevel``, less ``updated_at``, which no rule reads): the ``synced_at``
and ``updated_at`` that sync stamps on every poll, or a POS rewriting a row
unchanged, write nothing. The snapshot's row cache hands
out the same object for an unchanged row, so the comparison is mostly an
identity check. Stock rows are followed only while an active order has the
food (they are what the snapshot reads); a stock row that changed while no
active order had the food is recorded when the next order with it is read.

A recorder starts from the history's open rows (:meth:`prime`), so the first
full pass of a process writes exactly what changed while nobody watched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from daemon.domain import images
from daemon.domain.orders import Order, Snapshot, StockLevel
from daemon.engine.active import PassScope
from daemon.store.history import Entry


class HistoryRecorder:
    """The orders and stock levels the history holds as current, and what a pass changed."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._keys_of: defaultdict[str, set[str]] = defaultdict(set)  # restaurant -> orders
        self._stock: dict[int, StockLevel] = {}
        self.primed = False

    def prime(self, orders: Iterable[Order], stock: Iterable[StockLevel]) -> None:
        """Start from what the history holds as current (its open rows)."""
        self.forget()
        for order in orders:
            self._keep(order)
        self._stock = {level.food_id: level for level in stock}
        self.primed = True

    def forget(self) -> None:
        """Start over (a write failed): the next pass must be primed again."""
        self._orders.clear()
        self._keys_of.clear()
        self._stock.clear()
        self.primed = False

    def _keep(self, order: Order) -> None:
        self._orders[order.payment_key] = order
        self._keys_of[order.restaurant_id].add(order.payment_key)

    def _drop(self, key: str) -> Order:
        order = self._orders.pop(key)
        holders = self._keys_of[order.restaurant_id]
        holders.discard(key)
        if not holders:
            del self._keys_of[order.restaurant_id]
        return order

    def changes(self, snapshot: Snapshot, scope: PassScope) -> list[Entry]:
        """Entries for what ``snapshot`` (a read of ``scope``) shows changed; kept as current."""
        fresh = {
            o.payment_key: o for o in snapshot.orders if o.payment_key not in snapshot.looked_up
        }
        restaurants = (
            set(self._keys_of) | {o.restaurant_id for o in fresh.values()}
            if scope.full
            else scope.restaurants
        )
        entries: list[Entry] = []
        before = [key for rid in restaurants for key in self._keys_of.get(rid, ())]
        for key in before:
            if key not in fresh:
                left = self._drop(key)
                entries.append(Entry("order", key, left.restaurant_id, None))
        for key, order in fresh.items():
            old = self._orders.get(key)
            if old is order:
                continue
            if old is not None:
                self._drop(key)
            self._keep(order)  # the newest object, so the next pass's check is by identity
            if old is not None and images.same_order(old, order):
                continue
            image = images.encode_order(order)
            entries.append(
                Entry("order", key, order.restaurant_id, image, replaces=old is not None)
            )
        entries += self._stock_changes(fresh.values(), snapshot)
        return entries

    def _stock_changes(self, orders: Iterable[Order], snapshot: Snapshot) -> list[Entry]:
        entries = []
        foods = {item.food_id for order in orders for item in order.items}
        for food in sorted(foods):
            level = snapshot.stock.get(food)
            old = self._stock.get(food)
            if level is old or level == old:
                continue
            if level is None:
                del self._stock[food]
                entries.append(Entry("stock", str(food), old.restaurant_id if old else None, None))
            else:
                self._stock[food] = level
                image = images.encode_stock(level)
                entries.append(
                    Entry("stock", str(food), level.restaurant_id, image, replaces=old is not None)
                )
        return entries

"""``out_of_stock``: an order with an item the ``stock`` table says is out.

An item is out of stock when its food is unavailable, or counted and fewer
than ordered (DESIGN.md, `stock`). A stock row with a ``restaurant_id``
speaks only for that restaurant: for another restaurant's order it is bad
data (the snapshot logs it) and the item counts as having no stock row.
Evidence: ``{"food_ids": [...]}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from daemon.domain.actions import DeactivateFood
from rules.base import Rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext


@registry.register("out_of_stock")
class OutOfStockRule(Rule):
    # Also mark the food passive on Dükkango (PUT foods/status-passive/{id}),
    # once per food, so nobody can order it again. Off by default: it changes
    # the menu, which an operator should opt into. Only foods that are fully
    # unavailable are deactivated, never ones that are merely short.
    deactivate_food: bool = False

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        if not order.items:
            return Verdict.no_match("the order has no items in the store")
        # The same food on two lines draws on one stock count.
        ordered: Counter[int] = Counter()
        for item in order.items:
            if item.quantity > 0:  # a zero or negative line is bad data, never a shortage
                ordered[item.food_id] += item.quantity
        short, ignored = [], []
        for food_id, quantity in sorted(ordered.items()):
            level = ctx.snapshot.stock.get(food_id)
            if level is None:
                continue
            if not level.speaks_for(order.restaurant_id):
                # Another restaurant's row (bad data, logged by the snapshot): no stock row.
                ignored.append(food_id)
            elif level.short_for(quantity):
                short.append(
                    {
                        "food_id": food_id,
                        "name": level.name,
                        "ordered": quantity,
                        "available": level.available,
                        "in_stock": level.quantity,
                    }
                )
        extra = {"ignored_food_ids": ignored} if ignored else {}
        if not short:
            why = "every item is in stock (a food without a stock row counts as in stock)"
            if ignored:
                why += f"; the stock rows of foods {ignored} are another restaurant's, ignored"
            return Verdict.no_match(why, **extra)
        return Verdict.match(
            f"{len(short)} item(s) out of stock",
            food_ids=[entry["food_id"] for entry in short],
            foods=short,
            **extra,
        )

    def side_effects(self, order: Order, verdict: Verdict) -> Sequence[DeactivateFood]:
        if not self.deactivate_food:
            return ()
        return [
            DeactivateFood(
                food_id=food["food_id"],
                restaurant_id=order.restaurant_id,
                rule=self.name,
                payment_key=order.payment_key,
            )
            for food in verdict.evidence.get("foods", ())
            if not food["available"] or food["in_stock"] == 0  # gone, not merely short
        ]

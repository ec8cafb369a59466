"""``out_of_stock``: an order with an item the ``stock`` table says is out.

An item is out of stock when its food is unavailable, or counted and fewer
than ordered (DESIGN.md, `stock`). Evidence: ``{"food_ids": [...]}``.
"""

from __future__ import annotations

from rules.base import Rule
from rules.registry import registry


@registry.register("out_of_stock")
class OutOfStockRule(Rule):
    # Also mark the food passive on Dükkango (PUT foods/status-passive/{id}),
    # once per food, so nobody can order it again. Off by default: it changes
    # the menu, which an operator should opt into. Only foods that are fully
    # unavailable are deactivated, never ones that are merely short.
    deactivate_food: bool = False

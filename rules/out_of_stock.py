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
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from daemon.domain.actions import DeactivateFood
from daemon.domain.problems import Problem, YamlPath
from rules.base import Rule, describe_rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext
    from rules.validation import ValidationContext

# A week: a longer snooze is no snooze; leave such a food to its stock row.
MAX_REACTIVATE_AFTER_MINUTES = 7 * 24 * 60


@registry.register("out_of_stock")
class OutOfStockRule(Rule):
    # Reads the order and its foods' stock rows (daemon.engine.verdictmemo).
    order_local: ClassVar[bool] = True
    order_fields: ClassVar[frozenset[str] | None] = frozenset({"items", "restaurant_id"})

    # Also mark the food passive on Dükkango (PUT foods/status-passive/{id}),
    # once per food, so nobody can order it again. Off by default: it changes
    # the menu, which an operator should opt into. Only foods that are fully
    # unavailable are deactivated, never ones that are merely short.
    deactivate_food: bool = False
    # Snooze: put a food this rule deactivated back on sale this many minutes
    # after its deactivation even if its stock row still says it is out (for
    # kitchens that forget to update it). None: only when the stock row says
    # it can be sold again.
    reactivate_after_minutes: int | None = Field(
        default=None, ge=1, le=MAX_REACTIVATE_AFTER_MINUTES
    )

    @property
    def reactivation_delay(self) -> timedelta | None:
        if self.reactivate_after_minutes is None:
            return None
        return timedelta(minutes=self.reactivate_after_minutes)

    def validate_against(self, setting: ValidationContext, *, at: YamlPath) -> list[Problem]:
        problems = super().validate_against(setting, at=at)
        if self.reactivate_after_minutes is not None and not self.deactivate_food:
            problems.append(
                Problem.warning(
                    (*at, "reactivate_after_minutes"),
                    f"{describe_rule(at, self.name)}: reactivate_after_minutes has no effect "
                    "without deactivate_food: true (it only brings back foods this rule "
                    "deactivated)",
                )
            )
        return problems

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

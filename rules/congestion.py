"""``congestion``: more active orders than a restaurant can cook.

Per restaurant, active orders (status 1, 2, 16) over ``max_active_orders``
close the restaurant once (when ``close_restaurant``) and cancel the newest
status-1 orders beyond capacity. Reopening has hysteresis: only below
``reopen_below``, never sooner than ``min_closed_minutes`` after closing, and
never for a restaurant someone else closed. Evidence:
``{"active_orders": 23, "max_active_orders": 20}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from daemon.statuses import ACTIVE_STATUSES, RECEIVED
from rules.actions import CloseRestaurant, ReopenRestaurant, RestaurantAction
from rules.base import Rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.snapshot import Order
    from rules.context import PassContext


def default_reopen_below(max_active_orders: int) -> int:
    """Three quarters of capacity, rounded down: 20 -> 15, as in DESIGN.md.

    A gap that wide keeps a restaurant hovering around its limit from flapping
    between open and closed. For ``max_active_orders: 1`` this gives 0, which
    means the daemon never reopens on its own (active orders cannot fall below 0).
    """
    return max_active_orders * 3 // 4


@registry.register("congestion")
class CongestionRule(Rule):
    max_active_orders: int = Field(
        ge=1, description="active orders a restaurant handles before it is overloaded"
    )
    # Close the restaurant on Dükkango (PUT restaurants/status/close) while it is
    # overloaded; false only cancels the orders beyond capacity.
    close_restaurant: bool = True
    # Reopen once active orders fall below this. Defaults to three quarters of
    # max_active_orders (see default_reopen_below); the 0 here is only a
    # placeholder while max_active_orders itself is invalid.
    reopen_below: int = Field(default=0, ge=0)
    # Never reopen sooner than this after closing; 0 reopens as soon as the load allows.
    min_closed_minutes: int = Field(default=10, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _default_reopen_below(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reopen_below" not in data:
            limit = data.get("max_active_orders")
            if type(limit) is int and limit >= 1:
                return {**data, "reopen_below": default_reopen_below(limit)}
        return data

    @field_validator("reopen_below")
    @classmethod
    def _reopen_below_capacity(cls, reopen_below: int, info: ValidationInfo) -> int:
        limit = info.data.get("max_active_orders")
        if isinstance(limit, int) and reopen_below >= limit:
            raise ValueError(
                f"must be smaller than max_active_orders ({limit}) (got {reopen_below}); "
                "otherwise the restaurant would reopen while still overloaded"
            )
        return reopen_below

    aggregate: ClassVar[bool] = True

    def _load(self, count: int) -> dict[str, int]:
        return {"active_orders": count, "max_active_orders": self.max_active_orders}

    def evaluate_all(
        self, orders: Sequence[Order], ctx: PassContext, *, going: frozenset[str]
    ) -> Mapping[str, Verdict]:
        by_restaurant: dict[str, list[Order]] = defaultdict(list)
        for order in orders:
            if order.status_id in ACTIVE_STATUSES:
                by_restaurant[order.restaurant_id].append(order)
        verdicts: dict[str, Verdict] = {}
        for active in by_restaurant.values():
            count = len(active)
            load = self._load(count)
            if count <= self.max_active_orders:
                for order in active:
                    verdicts[order.payment_key] = Verdict.no_match(
                        f"{count} active orders, capacity {self.max_active_orders}", **load
                    )
                continue
            # Orders other rules cancel this pass, and orders whose cancellation
            # is already sent or on its way (perhaps by another daemon), lower
            # the load; choosing others in their place would cancel too many.
            leaving = going | {
                key for key, outcome in ctx.snapshot.live_intents.items()
                if outcome in ("pending", "cancelled")
            }
            staying = [o for o in active if o.payment_key not in leaving]
            excess = len(staying) - self.max_active_orders
            # Newest received orders go first: the least work is lost, and older
            # customers have waited longest. Unknown order times are never picked.
            candidates = sorted(
                (o for o in staying
                 if o.status_id == RECEIVED and RECEIVED in self.statuses
                 and o.created_at is not None
                 and o.payment_key not in ctx.snapshot.live_intents),
                key=lambda o: (o.created_at, o.order_number or 0, o.payment_key),
                reverse=True,
            )
            chosen = {o.payment_key for o in candidates[: max(0, excess)]}
            for order in active:
                if order.payment_key in chosen:
                    verdicts[order.payment_key] = Verdict.match(
                        f"one of the {len(chosen)} newest received orders beyond capacity",
                        **load,
                    )
                else:
                    verdicts[order.payment_key] = Verdict.no_match(
                        f"{count} active orders over capacity {self.max_active_orders}, but "
                        "this order is kept (older, already accepted, or cancelled by another "
                        "rule)",
                        **load,
                    )
        return verdicts

    def rejudge(self, order: Order, ctx: PassContext) -> Verdict:
        """Still beyond capacity, counting every other order already leaving?

        Not "is it still among the newest": an order arriving meanwhile would
        otherwise push the chosen one out, pass after pass, and an overloaded
        restaurant would never shed load.
        """
        leaving = {
            key for key, outcome in ctx.snapshot.live_intents.items()
            if outcome in ("pending", "cancelled") and key != order.payment_key
        }
        staying = [
            o for o in ctx.snapshot.orders
            if o.restaurant_id == order.restaurant_id and o.status_id in ACTIVE_STATUSES
            and o.payment_key not in leaving
        ]
        load = self._load(len(staying))
        if len(staying) <= self.max_active_orders:
            return Verdict.no_match(
                f"the restaurant is no longer over capacity ({len(staying)} active orders "
                f"staying, capacity {self.max_active_orders})", **load,
            )
        if order.status_id != RECEIVED or order.created_at is None:
            return Verdict.no_match(f"status {order.status_id}: no longer a received order",
                                    **load)
        return Verdict.match("still beyond capacity", **load)

    def restaurant_actions(self, ctx: PassContext) -> Sequence[RestaurantAction]:
        snapshot = ctx.snapshot
        actions: list[RestaurantAction] = []
        for restaurant_id in sorted(set(snapshot.active_by_restaurant) | set(snapshot.closures)):
            if restaurant_id not in ctx.restaurants:
                continue  # not ours to open or close
            count = snapshot.active_by_restaurant.get(restaurant_id, 0)
            closure = snapshot.closures.get(restaurant_id)
            if closure is None:
                if self.close_restaurant and count > self.max_active_orders:
                    actions.append(CloseRestaurant(restaurant_id, self.name, self._load(count)))
                continue
            if closure.rule != self.name:
                continue  # another congestion rule owns this closure
            closed_for = ctx.now - closure.closed_at
            if count < self.reopen_below and closed_for >= timedelta(
                minutes=self.min_closed_minutes
            ):
                actions.append(ReopenRestaurant(
                    restaurant_id, self.name, closure.id,
                    {**self._load(count), "reopen_below": self.reopen_below,
                     "closed_minutes": round(closed_for.total_seconds() / 60, 1)},
                ))
        return actions

"""``congestion``: more active orders than a restaurant can cook.

Per restaurant, a load over ``max_active_orders`` closes the restaurant once
(when ``close_restaurant``) and cancels the newest status-1 orders beyond
capacity. Reopening has hysteresis: only below ``reopen_below``, never sooner
than ``min_closed_minutes`` after closing, and never for a restaurant someone
else closed. A closure people ended instead (``autocancel reopen``/``release``,
or staff reopening it on Dükkango: daemon.domain.overrides) is respected: the
restaurant is neither closed again nor has orders cancelled for capacity
until the load falls below ``reopen_below`` once, at most
``respect_staff_minutes``. The load is the planner's :class:`rules.context.RestaurantLoad`:
active orders (status 1, 2, 16), less stale ones (older than
``max_order_age_minutes``), less the ones leaving anyway. Evidence:
``{"active_orders": 23, "max_active_orders": 20, "stale_orders": 0, "leaving_orders": 1}``
(``active_orders`` is that load).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from daemon.domain.actions import (
    CloseRestaurant,
    OverrideSpent,
    ReopenRestaurant,
    RestaurantAction,
)
from daemon.domain.orders import payment_key_of
from daemon.domain.overrides import MAX_RESPECT
from daemon.domain.statuses import RECEIVED
from daemon.domain.timeutil import isoformat_z
from rules.base import Rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Closure, Order
    from daemon.domain.overrides import Override
    from rules.context import PassContext, RestaurantLoad


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
    # After people end a closure of ours (staff reopen it on Dükkango, or
    # `autocancel reopen` / `release`), neither close it again nor cancel its
    # orders for capacity until the load has fallen below reopen_below once,
    # and for at most this long. 0: close again as soon as it is overloaded.
    respect_staff_minutes: int = Field(default=60, ge=0, le=int(MAX_RESPECT.total_seconds() // 60))

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

    @field_validator("statuses")
    @classmethod
    def _statuses_include_received(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        # Congestion cancels only received orders (work not started yet).
        if RECEIVED not in statuses:
            raise ValueError(
                f"must include {RECEIVED} (received) for a congestion rule (got "
                f"{list(statuses)}): it cancels only the newest received orders, so as "
                "written it would never cancel anything"
            )
        return statuses

    aggregate: ClassVar[bool] = True

    def _evidence(self, load: RestaurantLoad) -> dict[str, int]:
        return {**load.evidence(), "max_active_orders": self.max_active_orders}

    def evaluate_all(
        self, orders: Sequence[Order], ctx: PassContext, *, loads: Mapping[str, RestaurantLoad]
    ) -> Mapping[str, Verdict]:
        verdicts: dict[str, Verdict] = {}
        for load in loads.values():
            verdicts.update(self._judge(load, self._respected(ctx, load.restaurant_id)))
        return verdicts

    def _respected(self, ctx: PassContext, restaurant_id: str) -> Override | None:
        """People's decision on this restaurant, while this rule still respects it."""
        override = ctx.snapshot.overrides.get(restaurant_id)
        if override is None or ctx.now >= override.respected_until(self.respect_staff_minutes):
            return None
        return override

    def _respecting(self, override: Override, load: RestaurantLoad) -> Verdict:
        until = override.respected_until(self.respect_staff_minutes)
        return Verdict.no_match(
            f"{override.describe()} at {isoformat_z(override.at)}: not closed again and no "
            f"order cancelled for capacity until the load falls below {self.reopen_below} "
            f"(now {load.load}), at the latest until {isoformat_z(until)}",
            **self._evidence(load),
            override=override.kind,
            override_by=override.by,
            override_at=isoformat_z(override.at),
            respected_until=isoformat_z(until),
        )

    def rejudge(self, order: Order, ctx: PassContext, load: RestaurantLoad | None) -> Verdict:
        """Still beyond capacity, counting every other order already leaving?

        Not "is it still among the newest": an order arriving meanwhile would
        otherwise push the chosen one out, pass after pass, and an overloaded
        restaurant would never shed load.
        """
        if load is None:
            return Verdict.no_match("the restaurant is not in rules.yaml any more")
        override = self._respected(ctx, load.restaurant_id)
        if override is not None:
            return self._respecting(override, load)
        evidence = self._evidence(load)
        if load.load <= self.max_active_orders:
            return Verdict.no_match(
                f"the restaurant is no longer over capacity ({load.load} orders of load, "
                f"capacity {self.max_active_orders})",
                **evidence,
            )
        if order.status_id != RECEIVED or order.created_at is None:
            return Verdict.no_match(
                f"status {order.status_id}: no longer a received order", **evidence
            )
        return Verdict.match("still beyond capacity", **evidence)

    def _judge(self, load: RestaurantLoad, override: Override | None) -> dict[str, Verdict]:
        """Every active order of one restaurant: chosen, kept, or not part of the load."""
        # Verdicts are immutable values: the orders with the same one share it.
        evidence = self._evidence(load)
        verdicts: dict[str, Verdict] = {}
        if load.stale:
            verdicts.update(dict.fromkeys(load.stale, Verdict.no_match(_STALE, **evidence)))
        if load.leaving:
            verdicts.update(dict.fromkeys(load.leaving, Verdict.no_match(_LEAVING, **evidence)))
        if override is not None:
            respecting = self._respecting(override, load)
            verdicts.update({o.payment_key: respecting for o in load.staying})
            return verdicts
        excess = load.load - self.max_active_orders
        if excess <= 0:
            why = f"{load.load} orders of load, capacity {self.max_active_orders}"
            within = Verdict.no_match(why, **evidence)
            verdicts.update(dict.fromkeys(map(payment_key_of, load.staying), within))
            return verdicts
        chosen = {o.payment_key for o in self._newest_received(load)[:excess]}
        kept = (
            f"{load.load} orders of load over capacity {self.max_active_orders}, but this order "
            "is kept (older, already accepted, protected by safety, or of unknown time)"
        )
        for order in load.staying:
            verdicts[order.payment_key] = (
                Verdict.match(
                    f"one of the {len(chosen)} newest received orders beyond capacity", **evidence
                )
                if order.payment_key in chosen
                else Verdict.no_match(kept, **evidence)
            )
        return verdicts

    def _newest_received(self, load: RestaurantLoad) -> list[Order]:
        """Orders congestion may cancel, newest first.

        Newest received orders go first: the least work is lost, and older
        customers have waited longest. Only orders the daemon may act on
        (safety allows it; never decided live) are candidates, so the orders
        chosen are the orders that actually leave; that excludes unknown times.
        """
        candidates = [
            o
            for o in load.staying
            if o.status_id == RECEIVED
            and RECEIVED in self.statuses
            and o.payment_key in load.actionable
            and o.created_at is not None
        ]
        return sorted(
            candidates,
            key=lambda o: (o.created_at, o.order_number or 0, o.payment_key),
            reverse=True,
        )

    def restaurant_actions(
        self, ctx: PassContext, loads: Mapping[str, RestaurantLoad]
    ) -> Sequence[RestaurantAction]:
        # The same load as the choice of orders above: after the orders leaving
        # anyway, before congestion's own cancellations. Overloaded means both
        # "cancel the excess" and "close"; a restaurant whose excess is all
        # accepted orders is closed with nothing cancelled.
        actions: list[RestaurantAction] = []
        for restaurant_id, load in sorted(loads.items()):
            action = self._open_or_close(ctx, load, ctx.snapshot.closures.get(restaurant_id))
            if action is not None:
                actions.append(action)
        return actions

    def overrides_spent(
        self, ctx: PassContext, loads: Mapping[str, RestaurantLoad]
    ) -> Sequence[OverrideSpent]:
        """People's decisions the overload no longer needs: the load fell below reopen_below."""
        spent = []
        for restaurant_id, load in sorted(loads.items()):
            override = self._respected(ctx, restaurant_id)
            if override is not None and load.load < self.reopen_below:
                spent.append(
                    OverrideSpent(
                        restaurant_id,
                        self.name,
                        override.closure_id,
                        {**self._evidence(load), "reopen_below": self.reopen_below},
                    )
                )
        return spent

    def _open_or_close(
        self, ctx: PassContext, load: RestaurantLoad, closure: Closure | None
    ) -> RestaurantAction | None:
        if closure is None:
            if self._respected(ctx, load.restaurant_id) is not None:
                return None  # people reopened (or released) it: not fought
            if self.close_restaurant and load.load > self.max_active_orders:
                return CloseRestaurant(load.restaurant_id, self.name, self._evidence(load))
            return None
        if closure.rule != self.name:
            return None  # another congestion rule owns this closure
        closed_for = ctx.now - closure.closed_at
        if load.load >= self.reopen_below or closed_for < timedelta(
            minutes=self.min_closed_minutes
        ):
            return None
        return ReopenRestaurant(
            load.restaurant_id,
            self.name,
            closure.id,
            {
                **self._evidence(load),
                "reopen_below": self.reopen_below,
                "closed_minutes": round(closed_for.total_seconds() / 60, 1),
            },
        )


_STALE = (
    "older than max_order_age_minutes: abandoned in the POS, not counted as load "
    "and never cancelled"
)
_LEAVING = (
    "leaving anyway (cancelled by another rule this pass, or its cancellation is already "
    "on its way): not counted as load"
)

"""``congestion``: more active orders than a restaurant can cook.

Per restaurant, active orders (status 1, 2, 16) over ``max_active_orders``
close the restaurant once (when ``close_restaurant``) and cancel the newest
status-1 orders beyond capacity. Reopening has hysteresis: only below
``reopen_below``, never sooner than ``min_closed_minutes`` after closing, and
never for a restaurant someone else closed. Evidence:
``{"active_orders": 23, "max_active_orders": 20}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rules.base import Rule
from rules.registry import registry


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

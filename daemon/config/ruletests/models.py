"""The shape of a rules test file, as pydantic models: strict, frozen, no unknown keys.

Rows use the order store's column names (DESIGN.md ``orders``,
``order_items``, ``stock``), so operators write what they know. What a model
cannot check on its own (references between tests, rules and restaurants,
clocks that go back) is :mod:`.load`'s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from daemon.config.models import check_timezone
from daemon.config.ruletests.moments import DurationField, MomentField


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class ItemRow(_Strict):
    """One ``order_items`` row."""

    food_id: int
    name: str | None = None
    quantity: int = Field(default=1, ge=1)


class OrderColumns(_Strict):
    """The ``orders`` columns (but payment_key); unset ones stay NULL, as a POS leaves them."""

    order_number: int | None = None
    # Default: the only restaurant of the rules. An id the rules do not list is
    # allowed: such orders are never touched, and a test may say so.
    restaurant_id: str | None = None
    status_id: int = 1
    shipping_method: str | None = None
    courier_type: str | None = None
    payment_method: str | None = None
    payment_status: str | None = None
    total: float | None = None
    created_at: MomentField | None = None  # default: the step's clock
    customer_name: str | None = None
    customer_phone: str | None = None
    address: str | None = None
    address_description: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    updated_at: MomentField | None = None
    items: list[ItemRow] = Field(default_factory=list)


class OrderRow(OrderColumns):
    """An order to put in the store; ``count`` makes that many (``{n}`` in the key numbers them)."""

    payment_key: str = Field(min_length=1)
    count: int | None = Field(default=None, ge=1, le=10_000)
    # With count: the n-th order is created this much after the first.
    every: DurationField | None = None

    @model_validator(mode="after")
    def _numbered(self) -> OrderRow:
        if self.count is not None and "{n}" not in self.payment_key:
            raise ValueError(
                f"payment_key must contain {{n}} with count, so each order has its own key "
                f"(got {self.payment_key!r}; e.g. 'busy-{{n}}')"
            )
        if self.every is not None and self.count is None:
            raise ValueError("every needs count: it spaces the orders count makes")
        return self


class OrderChange(OrderColumns):
    """Columns of an order put in before, changed; only the keys written change."""

    payment_key: str = Field(min_length=1)


class StockRow(_Strict):
    """One ``stock`` row (a later row of the same food replaces it)."""

    food_id: int
    restaurant_id: str | None = None  # None: the row speaks for every restaurant
    name: str | None = None
    available: bool = True
    quantity: int | None = Field(default=None, ge=0)  # None: not counted


RestaurantStateName = Literal["open", "closed_by_autocancel", "closed_by_others"]


class RestaurantState(_Strict):
    """A restaurant as a pass finds it: open, closed by this daemon, or closed by someone else."""

    id: str = Field(min_length=1, description="the id or the name of a restaurant of the rules")
    state: RestaurantStateName
    # closed_by_autocancel only: since when (default: the step's clock) and by which rule
    # (default: the only congestion rule).
    closed_at: MomentField | None = None
    rule: str | None = None

    @model_validator(mode="after")
    def _closure_details(self) -> RestaurantState:
        if self.state != "closed_by_autocancel" and (
            self.closed_at is not None or self.rule is not None
        ):
            raise ValueError(
                "closed_at and rule describe a closure of this daemon: only with "
                "state: closed_by_autocancel"
            )
        return self


Outcome = Literal["cancelled", "would_cancel", "skipped", "held"]


class ExpectedDecision(_Strict):
    """One decision of a pass: the order, the rule, its reason and outcome."""

    payment_key: str = Field(min_length=1)
    rule: str = Field(min_length=1)
    outcome: Outcome
    reason_id: int | None = Field(default=None, ge=1, le=8)  # default: the rule's
    # Keys the decision's evidence must have, with these values (others are not compared).
    evidence: dict[str, Any] | None = None


class ExpectedEffect(_Strict):
    """One side effect: ``close``/``reopen`` a restaurant, ``deactivate``/``reactivate`` a food."""

    close: str | None = None
    reopen: str | None = None
    deactivate: int | None = None
    reactivate: int | None = None
    rule: str | None = None  # default: the only rule that can take this effect
    dry_run: bool = False  # true: a dry-run note, not an effect the pass took

    @model_validator(mode="after")
    def _one_effect(self) -> ExpectedEffect:
        given = [
            name
            for name in ("close", "reopen", "deactivate", "reactivate")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of close: RESTAURANT, reopen: RESTAURANT, "
                f"deactivate: FOOD_ID or reactivate: FOOD_ID (got {', '.join(given) or 'none'})"
            )
        return self


class Expect(_Strict):
    """What a pass must do. A list left out is not checked; an empty list expects nothing."""

    decisions: list[ExpectedDecision] | None = None
    side_effects: list[ExpectedEffect] | None = None


class DeactivatedFood(_Strict):
    """A deactivation of this daemon in force at the start (its way back is judged every pass)."""

    food_id: int
    # The rule that asked for it (default: the only out_of_stock rule that deactivates):
    # its reactivate_after_minutes counts from `at`.
    rule: str | None = None
    at: MomentField | None = None  # default: the test's now
    # The order's restaurant; default: the only one (with several: none, and then any
    # restaurant's stock row may bring the food back).
    restaurant_id: str | None = None


class PauseRow(_Strict):
    """A pause (``autocancel pause``): a rule, a restaurant, both, or neither (everything)."""

    rule: str | None = None
    restaurant: str | None = None  # an id or a name from the rules
    since: MomentField | None = None  # default: the step's clock
    until: MomentField


class Step(_Strict):
    """A later pass: the clock moves (``at`` or ``advance``), rows change, then the pass runs."""

    at: MomentField | None = None  # an offset here counts from the test's `now`
    advance: DurationField | None = None  # from the previous pass's clock
    restaurants: list[RestaurantState] = Field(default_factory=list)
    stock: list[StockRow] = Field(default_factory=list)
    pauses: list[PauseRow] = Field(default_factory=list)
    add_orders: list[OrderRow] = Field(default_factory=list)
    change_orders: list[OrderChange] = Field(default_factory=list)
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_clock(self) -> Step:
        if (self.at is None) == (self.advance is None):
            raise ValueError(
                "give exactly one of at: TIME or advance: DURATION (when this pass runs)"
            )
        return self


class RuleTest(_Strict):
    """One test: the state at ``now``, the first pass's expectations, then later steps."""

    name: str = Field(min_length=1)
    now: MomentField = Field(description="when the first pass runs, e.g. 2026-11-27T21:00:00")
    restaurants: list[RestaurantState] = Field(default_factory=list)
    stock: list[StockRow] = Field(default_factory=list)
    orders: list[OrderRow] = Field(default_factory=list)
    # Food ids, or {food_id, rule, at, restaurant_id}: deactivations of ours in force.
    deactivated_foods: list[int | DeactivatedFood] = Field(default_factory=list)
    pauses: list[PauseRow] = Field(default_factory=list)
    # Live cancellations before `now` (the hourly cap): how many in the last
    # hour (counted at `now`), or when each was made.
    cancelled_in_last_hour: int | list[MomentField] = Field(default=0)
    expect: Expect | None = None
    steps: list[Step] = Field(default_factory=list)

    @field_validator("cancelled_in_last_hour")
    @classmethod
    def _not_negative(cls, value: int | list[Any]) -> int | list[Any]:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"must be at least 0 (got {value})")
        return value


class RuleTestFileModel(_Strict):
    """A whole test file: the rules it tests, and the tests."""

    # The rules file, relative to this file; or `config`, a rules.yaml written
    # right here. Neither: the rules file of -c (default ./rules.yaml).
    rules_file: str | None = Field(default=None, min_length=1)
    config: dict[str, Any] | None = None
    # The wall clock of times without an offset. Default: the rules' timezone.
    timezone: str | None = None
    # What the geocoder answers, when the rules configure one: address ->
    # [latitude, longitude] or not_found. Any other address is unknown.
    geocode: dict[str, Any] | None = None
    # Each test is validated on its own (RuleTest), so one broken test hides
    # nothing about the others.
    tests: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        return None if name is None else check_timezone(name)

    @model_validator(mode="after")
    def _one_rules_source(self) -> RuleTestFileModel:
        if self.rules_file is not None and self.config is not None:
            raise ValueError(
                "give rules_file (a rules file) or config (rules written here), not both"
            )
        return self

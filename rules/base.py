"""The base class every rule kind extends: the fields all rules share.

A rule kind is a frozen pydantic model that declares only its own parameters;
the YAML mapping of one rule validates straight into it. Models are strict on
purpose: ``reason_id: "3"`` is a mistake worth reporting, not a value to coerce,
because the reason id is what the customer is told.

Evaluation: each kind implements :meth:`Rule.evaluate` (one order, returning
a :class:`rules.verdict.Verdict`), or, for rules that judge a restaurant's
whole load, sets ``aggregate = True`` and implements :meth:`Rule.evaluate_all`.
Rules never touch the database or the API; they may *ask* for side effects
(:meth:`side_effects`, :meth:`restaurant_actions`) that the executor carries out.
Validation lives here too, in two layers: field constraints (one rule on its
own) and :meth:`Rule.validate_against` (one rule against the rest of the file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from daemon.domain.actions import DeactivateFood, OverrideSpent, RestaurantAction
from daemon.domain.problems import Problem, YamlPath
from daemon.domain.reasons import REASONS_EN
from daemon.domain.statuses import (
    ACTIVE_STATUSES,
    CANCELED,
    CONFIRMED,
    DELIVERED,
    RECEIVED,
    STATUS_NAMES,
)
from daemon.domain.timeutil import isoformat_z
from daemon.domain.windows import Window, local_clock, zone_name
from rules.verdict import Verdict
from rules.windows import Days, Hours

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext, RestaurantLoad
    from rules.validation import ValidationContext

# Status ids an automatic rule may cancel: the active ones (DESIGN.md, `orders.status_id`).
CANCELABLE_STATUSES: Final = {status: STATUS_NAMES[status] for status in ACTIVE_STATUSES}
# Finished orders: the platform refuses to cancel them, and so do we.
NEVER_CANCELABLE_STATUSES: Final = {
    status: STATUS_NAMES[status] for status in (DELIVERED, CANCELED)
}
DEFAULT_STATUSES: Final = (RECEIVED, CONFIRMED)

# Dükkango's cancel reasons (dukkango-api.md, section 10), in English for messages.
REASONS: Final = {reason: text.capitalize() for reason, text in REASONS_EN.items()}


def _cancelable_status(status: int) -> int:
    allowed = ", ".join(f"{sid} ({what})" for sid, what in CANCELABLE_STATUSES.items())
    if status in NEVER_CANCELABLE_STATUSES:
        raise ValueError(
            f"{status} ({NEVER_CANCELABLE_STATUSES[status]}) orders are never cancelable; "
            f"list only {allowed}"
        )
    if status not in CANCELABLE_STATUSES:
        raise ValueError(f"{status} is not an order status; list only {allowed}")
    return status


CancelableStatus = Annotated[StrictInt, AfterValidator(_cancelable_status)]


class Rule(BaseModel):
    """Fields common to every rule; subclasses add their kind's parameters.

    Subclasses are registered with ``@registry.register("kind_name")``, which
    sets :attr:`KIND`. The ``kind`` field may then be left out when building a
    rule in code: ``MaxDistanceRule(name="too-far", reason_id=6, max_km=7.5)``.
    """

    # allow_inf_nan: `.inf` is valid YAML, but no limit or distance is infinite.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    KIND: ClassVar[str] = ""  # set by RuleRegistry.register; "" on the base class
    # Judges a restaurant's whole load rather than one order: evaluated after
    # the per-order rules, through evaluate_all().
    aggregate: ClassVar[bool] = False
    # Needs delivery positions (geocoding) resolved before evaluation.
    needs_location: ClassVar[bool] = False
    # The verdict on an order reads of the pass only the order, the stock rows
    # of its foods, its position (ctx.location), its restaurant's entry in
    # ctx.restaurants, ctx.geocoding_enabled and ctx.distances: never the
    # clock, another order or anything else. Such verdicts may be kept from
    # one pass to the next while those are the same (daemon.engine.verdictmemo).
    # False (the safe default) for a kind that has not been checked for it.
    order_local: ClassVar[bool] = False
    # Of an order_local rule: the attributes of the order its verdict reads
    # (``payment_key`` aside: a new version of an order keeps it). A new version
    # that changed none of them keeps the rule's verdict. None: any may matter.
    # tests/unit/test_order_fields.py checks each kind's claim.
    order_fields: ClassVar[frozenset[str] | None] = None

    name: str = Field(min_length=1, description="unique; the ledger and audit use it")
    # Filled in from KIND when left out, so code can build MaxDistanceRule(...) directly.
    kind: str = Field(
        default="", min_length=1, validate_default=True, description="which rule this is"
    )
    reason_id: int = Field(ge=1, le=8, description="the Dükkango cancel reason, 1 to 8")
    enabled: bool = True
    # Shadow mode for this rule alone: its matches are recorded as would_cancel.
    dry_run: bool = False
    # Lists come from YAML; store them as tuples so a rule stays immutable.
    statuses: Annotated[tuple[CancelableStatus, ...], Field(strict=False, min_length=1)] = (
        DEFAULT_STATUSES
    )
    # When the rule is in force, on the wall clock of the top-level `timezone`
    # (daemon.domain.windows says the conventions). None: always. Outside its
    # window a rule matches nothing and closes nothing; a closure it made may
    # still be reopened, so every action keeps its way back.
    active_hours: Hours | None = None
    active_days: Days | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_in_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data and cls.KIND:
            return {**data, "kind": cls.KIND}
        return data

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("must not be blank")
        return name

    @field_validator("kind")
    @classmethod
    def _kind_matches_class(cls, kind: str) -> str:
        if cls.KIND and kind != cls.KIND:
            raise ValueError(f"must be '{cls.KIND}' for {cls.__name__} (got '{kind}')")
        return kind

    @field_validator("statuses")
    @classmethod
    def _statuses_unique(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        repeated = sorted({status for status in statuses if statuses.count(status) > 1})
        if repeated:
            listed = ", ".join(str(status) for status in repeated)
            raise ValueError(f"lists {listed} more than once; list each status once")
        return statuses

    @property
    def label(self) -> str:
        """How messages and logs name the rule: ``too-far (max_distance)``."""
        return f"{self.name} ({self.kind})"

    def allows_status(self, status_id: int) -> bool:
        return status_id in self.statuses

    @property
    def window(self) -> Window | None:
        """When the rule is in force; None when it always is."""
        if self.active_hours is None and self.active_days is None:
            return None
        return Window.parse(hours=self.active_hours or (), days=self.active_days or ())

    def outside_window(self, now: datetime, zone: tzinfo) -> Verdict | None:
        """The verdict on every order while ``now`` is outside the rule's window, else None.

        The planner asks once per pass, on the pass clock, not once per order.
        """
        window = self.window
        if window is None or window.span_at(now, zone) is not None:
            return None
        evidence: dict[str, Any] = {
            "outside_window": window.describe(),
            "timezone": zone_name(zone),
            "local_time": local_clock(now, zone),
        }
        why = (
            f"outside its active window ({window.describe()}, {zone_name(zone)}; "
            f"now {local_clock(now, zone)})"
        )
        opens = window.next_start(now, zone)
        if opens is not None:
            evidence["window_opens"] = isoformat_z(opens)
            why += f"; in force again from {local_clock(opens, zone)}"
        return Verdict.no_match(why, **evidence)

    # --- evaluation -----------------------------------------------------------

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        """This rule's verdict on one order (statuses are checked by the engine)."""
        raise NotImplementedError(f"{type(self).__name__} does not evaluate single orders")

    def evaluate_all(
        self, orders: Sequence[Order], ctx: PassContext, *, loads: Mapping[str, RestaurantLoad]
    ) -> Mapping[str, Verdict]:
        """Verdicts for all orders at once, given each listed restaurant's load this pass."""
        return {order.payment_key: self.evaluate(order, ctx) for order in orders}

    def rejudge(self, order: Order, ctx: PassContext, load: RestaurantLoad | None) -> Verdict:
        """The verdict again, on current data, right before the cancellation is sent.

        ``ctx.snapshot`` holds at least the order's restaurant; ``load`` is its
        load now, counting every other order already on its way out (not this
        one). Per-order rules judge as in a pass; a load rule asks whether the
        order still must go.
        """
        return self.evaluate(order, ctx)

    def side_effects(self, order: Order, verdict: Verdict) -> Sequence[DeactivateFood]:
        """Menu changes to make when this rule's match on ``order`` goes ahead."""
        return ()

    @property
    def reactivation_delay(self) -> timedelta | None:
        """How long after deactivating a food this rule puts it back on sale whatever
        its stock row says (a snooze); None: only once the stock row says it can be sold."""
        return None

    def restaurant_actions(
        self, ctx: PassContext, loads: Mapping[str, RestaurantLoad]
    ) -> Sequence[RestaurantAction]:
        """Restaurants to close or reopen in this pass, judged on the same loads as the orders."""
        return ()

    def overrides_spent(
        self, ctx: PassContext, loads: Mapping[str, RestaurantLoad]
    ) -> Sequence[OverrideSpent]:
        """People's decisions on a restaurant (daemon.domain.overrides) the load no longer needs."""
        return ()

    def validate_against(self, setting: ValidationContext, *, at: YamlPath) -> list[Problem]:
        """Check this rule against the rest of the configuration.

        ``at`` is the rule's own path (``("rules", 3)``). Problems may point
        anywhere in the file (a restaurant lacking coordinates is reported at
        the restaurant). Subclasses extend the list returned by ``super()``.
        """
        problems: list[Problem] = []
        if self.enabled and self.reason_id in (4, 8):
            why = {
                4: "the customer did not ask for this cancellation",
                8: "the platform asks integrations to send the specific reason",
            }[self.reason_id]
            problems.append(
                Problem.warning(
                    (*at, "reason_id"),
                    f"{describe_rule(at, self.name)}: reason_id {self.reason_id} "
                    f'("{REASONS[self.reason_id]}") on an automatic rule: {why}; '
                    "prefer a specific reason (1, 2, 3, 5, 6 or 7)",
                )
            )
        return problems


def describe_rule(at: YamlPath, name: object) -> str:
    """``rules[2] (too-far)``, or just ``rules[2]`` while the name is unusable."""
    where = f"rules[{at[-1]}]" if at and isinstance(at[-1], int) else "rule"
    if isinstance(name, str) and name.strip():
        return f"{where} ({name})"
    return where

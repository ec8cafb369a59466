"""Hand-built snapshots for the unit layer: orders, stock, a pass context, a plan.

Everything here is a plain value; nothing reads the wall clock, a file or a
socket. The pass clock ``NOW`` is years away from the wall clock on purpose,
so any code that reads the wall clock instead of ``ctx.now`` shows up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.domain.actions import CloseRestaurant, ReopenRestaurant
from daemon.domain.decisions import Decision
from daemon.domain.distance import Distances
from daemon.domain.foods import FoodOff
from daemon.domain.location import Location
from daemon.domain.orders import Closure, Item, Order, Snapshot, StockLevel
from daemon.domain.overrides import Override, OverrideKind
from daemon.domain.pauses import Pause
from daemon.engine.plan import Plan, plan_pass
from daemon.engine.safety import SafetyLimits
from rules.base import Rule
from rules.congestion import CongestionRule
from rules.context import PassContext
from rules.out_of_stock import OutOfStockRule
from rules.payment_failed import PaymentFailedRule

# The pass clock: years away from the wall clock on purpose.
NOW = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
HAL = "hal"
AKAT = "akat"
UNLISTED = "unlisted"  # another branch sharing the store, not in rules.yaml
PLAIN_FOOD = 1  # no stock row: in stock
OUT_OF_FOOD = 9  # unavailable in STOCK

# Halaskargazi Şube; 0.1 degree of latitude north of it is about 11.1 km.
HAL_POSITION = (41.0493, 28.9877)


@dataclass(frozen=True, slots=True)
class Branch:
    """A restaurant as rules.yaml lists it (rules.context.Place)."""

    id: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


RESTAURANTS: Mapping[str, Branch] = {
    HAL: Branch(HAL, "Halaskargazi", *HAL_POSITION),
    AKAT: Branch(AKAT, "Akat"),  # no coordinates
}
STOCK: Mapping[int, StockLevel] = {
    OUT_OF_FOOD: StockLevel(OUT_OF_FOOD, "ayran", available=False, quantity=None)
}

LIMITS = SafetyLimits(
    max_cancellations_per_hour=30, max_order_age_minutes=180, never_cancel=frozenset()
)
OUT_OF_STOCK = OutOfStockRule(name="out-of-stock", reason_id=1, deactivate_food=True)
PAYMENT = PaymentFailedRule(name="payment-failed", reason_id=7)
SHADOW_PAYMENT = PaymentFailedRule(name="payment-check", reason_id=7, dry_run=True)
OVERLOADED = CongestionRule(
    name="overloaded", reason_id=3, max_active_orders=20, reopen_below=15, min_closed_minutes=10
)


def order(
    key: str,
    *,
    restaurant: str = HAL,
    status: int = 1,
    minutes_ago: float | None = 5,
    out_of_stock: bool = False,
    payment_status: str | None = "ok",
    **fields: Any,
) -> Order:
    """A delivery order placed ``minutes_ago`` before NOW (None: of unknown time).

    ``fields`` set any other column of :class:`Order` (items, phone, position ...).
    """
    built = Order(
        payment_key=key,
        restaurant_id=restaurant,
        status_id=status,
        order_number=int(minutes_ago or 0),
        shipping_method="delivery",
        payment_status=payment_status,
        created_at=None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago),
        items=(Item(food_id=OUT_OF_FOOD if out_of_stock else PLAIN_FOOD, name=None, quantity=1),),
    )
    return replace(built, **fields)


def fill(prefix: str, count: int, *, first_minutes_ago: float = 10, **fields: Any) -> list[Order]:
    """``count`` orders no per-order rule matches, one minute apart, newest first."""
    return [
        order(f"{prefix}{n:02d}", minutes_ago=first_minutes_ago + n, **fields) for n in range(count)
    ]


def closed(minutes_ago: float, *, rule: str = "overloaded", at: str = HAL) -> dict[str, Closure]:
    """The closures of a snapshot: ``at`` closed by ``rule`` ``minutes_ago`` before NOW."""
    when = NOW - timedelta(minutes=minutes_ago)
    return {at: Closure(id=1, restaurant_id=at, rule=rule, closed_at=when)}


def overridden(
    minutes_ago: float,
    *,
    kind: OverrideKind = "staff",
    by: str | None = None,
    rule: str = "overloaded",
    at: str = HAL,
) -> dict[str, Override]:
    """The overrides of a snapshot: people ended ``at``'s closure ``minutes_ago`` before NOW."""
    when = NOW - timedelta(minutes=minutes_ago)
    return {at: Override(closure_id=1, restaurant_id=at, rule=rule, kind=kind, at=when, by=by)}


def context(
    orders: Iterable[Order],
    *,
    live_intents: Mapping[str, str] | None = None,
    closures: Mapping[str, Closure] | None = None,
    overrides: Mapping[str, Override] | None = None,
    looked_up: Iterable[str] = (),
    stock: Mapping[int, StockLevel] = STOCK,
    deactivated_foods: Iterable[int] = (),
    locations: Mapping[str, Location] | None = None,
    geocoding_enabled: bool = False,
    restaurants: Mapping[str, Branch] = RESTAURANTS,
    pauses: Iterable[Pause] = (),
    foods_off: Iterable[FoodOff] = (),
    distances: Distances | None = None,
) -> PassContext:
    snapshot = Snapshot(
        taken_at=NOW,
        orders=tuple(orders),
        stock=dict(stock),
        live_intents=dict(live_intents or {}),
        closures=dict(closures or {}),
        deactivated_foods=frozenset(deactivated_foods),
        looked_up=frozenset(looked_up),
        overrides=dict(overrides or {}),
        pauses=tuple(pauses),
        foods_off=tuple(foods_off),
    )
    return PassContext(
        now=NOW,
        snapshot=snapshot,
        restaurants=restaurants,
        locations=dict(locations or {}),
        geocoding_enabled=geocoding_enabled,
        # One table across passes where a test keeps verdicts (daemon.engine.verdictmemo).
        distances=Distances.exact() if distances is None else distances,
    )


def with_limits(**changes: Any) -> SafetyLimits:
    return replace(LIMITS, **changes)


def plan(
    rules: Sequence[Rule],
    ctx: PassContext,
    *,
    limits: SafetyLimits = LIMITS,
    hourly_used: int = 0,
    dry_run: bool = False,
) -> Plan:
    return plan_pass(rules, ctx, limits, hourly_used=hourly_used, dry_run=dry_run)


def outcomes(result: Plan) -> dict[str, tuple[str, str]]:
    """payment_key -> (rule, outcome) of each primary decision."""
    return {d.payment_key: (d.rule, d.outcome) for d in result.primary}


def shadows(result: Plan) -> list[tuple[str, str, str]]:
    """(payment_key, rule, outcome) of each shadow match kept beside a live decision."""
    return [(d.payment_key, d.rule, d.outcome) for d in result.decisions if not d.primary]


def decided(result: Plan, payment_key: str) -> Decision:
    """The order's primary decision; fails the test when no rule decides it."""
    found = result.decision_for(payment_key)
    assert found is not None, f"no decision for {payment_key}: {outcomes(result)}"
    return found


def closes(result: Plan) -> list[str]:
    return [
        a.restaurant_id for a, _mode in result.restaurant_actions if isinstance(a, CloseRestaurant)
    ]


def reopens(result: Plan) -> list[str]:
    return [
        a.restaurant_id for a, _mode in result.restaurant_actions if isinstance(a, ReopenRestaurant)
    ]

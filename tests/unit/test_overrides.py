"""Congestion and the closures people ended (daemon.domain.overrides), on hand-built snapshots.

Staff opened the restaurant on Dükkango, or an operator ran ``autocancel
reopen`` or ``release``: the rule neither closes it again nor cancels its
orders for capacity, until the load falls below ``reopen_below`` (the pass
records the override spent) or ``respect_staff_minutes`` run out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from daemon.domain.actions import CloseRestaurant, OverrideSpent
from daemon.domain.orders import Snapshot
from daemon.domain.overrides import MAX_RESPECT, Override
from daemon.engine.active import CLOSED_EVERY, ActiveOrders
from rules.congestion import CongestionRule
from rules.context import RestaurantLoad
from rules.verdict import VerdictKind
from tests.unit.builders import (
    AKAT,
    HAL,
    NOW,
    OVERLOADED,
    closed,
    closes,
    context,
    fill,
    order,
    outcomes,
    overridden,
    plan,
    reopens,
)


def rule(**fields: object) -> CongestionRule:
    """Capacity 2, reopen below 1, respecting people for 30 minutes."""
    options: dict[str, object] = {
        "name": "overloaded",
        "reason_id": 3,
        "max_active_orders": 2,
        "reopen_below": 1,
        "respect_staff_minutes": 30,
        **fields,
    }
    return CongestionRule.model_validate(options)


@pytest.mark.parametrize("kind", ["staff", "reopen", "release"])
def test_while_respected_an_overload_neither_closes_nor_cancels(kind: str) -> None:
    by = None if kind == "staff" else "Ayşe"
    ctx = context(fill("f", 4), overrides=overridden(10, kind=kind, by=by))  # type: ignore[arg-type]

    result = plan([rule()], ctx)

    assert outcomes(result) == {}
    assert result.restaurant_actions == ()
    assert result.overrides_spent == ()
    [(_rule, verdict)] = result.verdicts["f00"]
    assert verdict.kind is VerdictKind.NO_MATCH
    assert "not closed again and no order cancelled for capacity" in verdict.why
    assert verdict.evidence["override"] == kind
    assert verdict.evidence["override_by"] == by
    assert verdict.evidence["respected_until"] == "2031-05-17T12:20:00Z"
    assert verdict.evidence["active_orders"] == 4


def test_the_verdict_says_who_decided() -> None:
    staff = Override(1, HAL, "overloaded", "staff", NOW)
    reopened = Override(1, HAL, "overloaded", "reopen", NOW, by="Ayşe")
    released = Override(1, HAL, "overloaded", "release", NOW)

    assert staff.describe() == "reopened by staff on Dükkango"
    assert reopened.describe() == "reopened by Ayşe (autocancel reopen)"
    assert released.describe() == "released by an operator (autocancel release)"
    assert staff.respected_until(60 * 48) == NOW + MAX_RESPECT


def test_respect_runs_out_by_the_clock_and_then_the_overload_closes_again() -> None:
    ctx = context(fill("f", 4), overrides=overridden(30))  # respected for 30 minutes: over now

    result = plan([rule()], ctx)

    assert closes(result) == [HAL]
    assert outcomes(result) == {"f00": ("overloaded", "pending"), "f01": ("overloaded", "pending")}
    assert result.overrides_spent == ()  # nothing to record: time alone ended it


def test_a_load_below_reopen_below_spends_the_override_once() -> None:
    result = plan([rule(), rule(name="other")], context([], overrides=overridden(5)))

    assert result.overrides_spent == (
        OverrideSpent(
            HAL,
            "overloaded",
            1,
            {"active_orders": 0, "stale_orders": 0, "leaving_orders": 0, "max_active_orders": 2,
             "reopen_below": 1},
        ),
    )  # fmt: skip
    assert result.restaurant_actions == ()


def test_a_load_between_reopen_below_and_capacity_keeps_respecting() -> None:
    result = plan([rule(reopen_below=1)], context(fill("f", 1), overrides=overridden(5)))

    assert result.overrides_spent == ()
    assert result.restaurant_actions == ()


def test_respect_staff_minutes_zero_closes_again_at_once() -> None:
    result = plan([rule(respect_staff_minutes=0)], context(fill("f", 3), overrides=overridden(0)))

    assert closes(result) == [HAL]
    assert outcomes(result) == {"f00": ("overloaded", "pending")}


def test_an_override_is_per_restaurant() -> None:
    orders = [*fill("hal-", 3), *fill("akat-", 3, restaurant=AKAT)]

    result = plan([rule()], context(orders, overrides=overridden(5, at=AKAT)))

    assert closes(result) == [HAL]
    assert outcomes(result) == {"hal-00": ("overloaded", "pending")}


def test_a_closure_in_force_is_judged_as_usual_whatever_an_older_override_says() -> None:
    # The snapshot never pairs them (a new closure supersedes); the rule reopens its own.
    result = plan(
        [rule(min_closed_minutes=0)], context([], closures=closed(5), overrides=overridden(60))
    )

    assert reopens(result) == [HAL]


def test_rejudge_respects_the_override_too() -> None:
    received = order("x")
    load = RestaurantLoad(
        restaurant_id=HAL,
        active=3,
        stale=frozenset(),
        leaving=frozenset(),
        staying=(received, order("y"), order("z")),
        actionable=frozenset({"x", "y", "z"}),
    )

    verdict = rule().rejudge(received, context([received], overrides=overridden(1)), load)

    assert verdict.kind is VerdictKind.NO_MATCH
    assert verdict.why.startswith("reopened by staff on Dükkango at 2031-05-17T11:59:00Z")
    assert rule().rejudge(received, context([received]), load).matched


def test_stale_and_leaving_orders_keep_their_own_verdicts_while_respected() -> None:
    old = order("old", minutes_ago=300)
    result = plan([rule()], context([old, *fill("f", 3)], overrides=overridden(5)))

    [(_rule, verdict)] = result.verdicts["old"]
    assert verdict.why.startswith("older than max_order_age_minutes")


@pytest.mark.parametrize("minutes", [-1, 24 * 60 + 1])
def test_respect_staff_minutes_is_bounded(minutes: int) -> None:
    with pytest.raises(ValidationError, match="respect_staff_minutes"):
        rule(respect_staff_minutes=minutes)


def test_the_default_respects_people_for_an_hour() -> None:
    assert OVERLOADED.respect_staff_minutes == 60
    ctx = context(fill("f", 21), overrides=overridden(59))
    assert plan([OVERLOADED], ctx).restaurant_actions == ()
    later = context(fill("f", 21), overrides=overridden(60))
    [(action, _mode)] = plan([OVERLOADED], later).restaurant_actions
    assert isinstance(action, CloseRestaurant)


# --- the scope of incremental passes ---------------------------------------------------------


def _snapshot(ctx_overrides: dict[str, Override], closures: bool = False) -> Snapshot:
    return context([], overrides=ctx_overrides, closures=closed(5) if closures else None).snapshot


def test_an_overridden_restaurant_is_judged_again_at_the_pace_of_closed_ones() -> None:
    active = ActiveOrders()
    active.reset(_snapshot({}, closures=True), now=100.0)
    assert active.closed == {HAL}
    assert active.closed_due(100.0 + CLOSED_EVERY) == {HAL}

    # Released (or reopened by hand, or by staff) between two passes: the next
    # read sees the override, and time alone may end it, so it stays due.
    active.update([HAL], _snapshot(overridden(0)))
    assert active.closed == frozenset()
    assert active.overridden == {HAL}
    assert active.touched([]) == frozenset()  # a change names its own restaurants only
    assert active.closed_due(100.0 + 2 * CLOSED_EVERY) == {HAL}

    # Spent (or out of time): judged only when a change names it again.
    active.update([HAL], _snapshot({}))
    assert active.closed_due(100.0 + 3 * CLOSED_EVERY) == frozenset()


def test_an_override_lasts_at_most_a_day_whatever_the_rule_says() -> None:
    assert timedelta(hours=24) == MAX_RESPECT
    assert rule(respect_staff_minutes=24 * 60).respect_staff_minutes == 1440

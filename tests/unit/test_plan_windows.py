"""Rule windows and quiet windows in the planner and the re-check, on the pass clock.

NOW (tests/unit/builders.py) is Saturday 2031-05-17 12:00 UTC: 15:00 in
Istanbul, the zone a context has unless a test gives another one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from daemon.domain.decisions import MANUAL, Decision
from daemon.domain.windows import QuietWindow, Window, time_zone
from daemon.engine.rejudge import rejudge
from daemon.engine.safety import SafetyLimits, Suspension, apply_safety
from rules.base import Rule
from rules.context import PassContext
from rules.payment_failed import PaymentFailedRule
from tests.unit.builders import (
    HAL,
    LIMITS,
    NOW,
    OUT_OF_FOOD,
    OUT_OF_STOCK,
    OVERLOADED,
    PAYMENT,
    SHADOW_PAYMENT,
    closed,
    closes,
    context,
    decided,
    fill,
    order,
    outcomes,
    plan,
    reopens,
    shadows,
    with_limits,
)


def windowed(rule: Rule, hours: tuple[str, ...] = (), days: tuple[str, ...] = ()) -> Rule:
    """``rule`` limited to ``hours`` on ``days`` (validated, as rules.yaml would be)."""
    fields = rule.model_dump()
    if hours:
        fields["active_hours"] = hours
    if days:
        fields["active_days"] = days
    return type(rule).model_validate(fields)


def quiet(
    hours: Sequence[str] = (), days: Sequence[str] = (), dates: Sequence[str] = ()
) -> SafetyLimits:
    """Safety limits with one quiet window, "derby-night"."""
    window = Window.parse(hours=hours, days=days, dates=dates)
    return with_limits(quiet_windows=(QuietWindow(window, name="derby-night"),))


def verdict_of(result: Any, key: str, rule_name: str) -> Any:
    return next(v for r, v in result.verdicts[key] if r.name == rule_name)


def failed() -> list[Any]:
    return [order("failed", payment_status="failed"), order("fine")]


# --- a rule's window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "cancels"),
    [
        ("14:00-16:00", True),
        ("15:00-16:00", True),  # the start is in
        ("12:00-15:00", False),  # the end is out
        ("16:00-18:00", False),
        ("22:00-15:30", True),  # overnight from Friday, to 15:30
    ],
)
def test_a_rule_cancels_only_inside_its_hours(hours: str, cancels: bool) -> None:
    result = plan([windowed(PAYMENT, (hours,))], context(failed()))

    assert outcomes(result) == ({"failed": ("payment-failed", "pending")} if cancels else {})


def test_outside_its_window_a_rule_does_not_match_and_says_why() -> None:
    result = plan([windowed(PAYMENT, ("16:00-18:00",), ("sat", "sun"))], context(failed()))

    verdict = verdict_of(result, "failed", "payment-failed")
    assert not verdict.matched
    assert verdict.why == (
        "outside its active window (sat,sun 16:00-18:00, Europe/Istanbul; now sat 2031-05-17 "
        "15:00); in force again from sat 2031-05-17 16:00"
    )
    assert verdict.evidence == {
        "outside_window": "sat,sun 16:00-18:00",
        "timezone": "Europe/Istanbul",
        "local_time": "sat 2031-05-17 15:00",
        "window_opens": "2031-05-17T13:00:00Z",
    }
    assert result.outside_window == frozenset({"payment-failed"})


def test_days_decide_too() -> None:
    weekdays = ("mon", "tue", "wed", "thu", "fri")

    assert outcomes(plan([windowed(PAYMENT, days=weekdays)], context(failed()))) == {}
    assert outcomes(plan([windowed(PAYMENT, days=("sat",))], context(failed()))) == {
        "failed": ("payment-failed", "pending")
    }


def test_the_next_rule_decides_while_the_first_is_outside_its_window() -> None:
    both = order("both", payment_status="failed", out_of_stock=True)
    sleeping_stock = windowed(OUT_OF_STOCK, ("18:00-23:00",))

    result = plan([sleeping_stock, PAYMENT], context([both]))

    assert outcomes(result) == {"both": ("payment-failed", "pending")}
    assert result.food_deactivations == ()  # the sleeping rule's side effect stays home


def test_a_window_is_read_on_the_configured_zone() -> None:
    office = windowed(PAYMENT, ("09:00-17:00",))
    new_york = replace(context(failed()), timezone=time_zone("America/New_York"))

    assert outcomes(plan([office], context(failed()))) != {}  # 15:00 in Istanbul
    assert outcomes(plan([office], new_york)) == {}  # 08:00 in New York (EDT)


def test_windows_are_judged_once_per_pass_not_per_order(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    original = Rule.outside_window

    def counting(self: Rule, *args: Any) -> Any:
        asked.append(self.name)
        return original(self, *args)

    monkeypatch.setattr(Rule, "outside_window", counting)
    rules = [windowed(PAYMENT, ("16:00-18:00",)), OUT_OF_STOCK, OVERLOADED]

    plan(rules, context(fill("o", 40)))

    assert sorted(asked) == ["out-of-stock", "overloaded", "payment-failed"]


def test_a_shadow_rule_outside_its_window_records_nothing() -> None:
    result = plan([PAYMENT, windowed(SHADOW_PAYMENT, ("16:00-18:00",))], context(failed()))

    assert outcomes(result) == {"failed": ("payment-failed", "pending")}
    assert shadows(result) == []


# --- congestion outside its window: nothing new, the way back stays open -------------------

RUSH = windowed(OVERLOADED, ("18:00-23:00",))


def test_congestion_outside_its_window_neither_cancels_nor_closes() -> None:
    result = plan([RUSH], context(fill("o", 25)))

    assert outcomes(result) == {}
    assert closes(result) == []
    assert outcomes(plan([OVERLOADED], context(fill("o", 25)))) != {}  # inside: it would


def test_a_closure_made_in_the_window_is_still_reopened_after_it() -> None:
    result = plan([RUSH], context(fill("o", 5), closures=closed(30)))

    assert reopens(result) == [HAL]


def test_after_its_window_a_closed_restaurant_still_waits_for_the_load_to_fall() -> None:
    result = plan([RUSH], context(fill("o", 25), closures=closed(30)))

    assert (reopens(result), outcomes(result)) == ([], {})


# --- quiet windows -----------------------------------------------------------------------


def test_a_quiet_window_skips_every_automatic_cancellation_and_says_until_when() -> None:
    result = plan([PAYMENT], context(failed()), limits=quiet(hours=["14:00-16:00"]))

    skipped = decided(result, "failed")
    assert skipped.outcome == "skipped"
    assert {k: v for k, v in skipped.evidence.items() if k != "payment_status"} == {
        "skipped_because": "quiet_window",
        "quiet_window": "derby-night",
        "window": "14:00-16:00",
        "timezone": "Europe/Istanbul",
        "quiet_until": "2031-05-17T13:00:00Z",
    }
    assert "derby-night" in result.suspensions[0].why


def test_quiet_windows_use_dates_days_and_their_edges() -> None:
    today = "2031-05-17"
    for when, skipped in (
        ({"dates": [today]}, True),
        ({"dates": ["2031-05-16"]}, False),
        ({"dates": ["2031-05-10..2031-05-20"], "days": ["sat"]}, True),
        ({"dates": [today], "hours": ["15:00-15:01"]}, True),  # the start is in
        ({"dates": [today], "hours": ["14:00-15:00"]}, False),  # the end is out
    ):
        result = plan([PAYMENT], context(failed()), limits=quiet(**when))
        expected = "skipped" if skipped else "pending"
        assert decided(result, "failed").outcome == expected, when


def test_a_quiet_window_holds_closures_and_food_but_not_reopenings() -> None:
    stock_order = order("stock", out_of_stock=True)
    limits = quiet(days=["sat"])

    overloaded = plan([OVERLOADED], context(fill("o", 25)), limits=limits)
    assert closes(overloaded) == []
    assert {o for _rule, o in outcomes(overloaded).values()} == {"skipped"}
    menu = plan([OUT_OF_STOCK], context([stock_order]), limits=limits)
    assert (outcomes(menu), menu.food_deactivations) == ({"stock": ("out-of-stock", "skipped")}, ())
    calm = plan([OVERLOADED], context(fill("o", 5), closures=closed(30)), limits=limits)
    assert reopens(calm) == [HAL]
    assert OUT_OF_FOOD in {
        f.food_id for f, _m in plan([OUT_OF_STOCK], context([stock_order])).food_deactivations
    }


def test_orders_a_quiet_window_keeps_are_load_so_no_reopening_counts_them_gone() -> None:
    # Closed at 20; 16 active, 5 of them with a failed payment; reopen below 15.
    orders = [*fill("o", 11), *(order(f"f{n}", payment_status="failed") for n in range(5))]
    ctx = context(orders, closures=closed(30))

    assert reopens(plan([PAYMENT, OVERLOADED], ctx)) == [HAL]  # 5 leave: load 11
    held = plan([PAYMENT, OVERLOADED], ctx, limits=quiet(days=["sat"]))
    assert held.loads[HAL].load == 16
    assert reopens(held) == []


def test_a_dry_run_shows_the_quiet_window_as_the_live_pass_would_do_it() -> None:
    result = plan([PAYMENT], context(failed()), limits=quiet(days=["sat"]), dry_run=True)

    assert (decided(result, "failed").mode, decided(result, "failed").outcome) == (
        "dry_run",
        "skipped",
    )


def test_what_a_quiet_window_skips_uses_no_budget() -> None:
    limits = replace(quiet(days=["sat"]), max_cancellations_per_hour=0)

    result = plan([PAYMENT, OVERLOADED], context(failed(), closures=closed(30)), limits=limits)

    assert decided(result, "failed").outcome == "skipped"
    assert not result.held and reopens(result) == [HAL]


# --- the mechanism a pause reuses ------------------------------------------------------------


def test_a_suspension_skips_only_the_rules_and_restaurants_it_names() -> None:
    other = PaymentFailedRule(name="other", reason_id=7)
    decisions = [
        *plan([PAYMENT], context([order("a", payment_status="failed")])).decisions,
        *plan([other], context([order("b", payment_status="failed")])).decisions,
    ]
    paused = Suspension({"skipped_because": "pause", "pause_id": 7}, why="paused by ayse")

    result = apply_safety(
        decisions,
        LIMITS,
        protected={},
        actionable={HAL: 2},
        live_cancellations_last_hour=0,
        suspensions=[replace(paused, rules=frozenset({"payment-failed"}))],
    )
    elsewhere = apply_safety(
        decisions,
        LIMITS,
        protected={},
        actionable={HAL: 2},
        live_cancellations_last_hour=0,
        suspensions=[replace(paused, restaurants=frozenset({"akat"}))],
    )

    assert [(d.payment_key, d.outcome, d.evidence.get("pause_id")) for d in result.decisions] == [
        ("a", "skipped", 7),
        ("b", "pending", None),
    ]
    assert result.suspends("payment-failed", HAL) and not result.suspends("other", HAL)
    assert {d.outcome for d in elsewhere.decisions} == {"pending"}


# --- the re-check right before a send ----------------------------------------------------


def pending(key: str, rule: Rule) -> Decision:
    return Decision(
        order=order(key, payment_status="failed"),
        rule=rule.name,
        kind=rule.kind,
        reason_id=rule.reason_id,
        mode="live",
        outcome="pending",
        evidence={},
    )


def recheck(
    chosen: Decision,
    rule: Rule,
    *,
    later: timedelta = timedelta(0),
    limits: SafetyLimits = LIMITS,
) -> dict[str, Any] | None:
    ctx: PassContext = context([chosen.order], live_intents={chosen.payment_key: "pending"})
    return rejudge(chosen, rules=[rule], ctx=ctx, limits=limits, now=NOW + later, dry_run=False)


def test_a_send_retried_after_the_window_closed_is_not_sent() -> None:
    lunch = windowed(PAYMENT, ("14:00-16:00",))
    chosen = pending("failed", lunch)

    assert recheck(chosen, lunch) is None
    change = recheck(chosen, lunch, later=timedelta(hours=1))  # 16:00: the end
    assert change is not None
    assert change["skipped_because"] == "no_longer_qualifies"
    assert str(change["change"]).startswith("rule 'payment-failed' is outside its active window")
    assert change["window"]["outside_window"] == "14:00-16:00"


def test_a_send_that_meets_a_quiet_window_is_not_sent_but_a_manual_one_is() -> None:
    limits = quiet(hours=["15:30-16:00"])
    chosen = pending("failed", PAYMENT)
    by_staff = replace(chosen, rule=MANUAL, kind=MANUAL, reason_id=5)

    assert recheck(chosen, PAYMENT, limits=limits) is None  # 15:00: not yet
    change = recheck(chosen, PAYMENT, later=timedelta(minutes=30), limits=limits)
    assert change is not None
    assert change["suspended"]["skipped_because"] == "quiet_window"
    assert "quiet window 'derby-night'" in str(change["change"])
    assert recheck(by_staff, PAYMENT, later=timedelta(minutes=30), limits=limits) is None

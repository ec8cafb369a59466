"""Pauses in the unit layer: what an operator types, when a pause holds, what it holds.

NOW (tests/unit/builders.py) is Saturday 2031-05-17 12:00 UTC, 15:00 in Istanbul.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest

from daemon.domain.decisions import MANUAL, Decision
from daemon.domain.pauses import (
    BadPause,
    Pause,
    describe_span,
    parse_duration,
    pause_end,
    pause_ids,
    typed_text,
)
from daemon.domain.printable import json_printable, printable
from daemon.domain.windows import QuietWindow, Window, time_zone
from daemon.engine.rejudge import rejudge
from daemon.engine.safety import suspensions_at
from rules.base import Rule
from tests.unit.builders import (
    AKAT,
    HAL,
    LIMITS,
    NOW,
    OUT_OF_FOOD,
    OUT_OF_STOCK,
    OVERLOADED,
    PAYMENT,
    closes,
    context,
    decided,
    fill,
    order,
    outcomes,
    plan,
    with_limits,
)

ISTANBUL = time_zone("Europe/Istanbul")
BERLIN = time_zone("Europe/Berlin")


def paused(
    pause_id: int = 3,
    *,
    rule: str | None = None,
    restaurant: str | None = None,
    minutes: float = 30,
    ended_minutes_ago: float | None = None,
) -> Pause:
    """A pause made a minute before NOW, lasting ``minutes`` from then."""
    made = NOW - timedelta(minutes=1)
    return Pause(
        id=pause_id,
        rule=rule,
        restaurant_id=restaurant,
        created_at=made,
        until=made + timedelta(minutes=minutes),
        comment="mutfakta yangın tatbikatı",
        created_by="ayse",
        ended_at=None if ended_minutes_ago is None else NOW - timedelta(minutes=ended_minutes_ago),
        ended_by=None if ended_minutes_ago is None else "mehmet",
    )


# --- what an operator types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "span"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30min", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1d", timedelta(days=1)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations_read_as_operators_write_them(typed: str, span: timedelta) -> None:
    assert parse_duration(typed) == span


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("3", "not a duration"),
        ("", "not a duration"),
        ("abc", "not a duration"),
        ("-5m", "not a duration"),
        ("1.5h", "not a duration"),
        ("30m1h", "not a duration"),  # largest unit first
        ("0m", "lasts no time"),
        ("0h0m", "lasts no time"),
    ],
)
def test_a_bad_duration_says_what_to_type(typed: str, says: str) -> None:
    with pytest.raises(BadPause, match=says) as raised:
        parse_duration(typed)
    assert "30m, 2h, 1h30m" in str(raised.value) or says == "lasts no time"


def end(
    *,
    for_text: str | None = None,
    until_text: str | None = None,
    now: datetime = NOW,
    zone: tzinfo = ISTANBUL,
    max_hours: float = 24,
) -> datetime:
    return pause_end(
        for_text=for_text, until_text=until_text, now=now, zone=zone, max_hours=max_hours
    )


def test_until_is_read_on_the_configured_wall_clock() -> None:
    # 15:00 in Istanbul (UTC+3): 18:00 there is 15:00 UTC.
    assert end(until_text="18:00") == datetime(2031, 5, 17, 15, 0, tzinfo=UTC)
    assert end(until_text="today 23:59") == datetime(2031, 5, 17, 20, 59, tzinfo=UTC)
    assert end(until_text="Tomorrow 09:00") == datetime(2031, 5, 18, 6, 0, tzinfo=UTC)
    assert end(until_text="end-of-day") == datetime(2031, 5, 17, 21, 0, tzinfo=UTC)
    assert end(for_text="end-of-day") == datetime(2031, 5, 17, 21, 0, tzinfo=UTC)
    assert end(until_text="2031-05-17T16:00:00+03:00") == datetime(2031, 5, 17, 13, tzinfo=UTC)
    assert end(for_text="1h30m") == NOW + timedelta(hours=1, minutes=30)
    # In Berlin (UTC+2 in May) the same 18:00 is another instant.
    assert end(until_text="18:00", zone=BERLIN) == datetime(2031, 5, 17, 16, 0, tzinfo=UTC)


def test_an_end_in_the_hour_the_clocks_skip_falls_when_they_jump() -> None:
    # Berlin goes from 02:00 to 03:00 on Sunday 2031-03-30; at 01:00 local (23:00 UTC):
    night = datetime(2031, 3, 29, 23, 0, tzinfo=UTC)

    assert end(until_text="02:30", now=night, zone=BERLIN) == datetime(2031, 3, 30, 1, tzinfo=UTC)
    assert end(until_text="04:00", now=night, zone=BERLIN) == datetime(2031, 3, 30, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("for_text", "until_text", "says"),
    [
        (None, None, "a pause needs an end: --for DURATION"),
        ("1h", "18:00", "not both"),
        (None, "14:00", "which has passed (now 2031-05-17 15:00); for tomorrow write --until "),
        (None, "2031-05-17T11:00:00Z", "which has passed"),
        (None, "15:00", "which has passed"),  # exactly now is no pause at all
        ("25h", None, "longer than safety.max_pause_hours (24 h)"),
        (None, "tomorrow 16:00", "longer than safety.max_pause_hours"),
        (None, "25:00", "not a time of day"),
        (None, "soon", "is not a time; use 18:00 (today)"),
        ("9999999d", None, "longer than safety.max_pause_hours"),
    ],
)
def test_a_pause_without_a_sound_end_is_refused(
    for_text: str | None, until_text: str | None, says: str
) -> None:
    with pytest.raises(BadPause, match=None) as raised:
        end(for_text=for_text, until_text=until_text)
    assert says in str(raised.value)


def test_the_longest_pause_is_configurable() -> None:
    assert end(for_text="2h", max_hours=2) == NOW + timedelta(hours=2)
    with pytest.raises(BadPause, match=r"max_pause_hours \(1.5 h\)"):
        end(for_text="2h", max_hours=1.5)


def test_typed_text_is_kept_as_typed_within_its_limit() -> None:
    assert typed_text("--comment", "  <script>x</script>\n ", limit=20, what="a reason") == (
        "<script>x</script>"
    )
    with pytest.raises(BadPause, match="--comment needs a reason"):
        typed_text("--comment", " \n ", limit=20, what="a reason")
    with pytest.raises(BadPause, match="--comment is 21 characters long; at most 20"):
        typed_text("--comment", "x" * 21, limit=20, what="a reason")
    with pytest.raises(BadPause, match="--by needs a name"):
        typed_text("--by", None, limit=20, what="a name")


def test_typed_text_is_shown_without_acting_on_the_terminal() -> None:
    hostile = "ok\nforged line\x1b[2J\u202eevil\u200b\u2028şçö"

    assert printable(hostile) == "ok\\nforged line\\x1b[2J\\u202eevil\\u200b\\u2028şçö"
    assert printable("Halaskargazi Şube") == "Halaskargazi Şube"
    as_json = json_printable(json.dumps({"c": hostile, "tag": "\U000e0001"}, ensure_ascii=False))
    assert as_json.isprintable()
    assert json.loads(as_json) == {"c": hostile, "tag": "\U000e0001"}


def test_spans_read_as_time_left() -> None:
    assert describe_span(timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert describe_span(timedelta(minutes=4, seconds=10)) == "4 min 10 s"
    assert describe_span(timedelta(seconds=12.7)) == "12 s"
    assert describe_span(timedelta(seconds=-3)) == "0 s"


# --- when a pause holds --------------------------------------------------------------------


def test_a_pause_holds_until_its_end_or_a_resume() -> None:
    running, resumed = paused(minutes=30), paused(4, ended_minutes_ago=0.5)
    over = NOW + timedelta(minutes=29)  # made a minute before NOW, for 30 minutes

    assert running.in_force(NOW) and running.in_force(over - timedelta(seconds=1))
    assert not running.in_force(over) and running.state(over) == "expired"
    assert running.ended(over) == over and running.ended(NOW) is None
    assert resumed.state(NOW) == "resumed" and resumed.ended(NOW) == resumed.ended_at
    assert pause_ids([running, resumed], NOW) == frozenset({3})
    assert [e.event for e in running.events(NOW)] == ["paused"]
    assert [(e.event, e.by) for e in running.events(over)] == [
        ("paused", "ayse"),
        ("expired", None),
    ]
    assert [(e.event, e.by) for e in resumed.events(NOW)] == [
        ("paused", "ayse"),
        ("resumed", "mehmet"),
    ]


def test_a_pause_says_its_scope() -> None:
    assert paused().scope() == "every rule at every restaurant"
    assert paused(rule="payment-failed").scope() == "rule payment-failed at every restaurant"
    assert paused(restaurant=AKAT).scope("Akat (akat)") == "every rule at Akat (akat)"
    both = paused(rule="overloaded", restaurant=AKAT)
    assert both.scope() == "rule overloaded at akat" and not both.everything


# --- what a pause holds, in the planner --------------------------------------------------


def failed_orders() -> list[Any]:
    return [
        order("failed", payment_status="failed"),
        order("akat-failed", restaurant=AKAT, payment_status="failed"),
        order("fine"),
    ]


def test_a_paused_rule_skips_its_decisions_with_who_why_and_until() -> None:
    result = plan([PAYMENT], context(failed_orders(), pauses=[paused(rule="payment-failed")]))

    skipped = decided(result, "failed")
    assert skipped.outcome == "skipped"
    assert skipped.evidence == {
        "payment_status": "failed",
        "skipped_because": "paused",
        "pause_id": 3,
        "paused_by": "ayse",
        "comment": "mutfakta yangın tatbikatı",
        "paused_until": "2031-05-17T12:29:00Z",
        "pause_scope": {"rule": "payment-failed", "restaurant_id": None},
    }
    assert decided(result, "akat-failed").outcome == "skipped"
    assert [p.id for p in result.pauses] == [3]
    assert "pause 3 by ayse" in result.suspensions[0].why


def test_a_pause_of_a_restaurant_leaves_the_others_alone() -> None:
    result = plan([PAYMENT], context(failed_orders(), pauses=[paused(restaurant=AKAT)]))

    assert outcomes(result) == {
        "failed": ("payment-failed", "pending"),
        "akat-failed": ("payment-failed", "skipped"),
    }


def test_an_ended_pause_holds_nothing() -> None:
    over = [paused(minutes=1), paused(4, ended_minutes_ago=0.5)]  # expired at NOW; resumed
    result = plan([PAYMENT], context(failed_orders(), pauses=over))

    assert {outcome for _rule, outcome in outcomes(result).values()} == {"pending"}
    assert result.pauses == () and result.suspensions == ()


def test_a_dry_run_skips_what_a_pause_covers_as_live_would() -> None:
    ctx = context(failed_orders(), pauses=[paused()])

    dry = plan([PAYMENT], ctx, dry_run=True)

    assert {d.outcome for d in dry.primary} == {"skipped"}


def test_a_paused_congestion_rule_closes_nothing_and_cancels_nothing_there() -> None:
    rush = fill("r", 23, restaurant=AKAT)
    ctx = context(rush, pauses=[paused(rule="overloaded", restaurant=AKAT)])

    result = plan([OVERLOADED], ctx)

    assert closes(result) == []
    assert {outcome for _rule, outcome in outcomes(result).values()} == {"skipped"}
    assert closes(plan([OVERLOADED], context(rush))) == [AKAT]  # without the pause


def test_a_paused_rule_deactivates_no_food_even_beside_another_rules_decision() -> None:
    ctx = context(
        [order("both", out_of_stock=True, payment_status="failed")],
        pauses=[paused(rule="out-of-stock")],
    )

    result = plan([PAYMENT, OUT_OF_STOCK], ctx)

    assert decided(result, "both").outcome == "pending"  # payment-failed is not paused
    assert result.food_deactivations == ()
    unpaused = plan([PAYMENT, OUT_OF_STOCK], context(ctx.snapshot.orders))
    assert [f.food_id for f, _mode in unpaused.food_deactivations] == [OUT_OF_FOOD]


def test_a_paused_order_stays_load_for_congestion() -> None:
    """Not cancelled, so still cooking: the kitchen's load counts it, as a quiet window does."""
    orders = [*fill("r", 20), order("failed", payment_status="failed", minutes_ago=1)]

    result = plan([PAYMENT, OVERLOADED], context(orders, pauses=[paused(rule="payment-failed")]))

    assert result.loads[HAL].load == 21
    assert decided(result, "failed").outcome == "skipped"
    assert closes(result) == [HAL]


def test_a_pause_comes_before_a_quiet_window_in_the_evidence() -> None:
    quiet = with_limits(
        quiet_windows=(QuietWindow(Window.parse(days=["sat"]), name="derby-night"),)
    )
    found = suspensions_at(quiet, NOW, ISTANBUL, [paused(rule="payment-failed")])

    assert [s.evidence["skipped_because"] for s in found] == ["paused", "quiet_window"]
    result = plan([PAYMENT], context(failed_orders(), pauses=[paused()]), limits=quiet)
    assert decided(result, "failed").evidence["skipped_because"] == "paused"
    assert suspensions_at(LIMITS, NOW, ISTANBUL, [paused(minutes=1)]) == ()


# --- the re-check right before a send ------------------------------------------------------


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


def recheck(chosen: Decision, pauses: list[Pause]) -> dict[str, Any] | None:
    ctx = context([chosen.order], live_intents={chosen.payment_key: "pending"}, pauses=pauses)
    return rejudge(chosen, rules=[PAYMENT], ctx=ctx, limits=LIMITS, now=NOW, dry_run=False)


def test_a_pause_made_after_the_plan_stops_the_send_but_not_a_manual_one() -> None:
    chosen = pending("failed", PAYMENT)
    by_staff = replace(chosen, rule=MANUAL, kind=MANUAL, reason_id=5)

    assert recheck(chosen, []) is None
    change = recheck(chosen, [paused(rule="payment-failed")])
    assert change is not None
    assert change["skipped_because"] == "no_longer_qualifies"
    assert change["suspended"]["pause_id"] == 3
    assert str(change["change"]).startswith("pause 3 by ayse until 2031-05-17T12:29:00Z")
    assert recheck(chosen, [paused(restaurant=AKAT)]) is None  # another restaurant's
    assert recheck(by_staff, [paused()]) is None
    assert chosen.order.restaurant_id == HAL

"""Safety in the plan: protected orders are skipped, the brakes hold, and say so at CRITICAL.

The ratio brake's per-restaurant and per-pass scopes, and what a held scope
does to side effects, are in test_plan.py; here are the protections, the
hourly cap and the edges of both brakes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from daemon.engine.safety import CLOCK_SKEW_TOLERANCE, protection
from tests.unit.builders import (
    LIMITS,
    NOW,
    OUT_OF_STOCK,
    PAYMENT,
    SHADOW_PAYMENT,
    context,
    decided,
    order,
    outcomes,
    plan,
    shadows,
    with_limits,
)

# --- protections: never_cancel, age, unknown time ---------------------------------------------


@pytest.mark.parametrize(
    ("entry", "phone"),
    [
        ("+90 533 558 76 42", "05335587642"),
        ("05335587642", "+90 (533) 558-76-42"),
        ("5335587642", "0090 533 558 7642"),
        ("112", "112"),  # short numbers compare as they are
    ],
)
def test_never_cancel_protects_a_phone_however_it_is_spelled(entry: str, phone: str) -> None:
    limits = with_limits(never_cancel=frozenset({entry}))
    failed = order("vip", payment_status="failed", customer_phone=phone)

    decision = decided(plan([PAYMENT], context([failed]), limits=limits), "vip")

    assert (decision.rule, decision.outcome) == ("payment-failed", "skipped")
    assert decision.evidence["skipped_because"] == "never_cancel"
    assert decision.evidence["matched"] == "customer_phone"


def test_never_cancel_protects_a_payment_key_and_nothing_else() -> None:
    limits = with_limits(never_cancel=frozenset({"vip-key", "05001112233"}))
    orders = [
        order("vip-key", payment_status="failed", customer_phone="05335587642"),
        order("other-phone", payment_status="failed", customer_phone="05001112234"),
        # A phone without digits must not equal an entry without digits ("vip-key").
        order("no-digits", payment_status="failed", customer_phone="unknown"),
    ]

    result = plan([PAYMENT], context(orders), limits=limits)

    assert outcomes(result) == {
        "vip-key": ("payment-failed", "skipped"),
        "other-phone": ("payment-failed", "pending"),
        "no-digits": ("payment-failed", "pending"),
    }
    assert decided(result, "vip-key").evidence["matched"] == "payment_key"


@pytest.mark.parametrize(
    ("minutes_ago", "outcome", "because"),
    [
        (180, "pending", None),  # at the limit is not older than it
        (181, "skipped", "max_order_age_minutes"),
        (None, "skipped", "created_at_unknown"),
        # A POS clock a little ahead is normal; beyond the tolerance it is bad data.
        (-CLOCK_SKEW_TOLERANCE.total_seconds() / 60, "pending", None),
        (-CLOCK_SKEW_TOLERANCE.total_seconds() / 60 - 1, "skipped", "created_at_in_future"),
    ],
)
def test_orders_too_old_or_of_unknown_time_are_skipped(
    minutes_ago: float | None, outcome: str, because: str | None
) -> None:
    failed = order("x", payment_status="failed", minutes_ago=minutes_ago)

    decision = decided(plan([PAYMENT], context([failed])), "x")

    assert decision.outcome == outcome
    assert decision.evidence.get("skipped_because") == because


def test_a_skipped_old_order_says_how_old_it_is() -> None:
    aged = decided(
        plan([PAYMENT], context([order("x", payment_status="failed", minutes_ago=200)])), "x"
    )

    assert aged.evidence == {
        "payment_status": "failed",
        "skipped_because": "max_order_age_minutes",
        "age_minutes": 200.0,
        "max_order_age_minutes": 180,
    }


def test_never_cancel_is_named_even_when_the_order_is_also_too_old() -> None:
    limits = with_limits(never_cancel=frozenset({"vip"}))
    found = protection(order("vip", minutes_ago=500), limits, NOW)

    assert found is not None
    assert dict(found.evidence) == {"skipped_because": "never_cancel", "matched": "payment_key"}
    assert not found.stale  # protected, but still cooking: load


def test_a_protected_order_keeps_its_shadow_match_as_evidence() -> None:
    limits = with_limits(never_cancel=frozenset({"vip"}))
    both = order("vip", out_of_stock=True, payment_status="failed")

    result = plan([SHADOW_PAYMENT, OUT_OF_STOCK], context([both]), limits=limits)

    assert outcomes(result) == {"vip": ("out-of-stock", "skipped")}
    assert shadows(result) == [("vip", "payment-check", "would_cancel")]


# --- the hourly cap ---------------------------------------------------------------------------


def test_the_hourly_cap_sends_the_oldest_and_holds_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orders = [order(f"f{n}", payment_status="failed", minutes_ago=60 - n) for n in range(4)]

    with caplog.at_level("CRITICAL"):
        result = plan(
            [PAYMENT],
            context(orders),
            limits=with_limits(max_cancellations_per_hour=5),
            hourly_used=3,
        )

    assert outcomes(result) == {
        "f0": ("payment-failed", "pending"),
        "f1": ("payment-failed", "pending"),
        "f2": ("payment-failed", "held"),
        "f3": ("payment-failed", "held"),
    }
    assert decided(result, "f3").evidence == {
        "payment_status": "failed",
        "held_because": "max_cancellations_per_hour",
        "limit": 5,
        "used_last_hour": 3,
    }
    assert result.held  # one budget for the store: the pass takes no side effect
    [record] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "hourly cancellation cap reached" in record.getMessage()
    assert "3 cancellations in the last hour, limit 5; holding 2" in record.getMessage()


def test_a_pass_that_fits_the_budget_exactly_is_not_held(caplog: pytest.LogCaptureFixture) -> None:
    orders = [order(f"f{n}", payment_status="failed") for n in range(2)]

    with caplog.at_level("CRITICAL"):
        result = plan(
            [PAYMENT],
            context(orders),
            limits=with_limits(max_cancellations_per_hour=3),
            hourly_used=1,
        )

    assert {outcome for _rule, outcome in outcomes(result).values()} == {"pending"}
    assert not result.held
    assert caplog.records == []


def test_a_budget_used_beyond_the_cap_holds_everything() -> None:
    # A lower cap after a reload: more were sent in the last hour than it allows now.
    result = plan(
        [PAYMENT],
        context([order("f", payment_status="failed")]),
        limits=with_limits(max_cancellations_per_hour=2),
        hourly_used=7,
    )

    assert outcomes(result) == {"f": ("payment-failed", "held")}
    assert decided(result, "f").evidence["used_last_hour"] == 7


def test_skipped_orders_and_shadow_matches_do_not_use_the_budget() -> None:
    limits = with_limits(max_cancellations_per_hour=1, never_cancel=frozenset({"vip"}))
    orders = [
        order("vip", payment_status="failed"),
        order("aged", payment_status="failed", minutes_ago=500),
        order("shadow-only", payment_status="failed"),
        order("stock", out_of_stock=True),
    ]

    result = plan([OUT_OF_STOCK, SHADOW_PAYMENT], context(orders), limits=limits)

    assert outcomes(result) == {
        "vip": ("payment-check", "skipped"),
        "aged": ("payment-check", "skipped"),
        "shadow-only": ("payment-check", "would_cancel"),
        "stock": ("out-of-stock", "pending"),
    }
    assert not result.held


# --- the ratio brake at its edge --------------------------------------------------------------


def test_a_pass_at_exactly_the_ratio_is_not_held() -> None:
    orders = [order("failed", payment_status="failed"), order("fine")]

    at_half = plan([PAYMENT], context(orders), limits=with_limits(max_cancel_ratio=0.5))
    below_half = plan([PAYMENT], context(orders), limits=with_limits(max_cancel_ratio=0.49))

    assert outcomes(at_half) == {"failed": ("payment-failed", "pending")}
    assert outcomes(below_half) == {"failed": ("payment-failed", "held")}


def test_without_a_ratio_a_pass_may_cancel_every_order() -> None:
    orders = [order(f"f{n}", payment_status="failed") for n in range(3)]

    result = plan([PAYMENT], context(orders), limits=LIMITS)

    assert {outcome for _rule, outcome in outcomes(result).values()} == {"pending"}
    assert not result.held and result.held_restaurants == frozenset()


def test_a_ratio_hold_is_logged_at_critical_per_restaurant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orders = [order(f"f{n}", payment_status="failed") for n in range(2)]

    with caplog.at_level("CRITICAL"):
        plan([PAYMENT], context(orders), limits=with_limits(max_cancel_ratio=0.5))

    messages = [r.getMessage() for r in caplog.records if r.levelname == "CRITICAL"]
    assert messages[0].startswith("restaurant hal: this pass would cancel 2 of the 2 orders")
    assert messages[1].startswith("this pass would cancel 2 of the 2 orders it may act on")
    assert len(messages) == 2


def test_protections_are_judged_on_the_clock_given() -> None:
    # 170 minutes old at NOW; 190 an extra 20 minutes later.
    young = order("x", minutes_ago=170)

    assert protection(young, LIMITS, NOW) is None
    later = protection(young, LIMITS, NOW + timedelta(minutes=20))
    assert later is not None and later.stale

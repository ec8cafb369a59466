"""payment_failed: only a payment the POS marked failed is cancelled."""

from __future__ import annotations

import pytest

from rules.verdict import VerdictKind
from tests.unit.builders import PAYMENT, context, order


@pytest.mark.parametrize("status", ["failed", "FAILED", " Failed "])
def test_a_failed_payment_matches_however_the_pos_spells_it(status: str) -> None:
    failed = order("x", payment_status=status)

    verdict = PAYMENT.evaluate(failed, context([failed]))

    assert verdict.kind is VerdictKind.MATCH
    assert verdict.evidence == {"payment_status": "failed"}


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("ok", "payment status is ok"),
        ("pending", "payment status is pending"),
        (None, "payment status is unknown"),
        ("failed-ish", "payment status is failed-ish"),
    ],
)
def test_anything_else_never_matches(status: str | None, why: str) -> None:
    other = order("x", payment_status=status)

    verdict = PAYMENT.evaluate(other, context([other]))

    assert (verdict.kind, verdict.why) == (VerdictKind.NO_MATCH, why)

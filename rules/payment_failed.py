"""``payment_failed``: the POS or payment terminal marked the payment failed.

Matches ``orders.payment_status = 'failed'`` only; ``pending`` and unknown
(null) never match. Evidence: ``{"payment_status": "failed"}``.
"""

from __future__ import annotations

from rules.base import Rule
from rules.registry import registry


@registry.register("payment_failed")
class PaymentFailedRule(Rule):
    """No parameters of its own."""

"""``payment_failed``: the POS or payment terminal marked the payment failed.

Matches ``orders.payment_status = 'failed'`` only; ``pending`` and unknown
(null) never match. Evidence: ``{"payment_status": "failed"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rules.base import Rule
from rules.registry import registry
from rules.verdict import Verdict

if TYPE_CHECKING:
    from daemon.domain.orders import Order
    from rules.context import PassContext


@registry.register("payment_failed")
class PaymentFailedRule(Rule):
    """No parameters of its own."""

    order_local: ClassVar[bool] = True  # reads the order alone
    order_fields: ClassVar[frozenset[str] | None] = frozenset({"payment_status"})

    def evaluate(self, order: Order, ctx: PassContext) -> Verdict:
        status = (order.payment_status or "").strip().lower()
        if status == "failed":
            return Verdict.match("the payment failed", payment_status="failed")
        return Verdict.no_match(f"payment status is {order.payment_status or 'unknown'}")

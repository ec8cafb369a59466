"""The notification vocabulary: which events autocancel tells people about, and their fields.

An :class:`Event` is written to the outbox in the same transaction as the
ledger change that caused it (daemon.store.outbox); the sender delivers it
later (daemon.notify). ``key`` makes an event happen once: a second write
with the same key (a replica, a retry, the same cap in the same hour) is
dropped by the store's unique constraint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal, get_args

from daemon.domain.orders import Order
from daemon.domain.reasons import REASONS, REASONS_EN

EventName = Literal[
    "order_cancelled",
    "order_cancel_failed",
    "order_refund_due",
    "customer_message",
    "restaurant_closed",
    "restaurant_reopened",
    "food_deactivated",
    "food_reactivated",
    "cap_reached",
    "pass_held",
    "api_unreachable",
    "api_recovered",
    "reload_rejected",
    "daemon_started",
    "daemon_stopping",
    "notify_test",
]
EVENT_NAMES: Final[tuple[str, ...]] = get_args(EventName)

# Apprise's notification types: what a chat client colours the message by.
Severity = Literal["info", "success", "warning", "failure"]
SEVERITY: Final[Mapping[str, Severity]] = {
    "order_cancelled": "info",
    "order_cancel_failed": "failure",
    "order_refund_due": "warning",
    "customer_message": "info",
    "restaurant_closed": "warning",
    "restaurant_reopened": "success",
    "food_deactivated": "warning",
    "food_reactivated": "success",
    "cap_reached": "failure",  # CRITICAL in the journal
    "pass_held": "warning",
    "api_unreachable": "failure",
    "api_recovered": "success",
    "reload_rejected": "failure",
    "daemon_started": "info",
    "daemon_stopping": "info",
    "notify_test": "info",
}

# Payment methods paid before delivery (orders/variables): a cancellation owes a refund.
PREPAID_METHODS: Final = frozenset({"kredi kartı", "banka kartı", "online ödeme", "credit card"})


def is_prepaid(payment_method: str | None) -> bool:
    return (payment_method or "").strip().casefold() in PREPAID_METHODS


@dataclass(frozen=True, slots=True)
class Event:
    name: EventName
    key: str | None  # once per key; None: every write is an event of its own
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.name]

    def matches(self, *, restaurant: str | None, rule: str | None, reason: int | None) -> bool:
        """A route's filter: each given criterion must equal the event's field."""
        if restaurant is not None and restaurant not in (
            self.fields.get("restaurant_id"),
            self.fields.get("restaurant_name"),
        ):
            return False
        if rule is not None and rule != self.fields.get("rule"):
            return False
        return reason is None or reason == self.fields.get("reason_id")


def _money(total: Decimal | float | None) -> str | None:
    return None if total is None else f"{Decimal(str(total)):.2f}"


def order_fields(order: Order, *, restaurant_name: str | None) -> dict[str, Any]:
    return {
        "payment_key": order.payment_key,
        "order_number": order.order_number,
        "restaurant_id": order.restaurant_id,
        "restaurant_name": restaurant_name,
        "customer_phone": order.customer_phone,
        "total": _money(order.total),
        "payment_method": order.payment_method,
    }


def reason_fields(reason_id: int) -> dict[str, Any]:
    return {
        "reason_id": reason_id,
        "reason_tr": REASONS.get(reason_id),
        "reason_en": REASONS_EN.get(reason_id),
    }


def order_cancelled(
    order: Order,
    *,
    rule: str,
    reason_id: int,
    restaurant_name: str | None,
    evidence: Mapping[str, Any],
) -> Event:
    return Event(
        "order_cancelled",
        f"order_cancelled:{order.payment_key}",
        {
            "rule": rule,
            **reason_fields(reason_id),
            **order_fields(order, restaurant_name=restaurant_name),
            "evidence": dict(evidence),
        },
    )


def order_refund_due(cancelled: Event) -> Event:
    """The refund hand-off for a prepaid cancelled order: its facts, for the payment process."""
    return Event(
        "order_refund_due", f"order_refund_due:{cancelled.fields['payment_key']}", cancelled.fields
    )


def order_cancel_failed(
    order: Order,
    *,
    rule: str,
    reason_id: int,
    restaurant_name: str | None,
    error: str | None,
    ledger_id: int | None,
) -> Event:
    return Event(
        "order_cancel_failed",
        f"order_cancel_failed:{ledger_id}" if ledger_id is not None else None,
        {
            "rule": rule,
            **reason_fields(reason_id),
            **order_fields(order, restaurant_name=restaurant_name),
            "error": error,
        },
    )


def restaurant_event(
    name: Literal["restaurant_closed", "restaurant_reopened"],
    *,
    closure_id: int,
    restaurant_id: str,
    restaurant_name: str | None,
    rule: str,
    evidence: Mapping[str, Any],
) -> Event:
    return Event(
        name,
        f"{name}:{closure_id}",
        {
            "restaurant_id": restaurant_id,
            "restaurant_name": restaurant_name,
            "rule": rule,
            "evidence": dict(evidence),
        },
    )


def food_event(
    name: Literal["food_deactivated", "food_reactivated"],
    *,
    food_id: int,
    food_name: str | None,
    restaurant_id: str | None,
    restaurant_name: str | None,
    rule: str,
    key_suffix: str,
) -> Event:
    return Event(
        name,
        f"{name}:{food_id}:{key_suffix}",
        {
            "food_id": food_id,
            "food_name": food_name,
            "restaurant_id": restaurant_id,
            "restaurant_name": restaurant_name,
            "rule": rule,
        },
    )


def summary_line(event: Event) -> str:
    """One line for a chat message's title: what happened, where."""
    fields = event.fields
    where = fields.get("restaurant_name") or fields.get("restaurant_id") or ""
    parts = [event.name.replace("_", " ")]
    if fields.get("order_number") is not None:
        parts.append(f"#{fields['order_number']}")
    if fields.get("food_name"):
        parts.append(str(fields["food_name"]))
    if where:
        parts.append(f"at {where}")
    return " ".join(parts)

"""The events a live side effect announces, put in the outbox in its own transaction.

Each function is called with the connection that records the outcome, so a
notification is on record exactly when its change is (daemon.store.outbox).
A dry run never gets here: nothing it decides is told to anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from daemon.config.notifications import CustomerSettings
from daemon.domain import customer_messages as customer_messages_domain
from daemon.domain import events
from daemon.domain.decisions import Decision
from daemon.domain.orders import Order
from daemon.domain.timeutil import utcnow
from daemon.store import outbox
from daemon.store.names import Names
from daemon.store.order_facts import item_names, order_by_key

log = logging.getLogger(__package__)

# Builds the customer's message for a cancelled order (None: customers are not told).
CustomerMessage = Callable[[events.Event, Mapping[int, str]], "events.Event | None"]


def _order(connection: sa.Connection, decision: Decision) -> Order:
    return order_by_key(connection, decision.payment_key) or decision.order


def cancelled(
    connection: sa.Connection,
    decision: Decision,
    *,
    names: Names,
    customer: CustomerMessage | None = None,
) -> None:
    order = _order(connection, decision)
    event = events.order_cancelled(
        order,
        rule=decision.rule,
        reason_id=decision.reason_id,
        restaurant_name=names.restaurant_name(order.restaurant_id),
        evidence=decision.evidence,
    )
    written = [event]
    if events.is_prepaid(order.payment_method):
        written.append(events.order_refund_due(event))
    if customer is not None:
        message = customer(event, item_names(connection, order.payment_key))
        if message is not None:
            written.append(message)
    outbox.add(connection, written, now=utcnow())


def cancel_failed(connection: sa.Connection, decision: Decision, *, names: Names) -> None:
    order = _order(connection, decision)
    event = events.order_cancel_failed(
        order,
        rule=decision.rule,
        reason_id=decision.reason_id,
        restaurant_name=names.restaurant_name(order.restaurant_id),
        error=decision.last_error,
        ledger_id=decision.ledger_id,
    )
    outbox.add(connection, [event], now=utcnow())


def restaurant(
    connection: sa.Connection,
    name: Literal["restaurant_closed", "restaurant_reopened"],
    *,
    closure_id: int,
    restaurant_id: str,
    rule: str,
    evidence: Mapping[str, Any],
    names: Names,
) -> None:
    event = events.restaurant_event(
        name,
        closure_id=closure_id,
        restaurant_id=restaurant_id,
        restaurant_name=names.restaurant_name(restaurant_id),
        rule=rule,
        evidence=evidence,
    )
    outbox.add(connection, [event], now=utcnow())


def food(
    connection: sa.Connection,
    name: Literal["food_deactivated", "food_reactivated"],
    *,
    food_id: int,
    restaurant_id: str | None,
    rule: str,
    names: Names,
    key_suffix: str,
) -> None:
    event = events.food_event(
        name,
        food_id=food_id,
        food_name=names.food_name(food_id),
        restaurant_id=restaurant_id,
        restaurant_name=names.restaurant_name(restaurant_id),
        rule=rule,
        key_suffix=key_suffix,
    )
    outbox.add(connection, [event], now=utcnow())


def holds(connection: sa.Connection, recorded: list[Decision], *, now: datetime) -> None:
    """A live pass a brake held: ``cap_reached`` (hourly cap) or ``pass_held`` (ratio brake).

    Once an hour per brake: a cap that holds every pass is one incident, not a flood.
    """
    written = []
    for brake, name in (
        ("max_cancellations_per_hour", "cap_reached"),
        ("max_cancel_ratio", "pass_held"),
    ):
        held = [
            d
            for d in recorded
            if d.mode == "live" and d.outcome == "held" and d.evidence.get("held_because") == brake
        ]
        if not held:
            continue
        restaurants = sorted({d.order.restaurant_id for d in held})
        event_name: events.EventName = "cap_reached" if name == "cap_reached" else "pass_held"
        written.append(
            events.Event(
                event_name,
                f"{name}:{now:%Y-%m-%dT%H}",
                {
                    "held": len(held),
                    "held_because": brake,
                    "restaurant_ids": restaurants,
                    "payment_keys": sorted(d.payment_key for d in held),
                },
            )
        )
    if written:
        outbox.add(connection, written, now=now)


def customer_messages(settings: CustomerSettings) -> CustomerMessage | None:
    """The customer's message for a cancelled order, once per order; None when off (default)."""
    if not settings.enabled:
        return None

    def build(cancelled_event: events.Event, items: Mapping[int, str]) -> events.Event | None:
        fields = cancelled_event.fields
        phone = customer_messages_domain.e164_turkey(fields.get("customer_phone"))
        if phone is None:
            log.warning(
                "order=%s: no customer message, the phone number is not a Turkish number",
                fields.get("payment_key"),
            )
            return None
        reason_id = int(fields["reason_id"])
        evidence = fields.get("evidence") or {}
        out = [items[f] for f in evidence.get("food_ids", ()) if f in items]
        named = out or list(items.values())
        language = settings.language
        text = customer_messages_domain.render(
            customer_messages_domain.template_for(reason_id, language, settings.templates),
            {
                "item": ", ".join(named),
                "items": ", ".join(items.values()),
                "order_number": fields.get("order_number"),
                "restaurant_name": fields.get("restaurant_name"),
                "reason": fields.get("reason_tr" if language == "tr" else "reason_en"),
                "total": fields.get("total"),
                "customer_name": None,
            },
        )
        return events.Event(
            "customer_message",
            f"customer_message:{fields['payment_key']}",  # never twice for one order
            {
                "payment_key": fields["payment_key"],
                "order_number": fields.get("order_number"),
                "restaurant_id": fields.get("restaurant_id"),
                "reason_id": reason_id,
                "language": language,
                "phone": phone,
                "text": text,
            },
        )

    return build

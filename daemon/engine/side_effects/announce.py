"""The events a live side effect announces, put in the outbox in its own transaction.

Each function is called with the connection that records the outcome, so a
notification is on record exactly when its change is (daemon.store.outbox).
A dry run never gets here: nothing it decides is told to anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import sqlalchemy as sa

from daemon.domain import events
from daemon.domain.decisions import Decision
from daemon.domain.orders import Order
from daemon.domain.timeutil import utcnow
from daemon.store import outbox
from daemon.store.names import Names
from daemon.store.order_facts import item_names, order_by_key

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

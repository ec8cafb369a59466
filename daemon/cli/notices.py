"""What ``once`` does about notifications: deliver what a live pass announced, or list them.

A live ``once`` delivers the outbox (what this pass, or an earlier crash,
left there) before it exits; a dry run writes nothing to the outbox and
lists the notifications it would have sent, and where.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Literal

import sqlalchemy as sa

from daemon.config.models import Config
from daemon.domain import events, exitcodes
from daemon.domain.decisions import Decision
from daemon.engine.side_effects import ActionResult
from daemon.notify.sender import Sender
from daemon.store import connect
from daemon.store.names import Names

log = logging.getLogger(__name__)

RestaurantEvent = Literal["restaurant_closed", "restaurant_reopened"]


def sender_for(config: Config, engine: sa.Engine, environ: Mapping[str, str]) -> Sender:
    return Sender(
        engine=engine,
        settings=config.notifications,
        environ=environ,
        base_dir=config.source.resolve().parent,
    )


def would_send(
    config: Config,
    sender: Sender,
    decisions: Iterable[Decision],
    actions: Iterable[ActionResult],
) -> list[str]:
    """``would notify order_cancelled #1001 at Akat Şube -> managers`` per routed event."""
    if not config.notifications.configured:
        return []
    names = Names.of(config.restaurants)
    found: list[events.Event] = []
    for decision in decisions:
        if decision.primary and decision.outcome == "would_cancel":
            found.append(
                events.order_cancelled(
                    decision.order,
                    rule=decision.rule,
                    reason_id=decision.reason_id,
                    restaurant_name=names.restaurant_name(decision.order.restaurant_id),
                    evidence=decision.evidence,
                )
            )
    for action in actions:
        if action.outcome == "would_do" and action.action != "deactivate_food":
            closing = action.action == "close_restaurant"
            name: RestaurantEvent = "restaurant_closed" if closing else "restaurant_reopened"
            found.append(
                events.restaurant_event(
                    name,
                    closure_id=0,
                    restaurant_id=action.target,
                    restaurant_name=names.restaurant_name(action.target),
                    rule=action.rule,
                    evidence={},
                )
            )
    lines = []
    for event in found:
        targets = sender.targets(event)
        if targets:
            where = ", ".join(targets)
            lines.append(
                f"would notify {events.summary_line(event)} -> {where} (dry run: not sent)"
            )
    return lines


def deliver(sender: Sender) -> None:
    """One round; a store that fails now only delays the notifications (the daemon retries)."""
    try:
        sender.deliver_due()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("notifications not delivered now: %s", connect.describe_db_error(exc))


def notify_test(config: Config, channel: str) -> int:
    """``autocancel notify-test CHANNEL``: one message straight to the channel (0: it took it)."""
    from daemon.config.notifications import MissingVariable
    from daemon.notify.channels import DeliveryFailed, build_channel

    settings = config.notifications.channels.get(channel)
    if settings is None:
        known = ", ".join(sorted(config.notifications.channels)) or "none defined"
        print(f"error: no channel '{channel}' in notifications.channels ({known})", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    try:
        built = build_channel(
            channel, settings, os.environ, base_dir=config.source.resolve().parent
        )
    except MissingVariable as missing:
        print(f"error: ${{{missing.name}}} is not set in the environment", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    sender = Sender(
        engine=None,
        settings=config.notifications,
        environ=os.environ,
        base_dir=config.source.resolve().parent,
        channels={channel: built},
    )
    try:
        sender.send_test(channel)
    except DeliveryFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    print(f"sent a test message to channel '{channel}'")
    return exitcodes.OK

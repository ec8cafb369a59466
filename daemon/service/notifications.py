"""The daemon's notifications: the sender's job, and the events no pass writes.

The sender runs as its own scheduled job, never inside a pass (a channel
that hangs delays nobody's cancellation). Events about the daemon itself
(started, stopping, a reload rejected) have no ledger change to ride with:
they are written to the outbox on their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from daemon.config.models import Config
from daemon.domain.events import Event, EventName
from daemon.domain.timeutil import utcnow
from daemon.notify.sender import Sender
from daemon.service.metrics import Metrics
from daemon.store import connect, outbox

log = logging.getLogger(__name__)


def build_sender(
    config: Config,
    engine: sa.Engine,
    *,
    environ: Mapping[str, str],
    metrics: Metrics | None,
    stop: threading.Event | None = None,
) -> Sender:
    return Sender(
        stop=stop,
        engine=engine,
        settings=config.notifications,
        environ=environ,
        base_dir=config.source.resolve().parent,
        on_gave_up=None
        if metrics is None
        else lambda name: metrics.notifications_given_up.labels(event=name).inc(),
        on_delivered=None
        if metrics is None
        else lambda name: metrics.notifications_delivered.labels(event=name).inc(),
    )


def record(engine: sa.Engine, name: EventName, **fields: Any) -> None:
    """An event of the daemon's own, in a transaction of its own; never fails the caller."""
    try:
        with connect.writer(engine) as connection, connection.begin():
            outbox.add(connection, [Event(name, None, fields)], now=utcnow())
    except sa.exc.SQLAlchemyError as exc:
        log.warning(
            "could not record the %s notification: %s", name, connect.describe_db_error(exc)
        )


def measure_backlog(engine: sa.Engine, metrics: Metrics) -> None:
    """The ``autocancel_outbox_*`` gauges, from the store; an unreadable store keeps them."""
    try:
        with engine.connect() as connection:
            waiting = outbox.backlog(connection)
    except sa.exc.SQLAlchemyError:
        return  # the passes and the sender say so in the journal
    metrics.record_outbox(
        pending=waiting.pending,
        oldest_age_seconds=None
        if waiting.oldest_at is None
        else (utcnow() - waiting.oldest_at).total_seconds(),
    )


def deliver(sender: Sender) -> None:
    """One round of the sender, as a job: a crash is logged, the schedule goes on."""
    try:
        sender.deliver_due()
    except sa.exc.SQLAlchemyError as exc:
        log.warning(
            "notifications wait: the store cannot be read (%s)", connect.describe_db_error(exc)
        )
    except Exception:
        log.exception("the notification sender crashed; it runs again at the next interval")

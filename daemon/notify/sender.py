"""The sender: claims due events in the outbox, delivers them, records what came of it.

It runs on its own (a job of the daemon's schedule, or once at the end of
``autocancel once``), never inside a pass: a channel that hangs or fails
never delays a cancellation. Each event is claimed in the store first, so
two replicas never deliver it twice; each channel that took it is recorded,
so a retry sends only to the ones that did not. A failing channel is
retried a few times at once (tenacity), then with a growing backoff in the
store, logged once per incident, and given up after
``delivery.give_up_after_minutes``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from daemon.config.notifications import NotificationSettings
from daemon.domain.events import Event, EventName
from daemon.domain.timeutil import utcnow
from daemon.notify.channels import Channel, DeliveryFailed, Outgoing, build_channels
from daemon.store import connect, ledger, outbox

log = logging.getLogger(__name__)

# A claim older than this is a sender that stopped (another host): claimable again.
LEASE = timedelta(minutes=2)
# Delivered rows are kept this long for `status` and for debugging.
KEEP_DELIVERED = timedelta(days=7)
IMMEDIATE_ATTEMPTS = 3


@dataclass
class Tally:
    delivered: int = 0
    retried: int = 0
    gave_up: int = 0
    by_event: dict[str, int] = field(default_factory=dict)


class Sender:
    def __init__(
        self,
        *,
        engine: sa.Engine | None,
        settings: NotificationSettings,
        environ: Mapping[str, str],
        base_dir: Path,
        channels: Mapping[str, Channel] | None = None,
        on_gave_up: Callable[[str], None] | None = None,
        on_delivered: Callable[[str], None] | None = None,
        immediate_wait: float = 0.2,
        stop: threading.Event | None = None,
    ) -> None:
        self._stop = stop or threading.Event()
        self._engine = engine
        self._settings = settings
        self._channels = (
            dict(channels)
            if channels is not None
            else build_channels(settings, environ, base_dir=base_dir)
        )
        self._on_gave_up = on_gave_up or (lambda _name: None)
        self._on_delivered = on_delivered or (lambda _name: None)
        self._failing: set[str] = set()  # channels in an incident: logged once
        self._immediate_wait = immediate_wait

    # --- which channels -----------------------------------------------------------

    def targets(self, event: Event) -> list[str]:
        """The channels ``event`` goes to, in file order, each once."""
        if event.name == "customer_message":
            customer = self._settings.customer
            return [customer.channel] if customer.enabled and customer.channel else []
        chosen: list[str] = []
        for route in self._settings.routes:
            if event.name not in route.events:
                continue
            if not event.matches(restaurant=route.restaurant, rule=route.rule, reason=route.reason):
                continue
            chosen += [c for c in route.channels if c not in chosen]
        return chosen

    # --- one round ----------------------------------------------------------------

    def deliver_due(self, *, now: datetime | None = None, limit: int = 50) -> Tally:
        """Claim what is due, deliver it, record each result as soon as it is known."""
        now = now or utcnow()
        tally = Tally()
        if self._engine is None:  # a sender for notify-test only
            return tally
        with connect.writer(self._engine) as connection, connection.begin():
            claimed = outbox.claim(connection, now=now, lease=LEASE, limit=limit)
            outbox.prune(connection, before=now - KEEP_DELIVERED)
        for index, row in enumerate(claimed):
            if self._stop.is_set():  # stopping: the rest waits for the next process
                with connect.writer(self._engine) as connection, connection.begin():
                    for left in claimed[index:]:
                        outbox.release(connection, left)
                break
            self._deliver(row, tally, clock=now)
        return tally

    @property
    def failing(self) -> bool:
        """Some channel is in an incident (its last delivery failed)."""
        return bool(self._failing)

    def _deliver(self, row: outbox.OutboxRow, tally: Tally, *, clock: datetime) -> None:
        assert self._engine is not None
        event = Event(cast(EventName, row.name), None, row.payload)
        done = list(row.delivered_channels)
        errors = []
        recipient = event.fields.get("phone") if event.name == "customer_message" else None
        for name in self.targets(event):
            if name in done:
                continue  # took it on an earlier attempt
            channel = self._channels.get(name)
            if channel is None:
                errors.append(f"channel '{name}' cannot be used (see the start-up log)")
                continue
            message = Outgoing(row.event_id, event, row.created_at, recipient=recipient)
            try:
                self._send(channel, message)
            except DeliveryFailed as exc:
                errors.append(str(exc))
                if name not in self._failing:
                    self._failing.add(name)
                    log.warning(
                        "notification %s (%s) not delivered: %s; retried with backoff, "
                        "logged again when the channel recovers",
                        row.event_id,
                        row.name,
                        exc,
                    )
                continue
            done.append(name)
            if name in self._failing:
                self._failing.discard(name)
                log.info("channel '%s' delivers again", name)
        # The round's clock, moved on by the time the sending took.
        now = max(clock, utcnow())
        with connect.writer(self._engine) as connection, connection.begin():
            if not errors:
                outbox.delivered(connection, row, channels=done, now=now)
                if row.name == "order_refund_due" and done:
                    # The hand-off is part of the order's record: audit shows it delivered.
                    ledger.note_refund_handoff(connection, str(row.payload["payment_key"]), at=now)
                tally.delivered += 1
                tally.by_event[row.name] = tally.by_event.get(row.name, 0) + 1
                self._on_delivered(row.name)
                return
            delivery = self._settings.delivery
            if now - row.created_at >= timedelta(minutes=delivery.give_up_after_minutes):
                outbox.failed(
                    connection, row, channels=done, error="; ".join(errors), retry_at=None, now=now
                )
                tally.gave_up += 1
                self._on_gave_up(row.name)
                log.error(
                    "notification %s (%s) given up after %d attempts over %.0f minutes: %s",
                    row.event_id,
                    row.name,
                    row.attempts + 1,
                    delivery.give_up_after_minutes,
                    "; ".join(errors),
                )
                return
            backoff = min(
                delivery.first_backoff_seconds * 2**row.attempts, delivery.max_backoff_seconds
            )
            outbox.failed(
                connection,
                row,
                channels=done,
                error="; ".join(errors),
                retry_at=now + timedelta(seconds=backoff),
                now=now,
            )
            tally.retried += 1

    def _send(self, channel: Channel, message: Outgoing) -> None:
        """A few attempts at once (a blip), then the store's backoff takes over."""
        # Here, not at the top: a dry run builds a sender to list routes, and sends nothing.
        from tenacity import (
            retry,
            retry_if_exception_type,
            stop_after_attempt,
            stop_when_event_set,
            wait_exponential,
        )

        sending: Callable[[Outgoing], Any] = retry(
            retry=retry_if_exception_type(DeliveryFailed),
            stop=stop_after_attempt(IMMEDIATE_ATTEMPTS) | stop_when_event_set(self._stop),
            wait=wait_exponential(multiplier=self._immediate_wait, max=2),
            reraise=True,
        )(channel.send)
        sending(message)

    def send_test(self, channel_name: str) -> None:
        """``autocancel notify-test``: one message straight to the channel, not via the outbox."""
        channel = self._channels.get(channel_name)
        if channel is None:
            raise DeliveryFailed(f"channel '{channel_name}' cannot be used")
        event = Event("notify_test", None, {"text": "autocancel test message"})
        self._send(channel, Outgoing(f"msg_test_{utcnow():%Y%m%d%H%M%S}", event, utcnow()))

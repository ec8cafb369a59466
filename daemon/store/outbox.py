"""The outbox: notifications on record before anyone is told, delivered at least once.

:func:`add` writes events in the caller's transaction, the one that records
the change they announce: a notification exists if and only if its change
does. A sender :func:`claim`\\ s due rows with a conditional UPDATE (as
``ledger.claim_resendable_intents`` does), so two replicas never deliver one
event; a row whose sender died (a dead process of this host, or a claim
older than the lease) is claimable again, so a crash between commit and
delivery is delivered after the restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from daemon.domain.events import Event
from daemon.store import schema
from daemon.store.ledger import OWNER, owner_is_dead
from daemon.store.upsert import insert_unless_taken

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
GAVE_UP: Final = "gave_up"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    event_id: str
    name: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    delivered_channels: tuple[str, ...]


def add(connection: sa.Connection, events: Iterable[Event], *, now: datetime) -> int:
    """Write ``events`` in the caller's transaction; an event whose key is on record is dropped.

    Returns how many were new.
    """
    written = 0
    table = schema.outbox
    for event in events:
        values: dict[str, Any] = {
            "event_id": f"msg_{uuid.uuid4().hex}",
            "event_key": event.key,
            "name": event.name,
            "payload": dict(event.fields),
            "created_at": now,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "delivered_channels": [],
        }
        if event.key is None:
            connection.execute(sa.insert(table).values(**values))
            written += 1
        else:
            written += connection.execute(
                insert_unless_taken(connection, table, "event_key").values(**values)
            ).rowcount
    return written


def claim(
    connection: sa.Connection, *, now: datetime, lease: timedelta, limit: int = 50
) -> list[OutboxRow]:
    """Due rows nobody delivers, now ours; of two senders claiming at once only one wins each."""
    table = schema.outbox
    stale_before = now - lease
    candidates = (
        connection.execute(
            sa.select(table)
            .where(table.c.state == PENDING, table.c.next_attempt_at <= now)
            .order_by(table.c.id)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    claimed = []
    for row in candidates:
        owner = row["owner"]
        if owner is not None and not owner_is_dead(owner) and row["claimed_at"] >= stale_before:
            continue  # a live sender is on it
        won = connection.execute(
            sa.update(table)
            .where(
                table.c.id == row["id"],
                table.c.state == PENDING,
                # Unchanged since read: on PostgreSQL the loser of a race re-reads
                # the winner's row here and updates nothing.
                table.c.owner.is_(None) if owner is None else table.c.owner == owner,
                table.c.claimed_at.is_(None)
                if row["claimed_at"] is None
                else table.c.claimed_at == row["claimed_at"],
            )
            .values(owner=OWNER, claimed_at=now)
        ).rowcount
        if won:
            claimed.append(
                OutboxRow(
                    id=row["id"],
                    event_id=row["event_id"],
                    name=row["name"],
                    payload=dict(row["payload"] or {}),
                    created_at=row["created_at"],
                    attempts=int(row["attempts"]),
                    delivered_channels=tuple(row["delivered_channels"] or ()),
                )
            )
    return claimed


def delivered(
    connection: sa.Connection, row: OutboxRow, *, channels: Sequence[str], now: datetime
) -> None:
    connection.execute(
        sa.update(schema.outbox)
        .where(schema.outbox.c.id == row.id, schema.outbox.c.owner == OWNER)
        .values(
            state=DELIVERED,
            owner=None,
            delivered_at=now,
            attempts=row.attempts + 1,
            delivered_channels=list(channels),
            last_error=None,
        )
    )


def failed(
    connection: sa.Connection,
    row: OutboxRow,
    *,
    channels: Sequence[str],
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """Some channel did not take it: retry at ``retry_at``, or (None) give up for good."""
    connection.execute(
        sa.update(schema.outbox)
        .where(schema.outbox.c.id == row.id, schema.outbox.c.owner == OWNER)
        .values(
            state=PENDING if retry_at is not None else GAVE_UP,
            owner=None,
            claimed_at=None,
            attempts=row.attempts + 1,
            next_attempt_at=retry_at or now,
            delivered_channels=list(channels),
            last_error=error,
        )
    )


def release(connection: sa.Connection, row: OutboxRow) -> None:
    """Hand a claimed row back untouched (the sender stops before delivering it)."""
    connection.execute(
        sa.update(schema.outbox)
        .where(schema.outbox.c.id == row.id, schema.outbox.c.owner == OWNER)
        .values(owner=None, claimed_at=None)
    )


def counts(connection: sa.Connection) -> dict[str, int]:
    """Rows by state, for ``status``: pending, delivered, gave_up."""
    table = schema.outbox
    found = {PENDING: 0, DELIVERED: 0, GAVE_UP: 0}
    for state, count in connection.execute(
        sa.select(table.c.state, sa.func.count()).group_by(table.c.state)
    ):
        found[state] = int(count)
    return found


@dataclass(frozen=True, slots=True)
class Backlog:
    """Events not yet delivered (retrying, or not yet tried), and the oldest one's time."""

    pending: int
    oldest_at: datetime | None


def backlog(connection: sa.Connection) -> Backlog:
    """For the ``autocancel_outbox_*`` gauges and ``status``: one indexed read."""
    table = schema.outbox
    count, oldest = connection.execute(
        sa.select(sa.func.count(), sa.func.min(table.c.created_at)).where(table.c.state == PENDING)
    ).one()
    return Backlog(pending=int(count), oldest_at=oldest)


def prune(connection: sa.Connection, *, before: datetime) -> int:
    """Forget delivered rows older than ``before`` (given-up rows stay for the operator)."""
    table = schema.outbox
    return connection.execute(
        sa.delete(table).where(table.c.state == DELIVERED, table.c.created_at < before)
    ).rowcount


def rows(connection: sa.Connection) -> list[dict[str, Any]]:
    table = schema.outbox
    return [dict(r) for r in connection.execute(sa.select(table).order_by(table.c.id)).mappings()]


def given_up(connection: sa.Connection, *, limit: int) -> list[sa.RowMapping]:
    """The newest given-up rows, for ``status``."""
    table = schema.outbox
    return list(
        connection.execute(
            sa.select(table)
            .where(table.c.state == GAVE_UP)
            .order_by(table.c.id.desc())
            .limit(limit)
        ).mappings()
    )

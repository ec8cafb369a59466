"""Reading and writing the ledger: decisions first, outcomes after.

The intent of a live cancellation is committed before its API call. Intents
are inserted with ON CONFLICT DO NOTHING on the unique ``intent_key``, so when
two daemons decide about the same order at once exactly one of them owns the
intent and sends the call; the other sees it lost and leaves the order alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from daemon.domain import statuses
from daemon.domain.decisions import IN_FLIGHT, MANUAL, Decision, Outcome
from daemon.domain.orders import Order
from daemon.store import schema
from daemon.store.upsert import insert_unless_taken

log = logging.getLogger(__name__)

HOURLY_WINDOW = timedelta(minutes=60)


# Who sends an intent; a restart on the same host can tell its dead self from a peer.
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _sent_since(since: datetime) -> sa.ColumnElement[bool]:
    """Live cancellations sent or being sent since ``since``.

    A refused call (failed) cancelled nothing and does not count; a call whose
    answer was lost may have cancelled, so it counts whatever happened after.
    """
    ledger = schema.ledger
    return sa.and_(
        ledger.c.at >= since,
        sa.or_(
            sa.and_(ledger.c.intent_key.is_not(None), ledger.c.outcome.in_(IN_FLIGHT)),
            ledger.c.uncertain_sends > 0,
        ),
    )


def live_cancellations_since(connection: sa.Connection, since: datetime) -> int:
    """The automatic cancellations sent since ``since``: the rolling hourly cap.

    Manual cancellations are not counted: the cap brakes rules gone wrong, and
    a cancellation staff confirmed one by one is no rule (README, "Commands").
    """
    ledger = schema.ledger
    query = sa.select(sa.func.count()).where(_sent_since(since), ledger.c.kind != MANUAL)
    return int(connection.execute(query).scalar_one())


def manual_cancellations_since(connection: sa.Connection, since: datetime) -> int:
    """The staff-confirmed cancellations sent since ``since`` (shown by ``status``)."""
    ledger = schema.ledger
    query = sa.select(sa.func.count()).where(_sent_since(since), ledger.c.kind == MANUAL)
    return int(connection.execute(query).scalar_one())


def is_intent(decision: Decision) -> bool:
    """A live cancellation about to be sent: the row the unique key protects."""
    return decision.primary and decision.mode == "live" and decision.outcome == "pending"


def _row(decision: Decision, *, pass_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "at": now,
        "updated_at": now,
        "pass_id": pass_id,
        "payment_key": decision.payment_key,
        "restaurant_id": decision.order.restaurant_id,
        "rule": decision.rule,
        "kind": decision.kind,
        "reason_id": decision.reason_id,
        "mode": decision.mode,
        "outcome": decision.outcome,
        "evidence": dict(decision.evidence),
        "attempts": decision.attempts,
        "last_error": decision.last_error,
        "note": decision.note,
        "intent_key": decision.payment_key if is_intent(decision) else None,
        "owner": OWNER if is_intent(decision) else None,
    }


def record_decisions(
    connection: sa.Connection, decisions: Sequence[Decision], *, pass_id: str, now: datetime
) -> list[Decision]:
    """Write a pass's decisions in the caller's transaction.

    Returns the decisions with their ledger ids. A live intent another daemon
    recorded first is dropped from the result: that daemon owns the order.
    Repeated non-intent rows (the same hold, skip or dry-run verdict every
    pass) are not written again; the existing row's ``updated_at`` moves. A
    skip for another cause (another pause, a quiet window after a pause) is
    a new row: the ledger keeps who held the order and why, each time.
    """
    ledger = schema.ledger
    keys = {d.payment_key for d in decisions}
    seen: dict[tuple[str, str, str, str, tuple[Any, ...]], int] = {}
    if keys:
        for row in connection.execute(
            sa.select(
                ledger.c.id, ledger.c.payment_key, ledger.c.rule, ledger.c.mode, ledger.c.outcome
            ).where(
                ledger.c.intent_key.is_(None),
                ledger.c.payment_key.in_(keys),
                ledger.c.outcome != "skipped",
            )
        ):
            seen[(row.payment_key, row.rule, row.mode, row.outcome, ())] = row.id
    skipped_keys = {d.payment_key for d in decisions if d.outcome == "skipped"}
    if skipped_keys:
        # A skip is told apart by its cause (which pause, which window) too.
        for row in connection.execute(
            sa.select(
                ledger.c.id, ledger.c.payment_key, ledger.c.rule, ledger.c.mode, ledger.c.evidence
            ).where(
                ledger.c.intent_key.is_(None),
                ledger.c.payment_key.in_(skipped_keys),
                ledger.c.outcome == "skipped",
            )
        ):
            cause = _skip_cause(row.evidence or {})
            seen[(row.payment_key, row.rule, row.mode, "skipped", cause)] = row.id

    intents = [d for d in decisions if is_intent(d)]
    others = [d for d in decisions if not is_intent(d)]
    fresh_others = [d for d in others if _seen_key(d) not in seen]
    repeated_ids = [seen[key] for d in others if (key := _seen_key(d)) in seen]
    if intents:
        connection.execute(
            insert_unless_taken(connection, ledger, "intent_key"),
            [_row(d, pass_id=pass_id, now=now) for d in intents],
        )
    if fresh_others:
        connection.execute(
            sa.insert(ledger), [_row(d, pass_id=pass_id, now=now) for d in fresh_others]
        )
    if repeated_ids:
        connection.execute(
            sa.update(ledger).where(ledger.c.id.in_(repeated_ids)).values(updated_at=now)
        )

    ids: dict[tuple[str, str, str], int] = {}
    for row_id, key, rule, mode in connection.execute(
        sa.select(ledger.c.id, ledger.c.payment_key, ledger.c.rule, ledger.c.mode).where(
            ledger.c.pass_id == pass_id
        )
    ):
        ids[(key, rule, mode)] = row_id
    recorded: list[Decision] = []
    for decision in decisions:
        ledger_id = ids.get((decision.payment_key, decision.rule, decision.mode))
        if is_intent(decision) and ledger_id is None:
            log.info(
                "order=%s rule=%s outcome=taken: another daemon recorded its cancellation first",
                decision.payment_key,
                decision.rule,
            )
            continue
        recorded.append(replace(decision, ledger_id=ledger_id or seen.get(_seen_key(decision))))
    return recorded


# Skips by a suspension name it: another pause or quiet window is another row.
_SUSPENDED_BY = ("paused", "quiet_window")


def _skip_cause(evidence: Mapping[str, Any]) -> tuple[Any, ...]:
    """Which suspension skipped a decision; () for any other cause (a protection, a re-check)."""
    if evidence.get("skipped_because") not in _SUSPENDED_BY:
        return ()
    return (evidence.get("pause_id"), evidence.get("quiet_window"))


def _seen_key(decision: Decision) -> tuple[str, str, str, str, tuple[Any, ...]]:
    """The decision as a repeat of a non-intent row is recognised."""
    cause = _skip_cause(decision.evidence) if decision.outcome == "skipped" else ()
    return (decision.payment_key, decision.rule, decision.mode, decision.outcome, cause)


def record_outcome(
    connection: sa.Connection,
    decision: Decision,
    *,
    outcome: Outcome,
    attempts: int,
    last_error: str | None,
    now: datetime,
    release: bool = False,
    park: bool = False,
    uncertain: int = 0,
    evidence: Mapping[str, Any] | None = None,
) -> Decision:
    """Write an API outcome; a confirmed cancellation also marks the order canceled.

    ``release`` frees the order's intent key: the call surely did not act and
    failed for a reason that may pass (401, 429, refused connection, open
    circuit), so a later pass may decide about the order again. A refusal
    (400/403/404) keeps the key: that order is never sent again. ``park``
    keeps the intent pending with no owner: its answer was lost, so it counts
    as sent and waits for a later pass to re-judge it and send it again.
    ``uncertain`` adds this call's lost answers to the row's count.
    """
    ledger = schema.ledger
    values: dict[str, Any] = {
        "outcome": "pending" if park else outcome,
        "attempts": attempts,
        "last_error": last_error,
        "updated_at": now,
        "uncertain_sends": ledger.c.uncertain_sends + uncertain,
    }
    if release:
        values["intent_key"] = None
    if park:
        values["owner"] = None
    if evidence is not None:
        values["evidence"] = dict(evidence)
    connection.execute(sa.update(ledger).where(ledger.c.id == decision.ledger_id).values(**values))
    if outcome == "cancelled":
        orders = schema.orders
        connection.execute(
            sa.update(orders)
            .where(
                orders.c.payment_key == decision.payment_key,
                orders.c.status_id.in_(statuses.ACTIVE_STATUSES),
            )
            .values(status_id=statuses.CANCELED, updated_at=now)
        )
    return replace(
        decision,
        outcome=outcome,
        attempts=attempts,
        last_error=last_error,
        evidence=decision.evidence if evidence is None else dict(evidence),
        uncertain_sends=decision.uncertain_sends + uncertain,
    )


def heartbeat(connection: sa.Connection, ledger_ids: Iterable[int], *, now: datetime) -> None:
    """Show that this daemon still works on these intents (never taken over while alive)."""
    ledger = schema.ledger
    ids = list(ledger_ids)
    if ids:
        connection.execute(
            sa.update(ledger)
            .where(ledger.c.id.in_(ids), ledger.c.owner == OWNER, ledger.c.outcome == "pending")
            .values(updated_at=now)
        )


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process of this host that no longer runs."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_resendable_intents(
    connection: sa.Connection, *, stale_before: datetime, now: datetime
) -> list[Decision]:
    """Pending intents nobody is sending any more, now ours to re-judge and resend.

    That is: intents parked after a lost answer (no owner), and orphans whose
    sender died between intent and outcome, either a dead process of this
    host or an owner whose heartbeat stopped before ``stale_before`` (another
    host). An orphan's call may have left before the crash, so claiming one
    counts it as an uncertain send. Claiming is a conditional UPDATE, so of
    two daemons recovering at once only one resends.
    """
    ledger = schema.ledger
    candidates = (
        connection.execute(
            sa.select(ledger).where(ledger.c.intent_key.is_not(None), ledger.c.outcome == "pending")
        )
        .mappings()
        .all()
    )
    claimed = []
    for row in candidates:
        if not _nobody_sends(row, stale_before):
            continue
        parked = row["owner"] is None
        uncertain = row["uncertain_sends"] + (0 if parked else 1)
        won = connection.execute(
            sa.update(ledger)
            .where(
                ledger.c.id == row["id"],
                ledger.c.outcome == "pending",
                ledger.c.updated_at == row["updated_at"],
            )
            .values(owner=OWNER, updated_at=now, uncertain_sends=uncertain)
        ).rowcount
        if won:
            claimed.append(replace(decision_from_row(row), uncertain_sends=uncertain))
    return claimed


def count_resendable_intents(connection: sa.Connection, *, stale_before: datetime) -> int:
    """How many intents :func:`claim_resendable_intents` would claim now (claiming none)."""
    ledger = schema.ledger
    rows = connection.execute(
        sa.select(ledger.c.owner, ledger.c.updated_at).where(
            ledger.c.intent_key.is_not(None), ledger.c.outcome == "pending"
        )
    ).mappings()
    return sum(1 for row in rows if _nobody_sends(row, stale_before))


def _nobody_sends(row: Mapping[str, Any] | sa.RowMapping, stale_before: datetime) -> bool:
    """Parked after a lost answer, or its sender is dead or silent since ``stale_before``."""
    owner = row["owner"]
    return owner is None or owner_is_dead(owner) or row["updated_at"] < stale_before


def decision_from_row(row: Mapping[str, Any] | sa.RowMapping) -> Decision:
    """A recorded intent as a decision again (to re-judge and resend it)."""
    order = Order(
        payment_key=row["payment_key"],
        restaurant_id=row["restaurant_id"] or "",
        status_id=statuses.RECEIVED,
    )
    return Decision(
        order=order,
        rule=row["rule"],
        kind=row["kind"],
        reason_id=int(row["reason_id"]),
        mode="live",
        outcome="pending",
        evidence=dict(row["evidence"] or {}),
        attempts=int(row["attempts"]),
        ledger_id=int(row["id"]),
        note=row["note"],
        uncertain_sends=int(row["uncertain_sends"] or 0),
    )


def pending_intents(connection: sa.Connection) -> list[sa.RowMapping]:
    """Live intents without an outcome: a crash happened between intent and outcome."""
    ledger = schema.ledger
    return list(
        connection.execute(
            sa.select(ledger).where(ledger.c.intent_key.is_not(None), ledger.c.outcome == "pending")
        ).mappings()
    )


def count_pending_intents(connection: sa.Connection) -> int:
    """How many live intents have no outcome yet (what :func:`pending_intents` lists)."""
    ledger = schema.ledger
    return connection.execute(
        sa.select(sa.func.count())
        .select_from(ledger)
        .where(ledger.c.intent_key.is_not(None), ledger.c.outcome == "pending")
    ).scalar_one()


def audit_rows(
    connection: sa.Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    payment_keys: Iterable[str] = (),
) -> list[sa.RowMapping]:
    """Ledger rows written from ``since`` (inclusive) up to ``until`` (exclusive)."""
    ledger = schema.ledger
    query = sa.select(ledger).order_by(ledger.c.at, ledger.c.id)
    if since is not None:
        query = query.where(ledger.c.at >= since)
    if until is not None:
        query = query.where(ledger.c.at < until)
    keys = list(payment_keys)
    if keys:
        query = query.where(ledger.c.payment_key.in_(keys))
    return list(connection.execute(query).mappings())


def note_refund_handoff(connection: sa.Connection, payment_key: str, *, at: datetime) -> None:
    """The order's confirmed cancellation: its refund was handed to the payment process."""
    ledger = schema.ledger
    row = connection.execute(
        sa.select(ledger.c.id, ledger.c.evidence).where(
            ledger.c.intent_key == payment_key, ledger.c.outcome == "cancelled"
        )
    ).first()
    if row is None:
        return
    evidence = {**dict(row.evidence or {}), "refund_handoff": "delivered"}
    evidence["refund_handoff_at"] = at.isoformat()
    connection.execute(sa.update(ledger).where(ledger.c.id == row.id).values(evidence=evidence))


def automatic_cancellation_times(
    connection: sa.Connection, *, since: datetime, before: datetime
) -> list[datetime]:
    """When the automatic cancellations counted by the hourly cap went out, in [since, before)."""
    ledger = schema.ledger
    return list(
        connection.execute(
            sa.select(ledger.c.at).where(
                _sent_since(since), ledger.c.at < before, ledger.c.kind != MANUAL
            )
        ).scalars()
    )


def live_intents_before(connection: sa.Connection, moment: datetime) -> dict[str, str]:
    """payment_key -> outcome of each live intent recorded before ``moment``."""
    ledger = schema.ledger
    return {
        key: outcome
        for key, outcome in connection.execute(
            sa.select(ledger.c.payment_key, ledger.c.outcome).where(
                ledger.c.intent_key.is_not(None), ledger.c.at < moment
            )
        )
    }

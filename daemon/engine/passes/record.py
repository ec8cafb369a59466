"""Writing a pass down: its row in ``passes``, and its decisions in the ledger.

The row is inserted before anything can go wrong (``result`` NULL while the
pass runs), so ``status`` shows a pass that crashed and not the last good
one. The decisions are committed in one transaction before any API call:
an intent on record is what stops a second cancellation of the same order.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.domain.actions import OverrideSpent
from daemon.domain.decisions import Decision, Mode
from daemon.domain.events import Event
from daemon.domain.timeutil import utcnow
from daemon.engine.passes.errors import PassError
from daemon.engine.passresult import PassSummary
from daemon.engine.plan import Plan
from daemon.engine.side_effects import announce
from daemon.store import connect, ledger, outbox, schema

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)


@dataclass(frozen=True)
class Committed:
    """What a pass put in the ledger, on the plan it was put there by."""

    plan: Plan  # planned again when another daemon cancelled since the budget was read
    recorded: list[Decision]
    deferred: int  # intents the open circuit kept back for a later pass


def begin(engine: sa.Engine, pass_id: str, *, started: datetime, mode: Mode) -> None:
    """The pass's row, before anything can go wrong (``result`` NULL: running)."""
    try:
        with connect.writer(engine) as connection, connection.begin():
            connection.execute(
                sa.insert(schema.passes).values(
                    id=pass_id,
                    started_at=started,
                    mode=mode,
                    host=socket.gethostname(),
                )
            )
    except sa.exc.SQLAlchemyError as exc:
        raise PassError(
            f"cannot record the pass in the store: {connect.describe_db_error(exc)}"
        ) from exc


def commit(
    engine: sa.Engine,
    pass_id: str,
    plan: Plan,
    *,
    replan: Callable[[int], Plan],
    orders_seen: int,
    circuit_open: bool,
    also: Callable[[sa.Connection], None] | None = None,
) -> Committed:
    """Record the plan's decisions (and the pass's counts) in one transaction.

    ``replan(hourly_used)`` plans the same context again on another budget.
    ``also`` writes more in the same transaction (the order history).
    """
    now = plan.now  # one pass clock, for the plan and the ledger alike
    try:
        with connect.writer(engine) as connection, connection.begin():
            # Nothing to send, nothing held: the budget is not this plan's concern.
            used = (
                ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
                if plan.may_spend_budget
                else plan.hourly_used
            )
            if used != plan.hourly_used:
                # Another daemon cancelled since the budget was read: plan again
                # (pure and quick) on what it left, inside the write lock.
                plan = replan(used)
            checked = list(plan.decisions)
            if circuit_open:
                # Nothing can be sent now: decide again once the API answers.
                checked = [d for d in checked if not ledger.is_intent(d)]
            deferred = len(plan.decisions) - len(checked)
            recorded = ledger.record_decisions(connection, checked, pass_id=pass_id, now=now)
            announce.holds(connection, recorded, now=now)  # with the holds it announces
            ended = _end_overrides(connection, plan, now)
            connection.execute(
                sa.update(schema.passes)
                .where(schema.passes.c.id == pass_id)
                .values(
                    orders_seen=orders_seen,
                    decisions=sum(1 for d in recorded if d.primary),
                )
            )
            if also is not None:
                also(connection)
    except sa.exc.SQLAlchemyError as exc:
        raise PassError(
            f"cannot record decisions in the ledger: {connect.describe_db_error(exc)}"
        ) from exc
    for spent in ended:
        log.info(
            "restaurant=%s: the overload is over (load %s, below reopen_below %s): the "
            "people's decision to end closure %d is no longer needed; rule=%s judges it as "
            "usual again",
            spent.restaurant_id,
            spent.evidence.get("active_orders"),
            spent.evidence.get("reopen_below"),
            spent.closure_id,
            spent.rule,
        )
    return Committed(plan=plan, recorded=recorded, deferred=deferred)


def _end_overrides(connection: sa.Connection, plan: Plan, now: datetime) -> list[OverrideSpent]:
    """Stop respecting what the plan found spent; the ones this pass ended (not a replica)."""
    closures = schema.restaurant_closures
    ended = []
    for spent in plan.overrides_spent:
        changed = connection.execute(
            sa.update(closures)
            .where(closures.c.id == spent.closure_id, closures.c.respect_ended_at.is_(None))
            .values(respect_ended_at=now)
        ).rowcount
        if changed:
            ended.append(spent)
    return ended


def finish(
    engine: sa.Engine,
    pass_id: str,
    *,
    result: str,
    error: str | None = None,
    summary: PassSummary | None = None,
    announcing: Sequence[Event] = (),
) -> None:
    """The pass's result, and the events it announces (the circuit opening), in one transaction."""
    values: dict[str, Any] = {"finished_at": utcnow(), "result": result, "error": error}
    if summary is not None:
        values.update(
            summary=summary.to_json(),
            last_api_success_at=summary.calls.last_success_at,
            circuit_open_since=summary.circuit_open_since,
        )
    try:
        with connect.writer(engine) as connection, connection.begin():
            connection.execute(
                sa.update(schema.passes).where(schema.passes.c.id == pass_id).values(**values)
            )
            outbox.add(connection, announcing, now=values["finished_at"])
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not record the end of pass %s: %s", pass_id, exc)


def describe_crash(exc: Exception) -> str:
    if isinstance(exc, PassError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

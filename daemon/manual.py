"""``autocancel cancel``: a staff-confirmed cancellation through the same ledger and executor.

For the reasons no rule can decide (customer asked, technical issue, other).
Going through the ledger means it is audited and can never double an
automatic cancellation of the same order, or be doubled by one.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from typing import TextIO

import sqlalchemy as sa

from daemon import exitcodes, ledger, store
from daemon.config import Config
from daemon.credentials import MissingCredentials, require_credentials
from daemon.engine import Decision
from daemon.passes import PassError, PassRunner, log_decision
from daemon.reasons import MANUAL_REASONS, reason_text
from daemon.runtime import executor_factory, open_store
from daemon.side_effects import SideEffects
from daemon.snapshot import Order
from daemon.timeutil import utcnow

FINAL_STATUSES = {store.DELIVERED: "delivered", store.CANCELED: "canceled"}


def _confirm(prompt: str, stdin: TextIO) -> bool:
    print(f"{prompt} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes", "e", "evet")


def _refusal(payment_key: str, order: Order | None, decided: Mapping[str, str]) -> str | None:
    """Why this order must not be cancelled by hand, or None."""
    if order is None:
        return f"no order {payment_key} in the store"
    if order.status_id in FINAL_STATUSES:
        return f"order {payment_key} is already {FINAL_STATUSES[order.status_id]}"
    if payment_key in decided:
        return (f"order {payment_key} already has a cancellation in the ledger (outcome "
                f"{decided[payment_key]}); it is never sent twice")
    return None


class _Refused(Exception):
    """Nothing was cancelled, for the reason in the message."""


def cancel(
    config: Config, payment_key: str, *, reason_id: int, note: str | None, assume_yes: bool,
    stdin: TextIO = sys.stdin,
) -> int:
    if reason_id not in MANUAL_REASONS:
        allowed = ", ".join(f"{r} ({reason_text(r)})" for r in MANUAL_REASONS)
        print(f"error: reason {reason_id} is for the automatic rules; a manual cancellation "
              f"uses {allowed}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    try:
        engine = open_store(config)
    except store.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        finished = _cancel(config, engine, payment_key, reason_id=reason_id, note=note,
                           confirm=None if assume_yes else stdin)
    except (_Refused, MissingCredentials, PassError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    log_decision(finished)
    if finished.outcome == "cancelled":
        print(f"cancelled {payment_key} with reason {reason_id} ({reason_text(reason_id)})")
        return exitcodes.OK
    print(f"failed to cancel {payment_key}: {finished.last_error}", file=sys.stderr)
    return exitcodes.RUNTIME_FAILURE


def _cancel(
    config: Config, engine: sa.Engine, payment_key: str, *, reason_id: int, note: str | None,
    confirm: TextIO | None,
) -> Decision:
    snapshot = PassRunner(config=config, engine=engine, executor_factory=None).read(
        also_include=[payment_key]
    )
    order = snapshot.order(payment_key)
    refusal = _refusal(payment_key, order, snapshot.live_intents)
    if refusal is not None or order is None:
        raise _Refused(f"{refusal}; nothing was cancelled")

    require_credentials()  # after the refusals: they are the more useful message
    who = order.customer_name or "unknown customer"
    prompt = (f"Cancel order {payment_key} (#{order.order_number}, {who}, total "
              f"{order.total}) with reason {reason_id} ({reason_text(reason_id)})?")
    if confirm is not None and not _confirm(prompt, confirm):
        raise _Refused("not confirmed; nothing was cancelled")

    decision = Decision(
        order=order, rule="manual", kind="manual", reason_id=reason_id, mode="live",
        outcome="pending", evidence={"requested_by": getpass.getuser(), "note": note},
        note=note,
    )
    pass_id = f"manual-{utcnow().strftime('%Y%m%dT%H%M%S%f')}"
    with store.writer(engine) as connection, connection.begin():
        recorded = ledger.record_decisions(connection, [decision], pass_id=pass_id, now=utcnow())
    if not recorded:
        raise _Refused(f"order {payment_key} was just cancelled by another daemon")
    with executor_factory(config)() as executor:
        (finished,) = SideEffects(engine=engine, executor=executor).cancel_all(recorded)
    return finished

"""``autocancel cancel``: a staff-confirmed cancellation through the same ledger and executor.

For the reasons no rule can decide (customer asked, technical issue, other).
It follows the rules everything else follows: dry-run sends nothing; an order
the daemon itself would never touch (a restaurant rules.yaml does not list, a
``never_cancel`` entry) needs ``--force``, recorded in the ledger; the intent
is committed before the call, so it never doubles an automatic cancellation
(or is doubled by one); the order is re-checked right before every call; and
a lost answer counts as sent and is resent by a later pass after a re-check.
Manual cancellations do not use the automatic hourly budget; ``status``
shows them on a line of their own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

import sqlalchemy as sa

from daemon.cli.person import os_user
from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.decisions import MANUAL, Decision
from daemon.domain.orders import Order
from daemon.domain.reasons import MANUAL_REASONS, REASONS, reason_text
from daemon.domain.timeutil import utcnow
from daemon.engine.manual_policy import CONFIRMED_BY, FORCED, Finding, Obstacle, blocking, findings
from daemon.engine.passes import Judge, PassError, log_decision
from daemon.engine.side_effects import Cancellations
from daemon.service.runtime import ApiSession, open_store
from daemon.store import connect, ledger
from daemon.store.names import Names

USAGE = "autocancel cancel: error:"


def _confirm(prompt: str, stdin: TextIO) -> bool:
    print(f"{prompt} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes", "e", "evet")


def _reason_problem(reason_id: int) -> str | None:
    allowed = ", ".join(f"{r} ({reason_text(r)})" for r in MANUAL_REASONS)
    if reason_id not in REASONS:
        return (
            f"--reason {reason_id} is not a Dükkango cancel reason (valid 1-8); a manual "
            f"cancellation uses {allowed}"
        )
    if reason_id not in MANUAL_REASONS:
        return (
            f"reason {reason_id} is for the automatic rules; a manual cancellation uses {allowed}"
        )
    return None


class _Refused(Exception):
    """Nothing was cancelled, for the reason in the message."""


def _overrides(payment_key: str, found: Sequence[Finding]) -> list[str]:
    """What --force overrides, as the operator reads it."""
    texts = []
    for finding in found:
        if finding.obstacle is Obstacle.RESTAURANT_NOT_IN_RULES:
            texts.append(
                f"its restaurant {finding.details['restaurant_id']} is not in "
                "rules.yaml (autocancel never touches it)"
            )
        elif finding.obstacle is Obstacle.NEVER_CANCEL:
            texts.append(
                f"its {finding.details['matched'].replace('_', ' ')} is in safety.never_cancel"
            )
    return texts


def _refusal(payment_key: str, found: Sequence[Finding]) -> str:
    first = found[0]
    if first.obstacle is Obstacle.NOT_IN_STORE:
        return f"no order {payment_key} in the store"
    if first.obstacle is Obstacle.BAD_PAYMENT_KEY:
        return f"order {payment_key!r} has a payment_key that cannot be sent to Dükkango"
    if first.obstacle is Obstacle.FINISHED:
        return f"order {payment_key} is already {first.details['status']}"
    return (
        f"order {payment_key}: {' and '.join(_overrides(payment_key, found))}; pass "
        "--force to cancel it anyway (recorded in the ledger)"
    )


def cancel(
    config: Config,
    payment_key: str,
    *,
    reason_id: int,
    note: str | None,
    assume_yes: bool,
    force: bool = False,
    by: str | None = None,
    dry_run: bool = False,
    stdin: TextIO = sys.stdin,
) -> int:
    problem = _reason_problem(reason_id)
    if problem is not None:
        print(f"{USAGE} {problem}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    if by is not None and not by.strip():
        print(f"{USAGE} --by needs the name of who confirmed the cancellation", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    who = by.strip() if by is not None else os_user()
    try:
        engine = open_store(config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        finished = _cancel(
            config,
            engine,
            payment_key,
            reason_id=reason_id,
            note=note,
            who=who,
            force=force,
            dry_run=dry_run or config.dry_run,
            confirm=None if assume_yes else stdin,
        )
    except (_Refused, MissingCredentials, PassError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    log_decision(finished)
    return _report(config, finished, dry_flag=dry_run)


def _cancel(
    config: Config,
    engine: sa.Engine,
    payment_key: str,
    *,
    reason_id: int,
    note: str | None,
    who: str,
    force: bool,
    dry_run: bool,
    confirm: TextIO | None,
) -> Decision:
    judge = Judge(config=config, engine=engine, dry_run=dry_run)
    snapshot = judge.read(also_include=[payment_key])
    order = snapshot.order(payment_key)
    found = findings(
        order,
        restaurant_ids={r.id for r in config.restaurants},
        never_cancel=frozenset(config.safety.never_cancel),
    )
    forced = [f.obstacle.value for f in found if f.forceable] if force else []
    refused = blocking(found, forced=forced)
    if refused or order is None:
        raise _Refused(f"{_refusal(payment_key, refused)}; nothing was cancelled")
    if payment_key in snapshot.live_intents:
        raise _Refused(
            f"order {payment_key} already has a cancellation in the ledger (outcome "
            f"{snapshot.live_intents[payment_key]}); it is never sent twice; nothing was "
            "cancelled"
        )

    if not dry_run:
        require_credentials()  # after the refusals: they are the more useful message
        if confirm is not None and not _confirm(
            _question(order, reason_id, who, found, forced), confirm
        ):
            raise _Refused("not confirmed; nothing was cancelled")

    evidence: dict[str, object] = {CONFIRMED_BY: who, "note": note}
    if forced:
        evidence[FORCED] = forced
    decision = Decision(
        order=order,
        rule=MANUAL,
        kind=MANUAL,
        reason_id=reason_id,
        mode="dry_run" if dry_run else "live",
        outcome="would_cancel" if dry_run else "pending",
        evidence=evidence,
        note=note,
    )
    pass_id = f"manual-{utcnow().strftime('%Y%m%dT%H%M%S%f')}"
    with connect.writer(engine) as connection, connection.begin():
        recorded = ledger.record_decisions(connection, [decision], pass_id=pass_id, now=utcnow())
    if dry_run:
        return recorded[0] if recorded else decision
    if not recorded:
        raise _Refused(f"order {payment_key} was just cancelled by another daemon")
    with ApiSession(config) as api:
        cancellations = Cancellations(
            engine=engine,
            executor=api.executor(),
            lost_answer_retries=config.api.lost_answer_retries,
            names=Names.of(config.restaurants),
        )
        # Re-judged right before every call, like every cancellation (daemon/engine/rejudge.py).
        (finished,) = cancellations.cancel_all(recorded, recheck=judge.recheck)
    from daemon.cli import notices

    # What it announced (cancelled, a refund due), told now; a running daemon would too.
    notices.deliver(notices.sender_for(config, engine, os.environ))
    return finished


def _question(
    order: Order, reason_id: int, who: str, found: Sequence[Finding], forced: Sequence[str]
) -> str:
    customer = order.customer_name or "unknown customer"
    question = (
        f"Cancel order {order.payment_key} (#{order.order_number}, {customer}, total "
        f"{order.total}) with reason {reason_id} ({reason_text(reason_id)}), "
        f"confirmed by {who}?"
    )
    overrides = _overrides(order.payment_key, [f for f in found if f.obstacle.value in forced])
    if overrides:
        question += f" --force overrides: {'; '.join(overrides)}."
    return question


def _report(config: Config, finished: Decision, *, dry_flag: bool) -> int:
    key, reason = finished.payment_key, finished.reason_id
    what = f"reason {reason} ({reason_text(reason)})"
    if finished.mode == "dry_run":
        why = "--dry-run" if dry_flag else f"dry_run: true in {config.source}"
        print(f"dry run ({why}): would cancel {key} with {what}; nothing was sent")
        return exitcodes.OK
    if finished.outcome == "cancelled":
        print(f"cancelled {key} with {what}")
        return exitcodes.OK
    evidence = finished.evidence
    if finished.outcome == "skipped":
        print(f"not sent: {evidence.get('change')}; nothing was cancelled", file=sys.stderr)
    elif "resends_left" in evidence:
        print(
            f"the answer to the cancellation of {key} was lost ({finished.last_error}): it "
            "counts as sent and may have gone through; the next pass (autocancel run or once) "
            f"re-checks the order and resends it, at most {evidence['resends_left']} more "
            "time(s). Check the order on Dükkango.",
            file=sys.stderr,
        )
    elif "gave_up_after_sends" in evidence:
        print(
            f"the answer to the cancellation of {key} was lost ({finished.last_error}) and no "
            "resend is left: it counts as sent; check the order on Dükkango",
            file=sys.stderr,
        )
    else:
        print(f"failed to cancel {key}: {finished.last_error}", file=sys.stderr)
    return exitcodes.RUNTIME_FAILURE

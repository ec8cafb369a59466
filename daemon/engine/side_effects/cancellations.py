"""Sending a pass's cancellation intents and recording what each came to.

The intents are in the ledger already (committed before any call, so a
retry reuses them). Each is re-judged on the store's current data right
before every attempt; its outcome is written as soon as its answer arrives.
An answer that was lost counts as sent: the intent is parked for a re-check
and resend on a later pass, a bounded number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.decisions import Decision
from daemon.domain.timeutil import utcnow
from daemon.engine.side_effects import announce
from daemon.engine.side_effects.answers import refused
from daemon.engine.side_effects.heartbeat import HEARTBEAT_SECONDS, Heartbeat
from daemon.store import connect, ledger
from daemon.store.names import Names

if TYPE_CHECKING:  # a dry run never sends, and never loads the HTTP client
    from daemon.dukkango.executor import Attempted, Executor

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

Recheck = Callable[[Decision], "Mapping[str, Any] | None"]


def _still_qualifies(recheck: Recheck, decision: Decision) -> None:
    """Raise NoLongerQualifies when the re-check finds a change; unknown means not sent."""
    from daemon.dukkango.errors import NoLongerQualifies, NotSent

    try:
        change = recheck(decision)
    except Exception as exc:  # a store that cannot be read means "unknown": no action
        raise NotSent(f"not sent: cannot re-judge the order ({exc})") from exc
    if change is not None:
        raise NoLongerQualifies(change)


class Cancellations:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        executor: Executor,
        lost_answer_retries: int = 3,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        names: Names | None = None,
        customer: announce.CustomerMessage | None = None,
    ) -> None:
        self._customer = customer
        self._names = names or Names()
        self._engine = engine
        self._executor = executor
        self._lost_answer_retries = lost_answer_retries
        self._heartbeat_seconds = heartbeat_seconds

    def cancel_all(
        self, intents: Sequence[Decision], *, recheck: Recheck | None = None
    ) -> list[Decision]:
        """Send each intent (re-judged by ``recheck`` before every attempt); record outcomes."""
        client = self._executor.client

        def cancel(decision: Decision) -> Attempted:
            return self._executor.attempt(
                lambda: client.cancel_order(decision.payment_key, decision.reason_id),
                what=f"cancel order={decision.payment_key}",
                mutation=True,
                recheck=None if recheck is None else partial(_still_qualifies, recheck, decision),
            )

        finished: list[Decision] = []
        ids = [d.ledger_id for d in intents if d.ledger_id is not None]
        with Heartbeat(self._engine, ids, every=self._heartbeat_seconds):
            for decision, result in self._executor.map_concurrently(cancel, intents):
                with connect.writer(self._engine) as connection, connection.begin():
                    recorded = self._record_cancel(connection, decision, result)
                    finished.append(replace(recorded, error_code=result.error_code))
        return finished

    def _record_cancel(
        self, connection: sa.Connection, decision: Decision, result: Attempted
    ) -> Decision:
        record = partial(
            ledger.record_outcome,
            connection,
            decision,
            attempts=decision.attempts + result.attempts,
            last_error=result.error_text,
            now=utcnow(),
            uncertain=result.uncertain,
        )
        # Dükkango answering that the order is canceled already means our goal holds.
        # Events go in the outcome's transaction: told if and only if it happened.
        if result.ok or result.already_canceled:
            cancelled = record(outcome="cancelled")
            announce.cancelled(connection, cancelled, names=self._names, customer=self._customer)
            return cancelled
        change = result.no_longer_qualifies
        if change is not None:
            log.info(
                "order=%s rule=%s outcome=skipped: not sent, %s",
                decision.payment_key,
                decision.rule,
                change.evidence.get("change"),
            )
            return record(
                outcome="skipped", release=True, evidence={**decision.evidence, **change.evidence}
            )
        if refused(result):
            refusal = record(outcome="failed")  # the platform said no: never sent again
            announce.cancel_failed(connection, refusal, names=self._names)
            return refusal
        lost = decision.uncertain_sends + result.uncertain
        if lost == 0:
            # Surely not carried out (401, 429, refused connection, open circuit):
            # a later pass decides about the order afresh.
            return record(outcome="failed", release=True)
        evidence = {**decision.evidence, "answer_lost": True, "counted_as_sent": True}
        if lost > self._lost_answer_retries:
            log.critical(
                "order=%s: %d calls to cancel it got no readable answer; giving up, it is "
                "failed for good. Check the order on Dükkango: it may be cancelled.",
                decision.payment_key,
                lost,
            )
            given_up = record(outcome="failed", evidence={**evidence, "gave_up_after_sends": lost})
            announce.cancel_failed(connection, given_up, names=self._names)
            return given_up
        log.warning(
            "order=%s: the answer to its cancellation was lost (%s); counted as sent, it is "
            "re-checked and resent on a later pass (%d resend(s) left)",
            decision.payment_key,
            result.error_text,
            self._lost_answer_retries - lost + 1,
        )
        return record(
            outcome="failed",
            park=True,
            evidence={**evidence, "resends_left": self._lost_answer_retries - lost + 1},
        )

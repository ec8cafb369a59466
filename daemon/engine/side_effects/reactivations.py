"""Putting a food the daemon switched off back on sale (``foods/status-active``), once.

The claim is the deactivation's row in ``food_reactivations`` (one per
deactivation, unique): whoever inserts it, or takes it back by a conditional
update from ``retry`` or ``uncertain`` (or from a ``pending`` whose sender is
gone), makes the call, so replicas never both send it. Right before every
attempt the reason is judged again on current data (the stock row read
anew). The outcome:

- confirmed: the claim is ``reactivated`` and the deactivation leaves force
  (``active_key`` NULL): the food is no longer the daemon's, and a later
  shortage deactivates it anew, as a deactivation of its own;
- refused (400/403/404): ``failed``, final; the food stays on the daemon's
  list for a person (``autocancel foods``, ``food-reactivate``);
- the answer lost (timeout, dropped connection, 5xx, unreadable 200): counted
  as sent; ``uncertain``, re-checked and resent on a later pass, at most
  ``api.lost_answer_retries`` times, then ``failed`` and logged at CRITICAL;
- surely not carried out (401, 429, refused connection, open circuit,
  shutdown): ``retry``, tried again when it is due;
- no longer due at the re-check (out of stock again): nothing of ours
  happened, so the claim goes; after a lost answer it counts as sent
  (``maybe_reactivated``) and the deactivation leaves force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.actions import ReactivateFood
from daemon.domain.timeutil import utcnow
from daemon.engine.reactivation import DEFAULT_ABANDONED_AFTER
from daemon.engine.side_effects.answers import refused
from daemon.engine.side_effects.results import ActionResult
from daemon.store import connect, schema
from daemon.store.ledger import OWNER
from daemon.store.names import Names
from daemon.store.upsert import insert_unless_taken

if TYPE_CHECKING:  # a dry run never sends, and never loads the HTTP client
    from daemon.dukkango.executor import Attempted, Executor

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

ReactivationRecheck = Callable[[ReactivateFood], "Mapping[str, Any] | None"]


def _still_due(recheck: ReactivationRecheck, food: ReactivateFood) -> None:
    from daemon.dukkango.errors import NoLongerQualifies, NotSent

    try:
        change = recheck(food)
    except Exception as exc:  # a store that cannot be read means "unknown": no action
        raise NotSent(f"not sent: cannot re-read the stock ({exc})") from exc
    if change is not None:
        raise NoLongerQualifies(change)


@dataclass(frozen=True, slots=True)
class _Claim:
    id: int
    attempts: int  # made before this claim
    uncertain_sends: int  # calls before this claim that may have acted
    fresh: bool  # inserted now: nothing was ever sent for this deactivation


@dataclass(frozen=True, slots=True)
class Reactivation:
    """What one reactivation came to: the pass's action result and the claim's outcome."""

    result: ActionResult
    outcome: str  # the claim's outcome now (REACTIVATION_OUTCOMES), or "released"
    resends_left: int | None = None  # after a lost answer


class FoodReactivations:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        executor: Executor,
        lost_answer_retries: int = 3,
        names: Names | None = None,
        abandoned_after: timedelta = DEFAULT_ABANDONED_AFTER,
    ) -> None:
        self._names = names or Names()
        self._engine = engine
        self._executor = executor
        self._lost_answer_retries = lost_answer_retries
        self._abandoned_after = abandoned_after

    def reactivate(
        self, foods: Iterable[ReactivateFood], *, recheck: ReactivationRecheck
    ) -> list[ActionResult]:
        """``foods/status-active`` for each food whose claim this daemon wins."""
        return [
            done.result
            for food in foods
            if (done := self.reactivate_one(food, recheck=recheck)) is not None
        ]

    def reactivate_one(
        self, food: ReactivateFood, *, recheck: ReactivationRecheck, by_hand: bool = False
    ) -> Reactivation | None:
        """Claim, send, record; None when the claim went to someone else (or is not ours).

        ``by_hand``: a person's request, which may also take over a reactivation
        that failed for good.
        """
        with connect.writer(self._engine) as connection, connection.begin():
            claimed = self._claim(connection, food, by_hand=by_hand)
        if claimed is None:
            return None
        attempted = self._executor.attempt(
            partial(self._executor.client.activate_food, food.food_id),
            what=f"reactivate food={food.food_id}",
            mutation=True,
            recheck=partial(_still_due, recheck, food),
        )
        with connect.writer(self._engine) as connection, connection.begin():
            return self._record(connection, food, claimed, attempted)

    def _claim(
        self, connection: sa.Connection, food: ReactivateFood, *, by_hand: bool
    ) -> _Claim | None:
        table, deactivations = schema.food_reactivations, schema.food_deactivations
        now = utcnow()
        # Only a deactivation still in force is ours to undo (a reactivation is the
        # only thing that ends one, and it holds this claim while it does).
        in_force = connection.execute(
            sa.select(deactivations.c.id).where(
                deactivations.c.id == food.deactivation_id,
                deactivations.c.active_key.is_not(None),
            )
        ).scalar()
        if in_force is None:
            return None
        values = {
            "outcome": "pending",
            "owner": OWNER,
            "updated_at": now,
            "trigger": food.trigger,
            "requested_by": food.requested_by,
            "note": food.note,
            "evidence": dict(food.evidence),
        }
        row = (
            connection.execute(
                sa.select(table).where(table.c.deactivation_id == food.deactivation_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            inserted = connection.execute(
                insert_unless_taken(connection, table, "deactivation_id")
                .values(
                    deactivation_id=food.deactivation_id,
                    food_id=food.food_id,
                    claimed_at=now,
                    **values,
                )
                .returning(table.c.id)
            ).scalar()
            return None if inserted is None else _Claim(inserted, 0, 0, fresh=True)
        outcome = row["outcome"]
        abandoned = outcome == "pending" and row["updated_at"] < now - self._abandoned_after
        takeable = outcome in ("retry", "uncertain") or (by_hand and outcome == "failed")
        if not (takeable or abandoned):
            return None
        # A sender that stopped between its claim and its outcome may have sent the call.
        uncertain = row["uncertain_sends"] + (1 if abandoned else 0)
        won = connection.execute(
            sa.update(table)
            .where(
                table.c.id == row["id"],
                table.c.outcome == outcome,
                table.c.updated_at == row["updated_at"],
            )
            .values(uncertain_sends=uncertain, **values)
        ).rowcount
        if not won:
            return None
        return _Claim(row["id"], row["attempts"], uncertain, fresh=False)

    def _record(
        self,
        connection: sa.Connection,
        food: ReactivateFood,
        claimed: _Claim,
        attempted: Attempted,
    ) -> Reactivation:
        table = schema.food_reactivations
        now = utcnow()
        lost = claimed.uncertain_sends + attempted.uncertain

        def settle(outcome: str, **values: Any) -> None:
            connection.execute(
                sa.update(table)
                .where(table.c.id == claimed.id)
                .values(
                    outcome=outcome,
                    attempts=claimed.attempts + attempted.attempts,
                    uncertain_sends=lost,
                    updated_at=now,
                    owner=None,
                    **values,
                )
            )

        if attempted.ok:
            settle("reactivated", finished_at=now, last_error=None)
            self._end_deactivation(connection, food)
            return Reactivation(ActionResult.live(food, attempted, self._names), "reactivated")
        change = attempted.no_longer_qualifies
        if change is None:
            outcome, left = self._failure(food, attempted, lost)
            settle(outcome, last_error=attempted.error_text)
            return Reactivation(ActionResult.live(food, attempted, self._names), outcome, left)
        why = str(change.evidence.get("change") or "no longer due")
        log.info("food=%s: not reactivated, %s", food.food_id, why)
        skipped = ActionResult.skipped(food, f"not sent: {why}", self._names)
        if lost:
            log.warning(
                "food=%s: %s, but %d earlier call(s) to reactivate it got no readable answer: "
                "counted as sent, the food may be on sale; its deactivation ends here, and "
                "the next order it cannot serve deactivates it again",
                food.food_id,
                why,
                lost,
            )
            settle("maybe_reactivated", finished_at=now, last_error=why)
            self._end_deactivation(connection, food)
            return Reactivation(skipped, "maybe_reactivated")
        if claimed.fresh:  # nothing of ours ever happened: no claim stays on record
            connection.execute(sa.delete(table).where(table.c.id == claimed.id))
            return Reactivation(skipped, "released")
        settle("retry", last_error=why)
        return Reactivation(skipped, "retry")

    def _failure(
        self, food: ReactivateFood, attempted: Attempted, lost: int
    ) -> tuple[str, int | None]:
        """The claim's outcome after a call that did not go through, and the resends left."""
        if refused(attempted):
            log.error(
                "food=%s: Dükkango refused to reactivate it (%s); it stays off, listed by "
                "`autocancel foods`",
                food.food_id,
                attempted.error_text,
            )
            return "failed", None
        if not lost:
            # Surely not carried out (401, 429, refused connection, ...): a later
            # pass tries again when it is due.
            return "retry", None
        if not attempted.uncertain:
            # Not carried out this time; an earlier call's answer was lost, so the
            # resend is still owed.
            return "uncertain", self._lost_answer_retries - lost + 1
        if lost > self._lost_answer_retries:
            log.critical(
                "food=%s: %d calls to reactivate it got no readable answer; giving up, it is "
                "failed for good. Check the food on Dükkango: it may be on sale again.",
                food.food_id,
                lost,
            )
            return "failed", None
        left = self._lost_answer_retries - lost + 1
        log.warning(
            "food=%s: the answer to its reactivation was lost (%s); counted as sent, it is "
            "re-checked and resent on a later pass (%d resend(s) left)",
            food.food_id,
            attempted.error_text,
            left,
        )
        return "uncertain", left

    @staticmethod
    def _end_deactivation(connection: sa.Connection, food: ReactivateFood) -> None:
        """The food is no longer the daemon's: the next shortage deactivates it anew."""
        deactivations = schema.food_deactivations
        connection.execute(
            sa.update(deactivations)
            .where(deactivations.c.id == food.deactivation_id)
            .values(active_key=None)
        )

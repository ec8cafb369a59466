"""Deactivating out-of-stock foods (``foods/status-passive``), once per deactivation.

A row in ``food_deactivations`` with the food's ``active_key`` is the claim:
whoever inserts it (or flips a ``retry`` row back to ``pending``) makes the
call, and no second deactivation of the food starts while it is in force
(until the food is reactivated, see :mod:`.reactivations`). Deactivating
twice is harmless, so a failure that may pass is left as ``retry`` and tried
again on a later pass, on the stock as it is then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.actions import DeactivateFood
from daemon.domain.timeutil import utcnow
from daemon.engine.side_effects.answers import refused
from daemon.engine.side_effects.results import ActionResult
from daemon.store import connect, schema
from daemon.store.names import Names
from daemon.store.upsert import insert_unless_taken

if TYPE_CHECKING:  # a dry run never sends, and never loads the HTTP client
    from daemon.dukkango.executor import Attempted, Executor

FoodRecheck = Callable[[DeactivateFood], "Mapping[str, Any] | None"]


def _food_still_out(recheck: FoodRecheck, food: DeactivateFood) -> None:
    from daemon.dukkango.errors import NoLongerQualifies, NotSent

    try:
        change = recheck(food)
    except Exception as exc:
        raise NotSent(f"not sent: cannot re-read the stock ({exc})") from exc
    if change is not None:
        raise NoLongerQualifies(change)


@dataclass(frozen=True, slots=True)
class _Claim:
    """A deactivation this pass claimed: its row, and the attempts made before."""

    id: int
    attempts: int = 0
    uncertain_sends: int = 0


def _claim_food(connection: sa.Connection, food: DeactivateFood) -> _Claim | None:
    """Claim the food's deactivation; None when it is not ours to make."""
    table = schema.food_deactivations
    # RETURNING, not the rowcount: SQLAlchemy reports -1 (unknown) as the rowcount
    # of an INSERT on PostgreSQL, which reads as "inserted" for every replica.
    inserted = connection.execute(
        insert_unless_taken(connection, table, "active_key")
        .values(
            food_id=food.food_id,
            restaurant_id=food.restaurant_id,
            rule=food.rule,
            payment_key=food.payment_key,
            at=utcnow(),
            outcome="pending",
            active_key=food.food_id,
        )
        .returning(table.c.id)
    ).scalar()
    if inserted is not None:
        return _Claim(inserted)
    # A deactivation in force left for retry is claimed by whoever flips it back to pending.
    retried = connection.execute(
        sa.update(table)
        .where(table.c.active_key == food.food_id, table.c.outcome == "retry")
        .values(outcome="pending")
        .returning(table.c.id, table.c.attempts, table.c.uncertain_sends)
    ).first()
    return None if retried is None else _Claim(*retried)


class FoodDeactivations:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        executor: Executor,
        lost_answer_retries: int = 3,
        names: Names | None = None,
    ) -> None:
        self._names = names or Names()
        self._engine = engine
        self._executor = executor
        self._lost_answer_retries = lost_answer_retries

    def deactivate(
        self, foods: Iterable[DeactivateFood], *, recheck: FoodRecheck | None = None
    ) -> list[ActionResult]:
        """``foods/status-passive`` once per food; a failure that may pass is retried later."""
        results = []
        for food in foods:
            with connect.writer(self._engine) as connection, connection.begin():
                claimed = _claim_food(connection, food)
            if claimed is None:
                continue  # another pass or daemon deactivated it already
            attempted = self._executor.attempt(
                partial(self._executor.client.deactivate_food, food.food_id),
                what=f"deactivate food={food.food_id}",
                mutation=True,
                recheck=None if recheck is None else partial(_food_still_out, recheck, food),
            )
            with connect.writer(self._engine) as connection, connection.begin():
                self._record_food(connection, claimed, attempted)
            results.append(ActionResult.live(food, attempted, self._names))
        return results

    def retry_unfinished(self, recheck: FoodRecheck) -> list[ActionResult]:
        """Deactivations an earlier pass could not finish, tried again on current stock."""
        table = schema.food_deactivations
        with self._engine.connect() as connection:
            rows = (
                connection.execute(
                    sa.select(table).where(
                        table.c.active_key.is_not(None), table.c.outcome == "retry"
                    )
                )
                .mappings()
                .all()
            )
        foods = [
            DeactivateFood(
                row["food_id"],
                row["restaurant_id"],
                row["rule"],
                row["payment_key"] or "",
                deactivation_id=row["id"],
            )
            for row in rows
        ]
        return self.deactivate(foods, recheck=recheck)

    def _record_food(
        self, connection: sa.Connection, claimed: _Claim, attempted: Attempted
    ) -> None:
        table = schema.food_deactivations
        row = table.c.id == claimed.id
        uncertain = claimed.uncertain_sends + attempted.uncertain
        stopped = attempted.no_longer_qualifies
        if stopped is not None and "suspended" in stopped.evidence:
            # A pause (or quiet window) holds its rule now: the call waits, as
            # a failure that may pass does, and goes out once the pause ends.
            connection.execute(
                sa.update(table).where(row).values(outcome="retry", uncertain_sends=uncertain)
            )
            return
        if stopped is not None:
            if uncertain:
                # Back in stock, but an earlier call's answer was lost: the food may be
                # off. A lost answer counts as sent, so the way back takes it from here.
                connection.execute(
                    sa.update(table)
                    .where(row)
                    .values(outcome="uncertain", uncertain_sends=uncertain)
                )
                return
            # Back in stock before we got to it: nothing of ours stays on record.
            connection.execute(sa.delete(table).where(row))
            return
        attempts = claimed.attempts + attempted.attempts
        # Deactivating twice is harmless, so a failure that may pass is simply
        # tried again on a later pass, within the budget of a cancellation.
        budget = self._executor.max_attempts * (1 + self._lost_answer_retries)
        again = not attempted.ok and not refused(attempted) and attempts < budget
        outcome = "done" if attempted.ok else "retry" if again else "failed"
        connection.execute(
            sa.update(table)
            .where(row)
            .values(
                outcome=outcome,
                attempts=attempts,
                uncertain_sends=uncertain,
                last_error=attempted.error_text,
            )
        )

"""Carrying out a pass's live decisions: cancellations, food deactivations, closures.

Each call follows the same discipline as cancellations: the daemon's claim
is committed first under a unique key (so replicas never both act), then the
API is called, then the outcome is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from daemon.domain.actions import (
    CloseRestaurant,
    DeactivateFood,
    ReopenRestaurant,
    RestaurantAction,
)
from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.decisions import Decision
from daemon.domain.timeutil import utcnow
from daemon.engine import decisionlog
from daemon.store import connect, ledger, schema
from daemon.store.names import Names
from daemon.store.upsert import insert_unless_taken

if TYPE_CHECKING:  # a dry run reports actions without loading the HTTP client
    from daemon.dukkango.executor import Attempted, Executor

log = logging.getLogger(__name__)

ActionKind = Literal["close_restaurant", "reopen_restaurant", "deactivate_food"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: ActionKind
    target: str
    rule: str
    mode: str
    outcome: str  # done, failed, would_do, skipped
    detail: str = ""
    # What the operator knows the target by: "Akat Şube (8f2b…)", "Ayran (food 3) at ...".
    label: str = ""
    error_code: ApiErrorCode | None = None  # why it failed, beside ``detail``'s words

    @classmethod
    def dry_run(
        cls, action: DeactivateFood | RestaurantAction, names: Names | None = None
    ) -> ActionResult:
        names = names or Names()
        kind, target = _describe(action)
        if decisionlog.dry_run_is_news(kind, target, action.rule):
            log.info(
                "action=%s target=%s%s rule=%s mode=dry_run outcome=would_do",
                kind,
                target,
                _name_fields(action, names),
                action.rule,
            )
        return cls(kind, target, action.rule, "dry_run", "would_do", label=_label(action, names))

    @property
    def shown_target(self) -> str:
        return self.label or self.target


def _describe(action: DeactivateFood | RestaurantAction) -> tuple[ActionKind, str]:
    if isinstance(action, DeactivateFood):
        return "deactivate_food", str(action.food_id)
    if isinstance(action, CloseRestaurant):
        return "close_restaurant", action.restaurant_id
    return "reopen_restaurant", action.restaurant_id


def _label(action: DeactivateFood | RestaurantAction, names: Names) -> str:
    if isinstance(action, DeactivateFood):
        food = names.food(action.food_id)
        return f"{food} at {names.restaurant(action.restaurant_id)}"
    return names.restaurant(action.restaurant_id)


def _name_fields(action: DeactivateFood | RestaurantAction, names: Names) -> str:
    """`` name='Akat Şube'`` (and the restaurant of a food) for a log line; "" when unknown."""
    fields = []
    if isinstance(action, DeactivateFood):
        fields.append(("name", names.food_name(action.food_id)))
        fields.append(("restaurant", names.restaurant_name(action.restaurant_id)))
    else:
        fields.append(("name", names.restaurant_name(action.restaurant_id)))
    return "".join(f" {key}={value!r}" for key, value in fields if value)


# Seconds between heartbeats on the intents a sender holds (see ledger.heartbeat).
HEARTBEAT_SECONDS = 5.0
# A pending intent whose heartbeat stopped this long ago has no live sender.
# Waits never stop the heartbeat (it runs in its own thread), so this bound
# does not depend on timeouts, backoff or 429 cooldowns.
TAKEOVER_AFTER = timedelta(seconds=max(60.0, 6 * HEARTBEAT_SECONDS))

Recheck = Callable[[Decision], "Mapping[str, Any] | None"]
FoodRecheck = Callable[[DeactivateFood], "Mapping[str, Any] | None"]


def _still_qualifies(recheck: Recheck, decision: Decision) -> None:
    """Raise NoLongerQualifies when the re-check finds a change; unknown means not sent."""
    from daemon.dukkango.errors import NoLongerQualifies, NotSent

    try:
        change = recheck(decision)
    except Exception as exc:  # a store that cannot be read means "unknown": no action
        raise NotSent(f"not sent: cannot re-judge the order ({exc})") from exc
    if change is not None:
        raise NoLongerQualifies(change)


def _food_still_out(recheck: FoodRecheck, food: DeactivateFood) -> None:
    from daemon.dukkango.errors import NoLongerQualifies, NotSent

    try:
        change = recheck(food)
    except Exception as exc:
        raise NotSent(f"not sent: cannot re-read the stock ({exc})") from exc
    if change is not None:
        raise NoLongerQualifies(change)


def _claim_food(connection: sa.Connection, food: DeactivateFood) -> int | None:
    """Claim the food's deactivation; the attempts made before, or None if not ours."""
    table = schema.food_deactivations
    # RETURNING, not the rowcount: SQLAlchemy reports -1 (unknown) as the rowcount
    # of an INSERT on PostgreSQL, which reads as "inserted" for every replica.
    inserted = connection.execute(
        insert_unless_taken(connection, table, "food_id")
        .values(
            food_id=food.food_id,
            restaurant_id=food.restaurant_id,
            rule=food.rule,
            payment_key=food.payment_key,
            at=utcnow(),
            outcome="pending",
        )
        .returning(table.c.food_id)
    ).scalar()
    if inserted is not None:
        return 0
    # A deactivation left for retry is claimed by whoever flips it back to pending.
    retried = connection.execute(
        sa.update(table)
        .where(table.c.food_id == food.food_id, table.c.outcome == "retry")
        .values(outcome="pending")
        .returning(table.c.attempts)
    ).scalar()
    return None if retried is None else int(retried)


class _Heartbeat:
    """While a batch is being sent, keep its intents' ``updated_at`` fresh."""

    def __init__(self, engine: sa.Engine, ledger_ids: Sequence[int], *, every: float) -> None:
        self._engine = engine
        self._ids = list(ledger_ids)
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="autocancel-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        if self._ids:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._every):
            try:
                with connect.writer(self._engine) as connection, connection.begin():
                    ledger.heartbeat(connection, self._ids, now=utcnow())
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not refresh the heartbeat of pending intents: %s", exc)


def _refused(result: Attempted) -> bool:
    """The platform said no (400/403/404): final, never sent again."""
    from daemon.dukkango.errors import BadRequest, Forbidden, NotFound

    return isinstance(result.error, (BadRequest, Forbidden, NotFound))


class SideEffects:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        executor: Executor,
        lost_answer_retries: int = 3,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        names: Names | None = None,
    ) -> None:
        self._names = names or Names()
        self._engine = engine
        self._executor = executor
        self._lost_answer_retries = lost_answer_retries
        self._heartbeat_seconds = heartbeat_seconds

    # --- cancellations ------------------------------------------------------

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
        with _Heartbeat(self._engine, ids, every=self._heartbeat_seconds):
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
        if result.ok or result.already_canceled:
            return record(outcome="cancelled")
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
        if _refused(result):
            return record(outcome="failed")  # the platform said no: never sent again
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
            return record(outcome="failed", evidence={**evidence, "gave_up_after_sends": lost})
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

    # --- foods --------------------------------------------------------------

    def deactivate_foods(
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
                self._record_food(connection, food, attempted, earlier_attempts=claimed)
            results.append(self._result(food, attempted))
        return results

    def _record_food(
        self,
        connection: sa.Connection,
        food: DeactivateFood,
        attempted: Attempted,
        *,
        earlier_attempts: int,
    ) -> None:
        table = schema.food_deactivations
        row = table.c.food_id == food.food_id
        if attempted.no_longer_qualifies is not None:
            # Back in stock before we got to it: nothing of ours stays on record.
            connection.execute(sa.delete(table).where(row))
            return
        attempts = earlier_attempts + attempted.attempts
        # Deactivating twice is harmless, so a failure that may pass is simply
        # tried again on a later pass, within the budget of a cancellation.
        budget = self._executor.max_attempts * (1 + self._lost_answer_retries)
        again = not attempted.ok and not _refused(attempted) and attempts < budget
        outcome = "done" if attempted.ok else "retry" if again else "failed"
        connection.execute(
            sa.update(table)
            .where(row)
            .values(
                outcome=outcome,
                attempts=attempts,
                last_error=attempted.error_text,
            )
        )

    # --- restaurants --------------------------------------------------------

    def apply_restaurant_actions(self, actions: Iterable[RestaurantAction]) -> list[ActionResult]:
        results = []
        for action in actions:
            if isinstance(action, CloseRestaurant):
                result = self._close(action)
            else:
                result = self._reopen(action)
            if result is not None:
                results.append(result)
        return results

    def retry_food_deactivations(self, recheck: FoodRecheck) -> list[ActionResult]:
        """Deactivations an earlier pass could not finish, tried again on current stock."""
        table = schema.food_deactivations
        with self._engine.connect() as connection:
            rows = (
                connection.execute(sa.select(table).where(table.c.outcome == "retry"))
                .mappings()
                .all()
            )
        foods = [
            DeactivateFood(
                row["food_id"], row["restaurant_id"], row["rule"], row["payment_key"] or ""
            )
            for row in rows
        ]
        return self.deactivate_foods(foods, recheck=recheck)

    def _close(self, action: CloseRestaurant) -> ActionResult | None:
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            claimed = connection.execute(
                insert_unless_taken(connection, table, "active_key")
                .values(
                    restaurant_id=action.restaurant_id,
                    rule=action.rule,
                    closed_at=utcnow(),
                    close_outcome="pending",
                    evidence=dict(action.evidence),
                    active_key=action.restaurant_id,
                )
                .returning(table.c.id)
            ).scalar()
        if claimed is None:
            return None  # closed by us already (perhaps by a replica)
        attempted, already = self._switch(action.restaurant_id, to_open=False)
        if attempted.answer_lost and self._platform_shows(action.restaurant_id, "Closed"):
            attempted = replace(attempted, ok=True, error=None)  # it went through: ours
        if already:
            # Someone closed it before us: not ours, so never ours to reopen. The
            # claim is withdrawn rather than kept, so an overload that lasts
            # does not add a row every pass (the log line says what happened).
            with connect.writer(self._engine) as connection, connection.begin():
                connection.execute(sa.delete(table).where(table.c.id == claimed))
            return self._skipped(action, "already closed by someone else")
        if attempted.ok:
            self._update_closure(claimed, close_outcome="closed")
        else:
            self._update_closure(
                claimed, close_outcome="failed", active_key=None, last_error=attempted.error_text
            )
        return self._result(action, attempted)

    def _reopen(self, action: ReopenRestaurant) -> ActionResult | None:
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            # Only one daemon reopens: the one whose conditional update wins.
            claimed = connection.execute(
                sa.update(table)
                .where(
                    table.c.id == action.closure_id,
                    table.c.active_key.is_not(None),
                    table.c.reopen_outcome.is_(None),
                )
                .values(reopen_outcome="pending")
            ).rowcount
        if not claimed:
            return None
        attempted, already = self._switch(action.restaurant_id, to_open=True)
        if attempted.answer_lost and self._platform_shows(action.restaurant_id, "Open"):
            attempted = replace(attempted, ok=True, error=None)
        if already:
            self._update_closure(
                action.closure_id,
                reopened_at=utcnow(),
                reopen_outcome="already_open",
                active_key=None,
            )
            return self._skipped(action, "already open again")
        if attempted.ok:
            self._update_closure(
                action.closure_id, reopened_at=utcnow(), reopen_outcome="reopened", active_key=None
            )
        else:
            # Not reopened: release the claim so a later pass tries again.
            self._update_closure(
                action.closure_id, reopen_outcome=None, last_error=attempted.error_text
            )
        return self._result(action, attempted)

    def _switch(self, restaurant_id: str, *, to_open: bool) -> tuple[Attempted, bool]:
        """Open or close a restaurant unless the platform already shows that state.

        Returns the result and whether it was that way already. Reading first
        is what keeps us from claiming (and later undoing) someone else's close.
        """
        client = self._executor.client
        status = self._executor.attempt(
            partial(client.restaurant_status, restaurant_id),
            what=f"status restaurant={restaurant_id}",
        )
        if not status.ok:
            return status, False
        if status.value == ("Open" if to_open else "Closed"):
            return status, True
        call = client.open_restaurant if to_open else client.close_restaurant
        verb = "reopen" if to_open else "close"
        return self._executor.attempt(
            partial(call, restaurant_id),
            what=f"{verb} restaurant={restaurant_id}",
            mutation=True,
        ), False

    def _platform_shows(self, restaurant_id: str, state: str) -> bool:
        """After a lost answer: read the restaurant's state back to learn what happened."""
        status = self._executor.attempt(
            partial(self._executor.client.restaurant_status, restaurant_id),
            what=f"status restaurant={restaurant_id} (after a lost answer)",
        )
        if status.ok:
            log.warning(
                "restaurant=%s: the answer was lost; Dükkango shows it %s",
                restaurant_id,
                status.value,
            )
        return status.ok and status.value == state

    def _update_closure(self, closure_id: int, **values: Any) -> None:
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            connection.execute(sa.update(table).where(table.c.id == closure_id).values(**values))

    def _skipped(self, action: RestaurantAction, why: str) -> ActionResult:
        kind, target = _describe(action)
        return ActionResult(
            kind, target, action.rule, "live", "skipped", why, label=_label(action, self._names)
        )

    def _result(
        self, action: DeactivateFood | RestaurantAction, attempted: Attempted
    ) -> ActionResult:
        kind, target = _describe(action)
        outcome = "done" if attempted.ok else "failed"
        # A closure stops every sale of the restaurant: it is never routine news.
        level = logging.WARNING if not attempted.ok or kind == "close_restaurant" else logging.INFO
        log.log(
            level,
            "action=%s target=%s%s rule=%s mode=live outcome=%s attempts=%d%s",
            kind,
            target,
            _name_fields(action, self._names),
            action.rule,
            outcome,
            attempted.attempts,
            f" error={attempted.error_text!r}" if attempted.error_text else "",
        )
        return ActionResult(
            kind,
            target,
            action.rule,
            "live",
            outcome,
            attempted.error_text or "",
            label=_label(action, self._names),
            error_code=attempted.error_code,
        )

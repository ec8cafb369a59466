"""Carrying out a pass's live decisions: cancellations, food deactivations, closures.

Each call follows the same discipline as cancellations: the daemon's claim
is committed first under a unique key (so replicas never both act), then the
API is called, then the outcome is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daemon import ledger, store
from daemon.engine import Decision
from daemon.timeutil import utcnow
from rules.actions import CloseRestaurant, DeactivateFood, ReopenRestaurant, RestaurantAction

if TYPE_CHECKING:  # a dry run reports actions without loading the HTTP client
    from daemon.executor import Attempted, Executor

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

    @classmethod
    def dry_run(cls, action: DeactivateFood | RestaurantAction) -> ActionResult:
        kind, target = _describe(action)
        log.info("action=%s target=%s rule=%s mode=dry_run outcome=would_do", kind, target,
                 action.rule)
        return cls(kind, target, action.rule, "dry_run", "would_do")


def _describe(action: DeactivateFood | RestaurantAction) -> tuple[ActionKind, str]:
    if isinstance(action, DeactivateFood):
        return "deactivate_food", str(action.food_id)
    if isinstance(action, CloseRestaurant):
        return "close_restaurant", action.restaurant_id
    return "reopen_restaurant", action.restaurant_id


def _insert_unless_taken(connection: sa.Connection, table: sa.Table, key: str) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[key])


# How a refusal says the order is canceled *already* (the simulator: "Order is
# already canceled"). Merely mentioning cancelling ("cannot be cancelled") is
# a refusal like any other: outcome failed (contract: 400 is final, failed).
_ALREADY_CANCELED = ("already canceled", "already cancelled", "zaten iptal", "iptal edilmiş")


def _already_canceled(result: Attempted) -> bool:
    """Dükkango answering that the order is canceled already means our goal holds."""
    from daemon.api import ApiError

    error = result.error
    if not isinstance(error, ApiError) or error.status_code != 400:
        return False
    text = f"{error.error or ''} {error.message or ''}".casefold()
    return any(phrase in text for phrase in _ALREADY_CANCELED)


def _refused(result: Attempted) -> bool:
    """The platform said no (400/403/404): final, never sent again."""
    from daemon.api import BadRequest, Forbidden, NotFound

    return isinstance(result.error, (BadRequest, Forbidden, NotFound))


class SideEffects:
    def __init__(self, *, engine: sa.Engine, executor: Executor) -> None:
        self._engine = engine
        self._executor = executor

    # --- cancellations ------------------------------------------------------

    def cancel_all(self, intents: Sequence[Decision]) -> list[Decision]:
        client = self._executor.client

        def cancel(decision: Decision) -> Attempted:
            return self._executor.attempt(
                lambda: client.cancel_order(decision.payment_key, decision.reason_id),
                what=f"cancel order={decision.payment_key}",
            )

        finished: list[Decision] = []
        for decision, result in self._executor.map_concurrently(cancel, intents):
            ok = result.ok or _already_canceled(result)
            # Only a refusal is final (400/403/404: the platform said no). A
            # timeout, 5xx, 401, open circuit or unreadable answer may pass:
            # the order may be tried again on a later pass.
            passing = not ok and not _refused(result)
            with store.writer(self._engine) as connection, connection.begin():
                finished.append(ledger.record_outcome(
                    connection, decision,
                    outcome="cancelled" if ok else "failed",
                    attempts=decision.attempts + result.attempts,
                    last_error=result.error_text,
                    now=utcnow(),
                    release=passing,
                ))
        return finished

    # --- foods --------------------------------------------------------------

    def deactivate_foods(self, foods: Iterable[DeactivateFood]) -> list[ActionResult]:
        results = []
        table = store.food_deactivations
        for food in foods:
            with store.writer(self._engine) as connection, connection.begin():
                claimed = connection.execute(
                    _insert_unless_taken(connection, table, "food_id").values(
                        food_id=food.food_id, restaurant_id=food.restaurant_id, rule=food.rule,
                        payment_key=food.payment_key, at=utcnow(), outcome="pending",
                    )
                ).rowcount
            if not claimed:
                continue  # another pass or daemon deactivated it already
            attempted = self._executor.attempt(
                partial(self._executor.client.deactivate_food, food.food_id),
                what=f"deactivate food={food.food_id}",
            )
            with store.writer(self._engine) as connection, connection.begin():
                connection.execute(
                    sa.update(table).where(table.c.food_id == food.food_id).values(
                        outcome="done" if attempted.ok else "failed",
                        attempts=attempted.attempts, last_error=attempted.error_text,
                    )
                )
            results.append(self._result(food, attempted))
        return results

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

    def _close(self, action: CloseRestaurant) -> ActionResult | None:
        table = store.restaurant_closures
        with store.writer(self._engine) as connection, connection.begin():
            claimed = connection.execute(
                _insert_unless_taken(connection, table, "active_key").values(
                    restaurant_id=action.restaurant_id, rule=action.rule, closed_at=utcnow(),
                    close_outcome="pending", evidence=dict(action.evidence),
                    active_key=action.restaurant_id,
                ).returning(table.c.id)
            ).scalar()
        if claimed is None:
            return None  # closed by us already (perhaps by a replica)
        attempted, already = self._switch(action.restaurant_id, to_open=False)
        if already:
            # Someone closed it before us: not ours, so never ours to reopen. The
            # claim is withdrawn rather than kept, so an overload that lasts
            # does not add a row every pass (the log line says what happened).
            with store.writer(self._engine) as connection, connection.begin():
                connection.execute(sa.delete(table).where(table.c.id == claimed))
            return ActionResult("close_restaurant", action.restaurant_id, action.rule, "live",
                                "skipped", "already closed by someone else")
        if attempted.ok:
            self._update_closure(claimed, close_outcome="closed")
        else:
            self._update_closure(claimed, close_outcome="failed", active_key=None,
                                 last_error=attempted.error_text)
        return self._result(action, attempted)

    def _reopen(self, action: ReopenRestaurant) -> ActionResult | None:
        table = store.restaurant_closures
        with store.writer(self._engine) as connection, connection.begin():
            # Only one daemon reopens: the one whose conditional update wins.
            claimed = connection.execute(
                sa.update(table)
                .where(table.c.id == action.closure_id, table.c.active_key.is_not(None),
                       table.c.reopen_outcome.is_(None))
                .values(reopen_outcome="pending")
            ).rowcount
        if not claimed:
            return None
        attempted, already = self._switch(action.restaurant_id, to_open=True)
        if already:
            self._update_closure(action.closure_id, reopened_at=utcnow(),
                                 reopen_outcome="already_open", active_key=None)
            return ActionResult("reopen_restaurant", action.restaurant_id, action.rule, "live",
                                "skipped", "already open again")
        if attempted.ok:
            self._update_closure(action.closure_id, reopened_at=utcnow(),
                                 reopen_outcome="reopened", active_key=None)
        else:
            # Not reopened: release the claim so a later pass tries again.
            self._update_closure(action.closure_id, reopen_outcome=None,
                                 last_error=attempted.error_text)
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
            partial(call, restaurant_id), what=f"{verb} restaurant={restaurant_id}"
        ), False

    def _update_closure(self, closure_id: int, **values: Any) -> None:
        table = store.restaurant_closures
        with store.writer(self._engine) as connection, connection.begin():
            connection.execute(sa.update(table).where(table.c.id == closure_id).values(**values))

    @staticmethod
    def _result(action: DeactivateFood | RestaurantAction, attempted: Attempted) -> ActionResult:
        kind, target = _describe(action)
        outcome = "done" if attempted.ok else "failed"
        level = logging.INFO if attempted.ok else logging.WARNING
        log.log(level, "action=%s target=%s rule=%s mode=live outcome=%s attempts=%d%s",
                kind, target, action.rule, outcome, attempted.attempts,
                f" error={attempted.error_text!r}" if attempted.error_text else "")
        return ActionResult(kind, target, action.rule, "live", outcome,
                            attempted.error_text or "")

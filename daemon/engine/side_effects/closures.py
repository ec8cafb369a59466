"""Closing an overloaded restaurant and reopening it, only ever our own closure.

The platform's state is read before every switch: a restaurant that is
closed already was closed by someone else, and is never ours to reopen. An
answer that was lost is settled by reading the state back. The row in
``restaurant_closures`` under ``active_key`` is the claim: one per
restaurant while a closure is in force, so replicas close and reopen once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.actions import CloseRestaurant, ReopenRestaurant, RestaurantAction
from daemon.domain.timeutil import utcnow
from daemon.engine.side_effects.results import ActionResult
from daemon.store import connect, schema
from daemon.store.names import Names
from daemon.store.upsert import insert_unless_taken

if TYPE_CHECKING:  # a dry run never sends, and never loads the HTTP client
    from daemon.dukkango.executor import Attempted, Executor

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

# Why a close may not go out right now (a pause created since the plan), or None.
ClosureRecheck = Callable[[CloseRestaurant], "str | None"]


class Closures:
    def __init__(
        self, *, engine: sa.Engine, executor: Executor, names: Names | None = None
    ) -> None:
        self._names = names or Names()
        self._engine = engine
        self._executor = executor

    def apply(
        self, actions: Iterable[RestaurantAction], *, recheck: ClosureRecheck | None = None
    ) -> list[ActionResult]:
        """Close and reopen; ``recheck`` says, right before a close, why it may not go out now."""
        results = []
        for action in actions:
            if isinstance(action, CloseRestaurant):
                held = None if recheck is None else recheck(action)
                if held is not None:
                    log.warning(
                        "action=close_restaurant target=%s rule=%s mode=live outcome=skipped: "
                        "not sent, %s",
                        action.restaurant_id,
                        action.rule,
                        held,
                    )
                result = (
                    self._close(action)
                    if held is None
                    else ActionResult.skipped(action, f"not sent: {held}", self._names)
                )
            else:
                result = self._reopen(action)
            if result is not None:
                results.append(result)
        return results

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
            return ActionResult.skipped(action, "already closed by someone else", self._names)
        if attempted.ok:
            self._update_closure(claimed, close_outcome="closed")
        else:
            self._update_closure(
                claimed, close_outcome="failed", active_key=None, last_error=attempted.error_text
            )
        return ActionResult.live(action, attempted, self._names)

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
            return ActionResult.skipped(action, "already open again", self._names)
        if attempted.ok:
            self._update_closure(
                action.closure_id, reopened_at=utcnow(), reopen_outcome="reopened", active_key=None
            )
        else:
            # Not reopened: release the claim so a later pass tries again.
            self._update_closure(
                action.closure_id, reopen_outcome=None, last_error=attempted.error_text
            )
        return ActionResult.live(action, attempted, self._names)

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

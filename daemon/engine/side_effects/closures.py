"""Closing an overloaded restaurant and reopening it, only ever our own closure.

The platform's state is read before every switch: a restaurant that is
closed already was closed by someone else, and is never ours to reopen. An
answer that was lost is settled by reading the state back. The row in
``restaurant_closures`` under ``active_key`` is the claim: one per
restaurant while a closure is in force, so replicas close and reopen once.

People may end a closure of ours first (daemon.domain.overrides):
``autocancel reopen`` goes through :meth:`Closures.reopen`, the very claim,
call and read-back of the rule's own reopening, with the operator's name;
``autocancel release`` gives the claim up without a call (:func:`release`);
and :meth:`Closures.watch` reads the platform's status of the restaurants we
hold closed, at most once per ``every`` each (the pace shared by replicas
through ``status_checked_at``), and ends the claim of one that staff opened
on Dükkango instead of closing it again. A reopen whose answer was lost and
could not be read back is ``unknown``: nobody sends another until the next
status read settles it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal

import sqlalchemy as sa

from daemon.domain.actions import CloseRestaurant, ReopenRestaurant, RestaurantAction
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.engine.side_effects import announce
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

# A reopen whose answer was lost and could not be read back: it may have gone
# through. The closure stays in force and claimed until a status read settles it.
UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Switched:
    """What a switch came to: the last call's result, and whether the switch was sent."""

    attempted: Attempted
    already: bool  # the platform showed that state already: nothing sent
    sent: bool  # the open/close call went out (a failed status read sends nothing)

    @property
    def answer_lost(self) -> bool:
        """The switch went out and its answer was lost: it may have gone through."""
        return self.sent and self.attempted.answer_lost


class _UnreadableStatus:
    """Restaurants whose status read failed: said once per outage, not once per pass."""

    def __init__(self) -> None:
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, restaurant_id: str) -> bool:
        """True the first time in a row: log it."""
        with self._lock:
            first = restaurant_id not in self._failing
            self._failing.add(restaurant_id)
            return first

    def read(self, restaurant_id: str) -> bool:
        """True when it had been failing: log that it is readable again."""
        with self._lock:
            if restaurant_id in self._failing:
                self._failing.discard(restaurant_id)
                return True
            return False


_UNREADABLE = _UnreadableStatus()


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
                result = self.reopen(action)
            if result is not None:
                results.append(result)
        return results

    def _close(self, action: CloseRestaurant) -> ActionResult | None:
        table = schema.restaurant_closures
        now = utcnow()
        with connect.writer(self._engine) as connection, connection.begin():
            claimed = connection.execute(
                insert_unless_taken(connection, table, "active_key")
                .values(
                    restaurant_id=action.restaurant_id,
                    rule=action.rule,
                    closed_at=now,
                    close_outcome="pending",
                    evidence=dict(action.evidence),
                    active_key=action.restaurant_id,
                    # The close reads the status right now: the watch's first
                    # read is one pace later.
                    status_checked_at=now,
                )
                .returning(table.c.id)
            ).scalar()
        if claimed is None:
            return None  # closed by us already (perhaps by a replica)
        switched = self._switch(action.restaurant_id, to_open=False)
        attempted, already = switched.attempted, switched.already
        if switched.answer_lost and self._platform_shows(action.restaurant_id, "Closed"):
            attempted = replace(attempted, ok=True, error=None)  # it went through: ours
        if already:
            # Someone closed it before us: not ours, so never ours to reopen. The
            # claim is withdrawn rather than kept, so an overload that lasts
            # does not add a row every pass (the log line says what happened).
            with connect.writer(self._engine) as connection, connection.begin():
                connection.execute(sa.delete(table).where(table.c.id == claimed))
            return ActionResult.skipped(action, "already closed by someone else", self._names)
        if attempted.ok:
            self._update_closure(
                claimed, close_outcome="closed", announce_as=("restaurant_closed", action)
            )
        else:
            self._update_closure(
                claimed, close_outcome="failed", active_key=None, last_error=attempted.error_text
            )
        return ActionResult.live(action, attempted, self._names)

    def reopen(self, action: ReopenRestaurant) -> ActionResult | None:
        """Reopen our closure, the rule's way or (``action.by``) an operator's; None: not ours now.

        One path for both: only the daemon or person whose conditional update
        wins the claim sends, the platform is read first (open already: no
        call), and a lost answer is read back. ``by`` is recorded as an
        override (reopen), so the rule does not close the restaurant again at once.
        """
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            # Only one daemon (or operator) reopens: the one whose conditional update
            # wins; and only once the close itself went through (not while a replica
            # still waits for its answer: that close would land after the reopen).
            claimed = connection.execute(
                sa.update(table)
                .where(
                    table.c.id == action.closure_id,
                    table.c.active_key.is_not(None),
                    table.c.close_outcome == "closed",
                    table.c.reopen_outcome.is_(None),
                )
                .values(reopen_outcome="pending")
            ).rowcount
        if not claimed:
            return None
        override: dict[str, Any] = (
            {} if action.by is None else {"override_kind": "reopen", "override_by": action.by}
        )
        try:
            switched = self._switch(action.restaurant_id, to_open=True)
        except BaseException:
            # Interrupted (Ctrl-C on `autocancel reopen`): the call may be out.
            # Unknown, like a lost answer: the next pass's status read settles it.
            self._update_closure(
                action.closure_id, reopen_outcome=UNKNOWN, status_checked_at=None, **override
            )
            raise
        attempted, already = switched.attempted, switched.already
        uncertain = False
        if switched.answer_lost:
            shown = self._platform_state(action.restaurant_id)
            if shown == "Open":
                attempted = replace(attempted, ok=True, error=None)
            uncertain = shown is None
        if already:
            self._update_closure(
                action.closure_id,
                reopened_at=utcnow(),
                reopen_outcome="already_open",
                active_key=None,
                **override,
            )
            return ActionResult.skipped(action, "already open again", self._names)
        if attempted.ok:
            self._update_closure(
                action.closure_id,
                reopened_at=utcnow(),
                reopen_outcome="reopened",
                active_key=None,
                announce_as=("restaurant_reopened", action),
                **override,
            )
        elif uncertain:
            # It may have gone through: counted as sent, never sent again blindly.
            # The closure stays in force, claimed as unknown, and the next pass's
            # status read (the watch, at once) says whether it is open now.
            self._update_closure(
                action.closure_id,
                reopen_outcome=UNKNOWN,
                last_error=attempted.error_text,
                status_checked_at=None,
                **override,
            )
        else:
            # Not reopened: release the claim so a later pass (or person) tries again.
            self._update_closure(
                action.closure_id, reopen_outcome=None, last_error=attempted.error_text
            )
        return ActionResult.live(action, attempted, self._names, uncertain=uncertain)

    def _switch(self, restaurant_id: str, *, to_open: bool) -> Switched:
        """Open or close a restaurant unless the platform already shows that state.

        Reading first is what keeps us from claiming (and later undoing)
        someone else's close. A read that fails sends nothing.
        """
        client = self._executor.client
        status = self._executor.attempt(
            partial(client.restaurant_status, restaurant_id),
            what=f"status restaurant={restaurant_id}",
        )
        if not status.ok:
            return Switched(status, already=False, sent=False)
        if status.value == ("Open" if to_open else "Closed"):
            return Switched(status, already=True, sent=False)
        call = client.open_restaurant if to_open else client.close_restaurant
        verb = "reopen" if to_open else "close"
        attempted = self._executor.attempt(
            partial(call, restaurant_id),
            what=f"{verb} restaurant={restaurant_id}",
            mutation=True,
        )
        return Switched(attempted, already=False, sent=True)

    def _platform_shows(self, restaurant_id: str, state: str) -> bool:
        """After a lost answer: read the restaurant's state back to learn what happened."""
        return self._platform_state(restaurant_id) == state

    def _platform_state(self, restaurant_id: str) -> str | None:
        """After a lost answer: "Open" or "Closed" as Dükkango shows it now; None: unknown."""
        status = self._executor.attempt(
            partial(self._executor.client.restaurant_status, restaurant_id),
            what=f"status restaurant={restaurant_id} (after a lost answer)",
        )
        if not status.ok:
            log.warning(
                "restaurant=%s: the answer was lost and the state could not be read back "
                "(%s): it may have gone through",
                restaurant_id,
                status.error_text,
            )
            return None
        log.warning(
            "restaurant=%s: the answer was lost; Dükkango shows it %s", restaurant_id, status.value
        )
        return str(status.value)

    # --- the closures people end (daemon.domain.overrides) -------------------------------

    def watch(self, *, every: timedelta) -> list[ActionResult]:
        """Read the platform's status of the restaurants we hold closed, once per ``every`` each.

        One staff opened on Dükkango has its claim ended (override ``staff``):
        the rule respects that and does not close it again at once. A reopen
        of ours whose answer was lost (``unknown``) is settled either way. A
        read that fails changes nothing (said once per outage in the log).
        """
        results = []
        for row in self._claim_due(every):
            result = self._settle(row)
            if result is not None:
                results.append(result)
        return results

    def _claim_due(self, every: timedelta) -> list[sa.RowMapping]:
        """The closures in force whose last status read is ``every`` old, claimed for a read.

        The claim is a conditional update of ``status_checked_at``: of several
        replicas, one reads each restaurant per pace.
        """
        table = schema.restaurant_closures
        now = utcnow()
        claimed = []
        with connect.writer(self._engine) as connection, connection.begin():
            rows = connection.execute(
                sa.select(table)
                .where(_watched(table), _due(table, every, now))
                .order_by(table.c.id)
            ).mappings()
            for row in list(rows):
                won = connection.execute(
                    sa.update(table)
                    .where(
                        table.c.id == row["id"],
                        _same(table.c.status_checked_at, row["status_checked_at"]),
                    )
                    .values(status_checked_at=now)
                ).rowcount
                if won:
                    claimed.append(row)
        return claimed

    def _settle(self, row: sa.RowMapping) -> ActionResult | None:
        restaurant_id, shown_name = (
            row["restaurant_id"],
            self._names.restaurant(row["restaurant_id"]),
        )
        status = self._executor.attempt(
            partial(self._executor.client.restaurant_status, restaurant_id),
            what=f"status restaurant={restaurant_id} (closed by us: opened by staff since?)",
        )
        if not status.ok:
            if _UNREADABLE.failed(restaurant_id):
                log.warning(
                    "restaurant %s: cannot read its status on Dükkango (%s); its closure "
                    "stays as it is until a read succeeds (said once)",
                    shown_name,
                    status.error_text,
                )
            return None
        if _UNREADABLE.read(restaurant_id):
            log.info("restaurant %s: its status on Dükkango can be read again", shown_name)
        unknown = row["reopen_outcome"] == UNKNOWN
        if status.value == "Open":
            return self._ended_open(row, unknown=unknown)
        if unknown:
            # Our reopen did not go through after all: the closure is ours as before.
            self._settle_row(row, reopen_outcome=None, override_kind=None, override_by=None)
            log.warning(
                "restaurant %s: the reopen%s whose answer was lost did not go through: "
                "Dükkango still shows it closed; the closure stays in force",
                shown_name,
                f" asked by {row['override_by']}" if row["override_by"] else "",
            )
        return None

    def _ended_open(self, row: sa.RowMapping, *, unknown: bool) -> ActionResult | None:
        """Open on Dükkango: our lost reopen went through, or staff opened it."""
        now = utcnow()
        by_staff = not unknown
        ended = self._settle_row(
            row,
            active_key=None,
            reopened_at=now,
            reopen_outcome="already_open" if by_staff else "reopened",
            **({"override_kind": "staff", "override_by": None} if by_staff else {}),
        )
        if not ended:
            return None  # a replica or an operator settled it first
        action = ReopenRestaurant(
            row["restaurant_id"], row["rule"], row["id"], by=row["override_by"]
        )
        shown = self._names.restaurant(row["restaurant_id"])
        if not by_staff:
            log.warning(
                "restaurant %s: the reopen whose answer was lost went through (Dükkango shows "
                "it open); closure %d ended",
                shown,
                row["id"],
            )
            return ActionResult.settled(
                action, "the lost answer's reopen went through", self._names
            )
        log.warning(
            "restaurant %s was opened by staff on Dükkango while rule=%s held it closed "
            "(since %s): the closure is ended, not fought; the restaurant is not closed again "
            "until its load falls below reopen_below, at most respect_staff_minutes",
            shown,
            row["rule"],
            isoformat_z(row["closed_at"]),
        )
        return ActionResult.staff_reopened(action, self._names)

    def _settle_row(self, row: sa.RowMapping, **values: Any) -> bool:
        """Update the closure unless someone changed its claim since ``row`` was read."""
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            return bool(
                connection.execute(
                    sa.update(table)
                    .where(
                        table.c.id == row["id"],
                        table.c.active_key.is_not(None),
                        _same(table.c.reopen_outcome, row["reopen_outcome"]),
                    )
                    .values(**values)
                ).rowcount
            )

    def _update_closure(
        self,
        closure_id: int,
        *,
        announce_as: tuple[Literal["restaurant_closed", "restaurant_reopened"], RestaurantAction]
        | None = None,
        **values: Any,
    ) -> None:
        table = schema.restaurant_closures
        with connect.writer(self._engine) as connection, connection.begin():
            connection.execute(sa.update(table).where(table.c.id == closure_id).values(**values))
            if announce_as is not None:  # in the same transaction as the closure's record
                name, action = announce_as
                announce.restaurant(
                    connection,
                    name,
                    closure_id=closure_id,
                    restaurant_id=action.restaurant_id,
                    rule=action.rule,
                    evidence=action.evidence,
                    names=self._names,
                )


def _watched(table: sa.Table) -> sa.ColumnElement[bool]:
    """Closures whose status the watch reads: in force, closed by us, no reopen in flight."""
    return sa.and_(
        table.c.active_key.is_not(None),
        table.c.close_outcome == "closed",
        sa.or_(table.c.reopen_outcome.is_(None), table.c.reopen_outcome == UNKNOWN),
    )


def _due(table: sa.Table, every: timedelta, now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(table.c.status_checked_at.is_(None), table.c.status_checked_at <= now - every)


def watch_due(engine: sa.Engine, *, every: timedelta) -> bool:
    """Whether a status read is due (a read, no lock): most passes have none to make."""
    table = schema.restaurant_closures
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(table.c.id).where(_watched(table), _due(table, every, utcnow())).limit(1)
        ).first()
    return found is not None


def _same(column: sa.Column[Any], value: object) -> sa.ColumnElement[bool]:
    """``column`` still holds ``value`` (NULL included): the condition of a claim."""
    return column.is_(None) if value is None else column == value


def release(engine: sa.Engine, closure_id: int, *, by: str, now: datetime) -> bool:
    """Give up our claim on a closure without a call (``autocancel release``).

    The restaurant stays as it is on Dükkango (closed: staff keep it closed by
    hand); the daemon never reopens it, and respects the decision like a
    reopen. False when the closure is no longer ours to give up (reopened, or
    a reopen in flight or unsettled).
    """
    table = schema.restaurant_closures
    with connect.writer(engine) as connection, connection.begin():
        return bool(
            connection.execute(
                sa.update(table)
                .where(
                    table.c.id == closure_id,
                    table.c.active_key.is_not(None),
                    table.c.close_outcome == "closed",
                    table.c.reopen_outcome.is_(None),
                )
                .values(
                    active_key=None,
                    reopened_at=now,
                    reopen_outcome="released",
                    override_kind="release",
                    override_by=by,
                )
            ).rowcount
        )

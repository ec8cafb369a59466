"""``autocancel reopen`` and ``autocancel release``: people taking back a restaurant we closed.

``reopen`` goes through the very path of the congestion rule's own
reopening (:meth:`daemon.engine.side_effects.Closures.reopen`): the same
conditional claim, so of two operators, or an operator and the daemon, one
sends; the platform's state read first; a lost answer read back, and never
reported as done while unknown. ``release`` gives the daemon's claim up
without any call: staff keep the restaurant closed by hand, and the daemon
never reopens it. Both are recorded with who did it (``--by``, or the OS
user) and shown by ``status`` and ``audit``; afterwards the congestion rule
respects the decision (daemon.domain.overrides) until the load falls below
``reopen_below``, at most ``respect_staff_minutes``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from daemon.cli.person import os_user
from daemon.cli.restaurants import UnknownRestaurant, find_restaurant, person_problem
from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config, Restaurant
from daemon.domain import exitcodes
from daemon.domain.actions import ReopenRestaurant
from daemon.domain.overrides import MAX_RESPECT
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.engine.side_effects import ActionResult, Closures, release
from daemon.engine.side_effects.closures import UNKNOWN
from daemon.service.runtime import ApiSession, open_store
from daemon.store import closures, connect
from daemon.store.names import Names
from rules.congestion import CongestionRule


class _Refused(Exception):
    """Nothing was done, for the reason in the message; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def respect_note(config: Config, rule_name: str, since: datetime) -> str:
    """How long congestion leaves the restaurant alone once people ended the rule's closure."""
    rule = next(
        (r for r in config.rules if isinstance(r, CongestionRule) and r.name == rule_name), None
    )
    if rule is None:
        return f"(rule {rule_name} is no longer in {config.source})"
    until = since + min(MAX_RESPECT, timedelta(minutes=rule.respect_staff_minutes))
    return (
        f"the daemon does not close it again or cancel its orders for capacity until its "
        f"load falls below {rule.reopen_below}, at the latest until {isoformat_z(until)} "
        f"(respect_staff_minutes: {rule.respect_staff_minutes})"
    )


def _usage(command: str, problem: str) -> int:
    print(f"autocancel {command}: error: {problem}", file=sys.stderr)
    return exitcodes.INVALID_CONFIG


def _who(command: str, by: str | None) -> str | int:
    if by is None:
        return os_user()
    problem = person_problem("--by", by)
    return by.strip() if problem is None else _usage(command, problem)


def _closure_of(
    engine: sa.Engine, restaurant: Restaurant, names: Names, config: Config
) -> sa.RowMapping:
    """Our closure of ``restaurant`` in force; refused (exit 2) when there is none."""
    with engine.connect() as connection:
        found = closures.in_force(connection, restaurant.id)
        last = None if found is not None else closures.latest(connection, restaurant.id)
    if found is not None:
        return found
    shown = names.restaurant(restaurant.id)
    if last is None:
        history = "autocancel never closed it"
    else:
        history = (
            f"its last closure (rule {last['rule']}, {isoformat_z(last['closed_at'])}) "
            f"ended: {_ending(last, config)}"
        )
    raise _Refused(
        f"{shown} is not closed by autocancel ({history}); nothing was done",
        exitcodes.INVALID_CONFIG,
    )


def _ending(row: sa.RowMapping, config: Config) -> str:
    kind, at = row["override_kind"], row["reopened_at"]
    when = f" at {isoformat_z(at)}" if at is not None else ""
    if kind == "staff":
        return f"opened by staff on Dükkango{when}"
    if kind == "release":
        return f"released by {row['override_by']}{when}"
    if kind == "reopen":
        return f"reopened by {row['override_by']}{when}"
    if row["close_outcome"] == "failed":
        return f"the close failed ({row['last_error']})"
    return f"{row['reopen_outcome'] or 'reopened'} by rule {row['rule']}{when}"


def _busy(row: sa.RowMapping, names: Names) -> _Refused | None:
    """Why the closure cannot be claimed now (a close or reopen under way), or None."""
    shown = names.restaurant(row["restaurant_id"])
    if row["close_outcome"] != "closed":
        return _Refused(
            f"{shown} is being closed right now (the close call has not answered yet); "
            "nothing was done: try again in a moment",
            exitcodes.RUNTIME_FAILURE,
        )
    if row["reopen_outcome"] is None:
        return None
    if row["reopen_outcome"] == UNKNOWN:
        return _Refused(
            f"a reopen of {shown} is unsettled: its answer was lost ({row['last_error']}) and "
            "it may have gone through; the daemon's next status read settles it (autocancel "
            "run, or once); check the restaurant on Dükkango; nothing was sent",
            exitcodes.RUNTIME_FAILURE,
        )
    return _Refused(
        f"{shown} is being reopened right now (by the daemon or another operator); nothing "
        "was sent: run autocancel status to see how it ended",
        exitcodes.RUNTIME_FAILURE,
    )


@dataclass(frozen=True)
class _Request:
    """Who asks, for which restaurant, and the store to do it in (both commands)."""

    who: str
    restaurant: Restaurant
    names: Names
    engine: sa.Engine


def _request(command: str, config: Config, given: str, by: str | None) -> _Request | int:
    """The checked arguments and the open store, or the exit code of what was wrong."""
    who = _who(command, by)
    if isinstance(who, int):
        return who
    try:
        restaurant = find_restaurant(config, given)
    except UnknownRestaurant as exc:
        return _usage(command, str(exc))
    try:
        engine = open_store(config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    return _Request(who, restaurant, Names.of(config.restaurants), engine)


def reopen(config: Config, given: str, *, by: str | None) -> int:
    request = _request("reopen", config, given, by)
    if isinstance(request, int):
        return request
    engine = request.engine
    try:
        return _reopen(config, engine, request.restaurant, request.names, request.who)
    except _Refused as exc:
        print(f"autocancel reopen: error: {exc}", file=sys.stderr)
        return exc.code
    except (MissingCredentials, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()


def _reopen(
    config: Config, engine: sa.Engine, restaurant: Restaurant, names: Names, who: str
) -> int:
    row = _closure_of(engine, restaurant, names, config)
    shown = names.restaurant(restaurant.id)
    if (busy := _busy(row, names)) is not None:
        raise busy
    if config.dry_run:
        print(
            f"dry run (dry_run: true in {config.source}): would reopen {shown} (closed by "
            f"rule {row['rule']} since {isoformat_z(row['closed_at'])}); nothing was sent"
        )
        return exitcodes.OK
    require_credentials()
    action = ReopenRestaurant(
        restaurant.id, row["rule"], row["id"], evidence={"reopened_by": who}, by=who
    )
    with ApiSession(config) as api:
        result = Closures(engine=engine, executor=api.executor(), names=names).reopen(action)
    if result is None:
        with engine.connect() as connection:
            now_row = closures.in_force(connection, restaurant.id)
        if now_row is not None:
            raise _busy(now_row, names) or _Refused(
                f"{shown} could not be claimed; nothing was sent", exitcodes.RUNTIME_FAILURE
            )
        raise _Refused(
            f"{shown} was reopened meanwhile (by the daemon or another operator): "
            "nothing was sent; autocancel status shows how",
            exitcodes.RUNTIME_FAILURE,
        )
    return _report(config, result, row, who)


def _report(config: Config, result: ActionResult, row: sa.RowMapping, who: str) -> int:
    shown = result.shown_target
    note = respect_note(config, row["rule"], utcnow())
    if result.outcome == "done":
        print(
            f"reopened {shown} on Dükkango, by {who}: the closure by rule {row['rule']} "
            f"since {isoformat_z(row['closed_at'])} is ended; {note}"
        )
        return exitcodes.OK
    if result.outcome == "skipped":
        print(
            f"{shown} was already open on Dükkango (no call sent): the closure by rule "
            f"{row['rule']} is ended, by {who}; {note}"
        )
        return exitcodes.OK
    if result.uncertain:
        print(
            f"the answer to the reopen of {shown} was lost ({result.detail}) and Dükkango's "
            "state could not be read back: it counts as sent and may have gone through. "
            "The closure stays claimed until the daemon's next status read (autocancel "
            "run, or once) settles it; nobody sends another meanwhile. Check the restaurant "
            "on Dükkango.",
            file=sys.stderr,
        )
        return exitcodes.RUNTIME_FAILURE
    print(
        f"failed to reopen {shown}: {result.detail}; the closure stays in force",
        file=sys.stderr,
    )
    return exitcodes.RUNTIME_FAILURE


def release_command(config: Config, given: str, *, by: str | None) -> int:
    request = _request("release", config, given, by)
    if isinstance(request, int):
        return request
    who, restaurant, names, engine = (
        request.who,
        request.restaurant,
        request.names,
        request.engine,
    )
    try:
        row = _closure_of(engine, restaurant, names, config)
        if (busy := _busy(row, names)) is not None:
            raise busy
        if not release(engine, row["id"], by=who, now=utcnow()):
            with engine.connect() as connection:
                now_row = closures.in_force(connection, restaurant.id)
            if now_row is None:
                raise _Refused(
                    f"{names.restaurant(restaurant.id)} was reopened meanwhile; nothing was done",
                    exitcodes.RUNTIME_FAILURE,
                )
            raise _busy(now_row, names) or _Refused(
                f"{names.restaurant(restaurant.id)} could not be claimed; nothing was done",
                exitcodes.RUNTIME_FAILURE,
            )
    except _Refused as exc:
        print(f"autocancel release: error: {exc}", file=sys.stderr)
        return exc.code
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    print(
        f"released {names.restaurant(restaurant.id)}, by {who}: autocancel gave up its "
        f"closure (rule {row['rule']}, since {isoformat_z(row['closed_at'])}) and sent "
        "nothing; the restaurant stays as it is on Dükkango, and the daemon never reopens "
        f"it; {respect_note(config, row['rule'], utcnow())}"
    )
    return exitcodes.OK

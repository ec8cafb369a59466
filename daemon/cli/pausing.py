"""``autocancel pause``, ``resume`` and ``pauses``: staff's off-switch, always with an end.

A pause is stored in the store (daemon.store.pauses), so every daemon on it,
``once`` and every restart honour it from their next pass, and it ends by
itself at ``until``: no command has to run. A running daemon is woken by the
write (the change signals), so a pause or a resume takes effect within a
second; a pass in flight checks again before every call it still makes.

These commands work while rules.yaml is invalid (with a warning, as
``status`` does): the moment a daemon runs on its last good rules is exactly
when staff may need to switch it off. Mistakes are one line and exit 2.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import sys
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from daemon.cli.pause_view import pause_record, scope_of, state_text
from daemon.cli.person import os_user
from daemon.cli.report import table
from daemon.config.models import Config, Restaurant
from daemon.domain import exitcodes
from daemon.domain.pauses import (
    DEFAULT_MAX_PAUSE_HOURS,
    MAX_AUTHOR_CHARS,
    MAX_COMMENT_CHARS,
    BadPause,
    Pause,
    describe_span,
    pause_end,
    typed_text,
)
from daemon.domain.printable import json_printable, printable
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.domain.windows import zone_name
from daemon.service.runtime import open_store
from daemon.store import connect, pauses
from daemon.store.names import Names
from daemon.store.readonly import ReadingConfig


class _Usage(Exception):
    """A mistake in what was typed: one line, exit 2."""


def _error(command: str, message: str) -> None:
    print(f"autocancel {command}: error: {message}", file=sys.stderr)


def operator() -> str:
    """Who runs the command: the person behind sudo, else the OS user."""
    return os.environ.get("SUDO_USER", "").strip() or os_user()


def _author(by: str | None) -> str:
    if by is None:
        return operator()[:MAX_AUTHOR_CHARS]
    try:
        return typed_text("--by", by, limit=MAX_AUTHOR_CHARS, what="a name")
    except BadPause as exc:
        raise _Usage(str(exc)) from None


def _known(words: Sequence[str]) -> str:
    return ", ".join(words) if words else "none"


def _rule(reading: ReadingConfig, name: str) -> str:
    names = [rule.name for rule in reading.config.rules]
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    invalid = (
        " (rules.yaml is invalid: only the rules that still validate are known)"
        if not reading.valid
        else ""
    )
    raise _Usage(
        f"--rule {name!r} is not a rule in {reading.config.source}{hint} "
        f"(rules: {_known(names)}){invalid}"
    )


def _restaurant(config: Config, typed: str) -> Restaurant:
    """A restaurant of rules.yaml by its id, or by its name (any case)."""
    wanted = typed.strip()
    by_id = config.restaurant(wanted)
    if by_id is not None:
        return by_id
    named = [r for r in config.restaurants if r.name and r.name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise _Usage(
            f"--restaurant {typed!r} names {len(named)} restaurants in "
            f"{config.source}; give the id: {', '.join(r.id for r in named)}"
        )
    labels = [f"{r.name} ({r.id})" if r.name else r.id for r in config.restaurants]
    spellings = [r.name for r in config.restaurants if r.name] + [r.id for r in config.restaurants]
    close = difflib.get_close_matches(wanted, spellings, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise _Usage(
        f"--restaurant {typed!r} is not a restaurant in {config.source}{hint} "
        f"(restaurants: {_known(labels)})"
    )


def _open(reading: ReadingConfig) -> sa.Engine | None:
    try:
        return open_store(reading.config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def pause(
    reading: ReadingConfig,
    *,
    rule: str | None,
    restaurant: str | None,
    for_text: str | None,
    until_text: str | None,
    comment: str | None,
    by: str | None,
) -> int:
    config = reading.config
    now = utcnow()
    max_hours = (
        config.safety.max_pause_hours if reading.trusts("safety") else DEFAULT_MAX_PAUSE_HOURS
    )
    try:
        end = _pause_end(for_text, until_text, now=now, config=config, max_hours=max_hours)
        why = _comment(comment)
        who = _author(by)
        rule_name = None if rule is None else _rule(reading, rule)
        where = None if restaurant is None else _restaurant(config, restaurant)
    except _Usage as exc:
        _error("pause", str(exc))
        return exitcodes.INVALID_CONFIG
    engine = _open(reading)
    if engine is None:
        return exitcodes.RUNTIME_FAILURE
    try:
        with connect.writer(engine) as connection, connection.begin():
            made = pauses.create(
                connection,
                rule=rule_name,
                restaurant_id=None if where is None else where.id,
                until=end,
                comment=why,
                created_by=who,
                host=socket.gethostname(),
                now=now,  # the clock the end was read on: --for 2h lasts 2 h
            )
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot store the pause: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    names = Names.of(config.restaurants)
    local = f"{made.until.astimezone(config.zone):%Y-%m-%d %H:%M} {zone_name(config.zone)}"
    print(
        f"paused {scope_of(made, names)} until {local} ({isoformat_z(made.until)}, in "
        f"{describe_span(made.until - made.created_at)}): pause {made.id}, by "
        f'{printable(made.created_by)}: "{printable(made.comment)}"'
    )
    print(
        "no automatic cancellation, closure or food deactivation goes out for it (reopenings "
        f"and `autocancel cancel` still do); it ends by itself, or: autocancel resume {made.id}"
    )
    return exitcodes.OK


def _pause_end(
    for_text: str | None,
    until_text: str | None,
    *,
    now: datetime,
    config: Config,
    max_hours: float,
) -> datetime:
    try:
        return pause_end(
            for_text=for_text, until_text=until_text, now=now, zone=config.zone, max_hours=max_hours
        )
    except BadPause as exc:
        raise _Usage(str(exc)) from None


def _comment(comment: str | None) -> str:
    try:
        return typed_text(
            "--comment",
            comment,
            limit=MAX_COMMENT_CHARS,
            what="a reason, for whoever reads status and audit later (e.g. --comment "
            "'kitchen fire drill')",
        )
    except BadPause as exc:
        raise _Usage(str(exc)) from None


def _pause_id(typed: str) -> int:
    cleaned = typed.strip().removeprefix("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise _Usage(
            f"{typed!r} is not a pause id; `autocancel pauses` lists them (e.g. "
            "autocancel resume 3)"
        )
    return int(cleaned)


def resume(reading: ReadingConfig, *, pause_id: str | None, every: bool, by: str | None) -> int:
    try:
        who = _author(by)
        wanted = None if pause_id is None else _pause_id(pause_id)
        if wanted is not None and every:
            raise _Usage("give a pause id or --all, not both")
    except _Usage as exc:
        _error("resume", str(exc))
        return exitcodes.INVALID_CONFIG
    engine = _open(reading)
    if engine is None:
        return exitcodes.RUNTIME_FAILURE
    names = Names.of(reading.config.restaurants)
    try:
        return _resume(engine, names, wanted=wanted, every=every, who=who)
    except _Usage as exc:
        _error("resume", str(exc))
        return exitcodes.INVALID_CONFIG
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot resume: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()


def _resume(engine: sa.Engine, names: Names, *, wanted: int | None, every: bool, who: str) -> int:
    now = utcnow()
    with connect.writer(engine) as connection, connection.begin():
        if wanted is not None:
            found = pauses.find(connection, wanted)
            if found is None:
                raise _Usage(f"there is no pause {wanted}; `autocancel pauses` lists them")
            chosen: tuple[Pause, ...] = (found,)
        else:
            chosen = pauses.in_force(connection, now)
            if not chosen:
                print("no pause is in force; nothing to resume")
                return exitcodes.OK
            if len(chosen) > 1 and not every:
                raise _Usage(
                    f"{len(chosen)} pauses are in force ({', '.join(str(p.id) for p in chosen)}):"
                    " name the one to resume (autocancel resume ID), or resume them all with "
                    "--all; `autocancel pauses` lists them"
                )
        ended = [p for p in chosen if pauses.resume(connection, p.id, by=who, now=now)]
    for pause in chosen:
        if pause in ended:
            print(
                f"resumed pause {pause.id} ({scope_of(pause, names)}, paused by "
                f'{printable(pause.created_by)}: "{printable(pause.comment)}"); what it held '
                "goes ahead from the next pass"
            )
        else:
            print(f"pause {pause.id} had already ended ({state_text(pause, now)}); nothing to do")
    return exitcodes.OK


def list_pauses(reading: ReadingConfig, *, as_json: bool, every: bool) -> int:
    engine = _open(reading)
    if engine is None:
        return exitcodes.RUNTIME_FAILURE
    now = utcnow()
    try:
        with engine.connect() as connection:
            found = pauses.every_pause(connection) if every else pauses.in_force(connection, now)
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot read the pauses: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    names = Names.of(reading.config.restaurants)
    if as_json:
        for pause in found:
            print(json_printable(json.dumps(pause_record(pause, names, now), ensure_ascii=False)))
        return exitcodes.OK
    if not found:
        print("no pause on record" if every else "no pause is in force")
        return exitcodes.OK
    rows = [
        (
            str(pause.id),
            scope_of(pause, names),
            isoformat_z(pause.until),
            state_text(pause, now),
            printable(pause.created_by),
            isoformat_z(pause.created_at),
            printable(pause.comment),
        )
        for pause in found
    ]
    print(table(rows, ("ID", "SCOPE", "UNTIL", "STATE", "BY", "SINCE", "COMMENT")))
    return exitcodes.OK

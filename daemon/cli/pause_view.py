"""How a pause reads to an operator: one JSON object, one line of text, the audit rows.

Shared by ``pauses``, ``status`` and ``audit``, so a pause looks the same in
each. What someone typed (comment, author) is escaped in text output
(daemon.domain.printable); JSON escapes by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from daemon.domain.pauses import Pause, PauseEvent, describe_span
from daemon.domain.printable import printable
from daemon.domain.timeutil import isoformat_z
from daemon.store.names import Names


def _iso(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


def pause_record(pause: Pause, names: Names, now: datetime) -> dict[str, Any]:
    """The ``pauses --json`` object (also an entry of ``status --json``'s ``pauses``)."""
    holding = pause.in_force(now)
    return {
        "id": pause.id,
        "rule": pause.rule,
        "restaurant_id": pause.restaurant_id,
        "restaurant_name": names.restaurant_name(pause.restaurant_id),
        "scope": scope_of(pause, names),
        "state": pause.state(now),
        "created_at": isoformat_z(pause.created_at),
        "created_by": pause.created_by,
        "host": pause.host,
        "until": isoformat_z(pause.until),
        "seconds_left": round((pause.until - now).total_seconds()) if holding else 0,
        "ended_at": _iso(pause.ended(now)),
        "ended_by": pause.ended_by,
        "comment": pause.comment,
    }


def scope_of(pause: Pause, names: Names) -> str:
    return pause.scope(names.restaurant(pause.restaurant_id) if pause.restaurant_id else None)


def state_text(pause: Pause, now: datetime) -> str:
    """``in force, 1 h 59 min left``, ``expired``, ``resumed by mehmet``."""
    state = pause.state(now)
    if state == "in_force":
        return f"in force, {describe_span(pause.until - now)} left"
    if state == "resumed":
        return f"resumed by {printable(pause.ended_by or 'unknown')}"
    return "expired"


def pause_line(pause: Pause, names: Names, now: datetime) -> str:
    """``pause 3: rule x at every restaurant until T (1 h 59 min left), by ayse: "..."``."""
    return (
        f"pause {pause.id}: {scope_of(pause, names)} until {isoformat_z(pause.until)} "
        f"({state_text(pause, now)}), by {printable(pause.created_by)}: "
        f'"{printable(pause.comment)}"'
    )


def audit_records(
    pauses: Iterable[Pause],
    names: Names,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every pause made, resumed or expired in [since, until), oldest first."""
    events: list[PauseEvent] = [
        event
        for pause in pauses
        for event in pause.events(now)
        if (since is None or event.at >= since) and (until is None or event.at < until)
    ]
    events.sort(key=lambda event: (event.at, event.pause.id))
    return [
        {
            "at": isoformat_z(event.at),
            "event": event.event,
            "pause": str(event.pause.id),
            "scope": scope_of(event.pause, names),
            "until": isoformat_z(event.pause.until),
            "by": printable(event.by) if event.by is not None else "(the clock)",
            "comment": printable(event.pause.comment),
        }
        for event in events
    ]

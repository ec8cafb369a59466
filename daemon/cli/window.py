"""``--since`` / ``--until`` of the reading commands (``audit``, ``summary``), as UTC moments.

``today`` and ``HH:MM`` are the restaurants' wall clock: rules.yaml's ``timezone``.
A bad value is a usage error: one line on stderr, exit 2 (contract).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from daemon.domain.timespec import FORMS, BadMoment, parse_moment
from daemon.domain.timeutil import isoformat_z


class UsageError(Exception):
    """A bad argument: one line on stderr, exit 2."""


def moment(flag: str, text: str | None, *, now: datetime, zone: tzinfo) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now=now, zone=zone)
    except BadMoment as exc:
        raise UsageError(f"{flag} {exc}; use {FORMS} (e.g. 2026-11-30T14:00:00Z)") from None


def window(
    since: str | None, until: str | None, *, now: datetime, zone: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """The moments ``since`` (inclusive) and ``until`` (exclusive); refused if out of order."""
    start = moment("--since", since, now=now, zone=zone)
    end = moment("--until", until, now=now, zone=zone)
    if start is not None and end is not None and start > end:
        raise UsageError(
            f"--since {since!r} ({isoformat_z(start)}) is after --until "
            f"{until!r} ({isoformat_z(end)}): no entry can match"
        )
    return start, end

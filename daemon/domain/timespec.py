"""The moments an operator types for ``--since`` and ``--until``.

``2026-11-30T14:00:00Z`` (ISO 8601; UTC unless it carries an offset), ``today``
(local midnight), ``1h`` / ``30m`` / ``2d`` / ``90s`` (that long before now)
and ``14:00`` (today at that local time). "Local" is the zone the caller
gives: rules.yaml's ``timezone``, the wall clock of the restaurants and of
every window, wherever a configuration is at hand; without one, the
machine's time zone (``TZ``), the one ``date`` shows. What autocancel prints
stays UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from daemon.domain.timeutil import parse_timestamp
from daemon.domain.windows import local_instant

FORMS: Final = "today, a duration such as 1h, 30m or 2d, a local time HH:MM, or ISO 8601"

_DURATION: Final = re.compile(r"(?P<amount>\d+)\s*(?P<unit>s|m|min|h|d)")
_UNITS: Final = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_CLOCK: Final = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})")


class BadMoment(ValueError):
    """The text is none of :data:`FORMS`."""


def _local_today_at(now: datetime, hour: int, minute: int, zone: tzinfo | None) -> datetime:
    if zone is not None:
        return local_instant(now.astimezone(zone).date(), hour * 60 + minute, zone)
    # A naive local time converted by astimezone() goes through the C
    # library's mktime, which knows the zone's DST rules for that very day.
    today = now.astimezone().date()
    return datetime(today.year, today.month, today.day, hour, minute).astimezone(UTC)


def parse_moment(text: str, *, now: datetime, zone: tzinfo | None = None) -> datetime:
    """The UTC moment ``text`` names, read at the clock ``now``; BadMoment if unreadable.

    ``today`` and ``HH:MM`` are read on the wall clock of ``zone``; None: the machine's.
    """
    cleaned = text.strip().lower()
    if cleaned == "today":
        return _local_today_at(now, 0, 0, zone)
    if (duration := _DURATION.fullmatch(cleaned)) is not None:
        amount = int(duration["amount"])
        try:
            return now - timedelta(**{_UNITS[duration["unit"]]: amount})
        except OverflowError:
            raise BadMoment(f"{text!r} reaches back before the year 1") from None
    if (clock := _CLOCK.fullmatch(cleaned)) is not None:
        hour, minute = int(clock["hour"]), int(clock["minute"])
        if hour > 23 or minute > 59:
            raise BadMoment(f"{text!r} is not a time of day (00:00 to 23:59)")
        return _local_today_at(now, hour, minute, zone)
    try:
        return parse_timestamp(text)
    except ValueError:
        raise BadMoment(f"{text!r} is not a time autocancel reads") from None

"""The times and durations a rules test is written in.

A moment is ``now`` (the step's clock), an offset from the step's clock
(``-10m``, ``+1h30m``, ``-2d``), or ISO 8601 (``2026-11-27T21:00:00``, read on
the wall clock of the test file's ``timezone`` unless it carries an offset
such as ``Z`` or ``+03:00``). A duration is ``90s``, ``5m``, ``1h30m``, ``2d``.
Operators write restaurant time, so a time without offset is local here,
unlike the store's timestamps, where naive means UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any, Final

from pydantic import PlainValidator

_DURATION: Final = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_OFFSET: Final = re.compile(r"([+-])\s*(\S+)")

MOMENT_FORMS: Final = (
    "now, an offset from the step's clock such as -10m or +1h30m, or ISO 8601 such as "
    "2026-11-27T21:00:00 (the timezone's wall clock unless it has an offset)"
)
DURATION_FORMS: Final = "a duration such as 90s, 5m, 1h30m or 2d"


def parse_duration(text: str) -> timedelta | None:
    """``1h30m`` -> 90 minutes; None when ``text`` is not a duration."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True, slots=True)
class Moment:
    """A time as written: an instant (aware, or naive local) or an offset from a clock."""

    instant: datetime | None = None
    offset: timedelta | None = None

    @property
    def relative(self) -> bool:
        return self.instant is None

    def at(self, clock: datetime, zone: tzinfo) -> datetime:
        """The UTC instant this moment names, on the step clock ``clock``."""
        if self.instant is None:
            return clock + (self.offset or timedelta())
        if self.instant.tzinfo is None:
            # fold=0: a wall time the clocks repeat is its first occurrence.
            return self.instant.replace(tzinfo=zone).astimezone(UTC)
        return self.instant.astimezone(UTC)


def read_moment(value: Any) -> Moment:
    """A :class:`Moment` from YAML (text, or the timestamp YAML made of it); ValueError else."""
    if isinstance(value, datetime):
        return Moment(instant=value)
    if isinstance(value, date):
        raise ValueError(
            f"must be a time, not only a day (got {value}); add the time: {value}T12:00"
        )
    if not isinstance(value, str):
        raise ValueError(f"must be a time: {MOMENT_FORMS} (got {value!r})")
    text = value.strip()
    if text.lower() == "now":
        return Moment(offset=timedelta())
    if (signed := _OFFSET.fullmatch(text)) is not None:
        amount = parse_duration(signed[2])
        if amount is None:
            raise ValueError(f"must be a time: {MOMENT_FORMS} (got {value!r})")
        return Moment(offset=-amount if signed[1] == "-" else amount)
    try:
        return Moment(instant=datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"must be a time: {MOMENT_FORMS} (got {value!r})") from None


def read_duration(value: Any) -> timedelta:
    """A positive duration from YAML text; ValueError with the forms otherwise."""
    found = parse_duration(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"must be {DURATION_FORMS} (got {value!r})")
    if found <= timedelta():
        raise ValueError(f"must be longer than 0 (got {value!r})")
    return found


# Field types for the test file's pydantic models.
MomentField = Annotated[Moment, PlainValidator(read_moment)]
DurationField = Annotated[timedelta, PlainValidator(read_duration)]

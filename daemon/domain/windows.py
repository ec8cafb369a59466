"""Time windows: the hours, days and dates when something is in force.

The vocabulary behind a rule's ``active_hours`` / ``active_days`` and the
top-level ``quiet_windows`` of rules.yaml, judged on one instant (the pass
clock) in one IANA time zone (``timezone``). Pure: no clock is read here.

The conventions (README, "Time windows"):

- A range is ``HH:MM-HH:MM`` of wall-clock time in the zone, the start
  included and the end excluded: ``11:00-15:00`` holds from 11:00:00 until
  14:59:59. ``24:00`` may end a range (``18:00-24:00``; ``00:00-24:00`` is
  the whole day). A range whose end is not after its start runs overnight
  into the next day (``23:30-01:00``); a range that starts where it ends
  (``12:00-12:00``) is empty, and an error.
- A range belongs to the day it starts on, as delivery platforms schedule
  opening hours: ``23:30-01:00`` on ``fri`` holds from Friday 23:30 until
  Saturday 01:00, and Friday 00:30 is not in it (Thursday's would be).
  Days and dates filter the start day; a window without hours covers whole
  days (from midnight to midnight).
- Across a DST change the edges stay on the wall clock, so that day a window
  lasts an hour more or less. An edge in the hour the clocks skip (02:30 the
  night they go forward) falls when they jump; an edge in the hour they
  repeat is its first occurrence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import IntEnum
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from daemon.domain.timeutil import ISTANBUL, isoformat_z

DEFAULT_TIMEZONE: Final = "Europe/Istanbul"
MINUTES_PER_DAY: Final = 24 * 60
ONE_DAY: Final = timedelta(days=1)

# "HH:MM-HH:MM", one- or two-digit hours, spaces allowed around the dash.
_RANGE: Final = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_DATE_SPAN_SEPARATOR: Final = ".."
# How far `until` of a quiet spell follows windows that continue one another
# (sat + sun, a date range): a year of days, so a window that never ends
# cannot loop forever.
_MAX_CONTINUATIONS: Final = 400


class Day(IntEnum):
    """A day of the week, numbered as :meth:`datetime.date.weekday` numbers them."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6

    def __str__(self) -> str:
        return self.name.lower()


DAY_NAMES: Final = tuple(str(day) for day in Day)
_DAYS_BY_NAME: Final[Mapping[str, Day]] = {
    **{str(day): day for day in Day},
    **{
        name: day
        for day, name in zip(
            Day,
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            strict=True,
        )
    },
}


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class HourRange:
    """``start``-``end`` in minutes after midnight; an ``end`` not after ``start`` is next day's."""

    start: int  # 0 .. 1439
    end: int  # 0 .. 1440 (24:00); 00:00 as an end is the next midnight

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


WHOLE_DAY: Final = HourRange(0, MINUTES_PER_DAY)


@dataclass(frozen=True, slots=True)
class DateSpan:
    """The calendar days ``first`` to ``last``, both included."""

    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}{_DATE_SPAN_SEPARATOR}{self.last.isoformat()}"


@dataclass(frozen=True, slots=True)
class Span:
    """One occurrence of a window: from ``start`` (included) to ``end`` (excluded), aware UTC."""

    start: datetime
    end: datetime

    def __contains__(self, instant: object) -> bool:
        return isinstance(instant, datetime) and self.start <= instant < self.end


# --- reading the words of rules.yaml ----------------------------------------------------


def parse_hour_range(text: str) -> HourRange:
    """``"23:30-01:00"`` as an :class:`HourRange`; ValueError saying what is wrong."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a time range; write HH:MM-HH:MM such as '11:00-15:00' "
            "(or '23:30-01:00' overnight)"
        )
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    start = _minutes(text, start_hour, start_minute, end=False)
    end = _minutes(text, end_hour, end_minute, end=True)
    if start == end:
        raise ValueError(
            f"{text!r} is an empty range: it ends where it starts; for the whole day write "
            "'00:00-24:00', or leave the hours out"
        )
    return HourRange(start, end)


def _minutes(text: str, hour: int, minute: int, *, end: bool) -> int:
    if (hour, minute) == (24, 0):
        if end:
            return MINUTES_PER_DAY
        raise ValueError(f"{text!r}: 24:00 may only end a range; start at 00:00 instead")
    if hour > 23 or minute > 59:
        allowed = "00:00 to 23:59, or 24:00 as an end" if end else "00:00 to 23:59"
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day ({allowed})")
    return hour * 60 + minute


def parse_day(text: str) -> Day:
    """``"fri"`` (any case, or ``"friday"``) as a :class:`Day`; ValueError otherwise."""
    found = _DAYS_BY_NAME.get(text.strip().lower())
    if found is None:
        raise ValueError(f"unknown day {text!r}; use {', '.join(DAY_NAMES)}")
    return found


def parse_date_span(text: str) -> DateSpan:
    """``"2026-12-31"`` or ``"2026-12-24..2026-12-26"`` as a :class:`DateSpan`."""
    first_text, separator, last_text = text.strip().partition(_DATE_SPAN_SEPARATOR)
    first = _date(text, first_text)
    last = _date(text, last_text) if separator else first
    if last < first:
        raise ValueError(
            f"{text!r} ends before it starts; write the earlier date first "
            f"({last.isoformat()}{_DATE_SPAN_SEPARATOR}{first.isoformat()})"
        )
    return DateSpan(first, last)


def _date(text: str, part: str) -> date:
    try:
        if len(part.strip()) != 10:
            raise ValueError(part)
        return date.fromisoformat(part.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date; write YYYY-MM-DD such as '2026-12-31', or a range "
            "such as '2026-12-24..2026-12-26'"
        ) from None


@cache
def time_zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (``Europe/Istanbul``); ValueError naming it, with a suggestion.

    Europe/Istanbul works even on a system without time zone data: Türkiye
    keeps UTC+3 all year (daemon.domain.timeutil).
    """
    if name == DEFAULT_TIMEZONE:
        return ISTANBUL
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    known = available_timezones()  # tens of milliseconds: only for the message
    if not known:
        raise ValueError(
            f"cannot check time zone {name!r}: this system has no time zone data; install "
            "it (apt-get install tzdata, or pip install tzdata)"
        ) from None
    by_case = {zone.lower(): zone for zone in known}
    close = [by_case[name.lower()]] if name.lower() in by_case else []
    close = close or difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"unknown time zone {name!r}{hint} (an IANA name such as Europe/Istanbul, "
        "Europe/Berlin or America/New_York)"
    ) from None


def zone_name(zone: tzinfo) -> str:
    """How messages name a zone: its IANA key (``Europe/Berlin``)."""
    return str(getattr(zone, "key", None) or zone)


def local_clock(instant: datetime, zone: tzinfo) -> str:
    """``fri 2026-10-02 23:45``: an instant as the zone's wall clock and day show it."""
    local = instant.astimezone(zone)
    return f"{Day(local.weekday())} {local.strftime('%Y-%m-%d %H:%M')}"


# --- instants ---------------------------------------------------------------------------


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive wall-clock reading of ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(day: date, minutes: int, zone: tzinfo) -> datetime:
    """The first instant (aware UTC) at which the wall clock of ``zone`` reads ``day`` ``minutes``.

    ``minutes`` may be 1440, the next midnight. A wall time the clocks repeat
    is its first occurrence; one they skip is the moment they jump over it.
    """
    if minutes >= MINUTES_PER_DAY:
        day, minutes = day + ONE_DAY, minutes - MINUTES_PER_DAY
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first occurrence
    if _wall(first, zone) == wall:
        return first
    # In the gap of a spring-forward change. fold=0 and fold=1 read the wall
    # time with the offsets before and after it: the jump lies between them.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = int(min(first, other).timestamp()), int(max(first, other).timestamp())
    while high - low > 1:  # transitions fall on whole seconds
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


# --- windows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """When something is in force: ranges of hours, on some days of the week, on some dates.

    Empty ``hours``: whole days. Empty ``days``: every day. Empty ``dates``: any date.
    """

    hours: tuple[HourRange, ...] = ()
    days: tuple[Day, ...] = ()
    dates: tuple[DateSpan, ...] = ()

    @classmethod
    def parse(
        cls, *, hours: Iterable[str] = (), days: Iterable[str] = (), dates: Iterable[str] = ()
    ) -> Window:
        """From the words of rules.yaml; ValueError on the first one that is wrong."""
        return cls(
            hours=tuple(parse_hour_range(text) for text in hours),
            days=tuple(parse_day(text) for text in days),
            dates=tuple(parse_date_span(text) for text in dates),
        )

    def describe(self) -> str:
        """``fri 23:30-01:00``, ``sat,sun all day``, ``2026-12-31 19:00-23:30``."""
        parts = []
        if self.dates:
            parts.append(", ".join(str(span) for span in self.dates))
        if self.days:
            parts.append(",".join(str(day) for day in self.days))
        parts.append(", ".join(str(hours) for hours in self.hours) if self.hours else "all day")
        return " ".join(parts)

    def starts_on(self, day: date) -> bool:
        """Whether an occurrence of this window may start on the calendar ``day``."""
        if self.days and Day(day.weekday()) not in self.days:
            return False
        return not self.dates or any(day in span for span in self.dates)

    def spans_starting(self, day: date, zone: tzinfo) -> Iterator[Span]:
        """The occurrences that start on ``day``, one per range."""
        if not self.starts_on(day):
            return
        for hours in self.hours or (WHOLE_DAY,):
            end_day = day + ONE_DAY if hours.overnight else day
            yield Span(
                local_instant(day, hours.start, zone), local_instant(end_day, hours.end, zone)
            )

    def span_at(self, instant: datetime, zone: tzinfo) -> Span | None:
        """The occurrence holding ``instant`` (the one lasting longest), or None outside."""
        today = instant.astimezone(zone).date()
        # An occurrence lasts less than two calendar days: only yesterday's
        # (overnight) and today's can hold the instant.
        holding = [
            span
            for day in (today - ONE_DAY, today)
            for span in self.spans_starting(day, zone)
            if instant in span
        ]
        return max(holding, key=lambda span: span.end, default=None)

    def next_start(
        self, instant: datetime, zone: tzinfo, *, within_days: int = 8
    ) -> datetime | None:
        """When the next occurrence after ``instant`` starts (looking ``within_days`` ahead)."""
        today = instant.astimezone(zone).date()
        starts = [
            span.start
            for offset in range(-1, within_days + 1)
            for span in self.spans_starting(today + timedelta(days=offset), zone)
            if span.start > instant
        ]
        return min(starts, default=None)


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """One entry of ``quiet_windows``: a window when no automatic cancellation goes out."""

    window: Window
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.window.describe()


@dataclass(frozen=True, slots=True)
class QuietSpell:
    """A quiet window holding now, and when the quiet ends (windows continuing it included)."""

    quiet: QuietWindow
    until: datetime
    zone: tzinfo

    def evidence(self) -> dict[str, Any]:
        """What a decision it skipped records (``skipped_because: quiet_window``)."""
        return {
            "skipped_because": "quiet_window",
            "quiet_window": self.quiet.label,
            "window": self.quiet.window.describe(),
            "timezone": zone_name(self.zone),
            "quiet_until": isoformat_z(self.until),
        }

    def describe(self) -> str:
        local = self.until.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        return (
            f"quiet window {self.quiet.label!r} ({self.quiet.window.describe()}, "
            f"{zone_name(self.zone)}) until {local} local, {isoformat_z(self.until)}"
        )


def quiet_spell(
    windows: Sequence[QuietWindow], instant: datetime, zone: tzinfo
) -> QuietSpell | None:
    """The first quiet window (in file order) holding ``instant``, or None.

    ``until`` follows every window that continues the quiet without a gap
    (``sat`` then ``sun``, the days of a date range), so it is when automatic
    cancellation really resumes.
    """
    holding = next(
        ((quiet, span) for quiet in windows if (span := quiet.window.span_at(instant, zone))),
        None,
    )
    if holding is None:
        return None
    quiet, span = holding
    until = span.end
    for _ in range(_MAX_CONTINUATIONS):
        ends = [s.end for q in windows if (s := q.window.span_at(until, zone)) is not None]
        if not ends:
            break
        until = max(ends)
    return QuietSpell(quiet=quiet, until=until, zone=zone)

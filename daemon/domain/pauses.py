"""Pauses: staff switching automation off for a while, and what they type to do it.

A pause covers a scope (one rule, one restaurant, a rule at a restaurant, or
everything), always has an end, and names who paused and why. It holds from
the moment it is stored until ``until``, or until someone resumes it; its
end is a comparison with the pass clock, so it expires with no command run.
The engine turns each pause in force into a suspension (daemon.engine.safety):
the decisions it covers are ``skipped`` with :meth:`Pause.evidence`, and its
rules' closures and food deactivations are held with them.

Pure: no clock is read here, and the store is daemon.store.pauses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final, Literal

from daemon.domain.printable import printable
from daemon.domain.timeutil import isoformat_z, parse_timestamp
from daemon.domain.windows import MINUTES_PER_DAY, local_instant, zone_name

# What a person may type, stored as typed up to these lengths (longer is refused).
MAX_COMMENT_CHARS: Final = 500
MAX_AUTHOR_CHARS: Final = 100
DEFAULT_MAX_PAUSE_HOURS: Final = 24.0

SKIPPED_BECAUSE: Final = "paused"

PauseState = Literal["in_force", "resumed", "expired"]

DURATION_FORMS: Final = "30m, 2h, 1h30m, 90s, 1d or end-of-day"
UNTIL_FORMS: Final = (
    "18:00 (today), 'tomorrow 09:00', end-of-day, or ISO 8601 such as 2026-12-01T18:00:00+03:00"
)
END_OF_DAY: Final = frozenset({"end-of-day", "eod", "end of day"})

# 1d2h30m, 90m, 45s, "1h 30m": each unit at most once, largest first.
_DURATION: Final = re.compile(
    r"(?:(?P<d>\d{1,9})\s*d)?\s*(?:(?P<h>\d{1,9})\s*h)?\s*"
    r"(?:(?P<m>\d{1,9})\s*m(?:in)?)?\s*(?:(?P<s>\d{1,9})\s*s)?"
)
_CLOCK: Final = re.compile(r"(?:(?P<day>today|tomorrow)\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})")
_BARE_CLOCK: Final = re.compile(r"\s*\d{1,2}:\d{2}\s*")


class BadPause(ValueError):
    """What was typed cannot make a pause; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class Pause:
    """One pause, as stored. ``rule``/``restaurant_id`` None: every rule / every restaurant."""

    id: int
    rule: str | None
    restaurant_id: str | None
    created_at: datetime
    until: datetime
    comment: str
    created_by: str
    host: str | None = None
    ended_at: datetime | None = None  # when someone resumed it
    ended_by: str | None = None

    def in_force(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.until

    def state(self, now: datetime) -> PauseState:
        if self.ended_at is not None and self.ended_at < self.until:
            return "resumed"
        return "in_force" if self.in_force(now) else "expired"

    def ended(self, now: datetime) -> datetime | None:
        """When it stopped holding (resumed, or ``until`` passed); None while in force."""
        state = self.state(now)
        if state == "resumed":
            return self.ended_at
        return self.until if state == "expired" else None

    def events(self, now: datetime) -> list[PauseEvent]:
        """What ``audit`` lists: the pause made, then resumed or expired (once it has)."""
        found = [PauseEvent(self.created_at, "paused", self.created_by, self)]
        state = self.state(now)
        if state == "resumed" and self.ended_at is not None:
            found.append(PauseEvent(self.ended_at, "resumed", self.ended_by, self))
        elif state == "expired":
            found.append(PauseEvent(self.until, "expired", None, self))
        return found

    @property
    def everything(self) -> bool:
        return self.rule is None and self.restaurant_id is None

    def scope(self, restaurant_label: str | None = None) -> str:
        """``rule payment-failed at Akat Şube (8f2b...)``, ``every rule at every restaurant``.

        ``restaurant_label`` is how the operator knows the restaurant (default: its id).
        """
        rule = "every rule" if self.rule is None else f"rule {printable(self.rule)}"
        if self.restaurant_id is None:
            return f"{rule} at every restaurant"
        return f"{rule} at {printable(restaurant_label or self.restaurant_id)}"

    def evidence(self) -> dict[str, Any]:
        """What a decision it skipped records (``skipped_because: paused``)."""
        return {
            "skipped_because": SKIPPED_BECAUSE,
            "pause_id": self.id,
            "paused_by": self.created_by,
            "comment": self.comment,
            "paused_until": isoformat_z(self.until),
            "pause_scope": {"rule": self.rule, "restaurant_id": self.restaurant_id},
        }

    def describe(self) -> str:
        """One line for explain and for a re-check that stops a send (typed text escaped)."""
        return (
            f"pause {self.id} by {printable(self.created_by)} until {isoformat_z(self.until)} "
            f'("{printable(self.comment)}")'
        )


@dataclass(frozen=True, slots=True)
class PauseEvent:
    """A pause beginning or ending, for the audit trail; ``by`` None: the clock ended it."""

    at: datetime
    event: Literal["paused", "resumed", "expired"]
    by: str | None
    pause: Pause


def in_force(pauses: Iterable[Pause], now: datetime) -> tuple[Pause, ...]:
    return tuple(pause for pause in pauses if pause.in_force(now))


def pause_ids(pauses: Iterable[Pause], now: datetime) -> frozenset[int]:
    """Which pauses hold at ``now``: what a pass compares with the last one's."""
    return frozenset(pause.id for pause in pauses if pause.in_force(now))


def describe_span(span: timedelta) -> str:
    """``2 h 05 min``, ``4 min 10 s``, ``12 s``: how long, as an operator reads it."""
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def typed_text(flag: str, text: str | None, *, limit: int, what: str) -> str:
    """``--comment``/``--by`` as stored: stripped, not empty, at most ``limit`` characters."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise BadPause(f"{flag} needs {what}")
    if len(cleaned) > limit:
        raise BadPause(f"{flag} is {len(cleaned)} characters long; at most {limit}")
    return cleaned


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1h30m``, ``90s``, ``1d``; BadPause otherwise (zero included)."""
    cleaned = text.strip().lower()
    found = _DURATION.fullmatch(cleaned)
    if not cleaned or found is None or not any(found.groupdict().values()):
        raise BadPause(f"--for {text!r} is not a duration; use {DURATION_FORMS}")
    parts = {unit: int(value or 0) for unit, value in found.groupdict().items()}
    try:
        span = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    except OverflowError:
        raise BadPause(f"--for {text!r} is longer than any pause may last") from None
    if span <= timedelta(0):
        raise BadPause(f"--for {text!r} lasts no time; a pause needs a length, such as 30m")
    return span


def _end_of_day(now: datetime, zone: tzinfo) -> datetime:
    return local_instant(now.astimezone(zone).date(), MINUTES_PER_DAY, zone)


def _local_clock(text: str, now: datetime, zone: tzinfo) -> datetime | None:
    found = _CLOCK.fullmatch(text)
    if found is None:
        return None
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour > 23 or minute > 59:
        raise BadPause(f"--until {text!r} is not a time of day (00:00 to 23:59)")
    day = now.astimezone(zone).date() + timedelta(days=1 if found["day"] == "tomorrow" else 0)
    return local_instant(day, hour * 60 + minute, zone)


def parse_until(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """The UTC moment ``--until`` names: HH:MM is today on ``zone``'s wall clock."""
    cleaned = " ".join(text.strip().lower().split())
    if cleaned in END_OF_DAY:
        return _end_of_day(now, zone)
    local = _local_clock(cleaned, now, zone)
    if local is not None:
        return local
    try:
        return parse_timestamp(text)
    except ValueError:
        raise BadPause(f"--until {text!r} is not a time; use {UNTIL_FORMS}") from None


def pause_end(
    *,
    for_text: str | None,
    until_text: str | None,
    now: datetime,
    zone: tzinfo,
    max_hours: float,
) -> datetime:
    """When a pause asked for at ``now`` ends: always given, in the future, within the limit."""
    if for_text is None and until_text is None:
        raise BadPause(
            f"a pause needs an end: --for DURATION ({DURATION_FORMS}) or --until TIME "
            f"({UNTIL_FORMS}); at most {max_hours:g} h (safety.max_pause_hours)"
        )
    if for_text is not None and until_text is not None:
        raise BadPause("give --for or --until, not both")
    longest = timedelta(hours=max_hours)
    if for_text is not None:
        flag, typed = "--for", for_text
        if " ".join(for_text.strip().lower().split()) in END_OF_DAY:
            end = _end_of_day(now, zone)
        else:
            span = parse_duration(for_text)
            if span > longest:
                raise BadPause(
                    f"--for {for_text!r} is {describe_span(span)}: longer than "
                    f"safety.max_pause_hours ({max_hours:g} h); every pause must end, pause "
                    "again later if need be"
                )
            end = now + span
    else:
        assert until_text is not None
        flag, typed = "--until", until_text
        end = parse_until(until_text, now=now, zone=zone)
    local = f"{end.astimezone(zone):%Y-%m-%d %H:%M} {zone_name(zone)}"
    if end <= now:
        hint = (
            f"; for tomorrow write --until 'tomorrow {typed.strip()}'"
            if _BARE_CLOCK.fullmatch(typed)
            else ""
        )
        raise BadPause(
            f"{flag} {typed!r} is {local} ({isoformat_z(end)}), which has passed "
            f"(now {now.astimezone(zone):%Y-%m-%d %H:%M}){hint}"
        )
    if end - now > longest:
        raise BadPause(
            f"{flag} {typed!r} ends {local}, {describe_span(end - now)} from now: longer than "
            f"safety.max_pause_hours ({max_hours:g} h); every pause must end, pause again later "
            "if need be"
        )
    return end

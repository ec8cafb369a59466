"""Time: the timestamps a POS writes, and the platform's time zone.

The contract: naive values are UTC; ``YYYY-MM-DD HH:MM:SS`` with or without
fractional seconds, with a space or ``T``, with or without an offset, are all
read correctly. Everything inside autocancel is an aware UTC ``datetime``.
Dükkango's own offset-less times (order dates, token expiry) are Istanbul
local time: :data:`ISTANBUL`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _istanbul() -> tzinfo:
    # Turkey has been on fixed UTC+3 without DST since 2016, so a system
    # without tz data can still read the API's offset-less times correctly.
    try:
        return ZoneInfo("Europe/Istanbul")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=3), "TRT")


#: The zone of every offset-less time the Dükkango platform sends or expects.
ISTANBUL = _istanbul()


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive means UTC (contract); aware values are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse a POS timestamp; raises ValueError with the offending text."""
    cleaned = text.strip()
    # fromisoformat (3.11) takes space or T, any fraction length, +03:00 and Z;
    # "+0300" and a trailing " UTC" are common POS spellings it does not take.
    if cleaned.endswith((" UTC", " GMT")):
        cleaned = cleaned[:-4]
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-4:].isdigit() and ":" in cleaned:
        cleaned = f"{cleaned[:-2]}:{cleaned[-2:]}"
    try:
        return as_utc(datetime.fromisoformat(cleaned))
    except ValueError:
        raise ValueError(f"unreadable timestamp {text!r}") from None


def format_db_timestamp(value: datetime) -> str:
    """The text form stored in SQLite: UTC, naive, sortable, microsecond precision."""
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")


def isoformat_z(value: datetime) -> str:
    """ISO 8601 UTC as operators read it in audit output: 2026-11-30T19:20:00Z."""
    return as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")

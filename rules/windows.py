"""The window keys of rules.yaml as pydantic field types: hours, days and dates.

Shared by a rule's ``active_hours`` / ``active_days`` and the entries of
``quiet_windows`` (daemon.config.models). Values stay the text of the file,
written the one canonical way (``09:00-15:00``, ``fri``, ``2026-12-31``), so
a reload names a change as the operator wrote it; the meaning is
:mod:`daemon.domain.windows`'s, which also says every convention.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from daemon.domain.windows import parse_date_span, parse_day, parse_hour_range


def _canonical_hours(text: str) -> str:
    return str(parse_hour_range(text))


def _canonical_day(text: str) -> str:
    return str(parse_day(text))


def _date_as_text(value: Any) -> Any:
    # YAML reads an unquoted 2026-12-31 as a date; it means the same as the text.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")  # refused below, as written: a date has no time
    return value


def _canonical_dates(text: str) -> str:
    return str(parse_date_span(text))


def _listed_once(values: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once; list each once")
    return values


def _not_empty(what: str, meaning: str) -> AfterValidator:
    def check(values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError(f"must list at least one {what}; leave the key out to mean {meaning}")
        return values

    return AfterValidator(check)


HourRangeText = Annotated[str, AfterValidator(_canonical_hours)]
DayText = Annotated[str, AfterValidator(_canonical_day)]
DateSpanText = Annotated[str, BeforeValidator(_date_as_text), AfterValidator(_canonical_dates)]

#: ``["11:00-15:00", "18:00-23:30"]``: at least one range, each once.
Hours = Annotated[
    tuple[HourRangeText, ...],
    Field(strict=False),
    _not_empty("time range", "all day"),
    AfterValidator(_listed_once),
]
#: ``[mon, tue, ...]``: at least one day, each once.
Days = Annotated[
    tuple[DayText, ...],
    Field(strict=False),
    _not_empty("day", "every day"),
    AfterValidator(_listed_once),
]
#: ``["2026-12-31", "2027-03-09..2027-03-11"]``: days or ranges of days, both ends included.
Dates = Annotated[
    tuple[DateSpanText, ...],
    Field(strict=False),
    _not_empty("date", "any date"),
    AfterValidator(_listed_once),
]

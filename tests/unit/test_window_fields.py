"""The window keys as pydantic field types (rules/windows.py): canonical text, clear refusals."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from rules.windows import Dates, Days, Hours


class Probe(BaseModel):
    """A model with the three keys, strict as every rules.yaml model is."""

    model_config = ConfigDict(strict=True, extra="forbid")

    hours: Hours = ("00:00-24:00",)
    days: Days = ("mon",)
    dates: Dates = ("2026-12-31",)


def refusal(**fields: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Probe.model_validate(fields)
    (error,) = caught.value.errors()
    return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"


def test_values_are_kept_in_their_canonical_spelling() -> None:
    probe = Probe.model_validate(
        {
            "hours": ["9:00 - 11:30"],
            "days": ["Friday"],
            "dates": [date(2026, 12, 31), "2027-03-20..2027-03-22"],
        }
    )

    assert (probe.hours, probe.days, probe.dates) == (
        ("09:00-11:30",),
        ("fri",),
        ("2026-12-31", "2027-03-20..2027-03-22"),
    )


def test_refusals_name_the_item() -> None:
    assert "hours.1: Value error, '12:00-12:00' is an empty range" in refusal(
        hours=["11:00-15:00", "12:00-12:00"]
    )
    assert refusal(days=["sat", "Saturday"]) == (
        "days: Value error, lists sat more than once; list each once"
    )
    assert refusal(dates=[]) == (
        "dates: Value error, must list at least one date; leave the key out to mean any date"
    )
    # YAML reads an unquoted "2026-12-31 18:00:00" as a timestamp: a date has no time.
    assert refusal(dates=[datetime(2026, 12, 31, 18, 0)]).startswith(
        "dates.0: Value error, '2026-12-31 18:00:00' is not a date"
    )

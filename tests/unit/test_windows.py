"""The window vocabulary (daemon/domain/windows.py) on injected instants: no clock, no sleep.

Edges (start in, end out), overnight ranges (they belong to the day they
start), other zones, and both daylight saving changes of a zone that has
them (Europe/Berlin, America/New_York; Türkiye has had none since 2016).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.domain.windows import (
    Day,
    QuietWindow,
    Window,
    local_instant,
    parse_date_span,
    parse_day,
    parse_hour_range,
    quiet_spell,
    time_zone,
)

ISTANBUL = time_zone("Europe/Istanbul")  # UTC+3 all year
BERLIN = time_zone("Europe/Berlin")
NEW_YORK = time_zone("America/New_York")
SECOND = timedelta(seconds=1)


def at(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """The UTC instant at which the wall clock of ``zone`` reads that (its first occurrence)."""
    return datetime(year, month, day, hour, minute, tzinfo=time_zone(zone)).astimezone(UTC)


def inside(window: Window, instant: datetime, zone: tzinfo = ISTANBUL) -> bool:
    return window.span_at(instant, zone) is not None


# --- reading the words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("11:00-15:00", "11:00-15:00"),
        ("9:05 - 17:30", "09:05-17:30"),
        ("23:30-01:00", "23:30-01:00"),
        ("00:00-24:00", "00:00-24:00"),
        ("18:00-00:00", "18:00-00:00"),
    ],
)
def test_hour_ranges_are_read_in_their_canonical_spelling(text: str, canonical: str) -> None:
    assert str(parse_hour_range(text)) == canonical


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("12:00-12:00", "'12:00-12:00' is an empty range"),
        ("00:00-00:00", "for the whole day write '00:00-24:00'"),
        ("25:00-26:00", "25:00 is not a time of day (00:00 to 23:59)"),
        ("10:00-10:60", "10:60 is not a time of day (00:00 to 23:59, or 24:00 as an end)"),
        ("24:00-02:00", "24:00 may only end a range"),
        ("11-15", "'11-15' is not a time range; write HH:MM-HH:MM"),
        ("11:00", "'11:00' is not a time range"),
        ("", "'' is not a time range"),
    ],
)
def test_bad_hour_ranges_say_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        parse_hour_range(text)


def test_days_take_any_case_and_full_names_and_refuse_the_rest() -> None:
    assert [parse_day(text) for text in ("mon", "Fri", "SUNDAY")] == [Day.MON, Day.FRI, Day.SUN]
    with pytest.raises(ValueError, match="unknown day 'caturday'; use mon, tue, wed, thu, fri"):
        parse_day("caturday")


def test_dates_and_date_ranges() -> None:
    assert str(parse_date_span("2026-12-31")) == "2026-12-31"
    span = parse_date_span("2026-12-24..2026-12-26")
    assert (date(2026, 12, 24) in span, date(2026, 12, 26) in span) == (True, True)
    assert date(2026, 12, 27) not in span
    with pytest.raises(ValueError, match="ends before it starts; write the earlier date first"):
        parse_date_span("2026-12-26..2026-12-24")
    for bad in ("2026-13-01", "31.12.2026", "2026-12-1", "2026-12-24..", "tomorrow"):
        with pytest.raises(ValueError, match="is not a date; write YYYY-MM-DD"):
            parse_date_span(bad)


def test_time_zones_are_iana_names_and_a_typo_gets_the_closest_one() -> None:
    assert str(time_zone("America/New_York")) == "America/New_York"
    with pytest.raises(ValueError, match="did you mean 'Europe/Istanbul'"):
        time_zone("Europe/Istambul")
    with pytest.raises(ValueError, match="did you mean 'Europe/Berlin'"):
        time_zone("europe/berlin")
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "Europe"):
        with pytest.raises(ValueError, match="unknown time zone"):
            time_zone(bad)


# --- edges --------------------------------------------------------------------------------


def test_the_start_is_in_and_the_end_is_out() -> None:
    lunch = Window.parse(hours=["11:00-15:00"])
    start = at("Europe/Istanbul", 2026, 10, 2, 11, 0)
    end = at("Europe/Istanbul", 2026, 10, 2, 15, 0)

    assert inside(lunch, start)
    assert not inside(lunch, start - SECOND)
    assert inside(lunch, end - timedelta(microseconds=1))
    assert not inside(lunch, end)
    span = lunch.span_at(start, ISTANBUL)
    assert span is not None and (span.start, span.end) == (start, end)


def test_a_whole_day_and_a_range_to_midnight() -> None:
    friday = at("Europe/Istanbul", 2026, 10, 2, 0, 0)
    all_day = Window.parse(hours=["00:00-24:00"])
    evening = Window.parse(hours=["18:00-00:00"])

    assert inside(all_day, friday) and inside(all_day, friday + timedelta(hours=24) - SECOND)
    assert inside(evening, friday + timedelta(hours=23, minutes=59))
    assert not inside(evening, friday + timedelta(hours=24))  # Saturday 00:00: the end
    assert not inside(evening, friday + timedelta(hours=17, minutes=59))


def test_days_alone_cover_whole_days() -> None:
    weekend = Window.parse(days=["sat", "sun"])

    assert not inside(weekend, at("Europe/Istanbul", 2026, 10, 2, 23, 59))  # Friday
    assert inside(weekend, at("Europe/Istanbul", 2026, 10, 3, 0, 0))  # Saturday
    assert inside(weekend, at("Europe/Istanbul", 2026, 10, 4, 23, 59))  # Sunday
    assert not inside(weekend, at("Europe/Istanbul", 2026, 10, 5, 0, 0))  # Monday


# --- overnight -------------------------------------------------------------------------


def test_an_overnight_range_belongs_to_the_day_it_starts() -> None:
    late = Window.parse(hours=["23:30-01:00"], days=["fri"])  # 2026-10-02 is a Friday

    assert inside(late, at("Europe/Istanbul", 2026, 10, 2, 23, 30))  # Friday night
    assert inside(late, at("Europe/Istanbul", 2026, 10, 3, 0, 59))  # ... into Saturday
    assert not inside(late, at("Europe/Istanbul", 2026, 10, 3, 1, 0))  # the end
    assert not inside(late, at("Europe/Istanbul", 2026, 10, 2, 0, 30))  # Thursday's night
    assert not inside(late, at("Europe/Istanbul", 2026, 10, 3, 23, 45))  # Saturday's night
    assert late.next_start(at("Europe/Istanbul", 2026, 10, 3, 1, 0), ISTANBUL) == at(
        "Europe/Istanbul", 2026, 10, 9, 23, 30
    )


def test_an_overnight_range_on_a_date_runs_into_the_next_day() -> None:
    new_year = Window.parse(hours=["22:00-02:00"], dates=["2026-12-31"])

    assert inside(new_year, at("Europe/Istanbul", 2027, 1, 1, 1, 59))
    assert not inside(new_year, at("Europe/Istanbul", 2027, 1, 1, 22, 0))  # not the 1st's


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)))
def test_in_a_zone_without_dst_a_window_is_its_wall_clock(wall: datetime) -> None:
    window = Window.parse(hours=["11:00-15:00", "22:30-02:15"], days=["mon", "fri"])
    minute = wall.hour * 60 + wall.minute
    yesterday = (wall.weekday() - 1) % 7
    expected = (wall.weekday() in (0, 4) and (660 <= minute < 900 or minute >= 1350)) or (
        yesterday in (0, 4) and minute < 135
    )

    assert inside(window, wall.replace(tzinfo=ISTANBUL).astimezone(UTC)) == expected


# --- other zones and daylight saving time -------------------------------------------------


def test_a_window_is_read_on_its_own_zone_clock() -> None:
    office = Window.parse(hours=["09:00-17:00"])
    instant = datetime(2026, 1, 15, 13, 30, tzinfo=UTC)  # 08:30 in New York, 16:30 here

    assert not inside(office, instant, NEW_YORK)
    assert inside(office, instant, ISTANBUL)
    assert inside(office, instant + timedelta(minutes=30), NEW_YORK)  # 09:00 there


def test_across_dst_a_window_keeps_its_wall_clock_edges() -> None:
    breakfast = Window.parse(hours=["08:00-09:00"])
    before = breakfast.span_at(at("America/New_York", 2026, 3, 7, 8, 30), NEW_YORK)
    after = breakfast.span_at(at("America/New_York", 2026, 3, 8, 8, 30), NEW_YORK)

    # 08:00 EST is 13:00 UTC; after the change (Sunday 2026-03-08) 08:00 EDT is 12:00 UTC.
    assert before is not None and before.start == datetime(2026, 3, 7, 13, 0, tzinfo=UTC)
    assert after is not None and after.start == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_the_night_the_clocks_change_a_window_lasts_an_hour_less_or_more() -> None:
    night = Window.parse(hours=["01:00-04:00"])

    def length(day: date) -> timedelta:
        (span,) = night.spans_starting(day, BERLIN)
        return span.end - span.start

    assert length(date(2026, 3, 29)) == timedelta(hours=2)  # 02:00 -> 03:00 skipped
    assert length(date(2026, 10, 25)) == timedelta(hours=4)  # 02:00-03:00 twice
    assert length(date(2026, 6, 1)) == timedelta(hours=3)


def test_an_edge_in_the_skipped_hour_falls_when_the_clocks_jump() -> None:
    # 2026-03-29 in Berlin: at 01:00 UTC the clocks go from 02:00 CET to 03:00 CEST.
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    late = Window.parse(hours=["02:30-05:00"])

    assert local_instant(date(2026, 3, 29), 2 * 60 + 30, BERLIN) == jump
    assert not inside(late, jump - SECOND, BERLIN)  # 01:59:59 CET
    assert inside(late, jump, BERLIN)  # 03:00 CEST


def test_an_edge_in_the_repeated_hour_is_its_first_occurrence() -> None:
    # 2026-10-25 in Berlin: 02:00-03:00 happens twice, at 00:00 UTC (CEST) and 01:00 UTC (CET).
    early = Window.parse(hours=["00:00-02:30"])
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST

    assert local_instant(date(2026, 10, 25), 2 * 60 + 30, BERLIN) == first
    assert inside(early, first - SECOND, BERLIN)
    # Out at the first 02:30, and it does not come back in the repeated hour.
    assert not inside(early, first, BERLIN)
    assert not inside(early, datetime(2026, 10, 25, 1, 15, tzinfo=UTC), BERLIN)  # 02:15 CET


def test_a_whole_day_across_dst_is_midnight_to_midnight() -> None:
    sunday = Window.parse(days=["sun"])
    span = sunday.span_at(at("Europe/Berlin", 2026, 10, 25, 12, 0), BERLIN)

    assert span is not None
    assert (span.start, span.end) == (
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # 00:00 CEST
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 CET: 25 hours later
    )


# --- quiet windows ------------------------------------------------------------------------


def test_a_quiet_spell_names_its_window_and_ends_after_the_windows_that_continue_it() -> None:
    windows = [
        QuietWindow(Window.parse(hours=["12:30-13:30"], days=["fri"]), name="friday-prayer"),
        QuietWindow(Window.parse(days=["sat"])),
        QuietWindow(Window.parse(days=["sun"]), name="sunday"),
    ]
    saturday = at("Europe/Istanbul", 2026, 10, 3, 15, 0)

    spell = quiet_spell(windows, saturday, ISTANBUL)

    assert spell is not None
    assert spell.evidence() == {
        "skipped_because": "quiet_window",
        "quiet_window": "sat all day",  # no name: the window itself
        "window": "sat all day",
        "timezone": "Europe/Istanbul",
        "quiet_until": "2026-10-04T21:00:00Z",  # Monday 00:00 local: Sunday follows on
    }
    prayer = quiet_spell(windows, at("Europe/Istanbul", 2026, 10, 2, 12, 30), ISTANBUL)
    assert prayer is not None and prayer.quiet.label == "friday-prayer"
    assert prayer.until == at("Europe/Istanbul", 2026, 10, 2, 13, 30)
    assert quiet_spell(windows, at("Europe/Istanbul", 2026, 10, 2, 13, 30), ISTANBUL) is None


def test_a_date_range_is_one_quiet_spell_to_its_last_midnight() -> None:
    holiday = [QuietWindow(Window.parse(dates=["2027-03-20..2027-03-22"]), name="bayram")]

    spell = quiet_spell(holiday, at("Europe/Istanbul", 2027, 3, 20, 9, 0), ISTANBUL)

    assert spell is not None and spell.until == at("Europe/Istanbul", 2027, 3, 23, 0, 0)
    assert "until 2027-03-23 00:00 local" in spell.describe()
    assert quiet_spell(holiday, at("Europe/Istanbul", 2027, 3, 19, 23, 59), ISTANBUL) is None


def test_describing_windows() -> None:
    assert Window.parse(hours=["11:00-15:00", "18:00-23:30"]).describe() == (
        "11:00-15:00, 18:00-23:30"
    )
    assert Window.parse(days=["fri"], hours=["23:30-01:00"]).describe() == "fri 23:30-01:00"
    assert Window.parse(dates=["2026-11-02"], hours=["19:00-23:30"]).describe() == (
        "2026-11-02 19:00-23:30"
    )
    assert Window.parse(days=["sat", "sun"]).describe() == "sat,sun all day"

"""Timestamps read back from SQLite: the daemon's own spelling fast, every other one as before.

The store's column type reads the spelling the daemon writes
(``2026-12-01 21:00:00.000000``, naive UTC) without the clean-up a POS
spelling needs; these check that anything that merely looks like it (same
length, an offset, a trailing word) reads as the general parser reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import sqlite

from daemon.domain.timeutil import format_db_timestamp, parse_timestamp
from daemon.store.sqltypes import UTCDateTime

SPELLINGS = [
    format_db_timestamp(datetime(2026, 12, 1, 21, 0, 0, 123456, tzinfo=UTC)),
    "2026-12-01 21:00:00.123+03",  # the same length, with an offset: not UTC
    "2026-12-01 21:00:00.1+0300",
    "2026-12-01 21:00:00.00000 ",
    "2026-12-01 21:00:00.12 UTC",
    "2026-12-01T21:00:00.000000",
    "2026-13-01 21:00:00.000000",  # the same shape, no such month: unreadable
    "not a timestamp, 26 chars.",
]


def general(text: str) -> datetime | None:
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_reads_as_the_general_parser_reads_it(text: str) -> None:
    read = UTCDateTime().process_result_value(text, sqlite.dialect())
    assert read == general(text)
    assert read is None or read.tzinfo is UTC


def test_the_daemons_own_spelling_reads_back_the_moment_written() -> None:
    moment = datetime(2026, 12, 1, 21, 0, 0, 123456, tzinfo=UTC)
    assert UTCDateTime().process_result_value(format_db_timestamp(moment), sqlite.dialect()) == (
        moment
    )

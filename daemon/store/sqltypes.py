"""Column types that behave the same on SQLite and PostgreSQL.

Kept apart from :mod:`daemon.store.schema` because the Alembic migrations import
them too: a migration must not import the live table definitions.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from daemon.domain.timeutil import as_utc, format_db_timestamp, parse_timestamp

log = logging.getLogger(__name__)

# len("2026-12-01 21:00:00.000000"): daemon.domain.timeutil.format_db_timestamp.
_STORED_LENGTH = 26


class _SQLiteTimestampText(UserDefinedType[Any]):
    """Declared TIMESTAMP, but values pass through untouched.

    SQLAlchemy's own SQLite DATETIME parser only knows its own spelling and
    would reject (or misread) the ``T``/offset forms a POS may write.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TIMESTAMP"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` in Python whatever the store holds.

    Unreadable values written by a POS come back as ``None`` rather than
    failing the whole query: one broken row must not blind the daemon to all
    the others. The engine treats a missing timestamp as "unknown" and takes
    no action on that order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteTimestampText())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_timestamp(value)
        if dialect.name == "sqlite":
            return format_db_timestamp(value)
        return as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return as_utc(value)
        if (
            isinstance(value, str)
            and len(value) == _STORED_LENGTH
            and value[10] == " "
            and value[19] == "."
        ):
            # The spelling format_db_timestamp writes (naive UTC): most of what is
            # read, so it skips the clean-up of the spellings a POS may write.
            try:
                return as_utc(datetime.fromisoformat(value))
            except ValueError:
                pass  # same length, not that spelling: parsed (or refused) below
        try:
            return parse_timestamp(str(value))
        except ValueError:
            log.debug("unreadable timestamp in the store: %r", value)
            return None


class JsonDocument(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact).

    Chosen per dialect when a statement is compiled (``JSON().with_variant(JSONB(),
    "postgresql")`` would import SQLAlchemy's PostgreSQL dialect, ~50 ms, in every
    process, a SQLite store's included).
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (:class:`JsonDocument`)."""
    return JsonDocument()

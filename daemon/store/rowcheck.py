"""Reading rows a buggy POS may have written, without trusting them.

SQLite stores whatever it is given ("abc" in an INTEGER column, bytes that
are not UTF-8, a latitude of 91). Each reader here returns a clean value, or
None when the stored one is unusable; the snapshot records what was wrong as a
:class:`~daemon.domain.row_problems.RowProblem`. An order with a problem is
still evaluated, but the unreadable part can never be the reason it is
cancelled (an unreadable quantity is no shortage, an unreadable position is
no distance). :class:`BadDataReport` logs each problem once per order, not
once per pass, and only for what is evaluated: a pass reports every order's,
``explain`` only those of the order asked about (see ``PassRunner``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import UserDefinedType

from daemon.domain.logonce import LogOnce

log = logging.getLogger(__name__)

MAX_TEXT = 2_000  # longer text is cut: an address is never a novel


class Raw(UserDefinedType[Any]):
    """Selects a column's stored value untouched (no SQLAlchemy conversion to fail on)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BLOB"


def raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.type_coerce(column, Raw()).label(column.key or "value")


def text(value: Any) -> str | None:
    if value.__class__ is str:  # the common case first: a clean str is returned as is
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    result = str(value)
    return result[:MAX_TEXT] if len(result) > MAX_TEXT else result


def integer(value: Any) -> int | None:
    """An integer, or None when the stored value is not one (True is not 1 here)."""
    if value.__class__ is int:  # the common case first
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, bytes)):
        return _parse_integer(value)
    return None


def _parse_integer(value: str | bytes) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def real(value: Any) -> float | None:
    if value.__class__ is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def decimal(value: Any) -> Decimal | None:
    if value.__class__ is Decimal:
        return value if value.is_finite() else None
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def flag(value: Any) -> bool | None:
    """A stock flag: booleans, 0/1 and the usual words; anything else is unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, (str, bytes)):
        word = text(value) or ""
        lowered = word.strip().lower()
        if lowered in ("1", "true", "t", "yes", "y"):
            return True
        if lowered in ("0", "false", "f", "no", "n"):
            return False
    return None


class BadDataReport:
    """Logs each (order, problem) once for the life of the process, or once a period.

    ``autocancel run`` repeats each once a day (:meth:`repeat_every`), so a
    row that stays broken is not forgotten in a journal that rotated.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._once = LogOnce(clock=clock)

    def repeat_every(self, period: timedelta | None) -> None:
        self._once.repeat_every(period)

    def problem(self, key: str, problem: str) -> None:
        if self._once.first((key, problem)):
            log.warning("bad data order=%s problem=%r: no action is based on it", key, problem)


REPORT = BadDataReport()

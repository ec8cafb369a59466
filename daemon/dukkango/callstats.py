"""What the Dükkango API answered during one pass, call by call, as codes.

The executor records every request it sends (each attempt, retries included):
a success, or the failure's code (:func:`tally_code`). The pass keeps the tally
with its row in ``passes``, so ``status`` can say "every call got 401" from
codes, without reading error messages.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.timeutil import isoformat_z, parse_timestamp, utcnow
from daemon.dukkango.errors import ApiError, DukkangoError


def tally_code(error: DukkangoError) -> str:
    """``http_503`` for an HTTP answer, its exact status; else the error's code (``timeout``).

    Finer than :class:`~daemon.domain.apierrors.ApiErrorCode` on purpose: an
    operator reading ``status`` tells a 502 (a proxy) from a 503 (maintenance).
    """
    if isinstance(error, ApiError):
        return f"http_{error.status_code}"
    return error.code.value


@dataclass(frozen=True, kw_only=True)
class TopError:
    code: str
    count: int
    example: str  # one error message of that code, as the client rendered it


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """The calls of one pass: how many succeeded, the failures by code."""

    succeeded: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    examples: Mapping[str, str] = field(default_factory=dict)
    last_success_at: datetime | None = None

    @property
    def sent(self) -> int:
        return self.succeeded + sum(self.failures.values())

    @property
    def top_error(self) -> TopError | None:
        if not self.failures:
            return None
        # Most frequent first; ties go to the code seen first.
        code = max(self.failures, key=lambda c: self.failures[c])
        return TopError(code=code, count=self.failures[code], example=self.examples.get(code, ""))

    @property
    def all_refused_as_unauthorized(self) -> bool:
        """Every call of the pass got 401: the token (or the keys) are wrong."""
        unauthorized = {ApiErrorCode.UNAUTHORIZED.value}
        return self.sent > 0 and self.succeeded == 0 and set(self.failures) == unauthorized

    def merged(self, other: CallSummary) -> CallSummary:
        successes = [t for t in (self.last_success_at, other.last_success_at) if t is not None]
        return CallSummary(
            succeeded=self.succeeded + other.succeeded,
            failures=dict(Counter(self.failures) + Counter(other.failures)),
            examples={**other.examples, **self.examples},
            last_success_at=max(successes) if successes else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "failures": dict(self.failures),
            "examples": dict(self.examples),
            "last_success_at": isoformat_z(self.last_success_at) if self.last_success_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CallSummary:
        if not data:
            return cls()
        last = data.get("last_success_at")
        return cls(
            succeeded=int(data.get("succeeded", 0)),
            failures={str(k): int(v) for k, v in (data.get("failures") or {}).items()},
            examples={str(k): str(v) for k, v in (data.get("examples") or {}).items()},
            last_success_at=parse_timestamp(last) if last else None,
        )


class CallTally:
    """Thread-safe: the executor's worker threads record into one tally."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._succeeded = 0
        self._failures: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._last_success_at: datetime | None = None

    def succeeded(self) -> None:
        with self._lock:
            self._succeeded += 1
            self._last_success_at = utcnow()

    def failed(self, error: DukkangoError) -> None:
        code = tally_code(error)
        with self._lock:
            self._failures[code] += 1
            self._examples.setdefault(code, str(error))

    def summary(self) -> CallSummary:
        with self._lock:
            return CallSummary(
                succeeded=self._succeeded,
                failures=dict(self._failures),
                examples=dict(self._examples),
                last_success_at=self._last_success_at,
            )

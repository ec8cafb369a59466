"""The record of every API request the simulator received, with the answer it got."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the simulator saw it; ``path`` is relative to the base path."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else the raw text, None when empty
    timestamp: datetime
    status: int  # 0 when the connection was dropped
    reply: str = ""  # the answer's body as sent (fault bodies included)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "timestamp": self.timestamp.isoformat()}


class RequestLog:
    """Thread-safe: every handler thread appends to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def matching(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self._requests
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            ]  # fmt: skip

    def clear(self) -> int:
        """Forget every request; returns how many there were."""
        with self._lock:
            count = len(self._requests)
            self._requests.clear()
            return count

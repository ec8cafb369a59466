"""An answer the simulator sends, and the platform's two envelopes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds between the body's bytes (the trickle fault); None sends it at once.
    trickle_seconds: float | None = None
    # The status line's reason phrase (ASCII); None: the standard one.
    reason: str | None = None


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def ok(data: Any = "OK") -> Reply:
    """``{"status": true, "data": ...}``; mutations answer ``"OK"``."""
    return json_reply(200, {"status": True, "data": data})


def refusal(status: int, error: str, message: str | None = None) -> Reply:
    """``{"status": false, "error": ..., "message": ...}`` (``message`` is optional)."""
    payload = {"status": False, "error": error}
    return json_reply(status, payload if message is None else {**payload, "message": message})

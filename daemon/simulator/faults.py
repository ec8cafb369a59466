"""Failing on demand: the faults a test queues, and the answers they turn into.

A fault applies to the next ``count`` API requests matching an optional
method and path prefix (relative, e.g. ``orders/cancel``); kinds:

* ``status``: an error envelope with the given status (default 500);
* ``hang``: wait ``seconds``, then handle the request normally, so the action
  may happen after the client gave up; with ``process=False`` it drops the
  connection after the wait instead of handling the request (or, with a
  ``status``, answers that error without handling it). ``Simulator.end_hangs``
  ends the waits early, for a test that holds a call until it has acted;
* ``rate_limit`` (429) and ``unauthorized`` (401), as the platform words them;
* ``body``: raw ``body`` with ``status``, ``content_type`` and extra ``headers``;
* ``drop``: close the connection without answering;
* ``trickle``: handle the request, then send the answer's headers and its body
  one byte every ``seconds`` (default 1), as a broken proxy can;
* ``echo``: handle the request normally, but send its headers back as response
  headers, ``Access-Token`` included, as a debugging proxy might.

With ``after_effect=True`` any other kind handles the request first (the
platform acts: an order is cancelled, a restaurant closed) and only then
answers with the fault: the answer is lost, the effect is not.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from typing import Any, Final

from daemon.simulator.replies import Reply, refusal
from daemon.simulator.vocabulary import TOO_MANY

FAULT_KINDS: Final = (
    "status",
    "hang",
    "rate_limit",
    "unauthorized",
    "body",
    "drop",
    "trickle",
    "echo",
)
# Request headers an echo fault does not send back: the answer's own framing.
_NOT_ECHOED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "connection",
        "transfer-encoding",
        "keep-alive",
        "expect",
        "accept-encoding",
    }
)


@dataclass(frozen=True)
class Fault:
    kind: str
    count: int = 1
    method: str | None = None
    path_prefix: str | None = None
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None  # extra response headers, e.g. a Location
    seconds: float | None = None
    # hang only: False drops the connection after the wait without handling the
    # request, as if it never reached the API.
    process: bool = True
    # Every kind but hang: act on the request first, then answer with the fault.
    after_effect: bool = False
    error: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid: {', '.join(FAULT_KINDS)}")
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count must be a positive integer")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_prefix is None or path.lstrip("/").startswith(self.path_prefix.lstrip("/"))
        )

    @property
    def acts_first(self) -> bool:
        """The request is handled (the platform acts) before the fault shapes the answer."""
        return self.after_effect or self.kind == "trickle"

    def after_hanging(self) -> Fault | None:
        """What a hang turns into once its wait is over: nothing, a drop or an error."""
        if self.process:
            return None
        return Fault("status" if self.status else "drop", status=self.status)


class FaultQueue:
    """The faults waiting to be applied, first queued first matched; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counting it as used once."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    if fault.count == 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = replace(fault, count=fault.count - 1)
                    return fault
            return None

    def listing(self) -> list[dict[str, Any]]:
        """The waiting faults, each with the uses it has left as ``count``."""
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


def fault_reply(fault: Fault, healthy: Reply | None = None) -> Reply | None:
    """The answer ``fault`` gives (``healthy``: the request's own, when it acted first).

    None means: close the connection without answering.
    """
    if fault.kind == "trickle":
        assert healthy is not None
        return replace(healthy, trickle_seconds=fault.seconds or 1.0)
    if fault.kind == "rate_limit":
        return refusal(429, "çok fazla istek", TOO_MANY)
    if fault.kind == "unauthorized":
        return refusal(401, "yetkisiz erişim", "Token expired or invalid")
    if fault.kind == "body":
        kind = fault.content_type or "text/html; charset=utf-8"
        extra = tuple((fault.headers or {}).items())
        return Reply(fault.status or 200, (fault.body or "").encode(), kind, extra)
    if fault.kind == "status":
        status = fault.status or 500
        message = fault.message or HTTPStatus(status).phrase
        return refusal(status, fault.error or "sunucu hatası", message)
    return None  # drop


def with_echoed_headers(reply: Reply, request_headers: Mapping[str, str]) -> Reply:
    """``reply`` with the request's headers added, as an echo fault sends it."""
    echoed = tuple(
        (name.title(), value) for name, value in request_headers.items() if name not in _NOT_ECHOED
    )
    return replace(reply, headers=reply.headers + echoed)

"""Every error of the Dükkango layer, in one tree.

A call of :class:`~daemon.dukkango.client.DukkangoClient` returns the ``data``
of the ``{"status": true, "data": ...}`` envelope or raises one of the client's
errors; the executor adds its own four, for calls it did not make (or that
crashed in our code). Each class has a ``code``
(:class:`~daemon.domain.apierrors.ApiErrorCode`, shown in brackets), decided
once where the answer is read, so that nothing downstream learns what
happened by reading the message; the message is for people (ledger, logs)::

    DukkangoError                base; ``retryable``: trying again may help; ``maybe_acted``:
    │                            the platform may have carried the call out (answer lost)
    │
    │  raised by the client
    ├── CredentialsMissing       [no_credentials] no access token and no complete pair of
    │                            secret keys
    ├── InvalidId                [invalid_id] an id that cannot be one path segment ("..",
    │                            "a/b"); never sent
    ├── TransportError           [connection] no usable HTTP response: refused/reset, DNS,
    │   │                        TLS [retryable] (maybe_acted unless the connection was
    │   │                        never made)
    │   └── Timeout              [timeout] connecting took longer than the timeout, or the
    │                            answer did not arrive whole within it (a wall-clock deadline
    │                            per request, so a trickling body cannot hold a call), or the
    │                            wait was interrupted by shutdown                [retryable]
    ├── ApiError                 an HTTP answer that is not a success envelope; attributes
    │   │                        status_code, error (the Turkish code, verbatim), message,
    │   │                        method, path
    │   ├── BadRequest           [http_400] 400 with an error code the docs do not list;
    │   │   │                    ``already_canceled``: the refusal says the order is
    │   │   │                    canceled already (see ``answers.says_already_canceled``)
    │   │   └── MissingField     [http_400] 400 "eksik alan" (missing field)
    │   ├── Unauthorized         [http_401] 401 "yetkisiz erişim", after the one re-login
    │   │                        did not help
    │   ├── Forbidden            [http_403] 403 "URL hatalı" (invalid resource id / not
    │   │                        accessible)
    │   ├── NotFound             [http_404] 404 "sipariş bulunamadı" / "restoran bulunamadı"
    │   ├── RateLimited          [http_429] 429 "çok fazla istek" (30 s cooldown) [retryable]
    │   ├── ServerError          [http_5xx] 5xx, whatever the body   [retryable, maybe_acted]
    │   └── UnexpectedResponse   [unreadable] HTML/empty/non-JSON body, no "status",
    │                            "status": true without "data", 2xx with "status": false,
    │                            3xx, other 4xx (maybe_acted on a 2xx: the call went
    │                            through, its answer is unreadable)
    │
    │  raised by the executor
    ├── NotSent                  [not_sent] the call was not made: shutdown, the pass's
    │   │                        deadline, a re-check that could not read the store
    │   │                        [retryable: a later pass may send it]
    │   └── CircuitOpen          [circuit_open] the API failed too often in a row; calls
    │                            are paused for a while
    ├── NoLongerQualifies        [no_longer_qualifies] the re-check right before the call
    │                            found it must not be sent any more; ``evidence`` says why
    └── CallCrashed              [internal] a bug in autocancel while calling; whether the
                                 request left is unknown (maybe_acted)

Answers are classified by HTTP status first and by the ``error`` text second
(``answers.py``), because the Turkish error strings are not promised to be
stable identifiers. 5xx and 429 keep their class even with an HTML body since
proxies in front of the API produce exactly those; a 400/401/403/404 without a
JSON envelope is UnexpectedResponse because it most likely comes from a wrong
base URL, not from the API.

Secrets never appear in these messages: the client scrubs foreign text
(server messages, transport errors) before it builds an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from daemon.domain.apierrors import ApiErrorCode

# The documented error codes in English, for messages operators read.
_GLOSSES = {
    "eksik alan": "missing field",
    "yetkisiz erişim": "unauthorized access",
    "URL hatalı": "URL is wrong",
    "sipariş bulunamadı": "order not found",
    "restoran bulunamadı": "restaurant not found",
    "çok fazla istek": "too many requests",
}


class DukkangoError(Exception):
    """Base of every error the Dükkango layer raises; each concrete class sets ``code``."""

    code: ClassVar[ApiErrorCode]
    retryable: ClassVar[bool] = False

    @property
    def maybe_acted(self) -> bool:
        """The request may have reached the platform and been carried out."""
        return False


# --- raised by the client ------------------------------------------------------------


class CredentialsMissing(DukkangoError):
    """Neither an access token nor both secret keys were provided."""

    code = ApiErrorCode.NO_CREDENTIALS


class InvalidId(DukkangoError):
    """An id that cannot be sent as one path segment: the request is never made."""

    code = ApiErrorCode.INVALID_ID


class TransportError(DukkangoError):
    """The request got no usable HTTP response."""

    code = ApiErrorCode.CONNECTION
    retryable = True

    def __init__(self, method: str, path: str, detail: str, *, connected: bool = True) -> None:
        self.method = method
        self.path = path
        self.detail = detail
        # False only when no connection was ever made (refused, DNS, connect
        # timeout): then the request cannot have reached the platform.
        self.connected = connected
        super().__init__(f"{method} {path}: {detail}")

    @property
    def maybe_acted(self) -> bool:
        return self.connected


class Timeout(TransportError):
    """Connecting, sending or waiting for the answer took longer than the timeout."""

    code = ApiErrorCode.TIMEOUT


class ApiError(DukkangoError):
    """The API (or something in front of it) answered with an error."""

    def __init__(
        self,
        *,
        status_code: int,
        method: str,
        path: str,
        error: str | None = None,
        message: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.error = error
        self.message = message
        self.detail = detail
        super().__init__(self._render())

    @property
    def maybe_acted(self) -> bool:
        # A 2xx whose body is unreadable went through; a 5xx may have, too.
        return 200 <= self.status_code < 300 or self.status_code >= 500

    def _render(self) -> str:
        text = f"{self.method} {self.path}: {self.status_code}"
        if self.error is not None:
            gloss = _GLOSSES.get(self.error)
            text += f" {self.error}" + (f" ({gloss})" if gloss else "")
        if self.message:
            text += f": {self.message}"
        if self.detail:
            text += f" [{self.detail}]"
        return text


class BadRequest(ApiError):
    """400 with an error code the docs do not list."""

    code = ApiErrorCode.BAD_REQUEST

    def __init__(self, *, already_canceled: bool = False, **fields: Any) -> None:
        # Decided by whoever read the answer (answers.py), never re-read from the text.
        self.already_canceled = already_canceled
        super().__init__(**fields)


class MissingField(BadRequest):
    """400 "eksik alan": a required field was missing."""


class Unauthorized(ApiError):
    """401 "yetkisiz erişim": bad credentials, or a token rejected even after re-login."""

    code = ApiErrorCode.UNAUTHORIZED


class Forbidden(ApiError):
    """403 "URL hatalı": invalid resource id, or not accessible with these credentials."""

    code = ApiErrorCode.FORBIDDEN


class NotFound(ApiError):
    """404: unknown order ("sipariş bulunamadı") or restaurant ("restoran bulunamadı")."""

    code = ApiErrorCode.NOT_FOUND


class RateLimited(ApiError):
    """429 "çok fazla istek": an endpoint cooldown was violated."""

    code = ApiErrorCode.RATE_LIMITED
    retryable = True


class ServerError(ApiError):
    """5xx from the API or a proxy in front of it."""

    code = ApiErrorCode.SERVER_ERROR
    retryable = True


class UnexpectedResponse(ApiError):
    """A response that does not follow the documented envelope."""

    code = ApiErrorCode.UNREADABLE


# --- raised by the executor ----------------------------------------------------------


class NotSent(DukkangoError):
    """The call was not made (shutdown, the pass's deadline, a failed re-check read)."""

    code = ApiErrorCode.NOT_SENT
    retryable = True  # whatever stopped it passes; a later pass may send it


class CircuitOpen(NotSent):
    """The API failed too often in a row; calls are paused for a while."""

    code = ApiErrorCode.CIRCUIT_OPEN


class NoLongerQualifies(DukkangoError):
    """The re-check right before a call found that it must not be sent any more."""

    code = ApiErrorCode.NO_LONGER_QUALIFIES

    def __init__(self, evidence: Mapping[str, Any]) -> None:
        self.evidence = dict(evidence)
        super().__init__(f"not sent: {evidence.get('change', 'the order no longer qualifies')}")


class CallCrashed(DukkangoError):
    """A bug in our own code while calling; whether the request left is unknown."""

    code = ApiErrorCode.INTERNAL

    @property
    def maybe_acted(self) -> bool:
        return True

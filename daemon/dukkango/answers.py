"""Reading one HTTP answer of the API: the envelope's ``data``, or the error it means.

This is the one place that decides what an answer was (the class of the error,
and with it its code, see ``errors.py``); everything after it works with that
decision and never reads the answer's text again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from daemon.dukkango.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MissingField,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
)

_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound}

# How a refused cancellation says the order is canceled *already*. The docs say
# cancelling is allowed "at any status except already completed/canceled" but
# do not show the refusal (dukkango-api.md, section 4: errors for an invalid
# state transition are not documented), so this is a guess at the platform's
# wording: the English the simulator answers ("Order is already canceled"),
# both spellings, and the Turkish phrasings ("zaten iptal edildi", "iptal
# edilmiş"). Merely mentioning cancelling ("cannot be cancelled") is a refusal
# like any other (contract: 400 is final, failed).
_ALREADY_CANCELED = ("already canceled", "already cancelled", "zaten iptal", "iptal edilmiş")


def says_already_canceled(error: str | None, message: str | None) -> bool:
    """Whether a 400's ``error`` and ``message`` say the order is canceled already."""
    text = f"{error or ''} {message or ''}".casefold()
    return any(phrase in text for phrase in _ALREADY_CANCELED)


def read_answer(
    method: str, path: str, response: httpx.Response, *, redact: Callable[[str], str]
) -> Any:
    """The ``data`` of a success envelope; otherwise raises the ApiError the answer means.

    ``redact`` scrubs the server's own words (``error``, ``message``) before
    they go into an error: a server may echo a credential back.
    """
    status = response.status_code
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    envelope = body if isinstance(body, dict) and "status" in body else None
    error = message = None
    if envelope is not None:
        raw_error, raw_message = envelope.get("error"), envelope.get("message")
        error = redact(raw_error) if isinstance(raw_error, str) else None
        message = redact(raw_message) if isinstance(raw_message, str) else None
    fields: dict[str, Any] = {"status_code": status, "method": method, "path": path}
    fields.update(error=error, message=message)
    if envelope is None:
        fields["detail"] = _describe_body(response, body)

    if 200 <= status < 300:
        if envelope is not None and envelope["status"] is True and "data" in envelope:
            return envelope["data"]
        if envelope is not None:
            fields["detail"] = (
                '"status": true without "data"'
                if envelope["status"] is True
                else f'"status": {envelope["status"]!r} on HTTP {status}'
            )
        raise UnexpectedResponse(**fields)
    if status >= 500:
        raise ServerError(**fields)
    if status == 429:
        raise RateLimited(**fields)
    if envelope is None:
        raise UnexpectedResponse(**fields)
    if status == 400:
        refusal = MissingField if error == "eksik alan" else BadRequest
        raise refusal(already_canceled=says_already_canceled(error, message), **fields)
    cls = _BY_STATUS.get(status, UnexpectedResponse)
    raise cls(**fields)


def shape_error(path: str, detail: str) -> UnexpectedResponse:
    """A success envelope whose ``data`` is not what the endpoint returns."""
    return UnexpectedResponse(status_code=200, method="GET", path=path, detail=detail)


def _describe_body(response: httpx.Response, body: object) -> str:
    # Describe rather than quote: a malformed login answer may hold a token.
    if not response.content:
        return "empty body"
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    if body is None:
        return f"non-JSON body ({kind}, {len(response.content)} bytes)"
    return f'JSON body without "status" ({type(body).__name__})'

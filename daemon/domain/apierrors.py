"""Why a Dükkango API call did not go through, as a code rather than a sentence.

The API layer (``daemon.dukkango``) decides the code once, where it reads the
answer, and every error it raises carries it (``DukkangoError.code``; the
exception tree in ``daemon/dukkango/errors.py`` names each class's code). The
engine, the metrics (``autocancel_api_errors_total{kind}``) and the pass's
record of the API's answers (``status``: "most common error", which keeps an
HTTP answer's exact status: ``http_503``) read the code; the message beside it
is for people and is never parsed.

The values are stable: pass records and the Prometheus label show them. It
lives in the domain because a decision carries it (``Decision.error_code``).
"""

from __future__ import annotations

from enum import StrEnum


class ApiErrorCode(StrEnum):
    # An error envelope from the API, by the status the docs give it.
    BAD_REQUEST = "http_400"  # the request was refused (missing field, state, value)
    UNAUTHORIZED = "http_401"  # the credentials or the token were refused
    FORBIDDEN = "http_403"  # "URL hatalı": an id that is wrong or not ours
    NOT_FOUND = "http_404"  # an unknown order or restaurant
    RATE_LIMITED = "http_429"  # a 30 s cooldown was not respected
    SERVER_ERROR = "http_5xx"  # the API, or a proxy in front of it, failed
    # An answer, but not the documented envelope: HTML, empty, another status.
    UNREADABLE = "unreadable"
    # No usable answer at all.
    TIMEOUT = "timeout"  # no whole answer within the timeout (or shutdown)
    CONNECTION = "connection"  # refused, reset, DNS, TLS
    # Never sent.
    INVALID_ID = "invalid_id"  # an id that cannot be one path segment
    NO_CREDENTIALS = "no_credentials"  # neither a token nor both secret keys
    NOT_SENT = "not_sent"  # shutdown, the pass's deadline, a re-check that failed
    CIRCUIT_OPEN = "circuit_open"  # too many failures in a row: calls are paused
    NO_LONGER_QUALIFIES = "no_longer_qualifies"  # the re-check found a change
    # A bug in autocancel itself while calling; whether the request left is unknown.
    INTERNAL = "internal"

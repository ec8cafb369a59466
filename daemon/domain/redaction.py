"""Secrets out of every log record, whichever library wrote it.

Our own code never logs a credential, but at ``-v`` libraries do: geopy logs
each geocoder URL (``...&key=API_KEY``), httpcore logs response headers (an
``Access-Token`` a proxy echoes back). One :class:`Redactor`, a
``logging.Filter`` on the root handlers, rewrites every record before it is
written: the formatted message (arguments included), the exception text and
the stack. It blanks

* the values of known secrets, registered where they enter the process: the
  ``DUKKANGO_*`` credentials (CLI start-up), tokens obtained by login (the
  API client), geocoder options whose names look secret (``build_geocoder``);
* credential-looking URL query parameters (``key=``, ``api_key=``,
  ``token=``, ``access_token=``, ``password=``, ``secret=`` ...), header values
  (``Access-Token:``, ``Authorization:`` ...) and URL passwords, whatever
  their value, for secrets nobody registered.

Cheap to import: the CLI installs it before any command runs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would blank ordinary words and numbers all over the log;
# nothing that short is a real credential.
MIN_SECRET_LENGTH = 4

_SECRET_WORDS = ("key", "token", "secret", "passw", "credential", "signature", "auth")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # ?key=..., &api_key=..., &access_token=..., &client_secret=... in URLs
    (
        re.compile(
            r"(?i)([?&;][\w.-]*(?:key|token|secret|password|passwd|signature|auth)=)"
            r"[^&#\s'\"<>]+"
        ),
        rf"\1{MASK}",
    ),
    # A header and its value: "Access-Token: v", {'access-token': 'v'},
    # httpcore's (b'Access-Token', b'v'), "Authorization: Bearer v".
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|access[-_]token|x-api-key|api[-_]key)"
            r"(['\"]?\s*[:=,]\s*(?:b?['\"])?(?:(?:bearer|basic|token)\s+)?)[^'\"\s,;&)\]}]+"
        ),
        rf"\1\2{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),
)


def looks_secret(name: str) -> bool:
    """An option name such as api_key, token, password, client_secret."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


class Redactor(logging.Filter):
    """Rewrites each record it sees so that no registered or credential-looking value remains."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()  # longest first: a secret may contain another
        self._lock = threading.Lock()

    def register(self, *values: object) -> None:
        """Known secret values (and their URL-encoded forms); short or empty ones are ignored."""
        fresh = set()
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                fresh.update({value, quote(value, safe=""), quote_plus(value)})
        with self._lock:
            known = set(self._secrets)
            if fresh <= known:
                return
            self._secrets = tuple(sorted(known | fresh, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # logging would print the raw arguments with its error
            message = f"{record.msg} (arguments that do not fit the message, not shown)"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = Redactor()


def register(*values: object) -> None:
    REDACTOR.register(*values)


def register_options(options: Mapping[str, object]) -> None:
    """The values of options whose names look secret (a geocoder's api_key, ...)."""
    REDACTOR.register(*(value for name, value in options.items() if looks_secret(name)))


def install(handlers: Iterable[logging.Handler]) -> None:
    """Put the redactor on ``handlers``: a handler filter sees records of every logger."""
    for handler in handlers:
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)

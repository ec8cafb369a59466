"""Synchronous client for the Dükkango Integration API (httpx).

Every call returns the ``data`` of the ``{"status": true, "data": ...}``
envelope, or raises one of these (all importable from this module)::

    DukkangoError            base; ``retryable``: trying again may help; ``maybe_acted``:
    │                        the platform may have carried the call out (answer lost)
    ├── CredentialsMissing   no access token and no complete pair of secret keys
    ├── InvalidId            an id that cannot be one path segment ("..", "a/b"); never sent
    ├── TransportError       no usable HTTP response: refused/reset, DNS, TLS [retryable]
    │   │                    (maybe_acted unless the connection was never made)
    │   └── Timeout          connecting took longer than the timeout, or the answer did
    │                        not arrive whole within it (a wall-clock deadline per request,
    │                        so a trickling body cannot hold a call), or the wait was
    │                        interrupted by shutdown                           [retryable]
    └── ApiError             an HTTP answer that is not a success envelope; attributes
        │                    status_code, error (the Turkish code, verbatim), message,
        │                    method, path
        ├── BadRequest       400 with an error code the docs do not list
        │   └── MissingField 400 "eksik alan" (missing field)
        ├── Unauthorized     401 "yetkisiz erişim", after the one re-login did not help
        ├── Forbidden        403 "URL hatalı" (invalid resource id / not accessible)
        ├── NotFound         404 "sipariş bulunamadı" / "restoran bulunamadı"
        ├── RateLimited      429 "çok fazla istek" (30 s cooldown)            [retryable]
        ├── ServerError      5xx, whatever the body               [retryable, maybe_acted]
        └── UnexpectedResponse  HTML/empty/non-JSON body, no "status", "status": true
                             without "data", 2xx with "status": false, 3xx, other 4xx
                             (maybe_acted on a 2xx: the call went through, its answer
                             is unreadable)

Errors are classified by HTTP status first and by the ``error`` text second,
because the Turkish error strings are not promised to be stable identifiers.
5xx and 429 keep their class even with an HTML body since proxies in front of
the API produce exactly those; a 400/401/403/404 without a JSON envelope is
reported as UnexpectedResponse because it most likely comes from a wrong base
URL, not from the API.

Authentication: a fixed token (DUKKANGO_ACCESS_TOKEN) is used as is. With both
secret keys the client logs in lazily, reuses the token until one hour before
its ``expiration_date`` (read as Europe/Istanbul time, see ``_parse_expiry``),
and on a 401 logs in again and retries the request once; with a fixed token
*and* secret keys, that first 401 switches it over to login tokens.

Mutations (cancel, open/close, foods, acknowledge, accept) return None for any
``"status": true`` answer; the docs show ``"data": "OK"``, but a cancellation
that happened must not be reported as failed over a changed wording.

The client never retries on its own except for the documented "re-login and
retry once on 401"; the executor owns backoff. It is safe to share between
threads: token refresh is serialised by a lock so that concurrent callers
wait for one login instead of each performing their own.

Secrets (the two secret keys and every access token) never appear in log
lines, exception messages or reprs.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from daemon import __version__
from daemon.config.credentials import ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY
from daemon.domain import redaction
from daemon.domain.ids import segment_problem

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Params = Mapping[str, int] | None

#: The docs advise renewing the 24 h token when it is within one hour of expiry.
REFRESH_MARGIN = timedelta(hours=1)
#: Used when a login answer carries no readable expiry: the documented lifetime.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=24)

_GLOSSES = {
    "eksik alan": "missing field",
    "yetkisiz erişim": "unauthorized access",
    "URL hatalı": "URL is wrong",
    "sipariş bulunamadı": "order not found",
    "restoran bulunamadı": "restaurant not found",
    "çok fazla istek": "too many requests",
}


def _istanbul() -> tzinfo:
    # Turkey has been on fixed UTC+3 without DST since 2016, so a system
    # without tz data can still read the API's offset-less times correctly.
    try:
        return ZoneInfo("Europe/Istanbul")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=3), "TRT")


ISTANBUL = _istanbul()


# --- exceptions ---------------------------------------------------------------


class DukkangoError(Exception):
    """Base of every error the client raises."""

    retryable: ClassVar[bool] = False

    @property
    def maybe_acted(self) -> bool:
        """The request may have reached the platform and been carried out."""
        return False


class CredentialsMissing(DukkangoError):
    """Neither an access token nor both secret keys were provided."""


class InvalidId(DukkangoError):
    """An id that cannot be sent as one path segment: the request is never made."""


class TransportError(DukkangoError):
    """The request got no usable HTTP response."""

    retryable: ClassVar[bool] = True

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


class MissingField(BadRequest):
    """400 "eksik alan": a required field was missing."""


class Unauthorized(ApiError):
    """401 "yetkisiz erişim": bad credentials, or a token rejected even after re-login."""


class Forbidden(ApiError):
    """403 "URL hatalı": invalid resource id, or not accessible with these credentials."""


class NotFound(ApiError):
    """404: unknown order ("sipariş bulunamadı") or restaurant ("restoran bulunamadı")."""


class RateLimited(ApiError):
    """429 "çok fazla istek": an endpoint cooldown was violated."""

    retryable: ClassVar[bool] = True


class ServerError(ApiError):
    """5xx from the API or a proxy in front of it."""

    retryable: ClassVar[bool] = True


class UnexpectedResponse(ApiError):
    """A response that does not follow the documented envelope."""


_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound}


# --- client -------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms; one verifying context serves all clients.
    return httpx.create_ssl_context()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _shown(path: str, params: _Params) -> str:
    return path if not params else f"{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}"


def _content_length(response: httpx.Response) -> int | None:
    """The length in bytes the answer announces, if it does (not when chunked)."""
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _shape_error(path: str, detail: str) -> UnexpectedResponse:
    return UnexpectedResponse(status_code=200, method="GET", path=path, detail=detail)


def _segment(value: str) -> str:
    # Ids come from the POS and the order store: quoting, and refusing dot
    # segments, keeps a stray "/", "?" or ".." from addressing another endpoint.
    problem = segment_problem(value)
    if problem is not None:
        raise InvalidId(f"id {value!r} {problem}; not sent")
    return quote(value, safe="")


class DukkangoClient:
    """One connection pool and one token, shared by every thread of the daemon."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 10.0,
        access_token: str | None = None,
        app_secret_key: str | None = None,
        rest_secret_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        # Set on shutdown: an answer still arriving is abandoned (a lost answer).
        self._interrupt = interrupt or threading.Event()
        self._app_secret_key = app_secret_key or None
        self._rest_secret_key = rest_secret_key or None
        self._token: str | None = access_token or None
        self._fixed_token = self._token is not None
        redaction.register(self._app_secret_key, self._rest_secret_key, self._token)
        self._token_expires: datetime | None = None
        self._clock = clock or _utcnow
        self._auth_lock = threading.Lock()
        # TLS verification is always on and deliberately not configurable.
        # Redirects are not followed: httpx would carry the custom Access-Token
        # header to whatever host a redirect names.
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=_tls_context(),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"autocancel/{__version__}"},
        )

    @classmethod
    def from_env(
        cls,
        *,
        base_url: str,
        timeout: float = 10.0,
        environ: Mapping[str, str] = os.environ,
        transport: httpx.BaseTransport | None = None,
        interrupt: threading.Event | None = None,
    ) -> Self:
        """Credentials from DUKKANGO_ACCESS_TOKEN and/or DUKKANGO_*_SECRET_KEY; "" = unset."""
        return cls(
            base_url=base_url,
            timeout=timeout,
            access_token=environ.get(ENV_ACCESS_TOKEN),
            app_secret_key=environ.get(ENV_APP_SECRET_KEY),
            rest_secret_key=environ.get(ENV_REST_SECRET_KEY),
            transport=transport,
            interrupt=interrupt,
        )

    def __repr__(self) -> str:
        # Says which kind of credentials is configured, never their values.
        kinds = (("access token", self._fixed_token), ("secret keys", self._can_login))
        auth = " + ".join(kind for kind, present in kinds if present) or "none"
        return f"DukkangoClient(base_url={self.base_url!r}, timeout={self.timeout}, auth={auth!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def token_expires_at(self) -> datetime | None:
        """When the current login token expires (UTC); None for a fixed token or before login."""
        return self._token_expires

    # --- endpoints --------------------------------------------------------------

    def login(self) -> None:
        """Log in now (normally done lazily); raises CredentialsMissing without secret keys."""
        with self._auth_lock:
            self._require_secret_keys()
            self._login_locked()

    def restaurants(self) -> list[dict[str, Any]]:
        return self._objects("restaurants/get")

    def restaurant_status(self, rest_id: str) -> str:
        """Returns "Open" or "Closed"."""
        return self._get(f"restaurants/status/get/{_segment(rest_id)}", str)

    def open_restaurant(self, rest_id: str) -> None:
        self._call("PUT", f"restaurants/status/open/{_segment(rest_id)}")

    def close_restaurant(self, rest_id: str) -> None:
        self._call("PUT", f"restaurants/status/close/{_segment(rest_id)}")

    def foods(self) -> list[dict[str, Any]]:
        """The whole menu (30 s cooldown on the server)."""
        return self._objects("foods/get-foods")

    def deactivate_food(self, food_id: int) -> None:
        self._call("PUT", f"foods/status-passive/{int(food_id)}")

    def activate_food(self, food_id: int) -> None:
        self._call("PUT", f"foods/status-active/{int(food_id)}")

    def current_orders(self, status_id: int | None = None) -> list[dict[str, Any]]:
        """Active orders not yet acknowledged in their current status (30 s cooldown)."""
        params = None if status_id is None else {"status_id": int(status_id)}
        return self._objects("orders/get-current", params)

    def acknowledge_order(self, payment_key: str) -> None:
        self._call("PUT", f"orders/success/{_segment(payment_key)}")

    def accept_order(self, payment_key: str, preparing_time: int) -> None:
        body = {"preparing_time": int(preparing_time)}
        self._call("PUT", f"orders/accept/{_segment(payment_key)}", json=body)

    def cancel_order(self, payment_key: str, reason_id: int) -> None:
        body = {"reason_id": int(reason_id)}
        self._call("PUT", f"orders/cancel/{_segment(payment_key)}", json=body)

    def cancel_reasons(self) -> dict[int, str]:
        rows = self._objects("orders/cancel-reasons")
        if not all(isinstance(r.get("id"), int) and isinstance(r.get("reason"), str) for r in rows):
            raise _shape_error("orders/cancel-reasons", "a reason without int id / str reason")
        return {row["id"]: row["reason"] for row in rows}

    def variables(self) -> dict[str, Any]:
        """Payment and shipping method lists."""
        return self._get("orders/variables", dict)

    # --- authentication -----------------------------------------------------------

    @property
    def _secret_keys(self) -> tuple[str | None, str | None]:
        return self._app_secret_key, self._rest_secret_key

    @property
    def _can_login(self) -> bool:
        return None not in self._secret_keys

    def _require_secret_keys(self) -> None:
        if self._can_login:
            return
        names = (ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY)
        missing = [n for n, value in zip(names, self._secret_keys, strict=True) if value is None]
        raise CredentialsMissing(
            f"no Dükkango credentials: set {ENV_ACCESS_TOKEN}, or both {ENV_APP_SECRET_KEY} "
            f"and {ENV_REST_SECRET_KEY} (missing: {', '.join(missing)})"
        )

    def _current_token(self) -> str:
        with self._auth_lock:
            if self._token is None or self._expiring():
                self._require_secret_keys()
                self._login_locked()
            assert self._token is not None
            return self._token

    def _expiring(self) -> bool:
        if self._token_expires is None:  # a fixed token: only a 401 tells
            return False
        return self._clock() >= self._token_expires - REFRESH_MARGIN

    def _refresh_after_401(self, rejected: str) -> str | None:
        """A new token after a 401, or None when there is no way to get one."""
        with self._auth_lock:
            if not self._can_login:
                return None
            if self._token == rejected:  # else another thread has already renewed it
                self._login_locked()
            return self._token

    def _login_locked(self) -> None:
        path = "auth/login"
        body = {"app_secret_key": self._app_secret_key, "rest_secret_key": self._rest_secret_key}
        data = self._parse("POST", path, self._send("POST", path, token=None, json=body))
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise UnexpectedResponse(
                status_code=200, method="POST", path=path, detail="login answer has no access_token"
            )
        redaction.register(token)  # before anything could log it
        self._token = token
        self._token_expires = self._parse_expiry(data.get("expiration_date"))

    def _parse_expiry(self, raw: object) -> datetime:
        # The docs give "YYYY-MM-DD HH:MM:SS" without an offset. It is read as
        # Istanbul time: the platform is Turkish and its order times are local.
        # If that guess is wrong the 1-hour margin and the 401 re-login recover.
        try:
            assert isinstance(raw, str)
            local = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S")
        except (AssertionError, ValueError):
            log.warning("login answer has no readable expiration_date; assuming 24 h")
            return self._clock() + DEFAULT_TOKEN_LIFETIME
        return local.replace(tzinfo=ISTANBUL).astimezone(UTC)

    # --- transport ----------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None, params: _Params = None) -> Any:
        token = self._current_token()
        response = self._send(method, path, token=token, json=json, params=params)
        if response.status_code == 401 and (renewed := self._refresh_after_401(token)):
            response = self._send(method, path, token=renewed, json=json, params=params)
        return self._parse(method, _shown(path, params), response)

    def _get(self, path: str, kind: type[_T], params: _Params = None) -> _T:
        data = self._call("GET", path, params=params)
        if not isinstance(data, kind):
            raise _shape_error(_shown(path, params), f"data is not a {kind.__name__}")
        return data

    def _objects(self, path: str, params: _Params = None) -> list[dict[str, Any]]:
        rows = self._get(path, list, params)
        if not all(isinstance(row, dict) for row in rows):
            raise _shape_error(_shown(path, params), "data is not a list of objects")
        return rows

    def _send(
        self, method: str, path: str, *, token: str | None, json: Any = None, params: _Params = None
    ) -> httpx.Response:
        headers = {} if token is None else {"Access-Token": token}
        if json is not None:
            headers["Content-Type"] = "application/json"
        shown = _shown(path, params)
        started = time.perf_counter()
        try:
            response = self._exchange(
                self._http.build_request(method, path, headers=headers, json=json, params=params)
            )
        except httpx.TimeoutException as exc:
            log.debug("%s %s -> timeout after %.3fs", method, shown, time.perf_counter() - started)
            connected = not isinstance(exc, httpx.ConnectTimeout)
            raise Timeout(
                method, shown, self._redact(f"timed out ({exc!s})"), connected=connected
            ) from exc
        except httpx.RequestError as exc:
            log.debug("%s %s -> %s", method, shown, type(exc).__name__)
            detail = self._redact(f"{type(exc).__name__}: {exc!s}")
            connected = not isinstance(exc, httpx.ConnectError)
            raise TransportError(method, shown, detail, connected=connected) from exc
        elapsed = time.perf_counter() - started
        log.debug("%s %s -> %d in %.3fs", method, shown, response.status_code, elapsed)
        return response

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its whole answer within one wall-clock deadline.

        httpx's timeouts bound each network read, so a server that sends a
        byte a second never trips them; this bounds the call as a whole, and
        gives up at once when shutdown is requested. Both only stop a wait for
        more of the answer: one that has arrived whole is kept (at shutdown,
        the call in flight finishes and its outcome is recorded).
        """
        deadline = time.monotonic() + self.timeout
        response = self._http.send(request, stream=True)
        expected = _content_length(response)
        try:
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if expected is not None and len(body) >= expected:
                    continue  # all here: the loop ends without waiting
                if self._interrupt.is_set():
                    raise httpx.ReadTimeout("interrupted by shutdown", request=request)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(
                        f"the answer did not arrive whole within {self.timeout:g} s",
                        request=request,
                    )
        finally:
            response.close()
        return httpx.Response(
            response.status_code, headers=response.headers, content=bytes(body), request=request
        )

    def _redact(self, text: str) -> str:
        # Server messages and transport errors are foreign text: scrub anything
        # that could echo a credential back before it reaches a log or exception.
        for secret in (self._app_secret_key, self._rest_secret_key, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _parse(self, method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        envelope = body if isinstance(body, dict) and "status" in body else None
        error = message = None
        if envelope is not None:
            raw_error, raw_message = envelope.get("error"), envelope.get("message")
            error = self._redact(raw_error) if isinstance(raw_error, str) else None
            message = self._redact(raw_message) if isinstance(raw_message, str) else None
        fields: dict[str, Any] = {"status_code": status, "method": method, "path": path}
        fields.update(error=error, message=message)
        if envelope is None:
            fields["detail"] = self._describe_body(response, body)

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
        cls = _BY_STATUS.get(status)
        if status == 400:
            cls = MissingField if error == "eksik alan" else BadRequest
        if cls is None or envelope is None:
            raise UnexpectedResponse(**fields)
        raise cls(**fields)

    @staticmethod
    def _describe_body(response: httpx.Response, body: object) -> str:
        # Describe rather than quote: a malformed login answer may hold a token.
        if not response.content:
            return "empty body"
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        if body is None:
            return f"non-JSON body ({kind}, {len(response.content)} bytes)"
        return f'JSON body without "status" ({type(body).__name__})'

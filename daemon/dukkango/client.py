"""Synchronous client for the Dükkango Integration API (httpx).

Every call returns the ``data`` of the ``{"status": true, "data": ...}``
envelope, or raises a :class:`~daemon.dukkango.errors.DukkangoError` (the
tree, with each error's code, is in ``errors.py``; ``answers.py`` decides
which one an answer means).

Authentication (``auth.py``): a fixed token (DUKKANGO_ACCESS_TOKEN) is used as
is; with both secret keys the client logs in lazily and renews the token
before its expiry. On a 401 it logs in again and retries the request once.

Mutations (cancel, open/close, foods, acknowledge, accept) return None for any
``"status": true`` answer; the docs show ``"data": "OK"``, but a cancellation
that happened must not be reported as failed over a changed wording.

The client never retries on its own except for the documented "re-login and
retry once on 401"; the executor owns backoff. It is safe to share between
threads (one connection pool; token renewal is serialised).

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
from datetime import UTC, datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from daemon import __version__
from daemon.config.credentials import ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY
from daemon.domain.ids import segment_problem
from daemon.dukkango.answers import read_answer, shape_error
from daemon.dukkango.auth import LOGIN_PATH, TokenKeeper
from daemon.dukkango.errors import InvalidId, Timeout, TransportError

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Params = Mapping[str, int] | None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms; one verifying context serves all clients.
    return httpx.create_ssl_context()


@functools.cache
def _trusts_nothing() -> ssl.SSLContext:
    """For an ``http://`` base URL (a local simulator), which never uses TLS: a context
    that verifies certificates and host names but trusts no authority, so no TLS
    connection could ever pass through it unverified; the CA bundle is not loaded."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _tls_context_for(base_url: str) -> ssl.SSLContext:
    return _trusts_nothing() if base_url.lower().startswith("http://") else _tls_context()


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
        self._tokens = TokenKeeper(
            access_token=access_token,
            app_secret_key=app_secret_key,
            rest_secret_key=rest_secret_key,
            log_in=self._log_in,
            clock=clock or _utcnow,
        )
        # TLS verification is always on and deliberately not configurable.
        # Redirects are not followed: httpx would carry the custom Access-Token
        # header to whatever host a redirect names.
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=_tls_context_for(self.base_url),
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
        auth = self._tokens.describe()  # which kinds of credentials, never their values
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
        return self._tokens.expires_at

    # --- endpoints --------------------------------------------------------------

    def login(self) -> None:
        """Log in now (normally done lazily); raises CredentialsMissing without secret keys."""
        self._tokens.login()

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
            raise shape_error("orders/cancel-reasons", "a reason without int id / str reason")
        return {row["id"]: row["reason"] for row in rows}

    def variables(self) -> dict[str, Any]:
        """Payment and shipping method lists."""
        return self._get("orders/variables", dict)

    # --- transport ----------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None, params: _Params = None) -> Any:
        token = self._tokens.current()
        response = self._send(method, path, token=token, json=json, params=params)
        if response.status_code == 401 and (renewed := self._tokens.renewed_after_401(token)):
            response = self._send(method, path, token=renewed, json=json, params=params)
        return read_answer(method, _shown(path, params), response, redact=self._redact)

    def _log_in(self, body: Mapping[str, str | None]) -> object:
        response = self._send("POST", LOGIN_PATH, token=None, json=dict(body))
        return read_answer("POST", LOGIN_PATH, response, redact=self._redact)

    def _get(self, path: str, kind: type[_T], params: _Params = None) -> _T:
        data = self._call("GET", path, params=params)
        if not isinstance(data, kind):
            raise shape_error(_shown(path, params), f"data is not a {kind.__name__}")
        return data

    def _objects(self, path: str, params: _Params = None) -> list[dict[str, Any]]:
        rows = self._get(path, list, params)
        if not all(isinstance(row, dict) for row in rows):
            raise shape_error(_shown(path, params), "data is not a list of objects")
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
        for secret in self._tokens.secrets:
            text = text.replace(secret, "***")
        return text

"""The access token the client sends: a fixed one, or one got by logging in.

A fixed token (DUKKANGO_ACCESS_TOKEN) is used as is. With both secret keys
the keeper logs in lazily, reuses the token until one hour before its
``expiration_date`` (read as Istanbul time, see :func:`parse_expiry`), and
after a 401 logs in again, once per rejected token; with a fixed token *and*
secret keys, that first 401 switches it over to login tokens.

Safe to share between threads: renewal is serialised by a lock, so
concurrent callers wait for one login instead of each performing their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from daemon.config.credentials import ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY
from daemon.domain import redaction
from daemon.domain.timeutil import ISTANBUL
from daemon.dukkango.errors import CredentialsMissing, UnexpectedResponse

log = logging.getLogger(__name__)

#: The docs advise renewing the 24 h token when it is within one hour of expiry.
REFRESH_MARGIN = timedelta(hours=1)
#: Used when a login answer carries no readable expiry: the documented lifetime.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=24)
LOGIN_PATH = "auth/login"

#: Sends ``POST auth/login`` with this body; returns the answer's ``data``.
LogIn = Callable[[Mapping[str, str | None]], object]


class TokenKeeper:
    def __init__(
        self,
        *,
        access_token: str | None,
        app_secret_key: str | None,
        rest_secret_key: str | None,
        log_in: LogIn,
        clock: Callable[[], datetime],
    ) -> None:
        self._app_secret_key = app_secret_key or None
        self._rest_secret_key = rest_secret_key or None
        self._token: str | None = access_token or None
        self.fixed = self._token is not None
        redaction.register(self._app_secret_key, self._rest_secret_key, self._token)
        self._expires: datetime | None = None
        self._log_in = log_in
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def can_login(self) -> bool:
        return self._app_secret_key is not None and self._rest_secret_key is not None

    @property
    def expires_at(self) -> datetime | None:
        """When the current login token expires (UTC); None for a fixed token or before login."""
        return self._expires

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values no message may show: both keys and the current token."""
        return tuple(s for s in (self._app_secret_key, self._rest_secret_key, self._token) if s)

    def describe(self) -> str:
        """Which kinds of credentials are configured, never their values."""
        kinds = (("access token", self.fixed), ("secret keys", self.can_login))
        return " + ".join(kind for kind, present in kinds if present) or "none"

    def login(self) -> None:
        """Log in now; raises CredentialsMissing without both secret keys."""
        with self._lock:
            self._require_secret_keys()
            self._login_locked()

    def current(self) -> str:
        """The token to send, logging in first when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._expiring():
                self._require_secret_keys()
                self._login_locked()
            assert self._token is not None
            return self._token

    def renewed_after_401(self, rejected: str) -> str | None:
        """A new token after ``rejected`` got a 401, or None when there is no way to get one."""
        with self._lock:
            if not self.can_login:
                return None
            if self._token == rejected:  # else another thread has already renewed it
                self._login_locked()
            return self._token

    def _require_secret_keys(self) -> None:
        if self.can_login:
            return
        names = (ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY)
        values = (self._app_secret_key, self._rest_secret_key)
        missing = [n for n, value in zip(names, values, strict=True) if value is None]
        raise CredentialsMissing(
            f"no Dükkango credentials: set {ENV_ACCESS_TOKEN}, or both {ENV_APP_SECRET_KEY} "
            f"and {ENV_REST_SECRET_KEY} (missing: {', '.join(missing)})"
        )

    def _expiring(self) -> bool:
        if self._expires is None:  # a fixed token: only a 401 tells
            return False
        return self._clock() >= self._expires - REFRESH_MARGIN

    def _login_locked(self) -> None:
        body = {"app_secret_key": self._app_secret_key, "rest_secret_key": self._rest_secret_key}
        answer = self._log_in(body)
        data = answer if isinstance(answer, dict) else {}
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise UnexpectedResponse(
                status_code=200,
                method="POST",
                path=LOGIN_PATH,
                detail="login answer has no access_token",
            )
        redaction.register(token)  # before anything could log it
        self._token = token
        expires = parse_expiry(data.get("expiration_date"))
        self._expires = expires or self._clock() + DEFAULT_TOKEN_LIFETIME


def parse_expiry(raw: object) -> datetime | None:
    """A login answer's ``expiration_date`` in UTC; None (and a warning) when unreadable.

    The docs give "YYYY-MM-DD HH:MM:SS" without an offset. It is read as
    Istanbul time: the platform is Turkish and its order times are local.
    If that guess is wrong the 1-hour margin and the 401 re-login recover.
    """
    try:
        local = (
            datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S") if isinstance(raw, str) else None
        )
    except ValueError:
        local = None
    if local is None:
        log.warning("login answer has no readable expiration_date; assuming 24 h")
        return None
    return local.replace(tzinfo=ISTANBUL).astimezone(UTC)

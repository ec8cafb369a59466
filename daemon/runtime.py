"""Building the runtime pieces from a validated configuration."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

import sqlalchemy as sa

from daemon import store
from daemon.api import ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY, DukkangoClient
from daemon.config import Config
from daemon.executor import CircuitBreaker, Executor, RetryPolicy


class MissingCredentials(Exception):
    """A live pass is due and no Dükkango credentials are in the environment."""


def credentials_present(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get(ENV_ACCESS_TOKEN)) or bool(
        environ.get(ENV_APP_SECRET_KEY) and environ.get(ENV_REST_SECRET_KEY)
    )


def require_credentials(environ: Mapping[str, str] = os.environ) -> None:
    """Fail before deciding anything: an intent recorded without credentials would be lost."""
    if not credentials_present(environ):
        raise MissingCredentials(
            f"live mode needs Dükkango credentials: set {ENV_ACCESS_TOKEN}, or both "
            f"{ENV_APP_SECRET_KEY} and {ENV_REST_SECRET_KEY} (or use --dry-run)"
        )


def open_store(config: Config) -> sa.Engine:
    """The store's engine, with an empty store created on first use (contract)."""
    engine = store.create_store_engine(config.store.url)
    store.ensure_schema(engine)
    return engine


def retry_policy(config: Config) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=config.api.max_attempts,
        initial_backoff_seconds=config.api.backoff_seconds,
    )


def executor_factory(
    config: Config,
    *,
    environ: Mapping[str, str] = os.environ,
    stop: threading.Event | None = None,
    breaker: CircuitBreaker | None = None,
) -> Callable[[], Executor]:
    def build() -> Executor:
        client = DukkangoClient.from_env(
            base_url=config.api.base_url, timeout=config.api.timeout_seconds, environ=environ
        )
        return Executor(
            client=client, policy=retry_policy(config), concurrency=config.api.concurrency,
            stop=stop, breaker=breaker,
        )

    return build

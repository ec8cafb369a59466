"""Building the runtime pieces from a validated configuration."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import sqlalchemy as sa

from daemon import store
from daemon.api import ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY, DukkangoClient
from daemon.config import Config
from daemon.executor import CircuitBreaker, Executor, RetryPolicy


class MissingCredentials(Exception):
    """A live pass is due and no Dükkango credentials are in the environment."""


CREDENTIAL_NAMES = (ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY)


def process_environ() -> dict[str, str]:
    """The environment, plus systemd credentials for any secret it lacks.

    With ``LoadCredential=DUKKANGO_APP_SECRET_KEY:/etc/autocancel/app.key`` in
    the unit, systemd puts the file in $CREDENTIALS_DIRECTORY, readable only by
    this service; the secret then never appears in the process environment.
    """
    merged = dict(os.environ)
    folder = merged.get("CREDENTIALS_DIRECTORY")
    if folder:
        for name in CREDENTIAL_NAMES:
            path = Path(folder) / name
            if not merged.get(name) and path.is_file():
                merged[name] = path.read_text(encoding="utf-8").strip()
    return merged


def credentials_present(environ: Mapping[str, str] | None = None) -> bool:
    env = process_environ() if environ is None else environ
    return bool(env.get(ENV_ACCESS_TOKEN)) or bool(
        env.get(ENV_APP_SECRET_KEY) and env.get(ENV_REST_SECRET_KEY)
    )


def require_credentials(environ: Mapping[str, str] | None = None) -> None:
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
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    breaker: CircuitBreaker | None = None,
) -> Callable[[], Executor]:
    def build() -> Executor:
        client = DukkangoClient.from_env(
            base_url=config.api.base_url, timeout=config.api.timeout_seconds,
            environ=process_environ() if environ is None else environ,
        )
        return Executor(
            client=client, policy=retry_policy(config), concurrency=config.api.concurrency,
            stop=stop, breaker=breaker,
        )

    return build


def warn_if_exposed(*paths: Path | str | None) -> list[str]:
    """Warnings for files others may read or change (rules, environment file)."""
    warnings = []
    for candidate in paths:
        if not candidate:
            continue
        path = Path(candidate)
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            warnings.append(f"{path} can be changed by other users (mode {mode & 0o777:o}); "
                            "anyone who can edit it decides which orders are cancelled: "
                            "chmod go-w it")
        if mode & stat.S_IROTH and path.name.endswith(".env"):
            warnings.append(f"{path} holds secrets and is readable by every user "
                            f"(mode {mode & 0o777:o}): chmod 600 it")
        elif mode & stat.S_IROTH:
            warnings.append(f"{path} is readable by every user (mode {mode & 0o777:o}); "
                            "chmod o-r it")
    return warnings

"""Building the runtime pieces from a validated configuration."""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from daemon.config.credentials import process_environ
from daemon.config.models import Config
from daemon.store import connect, migrate

if TYPE_CHECKING:  # the HTTP client is imported only when a live pass needs it
    from daemon.dukkango.executor import CircuitBreaker, Executor, RetryPolicy


def open_store(config: Config) -> sa.Engine:
    """The store's engine, with an empty store created on first use (contract)."""
    engine = connect.create_store_engine(config.store.url)
    migrate.ensure_schema(engine)
    return engine


def retry_policy(config: Config) -> RetryPolicy:
    from daemon.dukkango.executor import RetryPolicy

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
        from daemon.dukkango.client import DukkangoClient
        from daemon.dukkango.executor import Executor

        client = DukkangoClient.from_env(
            base_url=config.api.base_url,
            timeout=config.api.timeout_seconds,
            environ=process_environ() if environ is None else environ,
            interrupt=stop,
        )
        return Executor(
            client=client,
            policy=retry_policy(config),
            concurrency=config.api.concurrency,
            stop=stop,
            breaker=breaker,
            deadline_seconds=config.api.pass_deadline_seconds,
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
            warnings.append(
                f"{path} can be changed by other users (mode {mode & 0o777:o}); "
                "anyone who can edit it decides which orders are cancelled: "
                "chmod go-w it"
            )
        if mode & stat.S_IROTH and path.name.endswith(".env"):
            warnings.append(
                f"{path} holds secrets and is readable by every user "
                f"(mode {mode & 0o777:o}): chmod 600 it"
            )
        elif mode & stat.S_IROTH:
            warnings.append(
                f"{path} is readable by every user (mode {mode & 0o777:o}); chmod o-r it"
            )
    return warnings

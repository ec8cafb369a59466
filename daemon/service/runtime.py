"""Building the runtime pieces from a validated configuration."""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

import sqlalchemy as sa

from daemon.config.credentials import process_environ
from daemon.config.models import Config
from daemon.domain.timeutil import utcnow
from daemon.store import connect, migrate, rules_loads
from daemon.store.rules_loads import LoadEvent

if TYPE_CHECKING:  # the HTTP client is imported only when a live pass needs it
    from daemon.dukkango.client import DukkangoClient
    from daemon.dukkango.executor import CircuitBreaker, Executor, RetryPolicy

log = logging.getLogger(__name__)


def open_store(config: Config) -> sa.Engine:
    """The store's engine, with an empty store created on first use (contract)."""
    engine = connect.create_store_engine(config.store.url)
    migrate.ensure_schema(engine)
    return engine


def record_rules_load(engine: sa.Engine, config: Config, *, event: LoadEvent) -> None:
    """Write which rules file this process now acts on (daemon.store.rules_loads).

    A store that refuses the row costs the audit trail, not the pass: logged.
    """
    if config.digest is None:  # not read from a file: nothing an auditor could check
        return
    try:
        with engine.begin() as connection:
            rules_loads.record(
                connection,
                digest=config.digest,
                path=str(config.source),
                event=event,
                at=utcnow(),
            )
    except sa.exc.SQLAlchemyError as exc:
        log.error(
            "cannot record the rules file's digest in the store (the report will not show it): %s",
            connect.describe_db_error(exc),
        )


def retry_policy(config: Config) -> RetryPolicy:
    from daemon.dukkango.executor import RetryPolicy

    return RetryPolicy(
        max_attempts=config.api.max_attempts,
        initial_backoff_seconds=config.api.backoff_seconds,
    )


class ApiSession:
    """The one Dükkango client a configuration sends everything through, and each pass's Executor.

    One connection pool and one token for every pass and sync poll: the client
    is made on first use (a dry run never imports it) and kept until
    :meth:`close`, so a daemon logs in once and reuses the token until an hour
    before it expires (the client renews it, and logs in again on a 401).
    Each pass gets an Executor of its own (retries, deadline, the tally of its
    calls) around that client; close the session, not the executors.
    """

    def __init__(
        self,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        stop: threading.Event | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._config = config
        self._environ = environ
        self._stop = stop
        self._breaker = breaker
        self._client: DukkangoClient | None = None
        self._lock = threading.Lock()  # passes and the sync job may ask at once

    def client(self) -> DukkangoClient:
        from daemon.dukkango.client import DukkangoClient

        with self._lock:
            if self._client is None:
                self._client = DukkangoClient.from_env(
                    base_url=self._config.api.base_url,
                    timeout=self._config.api.timeout_seconds,
                    environ=process_environ() if self._environ is None else self._environ,
                    interrupt=self._stop,
                )
            return self._client

    def executor(self) -> Executor:
        from daemon.dukkango.executor import Executor

        api = self._config.api
        return Executor(
            client=self.client(),
            policy=retry_policy(self._config),
            concurrency=api.concurrency,
            stop=self._stop,
            breaker=self._breaker,
            deadline_seconds=api.pass_deadline_seconds,
        )

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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

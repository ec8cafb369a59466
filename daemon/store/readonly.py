"""The configuration of the commands that only read the store: status, audit, explain.

An invalid rules.yaml stops every command that acts (the daemon keeps its
last good rules running). The read-only commands are how an operator finds
out what that daemon does meanwhile, so they carry on with what still
validated - above all the store URL - and show the problems as warnings.
They never create a store then: a broken file may well name the wrong one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from daemon.config.load import STORE_URL_ENV, ConfigError, load_config
from daemon.config.models import YAML_KEYS, Config, StoreSettings, check_store_url
from daemon.store import migrate


@dataclass(frozen=True, kw_only=True)
class ReadingConfig:
    config: Config
    # The errors of the file on disk, as `check` prints them; () when it is valid.
    problems: tuple[str, ...] = ()
    # Top-level sections whose values did not validate: defaults stand in for them.
    broken: frozenset[str] = field(default_factory=frozenset)

    @property
    def valid(self) -> bool:
        return not self.problems

    def trusts(self, section: str) -> bool:
        return section not in self.broken


def load_for_reading(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> ReadingConfig:
    """The valid file, or what of an invalid one still validated.

    Raises :class:`ConfigError` when not even the store can be known (a YAML
    syntax error, an invalid ``store`` section or ``AUTOCANCEL_STORE_URL``).
    """
    environ = os.environ if environ is None else environ
    try:
        return ReadingConfig(config=load_config(Path(path), environ=environ))
    except ConfigError as exc:
        if exc.salvaged is not None:
            return ReadingConfig(
                config=exc.salvaged.config, problems=tuple(exc.errors), broken=exc.salvaged.broken
            )
        store_url = _store_url_from(environ)
        if store_url is None:
            raise
        # Nothing of the file is usable (a YAML syntax error, say), but the
        # environment names the store: every section is unknown.
        nothing = Config.model_construct(
            source=Path(path),
            restaurants=(),
            rules=(),
            warnings=(),
            store=StoreSettings(url=store_url),
        )
        return ReadingConfig(
            config=nothing, problems=tuple(exc.errors), broken=frozenset(YAML_KEYS)
        )


def _store_url_from(environ: Mapping[str, str]) -> str | None:
    url = environ.get(STORE_URL_ENV, "").strip()
    try:
        return check_store_url(url) if url else None
    except ValueError:
        return None


def check_store(reading: ReadingConfig) -> None:
    """With an invalid file, make sure the store it names exists (never create one).

    Raises :class:`connect.StoreError` otherwise.
    """
    if reading.valid:
        return
    migrate.open_existing(reading.config.store.url).dispose()


def open_read_only(url: str) -> Engine:
    """An existing store at the current schema, opened so that nothing can be written.

    For replay and diff, which read history and write nothing but their
    report: SQLite connections are ``query_only``, PostgreSQL sessions read
    only. Raises :class:`connect.StoreError` (never creates a store).
    """
    engine = migrate.open_existing(url)

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if engine.dialect.name == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
            else:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        finally:
            cursor.close()
        if engine.dialect.name != "sqlite":
            dbapi_connection.commit()

    engine.dispose()  # the connection that checked the schema was opened before the listener
    return engine

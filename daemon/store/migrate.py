"""Schema migration through Alembic: ``autocancel db upgrade`` and the start-up check."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from daemon.store.connect import (
    StoreError,
    create_store_engine,
    describe_db_error,
    describe_url,
    parse_url,
)

log = logging.getLogger(__name__)


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("daemon.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


# The newest migration. Kept as a constant so that starting a pass never
# imports Alembic; a test checks it against the migrations folder.
HEAD_REVISION = "0015"


def head_revision() -> str:
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision, or None for a store autocancel never migrated."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


# Any constant works; it only has to be the same for every autocancel process.
_PG_MIGRATION_LOCK = 0x6175746F63616E63  # "autocanc"


def upgrade(url: str | URL) -> str:
    """Create or migrate the store to the newest schema; returns the revision.

    Safe to run twice, and safe when several daemons start at once on one
    PostgreSQL store: they queue on an advisory lock.
    """
    from alembic import command

    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            command.upgrade(_alembic_config(connection), "head")
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot migrate the store {describe_url(url)}: {describe_db_error(exc)}"
        ) from exc
    finally:
        engine.dispose()
    assert revision is not None
    return revision


def ensure_schema(engine: Engine) -> None:
    """Upgrade an empty store automatically; refuse a store left behind.

    ``run``, ``once`` and ``sync`` call this. A store that was migrated by an
    older version is not migrated behind the operator's back: schema changes
    are a deliberate ``autocancel db upgrade``.
    """
    try:
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the store {describe_url(engine.url)}: {describe_db_error(exc)}"
        ) from exc
    if revision is None:
        log.info("store %s has no autocancel schema yet; creating it", describe_url(engine.url))
        upgrade(engine.url)
        return
    head = head_revision()
    if revision != head:
        raise StoreError(
            f"the store {describe_url(engine.url)} is at schema revision {revision}, "
            f"this autocancel needs {head}: run `autocancel db upgrade`"
        )


def open_existing(url: str | URL) -> Engine:
    """An engine for a store that exists at the current schema; never creates one.

    For the read-only commands when rules.yaml is invalid: its store URL may be
    wrong, and a new empty store would only hide that.
    """
    parsed = parse_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).is_file()
    ):
        raise StoreError(f"there is no store at {describe_url(parsed)}")
    engine = create_store_engine(parsed)
    try:
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot read the store {describe_url(parsed)}: {describe_db_error(exc)}"
        ) from exc
    if revision != head_revision():
        engine.dispose()
        raise StoreError(
            f"there is no autocancel store at {describe_url(parsed)}"
            if revision is None
            else f"the store {describe_url(parsed)} is at schema revision {revision}, this "
            f"autocancel needs {head_revision()}: run `autocancel db upgrade`"
        )
    return engine

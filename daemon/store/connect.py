"""Connecting to the store: engine tuning per backend, session time zone, and the two
connection kinds (a consistent snapshot reader, a short-transaction writer)."""

from __future__ import annotations

import functools
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from daemon.store import storefile

log = logging.getLogger(__name__)


SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """The store cannot be reached, or its schema is not what this version needs."""


def describe_db_error(exc: BaseException) -> str:
    """A database error as one line: the driver's own words, without SQL or links.

    SQLAlchemy's text repeats the statement and adds a "Background on this
    error" URL over several lines; an operator needs the cause (and the
    driver's hint, such as "Is the server running on that host?").
    """
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("(Background on this error")[0]
    return " ".join(text.split())


def describe_url(url: str | URL) -> str:
    """The URL as it may be shown to an operator: never with a password."""
    return make_url(url).render_as_string(hide_password=True)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # A POS may store bytes that are not UTF-8; one such row must not make
    # every query that touches it fail ("Could not decode to UTF-8").
    # str(data, "utf-8", "replace"), bound in C: one text value costs no Python call.
    dbapi_connection.text_factory = functools.partial(str, encoding="utf-8", errors="replace")
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the POS write while a pass reads; busy_timeout turns a
        # momentary lock into a short wait instead of "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_postgresql_connect(dbapi_connection: Any, _record: Any) -> None:
    # PostgreSQL turns a naive timestamp into an instant (and an instant into a
    # `timestamp` column's naive value) in the *session's* TimeZone, which
    # comes from the server, the database, the role or the URL: on a server set
    # to Europe/Istanbul a naive UTC time would be read three hours off. Naive
    # means UTC here (contract), so every session of the store says so, last.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET TIME ZONE 'UTC'")
    finally:
        cursor.close()
    dbapi_connection.commit()  # a rolled-back SET would not stick


def _take_over_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, decide where transactions begin.

    pysqlite does not open a transaction for SELECT, so the several queries of
    one snapshot would each see a different database. With its own handling
    off we emit BEGIN ourselves: DEFERRED for reads, IMMEDIATE when the
    connection asks for it (writers that read first would otherwise fail with
    "database is locked" on the lock upgrade instead of waiting).
    """

    @sa.event.listens_for(engine, "connect")
    def _no_pysqlite_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


# What to install for the drivers SQLAlchemy names in its ImportError.
_DRIVER_PACKAGES = {
    "MySQLdb": "pip install mysqlclient, or use mysql+pymysql:// after pip install pymysql",
    "pymysql": "pip install pymysql",
    "psycopg2": "pip install psycopg2-binary, or use postgresql+psycopg:// (installed with "
    "autocancel)",
    "psycopg": "pip install 'psycopg[binary]'",
    "pyodbc": "pip install pyodbc",
    "oracledb": "pip install oracledb",
}


def _engine_from(parsed: URL, **kwargs: Any) -> Engine:
    """``sa.create_engine``, with an operator's mistake in the URL as one StoreError line."""
    try:
        return sa.create_engine(parsed, **kwargs)
    except sa.exc.NoSuchModuleError:
        raise StoreError(
            f"the store URL {describe_url(parsed)} names an unknown database "
            f"'{parsed.drivername}'; use e.g. sqlite:///orders.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    except ImportError as exc:
        driver = exc.name or "its driver"
        hint = _DRIVER_PACKAGES.get(driver, f"install {driver} into autocancel's Python")
        if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
            hint += " (autocancel is tested with SQLite and PostgreSQL stores)"
        raise StoreError(
            f"the store URL {describe_url(parsed)} needs the Python driver '{driver}', which "
            f"is not installed: {hint}"
        ) from None
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"the store URL {describe_url(parsed)} is not usable: {exc}") from None


def parse_url(url: str | URL) -> URL:
    try:
        return make_url(url)
    except sa.exc.ArgumentError:
        # Not repeated: an unparsable URL may still hold a password.
        raise StoreError(
            "the store URL cannot be parsed; use e.g. sqlite:///orders.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None


def create_store_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for the store, tuned per backend."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = storefile.sqlite_file(str(url))
        if database is not None:
            if not database.parent.is_dir():
                raise StoreError(
                    f"the folder of the SQLite store {database} does not exist; "
                    "create it or fix store.url"
                )
            storefile.create_if_missing(database)
        engine = _engine_from(parsed, **kwargs)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        _take_over_sqlite_transactions(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = _engine_from(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        sa.event.listen(engine, "connect", _on_postgresql_connect)
    return engine


def snapshot_reader(engine: Engine) -> sa.Connection:
    """A connection whose transaction sees one consistent state of the store."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="REPEATABLE READ")
    return connection  # SQLite in WAL: a read transaction is a snapshot already


def writer(engine: Engine) -> sa.Connection:
    """A connection for short write transactions (IMMEDIATE on SQLite)."""
    connection = engine.connect()
    if engine.dialect.name == "sqlite":
        return connection.execution_options(sqlite_begin="IMMEDIATE")
    return connection

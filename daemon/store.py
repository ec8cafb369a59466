"""The order store: table definitions, engine set-up and schema migration.

The contract tables (``orders``, ``order_items``, ``stock``) are written by the
POS or ``autocancel sync``; the others belong to the daemon:

``ledger``
    One row per decision the engine made about an order: which rule, which
    reason, live or dry-run, and the outcome of the API call. A *live
    cancellation intent* carries ``intent_key = payment_key``; the unique
    constraint on ``intent_key`` is what makes a second live cancellation of
    one order impossible at the database level, whichever daemon tries.
``restaurant_closures``
    Closures this daemon made (congestion). ``active_key`` is unique while a
    closure is in force, so two replicas cannot both close one restaurant.
``food_deactivations``
    ``foods/status-passive`` calls, at most one row per food.
``geocode_cache``
    Geocoder answers, including definite "no result" (null coordinates).
``passes``
    One row per evaluation pass, written when it starts and completed when it
    ends (or crashes), for ``autocancel status``.
``sync_state``
    When ``autocancel sync`` last polled get-current (its 30 s cooldown).

All timestamps are aware UTC ``datetime`` values (see :class:`UTCDateTime`).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from daemon import statuses, storefile
from daemon.sqltypes import UTCDateTime, json_type

# The store's status vocabulary (store.ACTIVE_STATUSES reads well at call sites).
ACTIVE_STATUSES = statuses.ACTIVE_STATUSES
RECEIVED, DELIVERED, CANCELED = statuses.RECEIVED, statuses.DELIVERED, statuses.CANCELED

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


MODES = ("live", "dry_run")
OUTCOMES = ("pending", "cancelled", "would_cancel", "failed", "skipped", "held")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- contract tables (DESIGN.md, "Order store") -----------------------------

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("payment_key", sa.Text, primary_key=True),
    sa.Column("order_number", sa.Integer),
    sa.Column("restaurant_id", sa.Text, nullable=False),
    sa.Column("status_id", sa.Integer, nullable=False),
    sa.Column("shipping_method", sa.Text),
    sa.Column("courier_type", sa.Text),
    sa.Column("payment_method", sa.Text),
    sa.Column("payment_status", sa.Text),
    sa.Column("total", sa.Numeric(12, 2)),
    sa.Column("created_at", UTCDateTime()),
    sa.Column("customer_name", sa.Text),
    sa.Column("customer_phone", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("address_description", sa.Text),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("updated_at", UTCDateTime()),
    # Ours (migration 0002), all nullable: a POS never has to write them.
    sa.Column("raw_payload", json_type()),  # the get-current object, as received
    sa.Column("synced_at", UTCDateTime()),  # last seen in get-current
    sa.Column("vanished_at", UTCDateTime()),  # synced, then gone from get-current
    # 'sync' when autocancel sync created the order (0007): the orders sync owns.
    sa.Column("created_by", sa.Text),
    # The hot query: active orders by status (and restaurant, for congestion).
    sa.Index("ix_orders_status_restaurant", "status_id", "restaurant_id"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "payment_key",
        sa.Text,
        sa.ForeignKey("orders.payment_key", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("food_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("quantity", sa.Integer, nullable=False, server_default=sa.text("1")),
)

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("food_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("quantity", sa.Integer),
)

# --- the daemon's own tables -------------------------------------------------

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("pass_id", sa.Text),
    sa.Column("payment_key", sa.Text, nullable=False, index=True),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("reason_id", sa.Integer, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("evidence", json_type(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("intent_key", sa.Text, unique=True),
    # "host:pid" of the daemon that sends the intent (migration 0003).
    sa.Column("owner", sa.Text),
    # Calls of this cancellation whose answer was lost: they may have acted (0005).
    sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.CheckConstraint("reason_id BETWEEN 1 AND 8", name="reason_id_range"),
    sa.CheckConstraint(f"mode IN {MODES!r}", name="mode_known"),
    sa.CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome_known"),
    # An intent is live, and it names its own order: nothing else may hold the key.
    sa.CheckConstraint(
        "intent_key IS NULL OR (intent_key = payment_key AND mode = 'live')",
        name="intent_is_live_cancel",
    ),
    sa.Index("ix_ledger_at", "at"),
    sa.Index("ix_ledger_outcome", "outcome"),
)

restaurant_closures = sa.Table(
    "restaurant_closures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("restaurant_id", sa.Text, nullable=False, index=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=False),
    sa.Column("reopened_at", UTCDateTime()),
    sa.Column("close_outcome", sa.Text, nullable=False),
    sa.Column("reopen_outcome", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("evidence", json_type()),
    # Equal to restaurant_id while the closure is in force, NULL after reopening.
    sa.Column("active_key", sa.Text, unique=True),
)

food_deactivations = sa.Table(
    "food_deactivations",
    metadata,
    sa.Column("food_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("payment_key", sa.Text),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
)

geocode_cache = sa.Table(
    "geocode_cache",
    metadata,
    sa.Column("query", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("geocoded_at", UTCDateTime(), nullable=False),
)

passes = sa.Table(
    "passes",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("host", sa.Text),
    sa.Column("orders_seen", sa.Integer),
    sa.Column("decisions", sa.Integer),
    sa.Column("result", sa.Text),  # NULL while running; ok, degraded, failed, crashed (0006)
    sa.Column("error", sa.Text),
    # What the pass came to: outcomes, actions, API answers by code, circuit (0006).
    sa.Column("summary", json_type()),
    sa.Column("last_api_success_at", UTCDateTime()),
    sa.Column("circuit_open_since", UTCDateTime()),
    sa.Index("ix_passes_started_at", "started_at"),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("last_poll_at", UTCDateTime()),
    sa.Column("last_success_at", UTCDateTime()),
    sa.Column("last_error", sa.Text),
)

# Bumped by triggers on the contract tables (migration 0004; SQLite only).
change_counter = sa.Table(
    "change_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False, server_default=sa.text("0")),
)
CHANGE_CHANNEL = "autocancel_orders"  # PostgreSQL NOTIFY channel (migration 0004)

CONTRACT_TABLES = ("orders", "order_items", "stock")


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
    dbapi_connection.text_factory = lambda data: data.decode("utf-8", "replace")
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


def _parse_url(url: str | URL) -> URL:
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
    parsed = _parse_url(url)
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


def open_existing(url: str | URL) -> Engine:
    """An engine for a store that exists at the current schema; never creates one.

    For the read-only commands when rules.yaml is invalid: its store URL may be
    wrong, and a new empty store would only hide that.
    """
    parsed = _parse_url(url)
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


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("daemon") / "migrations"))
    config.attributes["connection"] = connection
    return config


# The newest migration. Kept as a constant so that starting a pass never
# imports Alembic; a test checks it against the migrations folder.
HEAD_REVISION = "0007"


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

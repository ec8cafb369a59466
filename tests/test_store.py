"""The order store on a real SQLite file and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from daemon.store import connect, migrate, schema
from tests.conftest import run_cli

CONTRACT_COLUMNS = {
    "orders": {
        "payment_key",
        "order_number",
        "restaurant_id",
        "status_id",
        "shipping_method",
        "courier_type",
        "payment_method",
        "payment_status",
        "total",
        "created_at",
        "customer_name",
        "customer_phone",
        "address",
        "address_description",
        "latitude",
        "longitude",
        "updated_at",
    },
    "order_items": {"id", "payment_key", "food_id", "name", "quantity"},
    "stock": {"food_id", "restaurant_id", "name", "available", "quantity"},
}

MINIMAL_RULES = """\
store:
  url: {url}
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
    name: Halaskargazi Şube
    latitude: 41.0493
    longitude: 28.9877
rules:
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orders.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    migrate.upgrade(store_url)
    engine = connect.create_store_engine(store_url)
    yield engine
    engine.dispose()


def _write_rules(folder: Path, url: str) -> Path:
    path = folder / "rules.yaml"
    path.write_text(MINIMAL_RULES.format(url=url), encoding="utf-8")
    return path


def _live_intent(payment_key: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    row: dict[str, object] = {
        "at": now,
        "updated_at": now,
        "payment_key": payment_key,
        "rule": "payment-failed",
        "kind": "payment_failed",
        "reason_id": 7,
        "mode": "live",
        "outcome": "pending",
        "evidence": {"payment_status": "failed"},
        "intent_key": payment_key,
    }
    row.update(overrides)
    return row


def test_db_upgrade_creates_the_contract_tables(store_url: str, tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, "sqlite:///unused.db")
    result = run_cli("db", "upgrade", "-c", str(rules), env={"AUTOCANCEL_STORE_URL": store_url})
    assert result.returncode == 0, result.stderr
    assert f"revision {migrate.head_revision()}" in result.stdout

    engine = connect.create_store_engine(store_url)
    inspector = sa.inspect(engine)
    for table, columns in CONTRACT_COLUMNS.items():
        present = {c["name"]: c for c in inspector.get_columns(table)}
        assert columns <= set(present)
        # Columns beyond the contract are ours and must never burden a POS.
        for extra in set(present) - columns:
            assert present[extra]["nullable"] or present[extra]["default"] is not None
    assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["payment_key"]
    assert inspector.get_pk_constraint("stock")["constrained_columns"] == ["food_id"]
    not_null = {c["name"] for c in inspector.get_columns("orders") if not c["nullable"]}
    assert not_null == {"payment_key", "restaurant_id", "status_id"}
    indexed = [ix["column_names"] for ix in inspector.get_indexes("orders")]
    assert ["status_id", "restaurant_id"] in indexed
    engine.dispose()

    again = run_cli("db", "upgrade", "-c", str(rules), env={"AUTOCANCEL_STORE_URL": store_url})
    assert again.returncode == 0, again.stderr


def test_relative_sqlite_url_is_the_file_beside_the_rules(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    rules = _write_rules(config_dir, "sqlite:///orders.db")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()

    result = run_cli("db", "upgrade", "-c", str(rules), cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert (config_dir / "orders.db").exists()
    assert not (elsewhere / "orders.db").exists()


def test_db_upgrade_reports_an_unreachable_store(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, f"sqlite:///{tmp_path}/missing-folder/orders.db")
    result = run_cli("db", "upgrade", "-c", str(rules))
    assert result.returncode == 1
    assert "missing-folder" in result.stderr and "does not exist" in result.stderr


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    migrate.upgrade(url)
    engine = connect.create_store_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (
            conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == connect.SQLITE_BUSY_TIMEOUT_MS
        )
    engine.dispose()


def test_migrations_match_the_table_definitions(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, schema.metadata)
    assert differences == []


def test_the_open_history_rows_index_is_partial_and_json_is_jsonb_on_postgresql(
    engine: sa.Engine,
) -> None:
    """What schema.py leaves to the migrations (so as not to import the PostgreSQL
    dialect for a SQLite store): the partial index, and JSONB on PostgreSQL."""
    inspector = sa.inspect(engine)
    (index,) = [
        i for i in inspector.get_indexes("order_history") if i["name"] == "ix_order_history_open"
    ]
    where = index.get("dialect_options", {}).get(f"{engine.dialect.name}_where")
    assert "replaced_at IS NULL" in str(where), index
    evidence = next(c for c in inspector.get_columns("ledger") if c["name"] == "evidence")
    expected = "JSONB" if engine.dialect.name == "postgresql" else "JSON"
    assert type(evidence["type"]).__name__ == expected, evidence
    row = {**_live_intent("3e9caf87-5cb7-4c4e-adcb-fc2ec54cf24e"), "evidence": {"a": [1, "ş"]}}
    with engine.begin() as conn:
        conn.execute(schema.ledger.insert(), row)
        stored = conn.execute(sa.select(schema.ledger.c.evidence)).scalar_one()
    assert stored == {"a": [1, "ş"]}


def test_a_second_live_cancellation_of_one_order_is_rejected(engine: sa.Engine) -> None:
    key = "3e9caf87-5cb7-4c4e-adcb-fc2ec54cf24e"
    with engine.begin() as conn:
        conn.execute(schema.ledger.insert(), _live_intent(key))

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.ledger.insert(), _live_intent(key, rule="too-far", reason_id=6))

    # Dry-run and held decisions are evidence, not intents: any number may exist.
    with engine.begin() as conn:
        for outcome, mode in (
            ("would_cancel", "dry_run"),
            ("held", "live"),
            ("would_cancel", "dry_run"),
        ):
            conn.execute(
                schema.ledger.insert(),
                _live_intent(key, mode=mode, outcome=outcome, intent_key=None),
            )
        rows = conn.execute(sa.select(schema.ledger.c.mode, schema.ledger.c.outcome)).all()
    assert len(rows) == 4


def test_an_intent_key_must_name_its_own_live_order(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.ledger.insert(), _live_intent("a", intent_key="b"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.ledger.insert(), _live_intent("a", mode="dry_run"))


def test_a_pos_writing_only_contract_columns_succeeds(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO orders (payment_key, restaurant_id, status_id, created_at) "
                "VALUES ('k1', 'r1', 1, '2026-01-16 15:10:54')"
            )
        )
        conn.execute(sa.text("INSERT INTO order_items (payment_key, food_id) VALUES ('k1', 7)"))
        conn.execute(sa.text("INSERT INTO order_items (payment_key, food_id) VALUES ('k1', 8)"))
        conn.execute(sa.text("INSERT INTO stock (food_id) VALUES (7)"))
        items = conn.execute(
            sa.select(schema.order_items.c.id, schema.order_items.c.quantity)
        ).all()
        available = conn.execute(sa.select(schema.stock.c.available)).scalar_one()
    assert [quantity for _id, quantity in items] == [1, 1]
    assert len({item_id for item_id, _q in items}) == 2
    assert available is True


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-01-16 15:10:54", datetime(2026, 1, 16, 15, 10, 54, tzinfo=UTC)),
        ("2026-01-16T15:10:54", datetime(2026, 1, 16, 15, 10, 54, tzinfo=UTC)),
        ("2026-01-16 15:10:54.250", datetime(2026, 1, 16, 15, 10, 54, 250000, tzinfo=UTC)),
        ("2026-01-16T15:10:54.123456+03:00", datetime(2026, 1, 16, 12, 10, 54, 123456, tzinfo=UTC)),
        ("2026-01-16 18:10:54+03:00", datetime(2026, 1, 16, 15, 10, 54, tzinfo=UTC)),
    ],
)
def test_pos_timestamps_are_read_as_utc(
    engine: sa.Engine, written: str, expected: datetime
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO orders (payment_key, restaurant_id, status_id, created_at) "
                "VALUES ('k1', 'r1', 1, :ts)"
            ),
            {"ts": written},
        )
        read = conn.execute(sa.select(schema.orders.c.created_at)).scalar_one()
    assert read == expected
    assert read.utcoffset() is not None and read.utcoffset().total_seconds() == 0


def test_an_unreadable_timestamp_does_not_break_the_query(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    migrate.upgrade(url)
    engine = connect.create_store_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO orders (payment_key, restaurant_id, status_id, created_at) VALUES "
                "('bad', 'r1', 1, 'yesterday-ish'), ('good', 'r1', 1, '2026-01-16 15:10:54')"
            )
        )
        rows = dict(
            conn.execute(sa.select(schema.orders.c.payment_key, schema.orders.c.created_at)).all()
        )
    assert rows["bad"] is None
    assert rows["good"] == datetime(2026, 1, 16, 15, 10, 54, tzinfo=UTC)
    engine.dispose()


def test_upgrade_keeps_contract_tables_a_pos_created_first(store_url: str) -> None:
    engine = connect.create_store_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE orders (payment_key TEXT PRIMARY KEY, restaurant_id TEXT NOT NULL, "
                "status_id INTEGER NOT NULL, pos_extra TEXT)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders (payment_key, restaurant_id, status_id, pos_extra) "
                "VALUES ('k1', 'r1', 2, 'kept')"
            )
        )

    migrate.upgrade(store_url)

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pos_extra FROM orders")).scalar_one() == "kept"
        tables = set(sa.inspect(conn).get_table_names())
    assert {"ledger", "order_items", "stock", "restaurant_closures"} <= tables
    engine.dispose()


def test_ensure_schema_creates_an_empty_store_and_refuses_an_outdated_one(store_url: str) -> None:
    engine = connect.create_store_engine(store_url)
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(connect.StoreError, match="autocancel db upgrade"):
        migrate.ensure_schema(engine)
    engine.dispose()


def test_describe_url_never_shows_the_password() -> None:
    shown = connect.describe_url("postgresql+psycopg://autocancel:s3cret@db.local/orders")
    assert "s3cret" not in shown
    assert "db.local/orders" in shown


def test_the_head_revision_constant_matches_the_migrations() -> None:
    from importlib import resources

    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(resources.files("daemon.store") / "migrations"))
    assert script.get_current_head() == migrate.HEAD_REVISION


def _migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    from alembic import command

    engine = connect.create_store_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate._alembic_config(connection)
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_0011_keeps_every_deactivation_in_force_and_goes_back(store_url: str) -> None:
    """Before 0011 a food had one row ever; after it, each deactivation a row of its own."""
    from daemon.store.foods_off import read_foods_off

    _migrate_to(store_url, "0010")
    engine = connect.create_store_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO food_deactivations (food_id, restaurant_id, rule, payment_key, at, "
                "outcome, attempts) VALUES (2, 'r1', 'out-of-stock', 'a', "
                "'2026-12-01 10:00:00', 'done', 1), (5, 'r1', 'out-of-stock', 'b', "
                "'2026-12-01 09:00:00', 'retry', 2)"
            )
        )
    migrate.upgrade(store_url)
    with engine.connect() as conn:
        found = read_foods_off(conn)
    assert [(f.food_id, f.outcome, f.payment_key) for f in found] == [
        (5, "retry", "b"),
        (2, "done", "a"),
    ]
    with engine.begin() as conn:  # a food back on sale, then deactivated anew: two rows
        conn.execute(sa.update(schema.food_deactivations).values(active_key=None))
        conn.execute(
            sa.insert(schema.food_deactivations).values(
                food_id=2,
                rule="out-of-stock",
                at=datetime(2026, 12, 2, tzinfo=UTC),
                outcome="done",
                active_key=2,
            )
        )

    _migrate_to(store_url, "0010", down=True)
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text("SELECT food_id, outcome FROM food_deactivations ORDER BY food_id")
        ).all()
    assert [tuple(row) for row in kept] == [(2, "done"), (5, "retry")]  # the newest of each
    migrate.upgrade(store_url)
    engine.dispose()

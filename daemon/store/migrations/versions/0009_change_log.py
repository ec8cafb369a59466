"""The change log: every write to an order, its items or a stock row, whoever made it.

Triggers append one row per changed row (two when an order moves to another
restaurant or changes key: the old side and the new), so a pass can re-judge
only the restaurants a change touched (daemon.engine.active). A POS writing
the contract tables needs to know nothing about it, exactly as with the
change signals of 0004, which stay: they wake the daemon, this says what changed.

``seq`` only grows (SQLite AUTOINCREMENT, PostgreSQL identity), so a reader
keeps its place by number. PostgreSQL hands numbers out before commit, so a
reader may see 12 before 11 commits: daemon.store.changelog keeps such gaps
open for a while.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite: one trigger per table and event. Each statement list appends the
# new side and, when it differs, the old one. Table and column names are constants.
_SQLITE = {
    "orders": {
        "insert": ["'orders', NEW.payment_key, NEW.restaurant_id, NULL"],
        "update": [
            "'orders', NEW.payment_key, NEW.restaurant_id, NULL",
            "'orders', OLD.payment_key, OLD.restaurant_id, NULL "
            "WHERE OLD.payment_key IS NOT NEW.payment_key "
            "OR OLD.restaurant_id IS NOT NEW.restaurant_id",
        ],
        "delete": ["'orders', OLD.payment_key, OLD.restaurant_id, NULL"],
    },
    "order_items": {
        "insert": ["'order_items', NEW.payment_key, NULL, NEW.food_id"],
        "update": [
            "'order_items', NEW.payment_key, NULL, NEW.food_id",
            "'order_items', OLD.payment_key, NULL, OLD.food_id "
            "WHERE OLD.payment_key IS NOT NEW.payment_key OR OLD.food_id IS NOT NEW.food_id",
        ],
        "delete": ["'order_items', OLD.payment_key, NULL, OLD.food_id"],
    },
    "stock": {
        "insert": ["'stock', NULL, NEW.restaurant_id, NEW.food_id"],
        "update": [
            "'stock', NULL, NEW.restaurant_id, NEW.food_id",
            "'stock', NULL, OLD.restaurant_id, OLD.food_id "
            "WHERE OLD.food_id IS NOT NEW.food_id OR OLD.restaurant_id IS NOT NEW.restaurant_id",
        ],
        "delete": ["'stock', NULL, OLD.restaurant_id, OLD.food_id"],
    },
}

# PostgreSQL: one row trigger function per table (NEW is null on DELETE, OLD on INSERT).
_POSTGRESQL = {
    "orders": ("payment_key", "restaurant_id", None),
    "order_items": ("payment_key", None, "food_id"),
    "stock": (None, "restaurant_id", "food_id"),
}

_COLUMNS = "(source, payment_key, restaurant_id, food_id)"


def _pg_side(side: str, table: str) -> str:
    key, restaurant, food = (f"{side}.{name}" if name else "NULL" for name in _POSTGRESQL[table])
    return f"'{table}', {key}, {restaurant}, {food}"


def _pg_function(table: str) -> str:
    columns = [name for name in _POSTGRESQL[table] if name]
    differs = " OR ".join(f"OLD.{name} IS DISTINCT FROM NEW.{name}" for name in columns)
    # Table and column names are the constants above, not input.
    return f"""
        CREATE OR REPLACE FUNCTION autocancel_log_{table}() RETURNS trigger AS $$
        BEGIN
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO change_log {_COLUMNS} VALUES ({_pg_side("NEW", table)});
            END IF;
            IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({differs})) THEN
                INSERT INTO change_log {_COLUMNS} VALUES ({_pg_side("OLD", table)});
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
    """  # noqa: S608


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity()),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("payment_key", sa.Text),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("food_id", sa.BigInteger),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_change_log"),
        sqlite_autoincrement=True,  # never reuse a number, even after pruning every row
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in _POSTGRESQL:
            op.execute(_pg_function(table))
            op.execute(f"""
                CREATE TRIGGER autocancel_{table}_logged
                AFTER INSERT OR UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION autocancel_log_{table}()
            """)
        return
    for table, events in _SQLITE.items():
        for event, sides in events.items():
            inserts = " ".join(
                f"INSERT INTO change_log {_COLUMNS} SELECT {side};" for side in sides
            )
            op.execute(
                f"CREATE TRIGGER autocancel_{table}_{event}_logged AFTER {event.upper()} "
                f"ON {table} BEGIN {inserts} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _POSTGRESQL:
            op.execute(f"DROP TRIGGER IF EXISTS autocancel_{table}_logged ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS autocancel_log_{table}()")
    else:
        for table, events in _SQLITE.items():
            for event in events:
                op.execute(f"DROP TRIGGER IF EXISTS autocancel_{table}_{event}_logged")
    op.drop_table("change_log")

"""Change signals: the daemon reacts to a new or changed order within a second.

SQLite: triggers bump a one-row counter the daemon polls (a primary-key read,
no scan). PostgreSQL: statement triggers NOTIFY the channel
``autocancel_orders``, which the daemon LISTENs to. A POS writing the
contract tables needs to know nothing about either.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WATCHED = ("orders", "order_items", "stock")
CHANNEL = "autocancel_orders"


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    op.execute("INSERT INTO change_counter (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION autocancel_notify_change() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
        """)
        for table in WATCHED:
            op.execute(f"""
                CREATE TRIGGER autocancel_{table}_changed
                AFTER INSERT OR UPDATE OR DELETE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION autocancel_notify_change()
            """)
        return
    for table in WATCHED:  # table and event names are constants, not input
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER autocancel_{table}_{event.lower()} AFTER {event} ON {table} "  # noqa: S608
                "BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS autocancel_{table}_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS autocancel_notify_change()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS autocancel_{table}_{event}")
    op.drop_table("change_counter")

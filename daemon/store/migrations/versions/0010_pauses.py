"""Pauses: staff's off-switch for automation, with an end, an author and a comment.

One row per ``autocancel pause``. A pause holds from when it is stored until
``until``, or until ``autocancel resume`` sets ``ended_at``; expiry is a
comparison with the clock, so no command needs to run for it. Every replica
and every restart reads the same rows.

Writes to the table wake a running daemon through the change signals of
0004 (SQLite's counter, PostgreSQL's NOTIFY), so a pause or a resume takes
effect at the next pass within a second. They are not in the change log of
0009: a pause changes no order, and the judge compares the set of pauses in
force from pass to pass instead.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pauses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.Text),  # NULL: every rule
        sa.Column("restaurant_id", sa.Text),  # NULL: every restaurant
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("host", sa.Text),
        sa.Column("ended_at", UTCDateTime()),  # set by resume only; expiry is `until`
        sa.Column("ended_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_pauses"),
        sa.CheckConstraint("until > created_at", name="ck_pauses_ends_after_start"),
        sqlite_autoincrement=True,  # an id is never reused: the audit names pauses by it
    )
    op.create_index("ix_pauses_until", "pauses", ["until"])
    if op.get_bind().dialect.name == "postgresql":
        # autocancel_notify_change() is 0004's: NOTIFY autocancel_orders.
        op.execute("""
            CREATE TRIGGER autocancel_pauses_changed
            AFTER INSERT OR UPDATE OR DELETE ON pauses
            FOR EACH STATEMENT EXECUTE FUNCTION autocancel_notify_change()
        """)
        return
    for event in ("INSERT", "UPDATE", "DELETE"):  # constants, not input
        op.execute(
            f"CREATE TRIGGER autocancel_pauses_{event.lower()} AFTER {event} ON pauses "  # noqa: S608
            "BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS autocancel_pauses_changed ON pauses")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS autocancel_pauses_{event}")
    op.drop_index("ix_pauses_until", table_name="pauses")
    op.drop_table("pauses")

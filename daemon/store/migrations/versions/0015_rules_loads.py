"""Which rules file was in force when: one row per load of rules.yaml.

``rules_loads`` gains a row each time a process loads the rules to act on
them: ``run`` at start (``event`` start) and on every accepted reload
(reload), ``once`` before its pass (once). ``digest`` is the SHA-256 of the
file's bytes as read, ``path`` the file as given, ``owner`` the "host:pid"
that loaded it (replicas each write their own). The rules in force at a
moment are the last load before it (``autocancel report`` shows them per
decision); a rejected reload writes nothing, since the last good rules stay
in force. Nothing reads this table to decide, so no change signal is wired.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules_loads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("owner", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_rules_loads"),
        sa.CheckConstraint("event IN ('start', 'reload', 'once')", name="ck_rules_loads_event"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rules_loads_loaded_at", "rules_loads", ["loaded_at"])


def downgrade() -> None:
    op.drop_index("ix_rules_loads_loaded_at", table_name="rules_loads")
    op.drop_table("rules_loads")

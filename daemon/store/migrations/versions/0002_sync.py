"""Order sync: where an order came from, when it was last seen, when it vanished.

``vanished_at`` is set when an order synced from Dükkango no longer appears
in get-current: it is then not treated as active any more, without inventing
a status the platform never reported.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime, json_type

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("raw_payload", json_type()))
        batch.add_column(sa.Column("synced_at", UTCDateTime()))
        batch.add_column(sa.Column("vanished_at", UTCDateTime()))
    op.create_table(
        "sync_state",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("last_poll_at", UTCDateTime()),
        sa.Column("last_success_at", UTCDateTime()),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_sync_state"),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("vanished_at")
        batch.drop_column("synced_at")
        batch.drop_column("raw_payload")

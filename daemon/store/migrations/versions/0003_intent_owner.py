"""Who sent a live intent: "host:pid", so a restart can tell a crash from a peer at work.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("owner", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("owner")

"""Sends whose answer was lost: they may have cancelled, so they count as sent.

``ledger.uncertain_sends`` counts the API calls of one cancellation that got
no readable answer (a timeout after the request was written, a dropped
connection, a garbage 200, a 5xx). The hourly cap counts every row with one,
and a cancellation is resent only a bounded number of times.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(
            sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("uncertain_sends")

"""Closures that people ended: reopened by hand or by staff, or released.

``restaurant_closures`` gains who ended a closure instead of the congestion
rule (``override_kind``: reopen, release or staff; ``override_by``), when a
pass saw the overload over after that (``respect_ended_at``: the daemon
judges the restaurant as usual again), and when the platform's status was
last read for a closure in force (``status_checked_at``: how a staff reopen
is noticed, at a shared pace). All nullable: old rows read as the rule's own.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = ("override_kind", "override_by", "respect_ended_at", "status_checked_at")


def upgrade() -> None:
    with op.batch_alter_table("restaurant_closures") as batch:
        batch.add_column(sa.Column("override_kind", sa.Text))
        batch.add_column(sa.Column("override_by", sa.Text))
        batch.add_column(sa.Column("respect_ended_at", UTCDateTime()))
        batch.add_column(sa.Column("status_checked_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("restaurant_closures") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)

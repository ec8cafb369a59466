"""What each pass came to, for an honest ``autocancel status``.

``passes.summary`` holds the pass's decisions by outcome, its actions, the
API's answers by code (successes, ``http_401`` ...) and the circuit's state at
the end of the pass; ``last_api_success_at`` is the time of the pass's last
successful API call (indexed through ``started_at``: status reads the newest
pass that has one); ``circuit_open_since`` is set while the daemon's API
circuit was open. A pass's row is now written when it starts, so a pass that
crashes is on record too (``result`` ``crashed``, with ``error``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime, json_type

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passes") as batch:
        batch.add_column(sa.Column("summary", json_type()))
        batch.add_column(sa.Column("last_api_success_at", UTCDateTime()))
        batch.add_column(sa.Column("circuit_open_since", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("passes") as batch:
        batch.drop_column("circuit_open_since")
        batch.drop_column("last_api_success_at")
        batch.drop_column("summary")

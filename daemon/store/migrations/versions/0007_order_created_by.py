"""Which orders ``autocancel sync`` created: those are the ones it owns.

``orders.created_by`` is ``'sync'`` for an order sync inserted, and NULL for
every order a POS wrote (a POS never has to write it). Sync updates its own
orders from Dükkango; in a POS's order it only fills gaps (``sync.owns``).
Orders synced before this revision stay NULL: whether sync or a POS wrote
them first is not known, so they are treated as the POS's, which never
overwrites anything.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): on SQLite a table copy would drop
    # the change-signal triggers of migration 0004.
    op.add_column("orders", sa.Column("created_by", sa.Text))


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+, PostgreSQL), for the same reason.
    op.execute("ALTER TABLE orders DROP COLUMN created_by")

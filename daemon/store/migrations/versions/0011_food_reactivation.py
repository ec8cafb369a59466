"""Foods come back: one row per deactivation, and the reactivation of each.

``food_deactivations`` was keyed by the food, so a food could be deactivated
once ever. It now has an ``id`` per deactivation and an ``active_key`` (the
food id while the deactivation is in force, NULL once the food is back on
sale), unique, so one deactivation is in force per food and the next one,
after a reactivation, is a row of its own. Every existing row stays in
force. ``uncertain_sends`` counts the deactivation calls whose answer was
lost (the food may be off).

``food_reactivations`` holds the ``foods/status-active`` call of a
deactivation: at most one row each (unique ``deactivation_id``), which is
how replicas agree that only one of them sends it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime, json_type

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OLD = "food_deactivations_0009"
# Constants: no value from outside reaches these statements.
_COLUMNS = "food_id, restaurant_id, rule, payment_key, at, outcome, attempts, last_error"


def _rename_old_table() -> None:
    op.rename_table("food_deactivations", _OLD)
    if op.get_bind().dialect.name == "postgresql":
        # Constraint names are per schema there: free the name for the new table.
        op.execute(f"ALTER TABLE {_OLD} RENAME CONSTRAINT pk_food_deactivations TO pk_{_OLD}")


def upgrade() -> None:
    _rename_old_table()
    op.create_table(
        "food_deactivations",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("food_id", sa.Integer, nullable=False),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("payment_key", sa.Text),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.Column("active_key", sa.Integer),
        sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("id", name="pk_food_deactivations"),
        sa.UniqueConstraint("active_key", name="uq_food_deactivations_active_key"),
    )
    op.create_index("ix_food_deactivations_food_id", "food_deactivations", ["food_id"])
    # Every deactivation on record was the daemon's claim on its food: still in force.
    op.execute(
        f"INSERT INTO food_deactivations ({_COLUMNS}, active_key) "  # noqa: S608
        f"SELECT {_COLUMNS}, food_id FROM {_OLD} ORDER BY at, food_id"
    )
    op.drop_table(_OLD)
    op.create_table(
        "food_reactivations",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("deactivation_id", sa.Integer, nullable=False),
        sa.Column("food_id", sa.Integer, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("evidence", json_type()),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("owner", sa.Text),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_food_reactivations"),
        sa.UniqueConstraint("deactivation_id", name="uq_food_reactivations_deactivation_id"),
        sa.ForeignKeyConstraint(
            ["deactivation_id"],
            ["food_deactivations.id"],
            name="fk_food_reactivations_deactivation_id_food_deactivations",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    # Back to one row per food: the newest deactivation of each food is kept.
    op.drop_table("food_reactivations")
    op.rename_table("food_deactivations", _OLD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_OLD} RENAME CONSTRAINT pk_food_deactivations TO pk_{_OLD}")
        op.execute(
            f"ALTER TABLE {_OLD} RENAME CONSTRAINT uq_food_deactivations_active_key "
            f"TO uq_{_OLD}_active_key"
        )
    op.drop_index("ix_food_deactivations_food_id", table_name=_OLD)
    op.create_table(
        "food_deactivations",
        sa.Column("food_id", sa.Integer, autoincrement=False),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("payment_key", sa.Text),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("food_id", name="pk_food_deactivations"),
    )
    op.execute(
        f"INSERT INTO food_deactivations ({_COLUMNS}) SELECT {_COLUMNS} FROM {_OLD} "  # noqa: S608
        f"WHERE id IN (SELECT max(id) FROM {_OLD} GROUP BY food_id)"
    )
    op.drop_table(_OLD)

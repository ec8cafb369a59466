"""The contract tables, the ledger and the daemon's bookkeeping tables.

A POS may have created the contract tables before autocancel was installed:
those are left as they are (only the hot-query index is added), so a first
``autocancel db upgrade`` never fails on, or alters, the POS's own tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime, json_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _existing_tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _create_contract_tables(existing: set[str]) -> None:
    if "orders" not in existing:
        op.create_table(
            "orders",
            sa.Column("payment_key", sa.Text, primary_key=True),
            sa.Column("order_number", sa.Integer),
            sa.Column("restaurant_id", sa.Text, nullable=False),
            sa.Column("status_id", sa.Integer, nullable=False),
            sa.Column("shipping_method", sa.Text),
            sa.Column("courier_type", sa.Text),
            sa.Column("payment_method", sa.Text),
            sa.Column("payment_status", sa.Text),
            sa.Column("total", sa.Numeric(12, 2)),
            sa.Column("created_at", UTCDateTime()),
            sa.Column("customer_name", sa.Text),
            sa.Column("customer_phone", sa.Text),
            sa.Column("address", sa.Text),
            sa.Column("address_description", sa.Text),
            sa.Column("latitude", sa.Float),
            sa.Column("longitude", sa.Float),
            sa.Column("updated_at", UTCDateTime()),
            sa.PrimaryKeyConstraint("payment_key", name="pk_orders"),
        )
    indexes = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("orders")}
    if "ix_orders_status_restaurant" not in indexes:
        op.create_index("ix_orders_status_restaurant", "orders", ["status_id", "restaurant_id"])

    if "order_items" not in existing:
        op.create_table(
            "order_items",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("payment_key", sa.Text, nullable=False),
            sa.Column("food_id", sa.Integer, nullable=False),
            sa.Column("name", sa.Text),
            sa.Column("quantity", sa.Integer, nullable=False, server_default=sa.text("1")),
            sa.PrimaryKeyConstraint("id", name="pk_order_items"),
            sa.ForeignKeyConstraint(
                ["payment_key"],
                ["orders.payment_key"],
                name="fk_order_items_payment_key_orders",
                ondelete="CASCADE",
            ),
        )
        op.create_index("ix_order_items_payment_key", "order_items", ["payment_key"])

    if "stock" not in existing:
        op.create_table(
            "stock",
            sa.Column("food_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("restaurant_id", sa.Text),
            sa.Column("name", sa.Text),
            sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("quantity", sa.Integer),
            sa.PrimaryKeyConstraint("food_id", name="pk_stock"),
        )


def _create_daemon_tables() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("pass_id", sa.Text),
        sa.Column("payment_key", sa.Text, nullable=False),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason_id", sa.Integer, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("evidence", json_type(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("intent_key", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.UniqueConstraint("intent_key", name="uq_ledger_intent_key"),
        sa.CheckConstraint("reason_id BETWEEN 1 AND 8", name="ck_ledger_reason_id_range"),
        sa.CheckConstraint("mode IN ('live', 'dry_run')", name="ck_ledger_mode_known"),
        sa.CheckConstraint(
            "outcome IN ('pending', 'cancelled', 'would_cancel', 'failed', 'skipped', 'held')",
            name="ck_ledger_outcome_known",
        ),
        sa.CheckConstraint(
            "intent_key IS NULL OR (intent_key = payment_key AND mode = 'live')",
            name="ck_ledger_intent_is_live_cancel",
        ),
    )
    op.create_index("ix_ledger_payment_key", "ledger", ["payment_key"])
    op.create_index("ix_ledger_at", "ledger", ["at"])
    op.create_index("ix_ledger_outcome", "ledger", ["outcome"])

    op.create_table(
        "restaurant_closures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("restaurant_id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=False),
        sa.Column("reopened_at", UTCDateTime()),
        sa.Column("close_outcome", sa.Text, nullable=False),
        sa.Column("reopen_outcome", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("evidence", json_type()),
        sa.Column("active_key", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_restaurant_closures"),
        sa.UniqueConstraint("active_key", name="uq_restaurant_closures_active_key"),
    )
    op.create_index(
        "ix_restaurant_closures_restaurant_id", "restaurant_closures", ["restaurant_id"]
    )

    op.create_table(
        "food_deactivations",
        sa.Column("food_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("payment_key", sa.Text),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("food_id", name="pk_food_deactivations"),
    )

    op.create_table(
        "geocode_cache",
        sa.Column("query", sa.Text, primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("geocoded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("query", name="pk_geocode_cache"),
    )

    op.create_table(
        "passes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("host", sa.Text),
        sa.Column("orders_seen", sa.Integer),
        sa.Column("decisions", sa.Integer),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_passes"),
    )
    op.create_index("ix_passes_started_at", "passes", ["started_at"])


def upgrade() -> None:
    _create_contract_tables(_existing_tables())
    _create_daemon_tables()


def downgrade() -> None:
    for table in ("passes", "geocode_cache", "food_deactivations", "restaurant_closures", "ledger"):
        op.drop_table(table)

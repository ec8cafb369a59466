"""Geodesic distances a pass had to measure, kept per (restaurant, delivery) position.

A pass decides most deliveries with the haversine bound; the geodesic of
the rest (the band near a limit and every match's evidence) is stored here
so a new process reads it instead of computing it again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distance_cache",
        sa.Column("origin_latitude", sa.Float, nullable=False),
        sa.Column("origin_longitude", sa.Float, nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("km", sa.Float, nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "origin_latitude",
            "origin_longitude",
            "latitude",
            "longitude",
            name="pk_distance_cache",
        ),
    )


def downgrade() -> None:
    op.drop_table("distance_cache")

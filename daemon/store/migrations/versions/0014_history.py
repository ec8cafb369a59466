"""The order history: every change the daemon saw to an active order or a stock row.

``autocancel replay`` and ``diff`` rebuild the store as the daemon saw it
at any moment of the last ``history.retention_days`` (default 30) from
this table (daemon.store.history).

Who writes it, and why not the triggers. Two designs were on the table:

(a) the change-log triggers of 0009 also store the row image (JSON of NEW,
    a marker on DELETE), and the log is kept for the retention instead of
    its last 100,000 rows;
(b) the pass writes it: each pass already re-reads the restaurants the
    change log names (the incremental pass) or everything (the full pass),
    so it compares the orders and stock rows it read with what it recorded
    last and writes one row per order or stock row that differs, stamped
    with its pass clock.

This is (b). The triggers see every write, but most writes change nothing
a rule reads: sync stamps ``synced_at`` on every order it polls, every 35 s,
and a POS rewrites rows it did not change. A row image per write would grow
with the writes; (b) grows with the changes the rules can see (the snapshot's
``Order`` and ``StockLevel`` values), whoever wrote them: a POS, ``sync``,
both, or SQL by hand, since all of them reach the pass through the change
log. (b) also stamps each change with the pass clock that saw it, so a replay
runs its passes at the very moments the live daemon judged, which is what
lets it reproduce the live decisions; the triggers only know the writer's
clock. The triggers (and a POS's writes) stay as cheap as before; the cost
is the pass's (bench/replay_bench.py measures it).

Rows. ``kind`` is ``order`` (``subject``: payment_key), ``stock``
(``subject``: food_id) or ``mark`` (``subject`` says what: ``started``, a
recording process's first pass, with the end of the previous pass so a
replay knows when nobody watched; ``pruned``, where the history is complete
from). ``image`` is the value as the rules saw it, compact JSON
(daemon.domain.images); NULL means gone: the order is no longer active
(finished, cancelled, deleted, vanished) or the stock row is missing.
A changed order is stored whole, not as a patch, so the state at any moment
is one indexed query (the rows seen by then and not replaced by then), and
pruning is a delete by time. ``replaced_at`` is the pass clock of the next
row of the same subject.

The baseline: a recording process starts by reading the rows still open
(``replaced_at`` NULL) as what it saw last, so its first full pass writes
what changed while no daemon watched, including the orders that left
meanwhile; the first pass after this migration writes every active order
and stock row it reads. Pruning (daemon.store.history.prune) deletes what
was replaced before the cutoff, and leaves what is still open, however old.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.store.sqltypes import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity()),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("restaurant_id", sa.Text),
        sa.Column("image", sa.Text),
        sa.Column("replaced_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_order_history"),
        sa.CheckConstraint("kind IN ('order', 'stock', 'mark')", name="ck_order_history_kind"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_order_history_seen_at", "order_history", ["seen_at"])
    op.create_index("ix_order_history_replaced_at", "order_history", ["replaced_at"])
    # The rows still open: what a recorder replaces, and where it starts from.
    op.create_index(
        "ix_order_history_open",
        "order_history",
        ["kind", "subject"],
        sqlite_where=sa.text("replaced_at IS NULL"),
        postgresql_where=sa.text("replaced_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("order_history")

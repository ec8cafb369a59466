"""The order store's tables, as SQLAlchemy metadata: what every query is written against.

Alembic's migrations (``daemon/store/migrations``) create and change them, and
tests/test_store.py checks they agree: this is the newest schema at a glance.

The contract tables (``orders``, ``order_items``, ``stock``) are written by the
POS or ``autocancel sync``; the others belong to the daemon:

``ledger``
    One row per decision the engine made about an order: which rule, which
    reason, live or dry-run, and the outcome of the API call. A *live
    cancellation intent* carries ``intent_key = payment_key``; the unique
    constraint on ``intent_key`` is what makes a second live cancellation of
    one order impossible at the database level, whichever daemon tries.
``restaurant_closures``
    Closures this daemon made (congestion). ``active_key`` is unique while a
    closure is in force, so two replicas cannot both close one restaurant.
    ``override_kind`` says when people ended it instead of the rule
    (``reopen``, ``release``, ``staff``: daemon.domain.overrides), with who
    and until when the daemon respected it; ``status_checked_at`` paces the
    reads of the platform's status that notice a staff reopen.
``food_deactivations``
    ``foods/status-passive`` calls, one row per deactivation. ``active_key``
    is unique while the deactivation is in force, so a food is deactivated
    once until it is reactivated.
``food_reactivations``
    ``foods/status-active`` calls: the way back from one deactivation, at most
    one row each (unique ``deactivation_id``), so replicas reactivate once.
``geocode_cache``
    Geocoder answers, including definite "no result" (null coordinates).
``distance_cache``
    Geodesic kilometres per (restaurant position, delivery position), for
    the pairs a pass had to measure exactly, so a new process reads them.
``passes``
    One row per evaluation pass, written when it starts and completed when it
    ends (or crashes), for ``autocancel status``.
``sync_state``
    When ``autocancel sync`` last polled get-current (its 30 s cooldown).
``pauses``
    Staff's pauses of automation (``autocancel pause``): a scope (a rule, a
    restaurant, both or neither), an end that always comes (``until``), who
    and why. In force until ``until`` or until ``ended_at`` (a resume).

All timestamps are aware UTC ``datetime`` values (see :class:`UTCDateTime`).
"""

from __future__ import annotations

from typing import get_args

import sqlalchemy as sa

from daemon.domain.decisions import Mode, Outcome
from daemon.domain.reasons import REASONS
from daemon.store.sqltypes import UTCDateTime, json_type

# The ledger's check constraints spell out the domain's vocabulary.
_MODES: tuple[str, ...] = get_args(Mode)
_OUTCOMES: tuple[str, ...] = get_args(Outcome)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- contract tables (DESIGN.md, "Order store") -----------------------------

orders = sa.Table(
    "orders",
    metadata,
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
    # Ours (migration 0002), all nullable: a POS never has to write them.
    sa.Column("raw_payload", json_type()),  # the get-current object, as received
    sa.Column("synced_at", UTCDateTime()),  # last seen in get-current
    sa.Column("vanished_at", UTCDateTime()),  # synced, then gone from get-current
    # 'sync' when autocancel sync created the order (0007): the orders sync owns.
    sa.Column("created_by", sa.Text),
    # The hot query: active orders by status (and restaurant, for congestion).
    sa.Index("ix_orders_status_restaurant", "status_id", "restaurant_id"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "payment_key",
        sa.Text,
        sa.ForeignKey("orders.payment_key", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("food_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("quantity", sa.Integer, nullable=False, server_default=sa.text("1")),
)

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("food_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("quantity", sa.Integer),
)

# --- the daemon's own tables -------------------------------------------------

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("pass_id", sa.Text),
    sa.Column("payment_key", sa.Text, nullable=False, index=True),
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
    sa.Column("intent_key", sa.Text, unique=True),
    # "host:pid" of the daemon that sends the intent (migration 0003).
    sa.Column("owner", sa.Text),
    # Calls of this cancellation whose answer was lost: they may have acted (0005).
    sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.CheckConstraint(
        f"reason_id BETWEEN {min(REASONS)} AND {max(REASONS)}", name="reason_id_range"
    ),
    sa.CheckConstraint(f"mode IN {_MODES!r}", name="mode_known"),
    sa.CheckConstraint(f"outcome IN {_OUTCOMES!r}", name="outcome_known"),
    # An intent is live, and it names its own order: nothing else may hold the key.
    sa.CheckConstraint(
        "intent_key IS NULL OR (intent_key = payment_key AND mode = 'live')",
        name="intent_is_live_cancel",
    ),
    sa.Index("ix_ledger_at", "at"),
    sa.Index("ix_ledger_outcome", "outcome"),
)

restaurant_closures = sa.Table(
    "restaurant_closures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("restaurant_id", sa.Text, nullable=False, index=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=False),
    sa.Column("reopened_at", UTCDateTime()),
    sa.Column("close_outcome", sa.Text, nullable=False),
    sa.Column("reopen_outcome", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("evidence", json_type()),
    # Equal to restaurant_id while the closure is in force, NULL after reopening.
    sa.Column("active_key", sa.Text, unique=True),
    # How people ended it instead of the rule: reopen, release or staff (NULL:
    # the rule reopened it). While the closure is still in force, "reopen" marks
    # an `autocancel reopen` whose answer was lost (the next status read settles it).
    sa.Column("override_kind", sa.Text),
    sa.Column("override_by", sa.Text),  # who: --by or the OS user (NULL for staff)
    # When a pass saw the overload over after people ended the closure: from
    # then on the restaurant is judged as usual again.
    sa.Column("respect_ended_at", UTCDateTime()),
    # The last read of the platform's status for this closure (a staff reopen?):
    # claimed by a conditional update, so replicas share one pace.
    sa.Column("status_checked_at", UTCDateTime()),
)

food_deactivations = sa.Table(
    "food_deactivations",
    metadata,
    # One row per deactivation (migration 0011; before it, one per food ever).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("food_id", sa.Integer, nullable=False, index=True),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("payment_key", sa.Text),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
    # Equal to food_id while the deactivation is the daemon's (in force), NULL once
    # the food is reactivated: one deactivation in force per food, whichever replica.
    sa.Column("active_key", sa.Integer, unique=True),
    # Calls of this deactivation whose answer was lost: the food may be off (0011).
    sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
)

# The way back from one deactivation: at most one row each, so a food is
# reactivated once per deactivation, whichever replica claims it (0011).
food_reactivations = sa.Table(
    "food_reactivations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "deactivation_id",
        sa.Integer,
        sa.ForeignKey("food_deactivations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("food_id", sa.Integer, nullable=False),
    # back_in_stock, snooze (reactivate_after_minutes) or manual (food-reactivate).
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Text),  # who asked, for a manual one; NULL: the daemon
    sa.Column("note", sa.Text),
    sa.Column("evidence", json_type()),  # why: the stock row, the snooze, ...
    # pending, retry, uncertain, reactivated, maybe_reactivated, failed
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("owner", sa.Text),  # "host:pid" of the claimer
    sa.Column("claimed_at", UTCDateTime(), nullable=False),  # first claimed
    sa.Column("updated_at", UTCDateTime(), nullable=False),  # last claimed or recorded
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("uncertain_sends", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
)

geocode_cache = sa.Table(
    "geocode_cache",
    metadata,
    sa.Column("query", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("geocoded_at", UTCDateTime(), nullable=False),
)

distance_cache = sa.Table(
    "distance_cache",
    metadata,
    sa.Column("origin_latitude", sa.Float, primary_key=True),
    sa.Column("origin_longitude", sa.Float, primary_key=True),
    sa.Column("latitude", sa.Float, primary_key=True),
    sa.Column("longitude", sa.Float, primary_key=True),
    sa.Column("km", sa.Float, nullable=False),
    sa.Column("computed_at", UTCDateTime(), nullable=False),
)

passes = sa.Table(
    "passes",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("host", sa.Text),
    sa.Column("orders_seen", sa.Integer),
    sa.Column("decisions", sa.Integer),
    sa.Column("result", sa.Text),  # NULL while running; ok, degraded, failed, crashed (0006)
    sa.Column("error", sa.Text),
    # What the pass came to: outcomes, actions, API answers by code, circuit (0006).
    sa.Column("summary", json_type()),
    sa.Column("last_api_success_at", UTCDateTime()),
    sa.Column("circuit_open_since", UTCDateTime()),
    sa.Index("ix_passes_started_at", "started_at"),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("last_poll_at", UTCDateTime()),
    sa.Column("last_success_at", UTCDateTime()),
    sa.Column("last_error", sa.Text),
)

pauses = sa.Table(
    "pauses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text),  # NULL: every rule
    sa.Column("restaurant_id", sa.Text),  # NULL: every restaurant
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("until", UTCDateTime(), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("host", sa.Text),
    sa.Column("ended_at", UTCDateTime()),  # set by a resume; expiry is `until` passing
    sa.Column("ended_by", sa.Text),
    sa.CheckConstraint("until > created_at", name="ends_after_start"),
    sa.Index("ix_pauses_until", "until"),
    sqlite_autoincrement=True,
)

# Bumped by triggers on the contract tables (migration 0004; SQLite only).
change_counter = sa.Table(
    "change_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False, server_default=sa.text("0")),
)
CHANGE_CHANNEL = "autocancel_orders"  # PostgreSQL NOTIFY channel (migration 0004)

# One row per changed contract row, appended by triggers (migration 0009).
change_log = sa.Table(
    "change_log",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity()),
    sa.Column("source", sa.Text, nullable=False),  # orders, order_items or stock
    sa.Column("payment_key", sa.Text),
    sa.Column("restaurant_id", sa.Text),
    sa.Column("food_id", sa.BigInteger),
    sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.PrimaryKeyConstraint("seq", name="pk_change_log"),
    sqlite_autoincrement=True,
)

# Notifications waiting for delivery, written with the change that caused them (0012).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),  # the webhook-id, for receivers
    sa.Column("event_key", sa.Text, unique=True),  # once per key (see daemon.domain.events)
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("payload", json_type(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending, delivered, gave_up
    sa.Column("owner", sa.Text),  # "host:pid" of the sender delivering it now
    sa.Column("claimed_at", UTCDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", UTCDateTime()),
    # The channels that took it already: a retry never sends to them again.
    sa.Column("delivered_channels", json_type(), nullable=False),
    sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)

# What the daemon saw of the active orders and stock, change by change (migration 0014;
# daemon.store.history).
order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity()),
    sa.Column("seen_at", UTCDateTime(), nullable=False),  # the pass clock that saw it
    sa.Column("kind", sa.Text, nullable=False),  # order, stock or mark
    sa.Column("subject", sa.Text, nullable=False),  # payment_key, food_id, or what a mark says
    sa.Column("restaurant_id", sa.Text),
    sa.Column("image", sa.Text),  # compact JSON (daemon.domain.images); NULL: gone
    sa.Column("replaced_at", UTCDateTime()),  # the seen_at of the subject's next row
    sa.PrimaryKeyConstraint("id", name="pk_order_history"),
    sa.CheckConstraint("kind IN ('order', 'stock', 'mark')", name="kind"),
    sa.Index("ix_order_history_seen_at", "seen_at"),
    sa.Index("ix_order_history_replaced_at", "replaced_at"),
    # Partial: WHERE replaced_at IS NULL, on PostgreSQL too (migration 0014 creates
    # it so on both; tests/test_store.py checks). Not declared here with
    # postgresql_where, which would import SQLAlchemy's PostgreSQL dialect (~50 ms)
    # in every process, a SQLite store's included; Alembic compares no predicates.
    sa.Index(
        "ix_order_history_open",
        "kind",
        "subject",
        sqlite_where=sa.text("replaced_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

# Each load of rules.yaml that a pass acted on: which rules were in force when
# (migration 0015; daemon.store.rules_loads).
rules_loads = sa.Table(
    "rules_loads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # start, reload or once
    sa.Column("digest", sa.Text, nullable=False),  # SHA-256 of the file's bytes, hex
    sa.Column("path", sa.Text, nullable=False),  # the rules file, as given
    sa.Column("owner", sa.Text),  # "host:pid" of the process that loaded it
    sa.CheckConstraint("event IN ('start', 'reload', 'once')", name="event"),
    sa.Index("ix_rules_loads_loaded_at", "loaded_at"),
    sqlite_autoincrement=True,
)

CONTRACT_TABLES = ("orders", "order_items", "stock")

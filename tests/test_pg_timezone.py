"""A PostgreSQL server whose default TimeZone is Europe/Istanbul, as many Turkish servers have.

Each test gets its own database with ``ALTER DATABASE ... SET timezone``: every
session that does not choose its own time zone (a POS's, ours) starts in
Istanbul time, three hours ahead of UTC. The store's sessions must still read
and write naive timestamps as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.store import connect
from tests.conftest import SimulatorFactory, database_of_its_own
from tests.world import HALASKARGAZI, PAYMENT_FAILED, World, decision_for, ledger_rows, once_json

pytestmark = pytest.mark.postgres

PAYMENT_ONLY = PAYMENT_FAILED
# As DESIGN.md names the type: a POS that creates its tables first may well
# use `timestamp`, which PostgreSQL stores without a time zone.
POS_ORDERS_TABLE = """
CREATE TABLE orders (
    payment_key text PRIMARY KEY, order_number integer, restaurant_id text NOT NULL,
    status_id integer NOT NULL, shipping_method text, courier_type text, payment_method text,
    payment_status text, total numeric(12, 2), created_at timestamp, customer_name text,
    customer_phone text, address text, address_description text, latitude real,
    longitude real, updated_at timestamp
)"""
POS_INSERT = (
    "INSERT INTO orders (payment_key, restaurant_id, status_id, shipping_method, "
    "payment_status, latitude, longitude, created_at, updated_at) VALUES "
    "(:key, :restaurant, 1, 'delivery', 'failed', 41.052, 28.99, :created, :created)"
)


@pytest.fixture
def istanbul_url() -> Iterator[str]:
    """A fresh database whose sessions start in Europe/Istanbul unless they say otherwise."""
    with database_of_its_own("autocancel_tz", timezone="Europe/Istanbul") as url:
        yield url


def _naive_utc(minutes_ago: float) -> str:
    """A POS's naive UTC text, as the contract allows: ``YYYY-MM-DD HH:MM:SS``."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _world(folder: Path, url: str, simulator_factory: SimulatorFactory) -> World:
    world = World(folder=folder, store_url=url, simulator=simulator_factory(cooldown_seconds=0.2))
    world.configure(PAYMENT_ONLY)
    return world


def test_the_store_sessions_use_utc_whatever_the_server_default(istanbul_url: str) -> None:
    plain = sa.create_engine(istanbul_url)
    with plain.connect() as conn:  # how a POS, or any client, finds the server
        assert conn.execute(sa.text("SHOW timezone")).scalar_one() == "Europe/Istanbul"
    plain.dispose()
    # Also when the operator's URL asks for Istanbul explicitly.
    asked = f"{istanbul_url}?options=-c%20timezone%3DEurope/Istanbul"
    for url in (istanbul_url, asked):
        engine = connect.create_store_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW timezone")).scalar_one() == "UTC"
        engine.dispose()


def test_a_fresh_order_written_with_a_naive_utc_time_is_cancelled_not_too_old(
    tmp_path: Path, istanbul_url: str, simulator_factory: SimulatorFactory
) -> None:
    world = _world(tmp_path, istanbul_url, simulator_factory)
    # Plain SQL through the store's engine, naive UTC text as the contract allows.
    with world.engine.begin() as conn:
        for key, minutes_ago in (("fresh", 5), ("old", 240)):
            conn.execute(
                sa.text(POS_INSERT),
                {"key": key, "restaurant": HALASKARGAZI, "created": _naive_utc(minutes_ago)},
            )
            world.simulator.add_order(payment_key=key, restaurant_id=HALASKARGAZI)

    decisions, _ = once_json(world)

    fresh = decision_for(decisions, "fresh")
    assert (fresh["rule"], fresh["outcome"]) == ("payment-failed", "cancelled"), fresh
    old = decision_for(decisions, "old")
    assert old["outcome"] == "skipped", old
    assert old["evidence"]["skipped_because"] == "max_order_age_minutes", old
    assert 235 <= old["evidence"]["age_minutes"] <= 245, old
    assert world.cancel_calls() == [("fresh", {"reason_id": 7})]


def test_naive_timestamp_columns_round_trip_as_utc(
    tmp_path: Path, istanbul_url: str, simulator_factory: SimulatorFactory
) -> None:
    pos = sa.create_engine(istanbul_url)  # the POS's own sessions: Istanbul by default
    with pos.begin() as conn:
        conn.execute(sa.text(POS_ORDERS_TABLE))
        for key, minutes_ago in (("fresh", 5), ("old", 240)):
            conn.execute(
                sa.text(POS_INSERT),
                {"key": key, "restaurant": HALASKARGAZI, "created": _naive_utc(minutes_ago)},
            )
    world = _world(tmp_path, istanbul_url, simulator_factory)  # db upgrade keeps the table
    for key in ("fresh", "old"):
        world.simulator.add_order(payment_key=key, restaurant_id=HALASKARGAZI)

    before = datetime.now(UTC)
    decisions, _ = once_json(world)
    after = datetime.now(UTC)

    assert decision_for(decisions, "fresh")["outcome"] == "cancelled"
    old = decision_for(decisions, "old")["evidence"]
    assert old["skipped_because"] == "max_order_age_minutes", old
    # What the daemon wrote reads back as UTC: in the POS's naive column ...
    with pos.connect() as conn:
        updated = conn.execute(
            sa.text("SELECT updated_at FROM orders WHERE payment_key = 'fresh'")
        ).scalar_one()
        # ... and in the ledger's own column, whatever the reading session's zone.
        at = conn.execute(
            sa.text("SELECT at AT TIME ZONE 'UTC' FROM ledger WHERE payment_key = 'fresh'")
        ).scalar_one()
    pos.dispose()
    slack = timedelta(seconds=5)
    assert before - slack <= updated.replace(tzinfo=UTC) <= after + slack, updated
    assert before - slack <= at.replace(tzinfo=UTC) <= after + slack, at
    (row,) = ledger_rows(world, "fresh")
    assert before - slack <= row["at"] <= after + slack
    assert row["at"].utcoffset() == timedelta(0)

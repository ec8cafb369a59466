"""The snapshot's row cache: reused objects are the ones a fresh read would build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daemon.store import connect, migrate, schema
from daemon.store.snapshot import RowCache, read_snapshot

HOME = "0ca1d2b1-a199-4960-8617-83a659d890c8"
OTHER = "1ca1d2b1-a199-4960-8617-83a659d890c8"


def _store(tmp_path: Path) -> sa.Engine:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    migrate.upgrade(url)
    engine = connect.create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(
            schema.orders.insert(),
            [
                {"payment_key": f"k{n}", "restaurant_id": HOME, "status_id": 1, "latitude": 41.0}
                for n in range(3)
            ],
        )
        connection.execute(
            schema.order_items.insert(),
            [{"payment_key": f"k{n}", "food_id": n, "quantity": 1} for n in range(3)],
        )
        connection.execute(
            schema.stock.insert(),
            [{"food_id": n, "restaurant_id": HOME, "available": True} for n in range(3)],
        )
    return engine


def _read(engine: sa.Engine, cache: RowCache | None, **kwargs: Any) -> tuple[Any, ...]:
    with connect.snapshot_reader(engine) as connection, connection.begin():
        snapshot = read_snapshot(connection, cache=cache, **kwargs)
    return snapshot.orders, dict(snapshot.stock), snapshot.unreadable_stock


def test_cached_reads_equal_fresh_reads_through_changes(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    cache = RowCache()
    first = _read(engine, cache)
    again = _read(engine, cache)
    assert again == first == _read(engine, None)
    assert all(a is b for a, b in zip(first[0], again[0], strict=True))  # reused, not rebuilt
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET latitude = 'north' WHERE payment_key = 'k0'"))
        connection.execute(sa.text("UPDATE order_items SET quantity = 0 WHERE payment_key = 'k1'"))
        connection.execute(sa.text(f"UPDATE stock SET restaurant_id = '{OTHER}' WHERE food_id = 2"))
        connection.execute(sa.text("UPDATE stock SET available = 'maybe' WHERE food_id = 0"))
    changed = _read(engine, cache)
    assert changed == _read(engine, None)
    orders = {o.payment_key: o for o in changed[0]}
    assert orders["k0"].latitude is None and orders["k0"].problems
    assert orders["k1"].items == () and orders["k1"].problems
    assert any("2" in str(p) for p in orders["k2"].problems)  # another restaurant's stock row
    assert changed[2] == ("0",)
    assert _read(engine, cache) == changed


def test_a_partial_read_does_not_replace_the_cache(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    cache = RowCache()
    _read(engine, cache)
    remembered = dict(cache.orders)
    _read(engine, cache, restaurants=[HOME], also_include=["k0"])
    assert cache.orders == remembered

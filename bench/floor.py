"""The raw floor of a pass: the least any evaluation pass must do (issue 12, target 1).

One statement through the plain DB driver (``sqlite3`` or ``psycopg``, no
SQLAlchemy) reads the active orders with their items and stock rows; rows
become tuples; plain Python takes the same decisions a pass counts (an item
out of stock, a delivery farther than ``max_km`` by haversine, a failed
payment, and the orders beyond a restaurant's capacity). Every pass figure in
the benchmarks is printed as a ratio to this, measured in the same run.

    python -m bench.floor --rules /tmp/bench.rules.yaml [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

QUERY = """
SELECT o.payment_key, o.restaurant_id, o.status_id, o.shipping_method, o.payment_status,
       o.latitude, o.longitude, i.food_id, i.quantity, s.available, s.quantity
FROM orders o
LEFT JOIN order_items i ON i.payment_key = o.payment_key
LEFT JOIN stock s ON s.food_id = i.food_id
WHERE o.status_id IN (1, 2, 16)
"""
EARTH_KM = 6371.0088


@dataclass(frozen=True)
class FloorRules:
    """What the floor needs of rules.yaml, read with plain PyYAML."""

    restaurants: dict[str, tuple[float, float]]
    max_km: float | None
    max_active_orders: int | None

    @classmethod
    def from_file(cls, path: Path) -> FloorRules:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        restaurants = {
            r["id"]: (float(r["latitude"]), float(r["longitude"]))
            for r in data.get("restaurants") or []
            if r.get("latitude") is not None
        }
        rules = [r for r in data.get("rules") or [] if r.get("enabled", True)]
        max_km = next((float(r["max_km"]) for r in rules if r["kind"] == "max_distance"), None)
        capacity = next(
            (int(r["max_active_orders"]) for r in rules if r["kind"] == "congestion"), None
        )
        return cls(restaurants, max_km, capacity)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def decide(rows: Iterable[tuple[Any, ...]], rules: FloorRules) -> int:
    """The number of orders a pass would cancel, from the joined rows."""
    orders: dict[str, list[Any]] = {}
    short: set[str] = set()
    for key, restaurant, status, shipping, payment, lat, lon, _food, ordered, avail, left in rows:
        if key not in orders:
            orders[key] = [restaurant, status, shipping, payment, lat, lon]
        if avail is not None and (not avail or (left is not None and left < (ordered or 1))):
            short.add(key)
    decided: set[str] = set()
    active: dict[str, int] = defaultdict(int)
    for key, (restaurant, status, shipping, payment, lat, lon) in orders.items():
        home = rules.restaurants.get(restaurant)
        if home is None:
            continue
        active[restaurant] += 1
        if status not in (1, 2):
            continue
        far = (
            rules.max_km is not None
            and shipping == "delivery"
            and lat is not None
            and lon is not None
            and haversine_km(home, (lat, lon)) > rules.max_km
        )
        if key in short or far or payment == "failed":
            decided.add(key)
    beyond = 0
    if rules.max_active_orders is not None:
        beyond = sum(max(0, count - rules.max_active_orders) for count in active.values())
    return len(decided) + beyond


def _connect(url: str) -> tuple[Any, Callable[[], None]]:
    """A plain DBAPI connection for a SQLAlchemy store URL."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        lite = sqlite3.connect(url.split(":///", 1)[1])
        return lite, lite.close
    import psycopg

    query = parse_qs(parts.query)
    options = query.get("options", [None])[0]
    conninfo = f"postgresql://{parts.netloc}{parts.path}"
    connection = (
        psycopg.connect(conninfo, options=options) if options else psycopg.connect(conninfo)
    )
    return connection, connection.close


def measure(url: str, rules: FloorRules, *, repeat: int) -> tuple[float, list[float], int]:
    """Median seconds of one raw pass (query, rows to tuples, decisions), and the decisions."""
    connection, close = _connect(url)
    try:
        times: list[float] = []
        decisions = 0
        for _ in range(repeat + 1):  # the first run warms the page cache; not counted
            started = time.perf_counter()
            cursor = connection.cursor()
            cursor.execute(QUERY)
            decisions = decide(cursor.fetchall(), rules)
            cursor.close()
            if hasattr(connection, "rollback"):
                connection.rollback()
            times.append(time.perf_counter() - started)
        counted = times[1:]
        return statistics.median(counted), counted, decisions
    finally:
        close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument(
        "--rules", type=Path, required=True, help="a rules.yaml whose store.url names the store"
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    data = yaml.safe_load(args.rules.read_text(encoding="utf-8"))
    median, times, decisions = measure(
        data["store"]["url"], FloorRules.from_file(args.rules), repeat=args.repeat
    )
    print(
        f"raw floor: median {median:.4f} s of {len(times)} "
        f"({', '.join(f'{t:.4f}' for t in times)}); {decisions} decisions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

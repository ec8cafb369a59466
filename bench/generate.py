"""Build a chain-scale order store in the contract schema, plus the rules.yaml for it.

    python -m bench.generate --restaurants 1000 --orders-per-restaurant 10 \
        --history 200000 --url sqlite:////tmp/bench.db

The store is created empty through ``daemon.store.upgrade`` (the real
migrations, so indexes are the product's) and filled with batched core
inserts (one ``executemany`` per batch, one transaction). What it holds:

* R restaurants, each with 20 foods in ``stock`` (food 19 of each is sold out);
  their coordinates go to a generated ``rules.yaml`` next to the store.
* K active orders (status 1, 2 or 16) per restaurant, 3 items each, placed
  in the last 90 minutes, 80 % delivery within ~4 km of the restaurant.
* H delivered orders (status 5) of the past year, 3 items each.
* About ``--match-rate`` (default 1.5 %) of the active orders matching a
  per-order rule, in equal parts: an item of the sold-out food (out_of_stock),
  a delivery ~13 km away (max_distance, limit 7.5 km), ``payment_status =
  'failed'`` (payment_failed). On top, ``--congested`` restaurants (default
  R/200, at least 1) hold ``max_active_orders + 5`` active orders, so the
  congestion rule cancels 5 orders in each and closes it.

The generated rules.yaml has every rule kind of the shipped one, with
``address_not_found`` disabled and no geocoder, and ``dry_run: true`` so that
a benchmark can never send anything anywhere. Only with ``--api-base-url``
(``rules_yaml(..., api_base_url=...)``) is it live, pointed at that API: meant
for a local simulator (bench/reaction_bench.py starts one), never the platform.

PostgreSQL: give a URL whose ``options`` select a schema,
``postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench``;
the schema is dropped and created afresh (nothing outside it is touched).
A SQLite file at the URL is replaced.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from daemon.domain import statuses
from daemon.store import connect, migrate, schema

FOODS_PER_RESTAURANT = 20
SOLD_OUT_FOOD = 19  # index in each restaurant's menu; only out-of-stock orders order it
MENU = range(SOLD_OUT_FOOD)  # what ordinary orders choose from
ITEMS_PER_ORDER = 3
MAX_ACTIVE_ORDERS = 20  # the congestion rule's limit in the generated rules.yaml
CONGESTION_EXCESS = 5  # a congested restaurant holds MAX_ACTIVE_ORDERS + this
MAX_KM = 7.5
BATCH = 20_000  # rows per executemany

# Istanbul, roughly: where the generated restaurants are.
LAT_RANGE = (40.90, 41.15)
LON_RANGE = (28.70, 29.25)
NEAR_LAT, NEAR_LON = 0.025, 0.030  # at most ~3.8 km from the restaurant
FAR_LAT = 0.12  # ~13 km north or south

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class StoreSpec:
    restaurants: int
    orders_per_restaurant: int
    history: int
    match_rate: float = 0.015
    congested: int | None = None  # None: max(1, restaurants // 200)
    seed: int = 6

    @property
    def congested_count(self) -> int:
        wanted = max(1, self.restaurants // 200) if self.congested is None else self.congested
        return min(wanted, self.restaurants)

    @property
    def label(self) -> str:
        return f"R={self.restaurants} K={self.orders_per_restaurant} H={self.history}"


@dataclass
class Generated:
    url: str
    rules_path: Path
    restaurants: int
    active_orders: int
    history_orders: int
    item_rows: int
    stock_rows: int
    expected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # The generated restaurants themselves, for a bench that writes more orders.
    restaurant_list: tuple[Restaurant, ...] = ()

    @property
    def expected_matches(self) -> int:
        return sum(self.expected.values())

    def summary(self) -> str:
        share = 100 * self.expected_matches / max(1, self.active_orders)
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.expected.items())
        return (
            f"{connect.describe_url(self.url)}: {self.restaurants} restaurants, "
            f"{self.active_orders} active orders, {self.history_orders} past orders, "
            f"{self.item_rows} items, {self.stock_rows} stock rows; expected matches "
            f"{self.expected_matches} ({share:.2f} %: {kinds}); rules {self.rules_path}; "
            f"{self.seconds:.1f} s"
        )


# --- where the store lives ----------------------------------------------------


def pg_schema(url: str | URL) -> str | None:
    """The schema a PostgreSQL URL selects through ``options=-csearch_path=...``."""
    options = make_url(url).query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    match = _SEARCH_PATH.search(options or "")
    return match.group(1) if match else None


def _admin_url(url: str | URL) -> URL:
    return make_url(url).difference_update_query(["options"])


def sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise SystemExit("bench needs a SQLite file, not an in-memory database")
    return Path(parsed.database)


def drop_store(url: str | URL) -> None:
    """Remove a benchmark store: the SQLite file (and WAL), or the PostgreSQL schema."""
    path = sqlite_path(url)
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = pg_schema(url)
    if schema is None:
        raise SystemExit(
            "a PostgreSQL bench URL must select its own schema, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench"
        )
    admin = sa.create_engine(_admin_url(url))
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def create_empty_store(url: str | URL) -> None:
    """A fresh, migrated, empty store at ``url`` (replacing any earlier one)."""
    drop_store(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    schema = pg_schema(url)
    if schema is not None:
        admin = sa.create_engine(_admin_url(url))
        try:
            with admin.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        finally:
            admin.dispose()
    migrate.upgrade(url)


def default_rules_path(url: str | URL) -> Path:
    """Next to the SQLite file (``bench.db`` -> ``bench.rules.yaml``); /tmp for PostgreSQL."""
    path = sqlite_path(url)
    if path is not None:
        return path.with_suffix(".rules.yaml")
    return Path("/tmp") / f"autocancel-bench-{pg_schema(url) or 'pg'}.rules.yaml"


# --- the data -----------------------------------------------------------------


@dataclass(frozen=True)
class Restaurant:
    id: str
    name: str
    latitude: float
    longitude: float
    first_food: int  # its foods are first_food .. first_food + 19


class _Maker:
    """Deterministic rows for one spec (``random.Random(seed)``)."""

    def __init__(self, spec: StoreSpec, now: datetime) -> None:
        self.spec = spec
        self.now = now
        self.rng = random.Random(spec.seed)
        self.order_number = 100_000

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def restaurants(self) -> list[Restaurant]:
        rng = self.rng
        return [
            Restaurant(
                id=self.uuid(),
                name=f"Şube {index + 1:04d}",
                latitude=round(rng.uniform(*LAT_RANGE), 6),
                longitude=round(rng.uniform(*LON_RANGE), 6),
                first_food=(index + 1) * 100,
            )
            for index in range(self.spec.restaurants)
        ]

    def stock(self, restaurant: Restaurant) -> list[dict[str, Any]]:
        rows = []
        for index in range(FOODS_PER_RESTAURANT):
            sold_out = index == SOLD_OUT_FOOD
            rows.append(
                {
                    "food_id": restaurant.first_food + index,
                    "restaurant_id": restaurant.id,
                    "name": f"Yemek {index + 1}",
                    "available": not sold_out,
                    # Half the menu is counted (plenty left), half is not counted.
                    "quantity": 0 if sold_out else (1_000 if index % 2 else None),
                }
            )
        return rows

    def order(
        self,
        restaurant: Restaurant,
        *,
        status_id: int,
        created_at: datetime,
        delivered: bool = False,
    ) -> dict[str, Any]:
        rng = self.rng
        self.order_number += 1
        delivery = rng.random() < 0.8
        # A few deliveries arrive without coordinates (no geocoder: skipped).
        located = not delivery or rng.random() >= 0.02
        lat = restaurant.latitude + rng.uniform(-NEAR_LAT, NEAR_LAT) if located else None
        lon = restaurant.longitude + rng.uniform(-NEAR_LON, NEAR_LON) if located else None
        payment = rng.random()
        return {
            "payment_key": self.uuid(),
            "order_number": self.order_number,
            "restaurant_id": restaurant.id,
            "status_id": status_id,
            "shipping_method": "delivery" if delivery else "pickup",
            "courier_type": rng.choice(("restaurant", "fuudy", "come_get")),
            "payment_method": rng.choice(("Kredi Kartı", "Nakit", "Online Ödeme")),
            "payment_status": "ok"
            if delivered or payment < 0.9
            else ("pending" if payment < 0.95 else None),
            "total": Decimal(rng.randrange(5_000, 150_000)) / 100,
            "created_at": created_at,
            "customer_name": f"Müşteri {self.order_number}",
            "customer_phone": f"05{rng.randrange(10**9):09d}",
            "address": f"Örnek Sokak {rng.randrange(1, 200)}, Daire {rng.randrange(1, 30)}",
            "address_description": "",
            "latitude": lat,
            "longitude": lon,
            "updated_at": created_at + timedelta(minutes=2 if not delivered else 45),
        }

    def items(self, order: dict[str, Any], restaurant: Restaurant) -> list[dict[str, Any]]:
        rng = self.rng
        return [
            {
                "payment_key": order["payment_key"],
                "food_id": restaurant.first_food + food,
                "name": f"Yemek {food + 1}",
                "quantity": 1 if rng.random() < 0.8 else 2,
            }
            for food in rng.sample(MENU, ITEMS_PER_ORDER)
        ]

    def active_status(self) -> int:
        return self.rng.choices((1, 2, 16), weights=(50, 35, 15))[0]

    def recent(self) -> datetime:
        return self.now - timedelta(minutes=self.rng.uniform(1, 90))


def _far(restaurant: Restaurant, rng: random.Random) -> tuple[float, float]:
    sign = 1 if restaurant.latitude < sum(LAT_RANGE) / 2 else -1
    return (restaurant.latitude + sign * FAR_LAT, restaurant.longitude + rng.uniform(-0.02, 0.02))


def _active(
    maker: _Maker, restaurants: Sequence[Restaurant]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Active orders and items, with the matching ones planted; expected matches by kind."""
    spec, rng = maker.spec, maker.rng
    congested = set(rng.sample(range(len(restaurants)), spec.congested_count))
    orders: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    owner: dict[str, Restaurant] = {}
    congestion_matches = 0
    for index, restaurant in enumerate(restaurants):
        crowded = index in congested
        count = MAX_ACTIVE_ORDERS + CONGESTION_EXCESS if crowded else spec.orders_per_restaurant
        times = sorted((maker.recent() for _ in range(count)), reverse=True)
        for position, created in enumerate(times):
            # In a congested restaurant the newest orders are received (status 1):
            # exactly the ones beyond capacity are the congestion rule's to cancel.
            status = 1 if crowded and position < CONGESTION_EXCESS else maker.active_status()
            order = maker.order(restaurant, status_id=status, created_at=created)
            if crowded:
                order["payment_status"] = "ok"
            orders.append(order)
            owner[order["payment_key"]] = restaurant
            items.extend(maker.items(order, restaurant))
        if count > MAX_ACTIVE_ORDERS:
            received = sum(1 for o in orders[-count:] if o["status_id"] == 1)
            congestion_matches += min(received, count - MAX_ACTIVE_ORDERS)

    # Per-order matches, in equal parts, on distinct ordinary orders.
    crowded_ids = {restaurants[i].id for i in congested}
    pool = [
        o
        for o in orders
        if o["restaurant_id"] not in crowded_ids
        and o["status_id"] in (1, 2)
        and o["shipping_method"] == "delivery"
        and o["latitude"] is not None
        and o["payment_status"] != "failed"
    ]
    each = max(1, round(len(orders) * spec.match_rate / 3))
    chosen = rng.sample(pool, min(len(pool), 3 * each))
    far, out, failed = chosen[:each], chosen[each : 2 * each], chosen[2 * each :]
    for order in far:
        order["latitude"], order["longitude"] = _far(owner[order["payment_key"]], rng)
    out_keys = {o["payment_key"] for o in out}
    first_item_done: set[str] = set()
    for item in items:
        key = item["payment_key"]
        if key in out_keys and key not in first_item_done:
            first_item_done.add(key)
            item["food_id"] = owner[key].first_food + SOLD_OUT_FOOD
            item["name"] = f"Yemek {SOLD_OUT_FOOD + 1}"
    for order in failed:
        order["payment_status"] = "failed"
    expected = {
        "out_of_stock": len(out),
        "max_distance": len(far),
        "payment_failed": len(failed),
        "congestion": congestion_matches,
    }
    return orders, items, expected


def _history(
    maker: _Maker, restaurants: Sequence[Restaurant]
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Delivered orders of the past year, in batches of (orders, items)."""
    rng = maker.rng
    remaining = maker.spec.history
    while remaining > 0:
        size = min(remaining, BATCH // ITEMS_PER_ORDER)
        orders, items = [], []
        for _ in range(size):
            restaurant = restaurants[rng.randrange(len(restaurants))]
            created = maker.now - timedelta(days=rng.uniform(1, 365))
            order = maker.order(
                restaurant, status_id=statuses.DELIVERED, created_at=created, delivered=True
            )
            orders.append(order)
            items.extend(maker.items(order, restaurant))
        remaining -= size
        yield orders, items


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {value!r} as JSON")


def _insert(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert, converting values with the columns' own SQLAlchemy bind processors.

    The per-row parameter handling of ``connection.execute(insert, rows)`` costs
    more than the database itself, so values are converted column by column
    with each type's bind processor (the stored form is exactly what the
    product would write) and sent as one DBAPI ``executemany`` per batch on
    SQLite, and on PostgreSQL as one ``INSERT ... SELECT FROM
    json_to_recordset(%s)`` per batch (psycopg's executemany costs a round trip
    per row, and its array dumping is slower than ``json.dumps``).
    """
    if not rows:
        return
    dialect = connection.dialect
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    convert = [
        (name, column.type.bind_processor(dialect))
        for name, column in zip(names, columns, strict=True)
    ]
    quote = dialect.identifier_preparer.quote
    column_list = ", ".join(quote(name) for name in names)
    postgres = dialect.name == "postgresql"
    if postgres:
        record = ", ".join(f"{quote(c.name)} {c.type.compile(dialect)}" for c in columns)
        sql = (
            f"INSERT INTO {quote(table.name)} ({column_list}) SELECT {column_list} "
            f"FROM json_to_recordset(%s::json) AS x({record})"
        )
    else:
        marks = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {quote(table.name)} ({column_list}) VALUES ({marks})"
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        if postgres:
            converted = [
                {
                    name: row[name] if process is None else process(row[name])
                    for name, process in convert
                }
                for row in batch
            ]
            payload = json.dumps(converted, default=_json_value, ensure_ascii=False)
            connection.exec_driver_sql(sql, (payload,))
        else:
            values = [
                [row[name] for row in batch]
                if process is None
                else [process(row[name]) for row in batch]
                for name, process in convert
            ]
            connection.exec_driver_sql(sql, list(zip(*values, strict=True)))


# --- rules.yaml ---------------------------------------------------------------


def rules_yaml(
    url: str, restaurants: Sequence[Restaurant], *, api_base_url: str | None = None
) -> str:
    """The rules.yaml of a generated store: dry-run, or live against ``api_base_url``.

    Live, the brakes are opened wide as well (``max_cancel_ratio: 1.0`` never
    holds, the hourly cap is 100,000), so that what a bench measures is the
    pass and its calls, never a brake holding them.
    """
    if api_base_url is None:
        head = "# Generated by bench/generate.py for benchmarks; dry_run is forced on.\n"
        mode = "dry_run: true\n"
        ratio = ""
    else:
        head = (
            "# Generated by bench/generate.py for benchmarks: LIVE, against a local\n"
            "# simulator (never point it at the platform).\n"
        )
        mode = (
            f"api:\n  base_url: {json.dumps(api_base_url)}\n  timeout_seconds: 5\ndry_run: false\n"
        )
        ratio = "  max_cancel_ratio: 1.0  # never holds: a bench measures passes, not brakes\n"
    places = "".join(
        f"  - id: {r.id}\n    name: {json.dumps(r.name, ensure_ascii=False)}\n"
        f"    latitude: {r.latitude}\n    longitude: {r.longitude}\n"
        for r in restaurants
    )
    return f"""\
{head}store:
  url: {json.dumps(url)}
schedule:
  interval_seconds: 15
{mode}restaurants:
{places}safety:
  # A chain of 1,000 branches: a cap of 30 would hold (and so skip) most of the
  # work a pass does; the bench measures the pass, not the brake.
  max_cancellations_per_hour: 100000
  max_order_age_minutes: 180
  never_cancel: []
{ratio}rules:
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
    enabled: false
  - name: too-far
    kind: max_distance
    max_km: {MAX_KM}
    reason_id: 6
  - name: overloaded
    kind: congestion
    max_active_orders: {MAX_ACTIVE_ORDERS}
    close_restaurant: true
    reopen_below: 15
    min_closed_minutes: 10
    reason_id: 3
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""


# --- putting it together ------------------------------------------------------


def generate(
    spec: StoreSpec,
    url: str,
    *,
    rules_path: Path | None = None,
    analyze: bool | None = None,
    api_base_url: str | None = None,
) -> Generated:
    """Replace the store at ``url`` with a generated one; write its rules.yaml.

    ``analyze`` (default: PostgreSQL only) refreshes the planner statistics,
    which autovacuum would do on its own a little later. ``api_base_url``
    makes the rules live against that (simulated) API; see :func:`rules_yaml`.
    """
    started = time.perf_counter()
    rules_path = rules_path or default_rules_path(url)
    create_empty_store(url)
    maker = _Maker(spec, now=datetime.now(UTC))
    restaurants = maker.restaurants()
    orders, items, expected = _active(maker, restaurants)
    stock_rows = [row for r in restaurants for row in maker.stock(r)]
    engine = connect.create_store_engine(url)
    history_orders = 0
    item_rows = len(items)
    try:
        with connect.writer(engine) as connection, connection.begin():
            _insert(connection, schema.stock, stock_rows)
            _insert(connection, schema.orders, orders)
            _insert(connection, schema.order_items, items)
            for past_orders, past_items in _history(maker, restaurants):
                _insert(connection, schema.orders, past_orders)
                _insert(connection, schema.order_items, past_items)
                history_orders += len(past_orders)
                item_rows += len(past_items)
            # A daemon keeps only the log's tail (each full pass prunes it); a
            # store that was filled over a year would not hold its million rows.
            connection.execute(sa.delete(schema.change_log))
        is_pg = engine.dialect.name == "postgresql"
        if analyze if analyze is not None else is_pg:
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        if not is_pg:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    rules_path.parent.mkdir(parents=True, exist_ok=True)
    rules_path.write_text(rules_yaml(url, restaurants, api_base_url=api_base_url), encoding="utf-8")
    return Generated(
        url=url,
        rules_path=rules_path,
        restaurants=len(restaurants),
        active_orders=len(orders),
        history_orders=history_orders,
        item_rows=item_rows,
        stock_rows=len(stock_rows),
        expected=expected,
        seconds=time.perf_counter() - started,
        restaurant_list=tuple(restaurants),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description="Generate a chain-scale autocancel store and its rules.yaml.",
    )
    parser.add_argument("--restaurants", "-R", type=int, default=1000)
    parser.add_argument("--orders-per-restaurant", "-K", type=int, default=10)
    parser.add_argument(
        "--history",
        "-H",
        type=int,
        default=200_000,
        help="delivered orders of the past (default 200000)",
    )
    parser.add_argument(
        "--url",
        required=True,
        help="sqlite:////abs/path.db, or postgresql+psycopg://...?options="
        "-csearch_path%%3Dbench (that schema is dropped and recreated)",
    )
    parser.add_argument(
        "--rules", type=Path, help="where to write rules.yaml (default: next to the store)"
    )
    parser.add_argument(
        "--match-rate",
        type=float,
        default=0.015,
        help="share of active orders matching a per-order rule (default 0.015)",
    )
    parser.add_argument(
        "--congested",
        type=int,
        help="restaurants over max_active_orders (default R/200, at least 1)",
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run ANALYZE afterwards (default: on PostgreSQL only)",
    )
    parser.add_argument(
        "--api-base-url",
        help="write a LIVE rules.yaml against this API (a local simulator only; "
        "default: dry_run: true)",
    )
    args = parser.parse_args(argv)
    if args.restaurants < 1 or args.orders_per_restaurant < 0 or args.history < 0:
        parser.error("--restaurants must be at least 1; counts cannot be negative")
    spec = StoreSpec(
        restaurants=args.restaurants,
        orders_per_restaurant=args.orders_per_restaurant,
        history=args.history,
        match_rate=args.match_rate,
        congested=args.congested,
        seed=args.seed,
    )
    generated = generate(
        spec,
        args.url,
        rules_path=args.rules,
        analyze=args.analyze,
        api_base_url=args.api_base_url,
    )
    print(generated.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The order history and replay (issue 14, items 2 and 5): what recording costs, what a day weighs,
how fast a day replays.

    python -m bench.replay_bench                                  # both backends, defaults
    python -m bench.replay_bench --backends sqlite --orders-per-restaurant 10 --skip-pass-cost
    python -m bench.replay_bench --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Per backend, on a chain store (bench.generate, R=1000 K=10, ``--history`` past orders):

1. **The pass with and without the history** (``--passes`` medians, interleaved):
   the same dry-run ``PassRunner`` as the daemon builds it, ``record_history``
   on and off, for the steady full pass and the incremental pass after one new
   order; the first recording pass (which writes every active order once, the
   baseline) is shown apart.
2. **A day of changes** (:func:`write_day`): ``--orders-per-restaurant`` orders
   per restaurant over one day (a lunch and a dinner peak), each received,
   confirmed, on its way and delivered, 1.5 % with a payment failing a minute
   in, 1 % with the sold-out food, 2 % delivered too far, two stock toggles
   per restaurant; the passes that see them are grouped as a daemon reacting
   within 50 ms would. The rows are what the daemon would write: the real
   :class:`daemon.engine.recorder.HistoryRecorder` decides them, with its
   images; they are inserted in bulk (``replaced_at`` set as
   ``daemon.store.history.write`` sets it). Printed: rows, and bytes on disk
   (table and indexes) per 10,000 orders.
3. **A replay of that day**: ``autocancel replay --json`` as a fresh process
   (the generated rules with ``dry_run: false``, so the effects are applied;
   a replay sends nothing), wall time and what it did.

Stores: ``replay_chain.db`` in ``--workdir``, schema ``bench_replay`` in ``--pg-url``;
generated afresh, dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.floor import _connect
from bench.generate import (
    MENU,
    SOLD_OUT_FOOD,
    Restaurant,
    StoreSpec,
    _far,
    _Maker,
    default_rules_path,
    drop_store,
    generate,
)
from bench.pass_bench import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    _with_schema,
    autocancel_command,
    usable_backends,
)
from daemon.config.load import load_config
from daemon.domain.orders import Item, Order, Snapshot, StockLevel
from daemon.domain.timeutil import ISTANBUL, isoformat_z
from daemon.engine.active import PassScope
from daemon.engine.passes import PassRunner
from daemon.engine.passes.history import PassHistory
from daemon.engine.recorder import HistoryRecorder
from daemon.store import connect, schema
from daemon.store.history import STARTED

BULK = 20_000
SAME_PASS = timedelta(milliseconds=50)  # changes this close together: one pass sees them


# --- 1. the pass with and without the history -----------------------------------------


def _median(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _new_order(engine: sa.Engine, restaurant: str, key: str, first_food: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(schema.orders).values(
                payment_key=key,
                restaurant_id=restaurant,
                status_id=1,
                shipping_method="delivery",
                payment_status="ok",
                created_at=datetime.now(UTC),
            )
        )
        connection.execute(
            sa.insert(schema.order_items),
            [{"payment_key": key, "food_id": first_food + n, "quantity": 1} for n in range(3)],
        )


class _HistoryClock:
    """Time spent in the pass's history work (PassHistory.seen and .write), per pass.

    Measured inside the recording pass itself, so it does not depend on how
    noisy the machine is between two passes: the robust figure of the two.
    """

    def __init__(self) -> None:
        self.spent = 0.0
        self._seen = PassHistory.seen
        self._write = PassHistory.write

    def __enter__(self) -> _HistoryClock:
        clock = self

        def seen(history: PassHistory, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return clock._seen(history, *args, **kwargs)
            finally:
                clock.spent += time.perf_counter() - started

        def write(history: PassHistory, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return clock._write(history, *args, **kwargs)
            finally:
                clock.spent += time.perf_counter() - started

        setattr(PassHistory, "seen", seen)  # noqa: B010 (a bench's probe, undone in finally)
        setattr(PassHistory, "write", write)  # noqa: B010
        return self

    @property
    def original(self) -> tuple[Any, Any]:
        return self._seen, self._write

    def timed(self, action: Callable[[], object]) -> tuple[float, float]:
        """(the pass's seconds, the history's seconds within it)."""
        self.spent = 0.0
        started = time.perf_counter()
        action()
        return time.perf_counter() - started, self.spent


def pass_cost(rules: Path, passes: int, log: Callable[[str], None]) -> dict[str, float]:
    config = load_config(rules)
    engine = connect.create_store_engine(config.store.url)
    plain = PassRunner(config=config, engine=engine, executor_factory=None, dry_run=True)
    recording = PassRunner(
        config=config, engine=engine, executor_factory=None, dry_run=True, record_history=True
    )
    restaurants = [r.id for r in config.restaurants]
    shares: dict[str, list[float]] = {"full": [], "incremental": []}
    try:
        clock = _HistoryClock().__enter__()  # left in finally, with the engine
        plain.run_once()
        started = time.perf_counter()
        recording.run_once()  # the baseline: every active order and stock row once
        baseline = time.perf_counter() - started
        full: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(passes):
            full["off"].append(_median(plain.run_once, 1))
            took, spent = clock.timed(recording.run_once)
            full["on"].append(took)
            shares["full"].append(spent / took)
        incremental: dict[str, list[float]] = {"off": [], "on": []}
        keys = []
        for n in range(passes * 2):
            key = f"bench-replay-{n}"
            keys.append(key)
            # bench.generate gives restaurant i the foods (i + 1) * 100 ...
            at = n * 37 % len(restaurants)
            _new_order(engine, restaurants[at], key, (at + 1) * 100)
            pair = [("off", plain), ("on", recording)]
            for name, runner in pair if n % 2 else reversed(pair):
                took, spent = clock.timed(partial(runner.run_once, incremental=True))
                incremental[name].append(took)
                if name == "on":
                    shares["incremental"].append(spent / took)
        with engine.begin() as connection:
            connection.execute(
                sa.delete(schema.order_items).where(schema.order_items.c.payment_key.in_(keys))
            )
            connection.execute(
                sa.delete(schema.orders).where(schema.orders.c.payment_key.in_(keys))
            )
            connection.execute(sa.delete(schema.order_history))
    finally:
        for name, original in zip(("seen", "write"), clock.original, strict=True):
            setattr(PassHistory, name, original)
        engine.dispose()
    figures = {
        "baseline_s": baseline,
        "full_off_s": statistics.median(full["off"]),
        "full_on_s": statistics.median(full["on"]),
        "incremental_off_s": statistics.median(incremental["off"]),
        "incremental_on_s": statistics.median(incremental["on"]),
        "full_share": statistics.median(shares["full"]),
        "incremental_share": statistics.median(shares["incremental"]),
    }
    log(
        f"  first recording pass (baseline of every active order): {baseline:.3f} s; "
        f"full pass {figures['full_off_s']:.3f} s without, {figures['full_on_s']:.3f} s with "
        f"the history ({_extra(figures['full_off_s'], figures['full_on_s'])}); incremental "
        f"pass after one new order {figures['incremental_off_s'] * 1000:.1f} ms without, "
        f"{figures['incremental_on_s'] * 1000:.1f} ms with "
        f"({_extra(figures['incremental_off_s'], figures['incremental_on_s'])}); the "
        f"history's own work inside the recording pass (median share): "
        f"{100 * figures['full_share']:.2f} % of a full pass, "
        f"{100 * figures['incremental_share']:.2f} % of an incremental pass"
    )
    return figures


def _extra(off: float, on: float) -> str:
    return f"{100 * (on - off) / off:+.1f} %"


# --- 2. a day of changes ------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    start: datetime
    end: datetime
    orders: int
    rows: int
    passes: int
    seconds: float


def _time_of_day(rng: random.Random) -> float:
    """Hours after midnight (local): a lunch peak, a dinner peak, and the rest of the day."""
    pick = rng.random()
    if pick < 0.40:
        hour = rng.gauss(12.75, 1.0)
    elif pick < 0.85:
        hour = rng.gauss(20.0, 1.3)
    else:
        hour = rng.uniform(10, 23.5)
    return min(23.9, max(0.1, hour))


def _order(maker: _Maker, restaurant: Restaurant, created: datetime, rng: random.Random) -> Order:
    row = maker.order(restaurant, status_id=1, created_at=created)
    items = [
        Item(food_id=item["food_id"], name=item["name"], quantity=item["quantity"])
        for item in maker.items(row, restaurant)
    ]
    if rng.random() < 0.01:
        items[0] = Item(restaurant.first_food + SOLD_OUT_FOOD, f"Yemek {SOLD_OUT_FOOD + 1}", 1)
    latitude, longitude = row["latitude"], row["longitude"]
    if row["shipping_method"] == "delivery" and latitude is not None and rng.random() < 0.02:
        latitude, longitude = _far(restaurant, rng)
    return Order(
        payment_key=row["payment_key"],
        restaurant_id=restaurant.id,
        status_id=1,
        order_number=row["order_number"],
        shipping_method=row["shipping_method"],
        courier_type=row["courier_type"],
        payment_method=row["payment_method"],
        payment_status="ok",
        total=Decimal(row["total"]),
        created_at=created,
        customer_name=row["customer_name"],
        customer_phone=row["customer_phone"],
        address=row["address"],
        address_description=row["address_description"],
        latitude=latitude,
        longitude=longitude,
        items=tuple(items),
    )


Event = tuple[datetime, int, str, Any]  # when, tie-break, what, payload


def _events(
    restaurants: Sequence[Restaurant], per_restaurant: int, start: datetime, seed: int
) -> tuple[list[Event], int]:
    rng = random.Random(seed)
    maker = _Maker(StoreSpec(len(restaurants), 0, 0, seed=seed), now=start)
    events: list[Event] = []
    count = 0

    def minutes(low: float, high: float) -> timedelta:
        return timedelta(minutes=rng.uniform(low, high))

    for restaurant in restaurants:
        for _ in range(per_restaurant):
            created = start + timedelta(hours=_time_of_day(rng))
            order = _order(maker, restaurant, created, rng)
            count += 1
            at = created + timedelta(seconds=rng.uniform(0.5, 3))
            events.append((at, count, "put", order))
            if rng.random() < 0.015:
                failed = replace(order, payment_status="failed")
                events.append((at + minutes(0.5, 2), count, "put", failed))
            confirmed = at + minutes(1, 5)
            on_way = confirmed + minutes(12, 25)
            events.append((confirmed, count, "put", replace(order, status_id=2)))
            events.append((on_way, count, "put", replace(order, status_id=16)))
            events.append((on_way + minutes(10, 30), count, "gone", order))
        for _ in range(2):
            food = restaurant.first_food + rng.choice(MENU)
            off = start + timedelta(hours=rng.uniform(11, 22))
            level = StockLevel(food, "Yemek", available=False, quantity=None,
                               restaurant_id=restaurant.id)  # fmt: skip
            events.append((off, -food, "stock", level))
            events.append(
                (off + timedelta(minutes=30), -food, "stock", replace(level, available=True))
            )
    return sorted(events, key=lambda e: (e[0], e[1])), count


def write_day(
    engine: sa.Engine, restaurants: Sequence[Restaurant], *, per_restaurant: int, seed: int = 14
) -> Day:
    """A day of history (yesterday, Istanbul), as the daemon's recorder would write it."""
    started = time.perf_counter()
    local = datetime.now(ISTANBUL).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (local - timedelta(days=1)).astimezone(UTC)
    with engine.connect() as connection:
        stock = {
            food: StockLevel(food, name, bool(available), quantity, rid)
            for food, rid, name, available, quantity in connection.execute(
                sa.select(
                    schema.stock.c.food_id,
                    schema.stock.c.restaurant_id,
                    schema.stock.c.name,
                    schema.stock.c.available,
                    schema.stock.c.quantity,
                )
            )
        }
    events, orders = _events(restaurants, per_restaurant, start, seed)
    recorder = HistoryRecorder()
    recorder.prime([], [])
    active: defaultdict[str, dict[str, Order]] = defaultdict(dict)
    rows: list[dict[str, Any]] = [
        {"seen_at": start, "kind": "mark", "subject": STARTED, "image": '{"after": null}'}
    ]
    open_row: dict[tuple[str, str], int] = {}
    passes = 0
    index = 0
    while index < len(events):
        seen_at = events[index][0]
        touched: set[str] = set()
        while index < len(events) and events[index][0] - seen_at < SAME_PASS:
            _at, _tie, what, value = events[index]
            index += 1
            if what == "stock":
                stock[value.food_id] = value
                touched.add(value.restaurant_id)
            elif what == "gone":
                active[value.restaurant_id].pop(value.payment_key, None)
                touched.add(value.restaurant_id)
            else:
                active[value.restaurant_id][value.payment_key] = value
                touched.add(value.restaurant_id)
        seen_at = events[index - 1][0]  # the pass that saw them ran after the last
        orders_read = tuple(o for rid in touched for o in active[rid].values())
        foods = {item.food_id for o in orders_read for item in o.items}
        snapshot = Snapshot(
            taken_at=seen_at,
            orders=orders_read,
            stock={food: stock[food] for food in foods if food in stock},
            live_intents={},
            closures={},
            deactivated_foods=frozenset(),
        )
        passes += 1
        for entry in recorder.changes(
            snapshot, PassScope(full=False, restaurants=frozenset(touched))
        ):
            subject = (entry.kind, entry.subject)
            if subject in open_row:
                rows[open_row[subject]]["replaced_at"] = seen_at
            open_row[subject] = len(rows)
            rows.append(
                {
                    "seen_at": seen_at,
                    "kind": entry.kind,
                    "subject": entry.subject,
                    "restaurant_id": entry.restaurant_id,
                    "image": entry.image,
                }
            )
    table = schema.order_history
    columns = ("seen_at", "kind", "subject", "restaurant_id", "image", "replaced_at")
    with connect.writer(engine) as connection, connection.begin():
        connection.execute(sa.delete(table))
        for first in range(0, len(rows), BULK):
            batch = [{c: row.get(c) for c in columns} for row in rows[first : first + BULK]]
            connection.execute(sa.insert(table), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE order_history")
            connection.commit()
    return Day(
        start=start,
        end=start + timedelta(days=1),
        orders=orders,
        rows=len(rows),
        passes=passes,
        seconds=time.perf_counter() - started,
    )


def history_bytes(engine: sa.Engine) -> int:
    """The order history's size on disk: the table and its indexes."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return int(
                connection.execute(
                    sa.text("SELECT pg_total_relation_size('order_history')")
                ).scalar_one()
            )
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(
            connection.execute(
                sa.text(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name = 'order_history' "
                    "OR name LIKE 'ix_order_history_%'"
                )
            ).scalar_one()
        )


# --- 3. a replay of the day ---------------------------------------------------------------


def replay_day(rules: Path, day: Day, *, pythonpath: Path | None = None) -> dict[str, Any]:
    """``autocancel replay --json`` of the day, as a fresh process (of ``pythonpath``'s code)."""
    live = rules.with_name(rules.stem + ".live.yaml")
    live.write_text(rules.read_text().replace("dry_run: true", "dry_run: false"))
    command = [
        *autocancel_command(),
        "replay",
        "-c",
        str(rules),
        "--rules",
        str(live),
        "--from",
        isoformat_z(day.start),
        "--to",
        isoformat_z(day.end),
        "--json",
    ]
    started = time.perf_counter()
    env = None
    if pythonpath is not None:
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        command = [sys.executable, "-m", "daemon", *command[len(autocancel_command()) :]]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"replay failed: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    return {"wall_s": wall, **{k: report[k] for k in ("passes", "full_passes", "changes",
            "orders_seen", "decisions")}, "closures": len(report["closures"])}  # fmt: skip


# --- the raw floor of a replay -------------------------------------------------------------

FLOOR_QUERY = (
    "SELECT seen_at, kind, subject, restaurant_id, image FROM order_history "
    "WHERE seen_at > {p} AND seen_at <= {p} AND kind <> 'mark' ORDER BY seen_at, id"
)


def replay_floor(url: str, day: Day, *, repeat: int = 3) -> float:
    """The least any replay of the day must do (median seconds): read and decode its history.

    One statement through the plain driver (``sqlite3`` / ``psycopg``, no
    SQLAlchemy) fetching every row of the day in time order, ``json.loads`` of
    each image, and the rows grouped into the moments a pass saw them, in plain
    Python. No order objects, no rules, no passes.
    """
    connection, close = _connect(url)
    sqlite = url.startswith("sqlite")
    marker = "?" if sqlite else "%s"
    bounds: tuple[Any, ...] = (
        (day.start.isoformat(sep=" ").replace("+00:00", ""),
         day.end.isoformat(sep=" ").replace("+00:00", ""))
        if sqlite
        else (day.start, day.end)
    )  # fmt: skip
    times = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            cursor = connection.cursor()
            cursor.execute(FLOOR_QUERY.format(p=marker), bounds)
            moments: defaultdict[Any, list[Any]] = defaultdict(list)
            for seen_at, kind, subject, restaurant_id, image in cursor.fetchall():
                moments[seen_at].append(
                    (kind, subject, restaurant_id, None if image is None else json.loads(image))
                )
            cursor.close()
            if hasattr(connection, "rollback"):
                connection.rollback()
            times.append(time.perf_counter() - started)
            if not moments:
                raise SystemExit("the raw floor read no history rows: check the bounds")
    finally:
        close()
    return statistics.median(times)


# --- putting it together ------------------------------------------------------------------


def _store_url(backend: str, workdir: Path, pg_url: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'replay_chain.db'}"
    return _with_schema(pg_url, "bench_replay")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_bench", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--restaurants", "-R", type=int, default=1000)
    parser.add_argument("--history", "-H", type=int, default=20_000)
    parser.add_argument("--orders-per-restaurant", type=int, default=100, help="per day")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--skip-pass-cost", action="store_true")
    parser.add_argument("--replays", type=int, default=1, help="replays of the day (median)")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of the code before: its replays alternate with this one's, same store",
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the stores at the end")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    backends, _created = usable_backends(args.backends, args.pg_url)

    def log(line: str) -> None:
        print(line, flush=True)

    for backend in backends:
        url = _store_url(backend, args.workdir, args.pg_url)
        log(f"{backend}: chain store R={args.restaurants} K=10 H={args.history}")
        spec = StoreSpec(
            restaurants=args.restaurants, orders_per_restaurant=10, history=args.history
        )
        generated = generate(spec, url)
        rules = generated.rules_path
        log(f"  generated: {generated.summary()}")
        try:
            if not args.skip_pass_cost:
                pass_cost(rules, args.passes, log)
            engine = connect.create_store_engine(url)
            try:
                day = write_day(
                    engine, generated.restaurant_list, per_restaurant=args.orders_per_restaurant
                )
                size = history_bytes(engine)
            finally:
                engine.dispose()
            per_10k = size * 10_000 / day.orders
            log(
                f"  a day of changes: {day.orders} orders, {day.rows} history rows "
                f"({day.rows / day.orders:.2f} per order), {day.passes} passes seeing them; "
                f"{size / 1e6:.1f} MB on disk = {per_10k / 1e6:.2f} MB per 10,000 orders a day "
                f"({per_10k * 30 / 1e6:.0f} MB for 30 days); written in {day.seconds:.1f} s"
            )
            floor = replay_floor(url, day)
            log(
                f"  raw floor of the replay (one statement, plain driver, json.loads per row): "
                f"{floor:.2f} s"
            )
            walls: dict[str, list[float]] = {"this": [], "before": []}
            reports: dict[str, dict[str, Any]] = {}
            for _ in range(args.replays):
                for name, path in (("before", args.before), ("this", None)):
                    if name == "before" and path is None:
                        continue
                    reports[name] = replay_day(rules, day, pythonpath=path)
                    walls[name].append(reports[name]["wall_s"])
            if args.before is not None and reports["before"] != {
                **reports["this"],
                "wall_s": reports["before"]["wall_s"],
            }:
                log("  WARNING: the replay before and this one report differently")
            for name, times in walls.items():
                if times:
                    median = statistics.median(times)
                    log(
                        f"  replay of the day, {name}: median {median:.1f} s of "
                        f"{', '.join(f'{t:.1f}' for t in times)}; replay / raw floor = "
                        f"{median / floor:.1f}x"
                    )
            replayed = reports["this"]
            log(
                f"  replay of the day (fresh process): {replayed['wall_s']:.1f} s wall; "
                f"{replayed['passes']} passes ({replayed['full_passes']} full), "
                f"{replayed['changes']} changes, {replayed['orders_seen']} orders, "
                f"decisions {replayed['decisions']}, {replayed['closures']} closures"
            )
        finally:
            if not args.keep:
                drop_store(url)
                default_rules_path(url).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

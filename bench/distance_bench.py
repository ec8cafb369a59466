"""Distance benchmark (issue 12, target 6): a pass with the haversine band vs. all-geodesic.

    python -m bench.distance_bench --backends sqlite,postgresql --repeat 3

On a generated chain store (``bench.generate``, the big size by default) it
measures, in one run and as ratios to the raw floor (``bench.floor``):

all-geodesic, cold
    A fresh runner that measures every delivery's distance exactly (the
    behaviour before the band), with an empty ``distance_cache``: what a
    fresh process paid.
band, cold, empty cache
    A fresh runner with the haversine band: only the band near ``max_km`` and
    the matches are measured (the first process ever on the store).
band, cold, cache filled
    A fresh runner after another process stored its distances: nothing is
    measured (a restarted daemon, ``once``, ``explain``).
steady, band / all-geodesic
    The median of N passes of one warm runner, after a warm-up pass.

``--borderline N`` moves N active deliveries to within ±1 % of ``max_km``
(the generated store has none there), so the band has work to do; about
half of them become distance matches, for every variant alike.

Every runner gets the uncached geodesic (geopy through geographiclib, without
the process-wide memo of ``daemon.domain.location.geodesic_km``), counted, so
the in-process "fresh runner" pays what a fresh process pays. The ledger is
written by a warm-up pass first, so every measured pass finds it written.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from geopy.distance import geodesic

from bench.floor import FloorRules
from bench.floor import measure as measure_raw_floor
from bench.generate import StoreSpec, default_rules_path, drop_store, generate
from bench.pass_bench import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    SIZES,
    _pg_database,
    _with_schema,
    usable_backends,
)
from daemon.config.load import load_config
from daemon.config.models import Config
from daemon.domain.distance import Point
from daemon.domain.location import geodesic_km
from daemon.engine.passes import PassRunner
from daemon.store import connect, schema
from rules.max_distance import MaxDistanceRule

RAW_GEODESIC: Callable[[Point, Point], float] = geodesic_km.__wrapped__


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, origin: Point, destination: Point) -> float:
        self.calls += 1
        return RAW_GEODESIC(origin, destination)


def _runner(config: Config, engine: sa.Engine, *, band: bool) -> tuple[PassRunner, Counting]:
    counted = Counting()
    runner = PassRunner(
        config=config,
        engine=engine,
        executor_factory=None,
        dry_run=True,
        geodesic=counted,
        distance_bound=band,
    )
    return runner, counted


def _clear_cache(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(schema.distance_cache))


def _cached_rows(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(schema.distance_cache)
            ).scalar_one()
        )


def _cold(
    config: Config, engine: sa.Engine, *, band: bool, clear: bool, repeat: int
) -> tuple[float, int, list[float]]:
    """Median seconds of a fresh runner's first pass, and its geodesic calls."""
    times, calls = [], 0
    for _ in range(repeat):
        if clear:
            _clear_cache(engine)
        runner, counted = _runner(config, engine, band=band)
        started = time.perf_counter()
        runner.run_once()
        times.append(time.perf_counter() - started)
        calls = counted.calls
    return statistics.median(times), calls, times


def _steady(
    config: Config, engine: sa.Engine, *, band: bool, repeat: int
) -> tuple[float, int, list[float]]:
    runner, counted = _runner(config, engine, band=band)
    runner.run_once()
    before = counted.calls
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        runner.run_once()
        times.append(time.perf_counter() - started)
    return statistics.median(times), counted.calls - before, times


def plant_borderline(config: Config, engine: sa.Engine, count: int, *, seed: int = 12) -> int:
    """Move ``count`` active deliveries to within ±1 % of max_km of their restaurant."""
    max_km = next(
        (r.max_km for r in config.rules if isinstance(r, MaxDistanceRule) and r.enabled), None
    )
    homes = {
        r.id: (r.latitude, r.longitude)
        for r in config.restaurants
        if r.latitude is not None and r.longitude is not None
    }
    if max_km is None or count <= 0:
        return 0
    orders = schema.orders
    rng = random.Random(seed)
    with engine.begin() as connection:
        keys = connection.execute(
            sa.select(orders.c.payment_key, orders.c.restaurant_id)
            .where(orders.c.status_id.in_((1, 2)), orders.c.shipping_method == "delivery")
            .where(orders.c.latitude.is_not(None))
            .order_by(orders.c.payment_key)
        ).all()
        chosen = rng.sample(keys, min(count, len(keys)))
        for key, restaurant in chosen:
            home = homes[restaurant]
            at = geodesic(kilometers=float(max_km) * rng.uniform(0.99, 1.01)).destination(
                home, rng.uniform(0, 360)
            )
            connection.execute(
                sa.update(orders)
                .where(orders.c.payment_key == key)
                .values(latitude=at.latitude, longitude=at.longitude)
            )
    return len(chosen)


def bench_store(
    backend: str,
    spec: StoreSpec,
    url: str,
    *,
    repeat: int,
    borderline: int,
    log: Callable[[str], None],
) -> list[tuple[str, str, float, int, float]]:
    generated = generate(spec, url)
    log(f"  generated: {generated.summary()}")
    rules: Path = generated.rules_path
    config = load_config(rules)
    engine = connect.create_store_engine(config.store.url)
    rows: list[tuple[str, str, float, int, float]] = []
    try:
        planted = plant_borderline(config, engine, borderline)
        log(f"  moved {planted} deliveries to within ±1 % of max_km")
        warm, _ = _runner(config, engine, band=True)
        warm.run_once()  # writes the ledger's would_cancel rows, once
        raw_floor, raw_all, raw_decisions = measure_raw_floor(
            url, FloorRules.from_file(rules), repeat=max(repeat, 5)
        )
        log(
            f"  raw floor: median {raw_floor:.3f} s ({', '.join(f'{t:.3f}' for t in raw_all)}), "
            f"{raw_decisions} decisions"
        )
        measured: list[tuple[str, tuple[float, int, list[float]]]] = [
            (
                "all-geodesic, cold",
                _cold(config, engine, band=False, clear=True, repeat=repeat),
            ),
            (
                "band, cold, empty cache",
                _cold(config, engine, band=True, clear=True, repeat=repeat),
            ),
        ]
        cached = _cached_rows(engine)
        measured.append(
            (
                f"band, cold, cache filled ({cached} pairs)",
                _cold(config, engine, band=True, clear=False, repeat=repeat),
            )
        )
        measured.append(
            ("all-geodesic, steady", _steady(config, engine, band=False, repeat=repeat + 2))
        )
        measured.append(("band, steady", _steady(config, engine, band=True, repeat=repeat + 2)))
        for name, (seconds, calls, times) in measured:
            log(
                f"  {name}: median {seconds:.3f} s ({', '.join(f'{t:.3f}' for t in times)}), "
                f"{calls} geodesics, {seconds / raw_floor:.1f}x the raw floor"
            )
            rows.append((backend, name, seconds, calls, seconds / raw_floor))
        rows.insert(0, (backend, "raw floor", raw_floor, 0, 1.0))
    finally:
        engine.dispose()
    return rows


def table(rows: Sequence[tuple[str, str, float, int, float]]) -> str:
    lines = [
        "| backend | pass | seconds | geodesics computed | / raw floor |",
        "|---|---|---|---|---|",
    ]
    for backend, name, seconds, calls, ratio in rows:
        lines.append(f"| {backend} | {name} | {seconds:.3f} s | {calls} | {ratio:.2f}x |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distance_bench", description=__doc__)
    parser.add_argument("--size", default="big", help="small, big, or RxKxH (default big)")
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--repeat", type=int, default=3, help="N for the medians (default 3)")
    parser.add_argument(
        "--borderline",
        type=int,
        default=0,
        help="active deliveries moved to within ±1 %% of max_km (default 0)",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.size in SIZES:
        spec = SIZES[args.size]
    else:
        r, k, h = (int(part) for part in args.size.lower().split("x"))
        spec = StoreSpec(restaurants=r, orders_per_restaurant=k, history=h)
    backends, created_database = usable_backends(args.backends, args.pg_url)
    rows: list[tuple[str, str, float, int, float]] = []
    slug = args.size.replace("x", "_")
    for backend in backends:
        url = (
            f"sqlite:///{args.workdir / f'distance_{slug}.db'}"
            if backend == "sqlite"
            else _with_schema(args.pg_url, f"distance_{slug}")
        )
        log(f"{backend} {args.size} ({spec.label})")
        try:
            rows.extend(
                bench_store(
                    backend, spec, url, repeat=args.repeat, borderline=args.borderline, log=log
                )
            )
        finally:
            drop_store(url)
            default_rules_path(url).unlink(missing_ok=True)
    if created_database:
        _pg_database(args.pg_url, drop=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

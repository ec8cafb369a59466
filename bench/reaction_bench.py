"""Reaction time: from a POS committing a matching order to the simulator receiving its cancel.

The daemon runs as a real subprocess, ``python -m daemon run -c rules.yaml``,
live against a :class:`daemon.simulator.server.Simulator` started in this
process, with ``interval_seconds: 15``: only the change signal (migration
0004: SQLite counter / PostgreSQL NOTIFY) explains a reaction faster than
that. The delay is the simulator's receipt time of ``PUT
orders/cancel/{key}`` (it records each request's arrival) minus the moment
the POS's commit returned. Percentiles are nearest-rank.

Empty store (the default; the figures of bench/README.md's first reaction
table): one restaurant, no other orders, 50 matching orders 0.2 s apart.

    python -m bench.reaction_bench [--orders 50] [--pg-url URL]

Chain store (``--chain``; issue 12, target 4: p50 < 100 ms, p95 < 300 ms, and
under 25 % of one core with 10 new orders per second):

    createdb -h 127.0.0.1 -U postgres autocancel_reaction   # a database of its own:
    python -m bench.reaction_bench --chain --pg-url \\
        'postgresql+psycopg://postgres@127.0.0.1:5432/autocancel_reaction?options=-csearch_path%3Dreaction'

(A database of its own because test runs that drop or recreate theirs may
terminate every session in it, the bench's POS and daemon included.)

1. bench/generate.py builds the store (default R=1000 restaurants, K=10
   active orders each, H=200,000 past orders; ``-R -K -H``) and its rules.yaml,
   made LIVE through ``generate.rules_yaml(..., api_base_url=simulator)``:
   ``dry_run: false``, ``max_cancellations_per_hour: 100000`` and
   ``max_cancel_ratio: 1.0``, so no brake ever holds a measured order. The
   simulator knows the chain's restaurants, its unavailable foods (the ones
   ``deactivate_food`` may switch off) and every active order, so the first
   pass's cancels (the store's ~175 planted matches), closures and food
   deactivations succeed as they would on the platform.
2. Wait for the first pass: a finished ``passes`` row, every cancel the
   simulator confirmed written back to the store (status 6), and the daemon
   quiet (no CPU beyond its idle watch for 0.5 s, i.e. no pass in flight).
3. One at a time (``--orders``, default 20): each matching order
   (``payment_status = 'failed'``, with 3 items, on a random restaurant) is
   committed 0.1-0.5 s (uniform, seeded) after the daemon became quiet again,
   so the orders do not fall in step with any poll; its cancel is awaited.
4. Idle: the daemon's CPU (``utime + stime`` of /proc/PID/stat) over
   ``--rate-seconds`` (default 30) with nothing arriving; its scheduled
   passes (every 15 s) are part of idle and counted in the last column.
5. Under load: for the same length, ``--rate`` (default 10) new orders per
   second: ``rate × seconds`` orders at uniformly random moments of the
   window (seeded; a Poisson process conditioned on its count), of which
   ``--match-share`` (10 %) match and the rest are ordinary orders no rule
   matches, on random restaurants (never pushed over the congestion limit).
   The daemon's CPU over that window, and the delays of the matching orders
   committed in it (awaited after the window, up to ``--timeout``).

The POS is a plain SQLAlchemy engine on the contract tables (bench/pos.py).
One markdown row per backend; progress goes to stderr. SQLite stores live in
a temporary folder; a PostgreSQL URL must select a schema of its own
(``options=-csearch_path%3DNAME``), which is dropped and recreated, and
dropped again at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.generate import StoreSpec, drop_store, generate, rules_yaml
from bench.live_daemon import DaemonFailed, LiveDaemon
from bench.pos import Committed, Pos, active_orders_by_restaurant
from daemon.domain import statuses
from daemon.simulator.defaults import HALASKARGAZI
from daemon.simulator.server import Simulator
from daemon.store import migrate, schema

CANCEL_PATH = "orders/cancel/"
POLL_SECONDS = 0.005  # how often the bench looks at the simulator's request log
GAP_SECONDS = (0.1, 0.5)  # between "daemon quiet" and the next one-at-a-time order
FIRST_PASS_TIMEOUT = 180.0

EMPTY_RULES = """\
store:
  url: {url}
api:
  base_url: {base_url}
  timeout_seconds: 5
schedule:
  interval_seconds: 15
restaurants:
  - id: {restaurant}
    latitude: 41.0493
    longitude: 28.9877
safety:
  max_cancellations_per_hour: 1000
rules:
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def cancels_received(simulator: Simulator) -> dict[str, datetime]:
    """payment_key -> when the simulator received its first cancel."""
    received: dict[str, datetime] = {}
    for request in simulator.requests("PUT", CANCEL_PATH):
        received.setdefault(request.path.removeprefix(CANCEL_PATH), request.timestamp)
    return received


def await_cancels(
    simulator: Simulator, keys: Iterable[str], daemon: LiveDaemon, timeout: float
) -> dict[str, datetime]:
    """The cancels of ``keys`` the simulator received within ``timeout`` seconds."""
    wanted = set(keys)
    deadline = time.monotonic() + timeout
    while True:
        received = cancels_received(simulator)
        found = {key: at for key, at in received.items() if key in wanted}
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        daemon.check_alive()
        time.sleep(POLL_SECONDS)


def delays(committed: Sequence[Committed], received: dict[str, datetime]) -> list[float]:
    """Seconds from commit to cancel; infinity for an order whose cancel never came."""
    return [
        received[c.payment_key].timestamp() - c.at if c.payment_key in received else math.inf
        for c in committed
    ]


def _wait_for(condition: Callable[[], bool], daemon: LiveDaemon, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        daemon.check_alive()
        if time.monotonic() > deadline:
            raise DaemonFailed(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def _finished_passes(engine: sa.Engine) -> int:
    passes = schema.passes
    query = sa.select(sa.func.count()).where(passes.c.finished_at.is_not(None))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _passes_between(engine: sa.Engine, start: datetime, end: datetime) -> int:
    passes = schema.passes
    query = (
        sa.select(sa.func.count())
        .select_from(passes)
        .where(passes.c.started_at >= start, passes.c.started_at < end)
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# --- the empty store --------------------------------------------------------------------


def measure_empty(url: str, orders: int) -> list[float]:
    """50 matching orders, 0.2 s apart, into a store with one restaurant and nothing else."""
    migrate.upgrade(url)
    engine = sa.create_engine(url)  # the POS: a plain engine
    delays_s: list[float] = []
    with (
        Simulator(cooldown_seconds=0) as sim,
        tempfile.TemporaryDirectory() as folder,
    ):
        rules = Path(folder) / "rules.yaml"
        rules.write_text(EMPTY_RULES.format(url=url, base_url=sim.url, restaurant=HALASKARGAZI))
        try:
            earlier = _finished_passes(engine)  # a PostgreSQL database may be reused
            with LiveDaemon(rules, access_token=sim.static_token or "") as daemon:
                _wait_for(
                    lambda: _finished_passes(engine) > earlier,
                    daemon,
                    60,
                    "the daemon's first pass",
                )
                for _ in range(orders):
                    key = f"reaction-{uuid.uuid4().hex[:10]}"
                    sim.add_order(payment_key=key, restaurant_id=HALASKARGAZI)
                    with engine.begin() as conn:
                        conn.execute(
                            sa.insert(schema.orders).values(
                                payment_key=key,
                                restaurant_id=HALASKARGAZI,
                                status_id=statuses.RECEIVED,
                                payment_status="failed",
                                created_at=datetime.now(UTC),
                            )
                        )
                    committed = Committed(key, time.time(), matching=True)
                    received = await_cancels(sim, [key], daemon, timeout=20)
                    if key not in received:
                        raise DaemonFailed(f"no cancel for {key} within 20 s")
                    delays_s.extend(delays([committed], received))
                    time.sleep(0.2)  # the spacing of this mode, as first measured
        finally:
            engine.dispose()
    return delays_s


def empty_table(targets: Sequence[tuple[str, str]], orders: int) -> None:
    print("| backend | orders | p50 | p95 | max |")
    print("|---|---|---|---|---|", flush=True)
    for name, url in targets:
        measured = measure_empty(url, orders)
        print(
            f"| {name} | {len(measured)} | {percentile(measured, 0.5):.3f} s | "
            f"{percentile(measured, 0.95):.3f} s | {max(measured):.3f} s |",
            flush=True,
        )


# --- the chain store --------------------------------------------------------------------


@dataclass(frozen=True)
class ChainSettings:
    spec: StoreSpec
    orders: int  # one at a time
    rate: float  # new orders per second under load
    rate_seconds: float  # length of the idle and of the load window
    match_share: float
    seed: int
    timeout: float  # how long a cancel may take before it counts as never sent


@dataclass(frozen=True)
class ChainFigures:
    store: str
    single: list[float]  # one at a time, seconds (inf: never cancelled)
    loaded: list[float]  # matching orders under load
    committed_under_load: int
    load_seconds: float
    idle_cpu: float  # share of one core
    load_cpu: float
    idle_passes: int
    load_passes: int
    first_pass_cancels: int
    expected_first_pass: int
    unexpected_cancels: int  # cancels of ordinary orders (no rule should match them)


def _known_to_platform(engine: sa.Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The store's active orders and unavailable foods, as the simulator should know them."""
    orders, stock = schema.orders, schema.stock
    with engine.connect() as connection:
        active = connection.execute(
            sa.select(
                orders.c.payment_key,
                orders.c.restaurant_id,
                orders.c.status_id,
                orders.c.shipping_method,
                orders.c.courier_type,
            ).where(orders.c.status_id.in_(statuses.ACTIVE_STATUSES))
        ).mappings()
        order_rows = [dict(row) for row in active]
        unavailable = connection.execute(
            sa.select(stock.c.food_id, stock.c.name, stock.c.restaurant_id).where(
                sa.or_(stock.c.available.is_(False), stock.c.quantity == 0)
            )
        ).mappings()
        foods = [{**row, "price": 100} for row in unavailable]
    return order_rows, foods


def _settled(sim: Simulator, engine: sa.Engine) -> bool:
    """Every cancel the simulator confirmed is written back to the store (status 6)."""
    confirmed = sum(1 for r in sim.requests("PUT", CANCEL_PATH) if r.status == 200)
    query = sa.select(sa.func.count()).where(schema.orders.c.status_id == statuses.CANCELED)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one()) >= confirmed


def wait_settled(sim: Simulator, engine: sa.Engine, daemon: LiveDaemon, timeout: float) -> None:
    """The daemon's write-backs are in and no pass is in flight (it reacted to them too)."""
    deadline = time.monotonic() + timeout
    while True:
        _wait_for(lambda: _settled(sim, engine), daemon, timeout, "cancels written back")
        seen = len(sim.requests("PUT", CANCEL_PATH))
        daemon.wait_quiet(window=0.5, timeout=max(1.0, deadline - time.monotonic()))
        if len(sim.requests("PUT", CANCEL_PATH)) == seen:
            return


@dataclass(frozen=True)
class Live:
    """One running set-up: the store, its platform, the daemon and the POS."""

    settings: ChainSettings
    engine: sa.Engine  # the POS's engine, also the bench's look at the store
    simulator: Simulator
    daemon: LiveDaemon
    pos: Pos
    rng: random.Random  # arrival times and which orders match

    def settle(self) -> None:
        wait_settled(self.simulator, self.engine, self.daemon, self.settings.timeout)

    def await_cancels(self, committed: Sequence[Committed]) -> list[float]:
        keys = [c.payment_key for c in committed]
        received = await_cancels(self.simulator, keys, self.daemon, self.settings.timeout)
        return delays(committed, received)


@dataclass(frozen=True)
class LoadFigures:
    delays: list[float]  # of the matching orders committed in the window
    committed: int
    cpu: float  # share of one core over the window
    passes: int  # passes rows started in the window
    unexpected_cancels: int  # of ordinary orders, which no rule should match


def one_at_a_time(live: Live) -> list[float]:
    """Each matching order arrives 0.1-0.5 s after the daemon went quiet; its delay."""
    measured: list[float] = []
    for index in range(live.settings.orders):
        live.settle()
        time.sleep(live.rng.uniform(*GAP_SECONDS))  # the arrival gap
        measured.extend(live.await_cancels([live.pos.commit(matching=True)]))
        log(f"  one at a time {index + 1}/{live.settings.orders}: {measured[-1]:.3f} s")
    return measured


def idle(live: Live) -> tuple[float, int]:
    """The daemon's CPU share over the window with nothing arriving; passes rows started."""
    seconds = live.settings.rate_seconds
    live.settle()
    log(f"idle window, {seconds:.0f} s ...")
    start = datetime.now(UTC)
    cpu_before, started = live.daemon.cpu_seconds(), time.monotonic()
    time.sleep(seconds)  # the measuring window
    cpu = (live.daemon.cpu_seconds() - cpu_before) / (time.monotonic() - started)
    return cpu, _passes_between(live.engine, start, datetime.now(UTC))


def under_load(live: Live) -> LoadFigures:
    """``rate × seconds`` orders at random moments of the window (a Poisson process of
    that rate, conditioned on the count), ``match_share`` of them matching."""
    settings, rng = live.settings, live.rng
    count = round(settings.rate * settings.rate_seconds)
    offsets = sorted(rng.uniform(0, settings.rate_seconds) for _ in range(count))
    matching = set(rng.sample(range(count), round(settings.match_share * count)))
    log(f"load window: {count} orders ({len(matching)} matching) in {settings.rate_seconds:.0f} s")
    start = datetime.now(UTC)
    cpu_before, started = live.daemon.cpu_seconds(), time.monotonic()
    arrivals: list[Committed] = []
    for index, offset in enumerate(offsets):
        time.sleep(max(0.0, started + offset - time.monotonic()))  # the next arrival
        arrivals.append(live.pos.commit(matching=index in matching))
    time.sleep(max(0.0, started + settings.rate_seconds - time.monotonic()))  # the window's end
    cpu = (live.daemon.cpu_seconds() - cpu_before) / (time.monotonic() - started)
    end = datetime.now(UTC)
    log("waiting for the cancels of the matching orders ...")
    measured = live.await_cancels([c for c in arrivals if c.matching])
    ordinary = {c.payment_key for c in arrivals if not c.matching}
    return LoadFigures(
        delays=measured,
        committed=len(arrivals),
        cpu=cpu,
        passes=_passes_between(live.engine, start, end),
        unexpected_cancels=sum(1 for key in cancels_received(live.simulator) if key in ordinary),
    )


def measure_chain(url: str, rules: Path, settings: ChainSettings) -> ChainFigures:
    spec = settings.spec
    log(f"generating {spec.label} at {url} ...")
    generated = generate(spec, url, rules_path=rules)
    log(generated.summary())
    engine = sa.create_engine(url)  # the POS: a plain engine
    try:
        platform_orders, platform_foods = _known_to_platform(engine)
        with Simulator(
            cooldown_seconds=0,
            restaurants=[{"id": r.id, "name": r.name} for r in generated.restaurant_list],
            foods=platform_foods,
            orders=platform_orders,
        ) as sim:
            rules.write_text(
                rules_yaml(url, generated.restaurant_list, api_base_url=sim.url),
                encoding="utf-8",
            )
            with LiveDaemon(rules, access_token=sim.static_token or "") as daemon:
                started = time.monotonic()
                _wait_for(
                    lambda: _finished_passes(engine) > 0,
                    daemon,
                    FIRST_PASS_TIMEOUT,
                    "the daemon's first pass",
                )
                wait_settled(sim, engine, daemon, FIRST_PASS_TIMEOUT)
                first_cancels = len(cancels_received(sim))
                log(
                    f"first pass done and settled after {time.monotonic() - started:.1f} s: "
                    f"{first_cancels} cancels (generated matches {generated.expected_matches})"
                )
                pos = Pos(
                    engine,
                    generated.restaurant_list,
                    active=active_orders_by_restaurant(engine),
                    simulator=sim,
                    seed=settings.seed,
                )
                live = Live(settings, engine, sim, daemon, pos, random.Random(settings.seed))
                single = one_at_a_time(live)
                idle_cpu, idle_passes = idle(live)
                load = under_load(live)
    finally:
        engine.dispose()
    return ChainFigures(
        store=f"{spec.label} ({generated.active_orders} active)",
        single=single,
        loaded=load.delays,
        committed_under_load=load.committed,
        load_seconds=settings.rate_seconds,
        idle_cpu=idle_cpu,
        load_cpu=load.cpu,
        idle_passes=idle_passes,
        load_passes=load.passes,
        first_pass_cancels=first_cancels,
        expected_first_pass=generated.expected_matches,
        unexpected_cancels=load.unexpected_cancels,
    )


def _ms(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds * 1000:.0f} ms"


def _sent(values: Sequence[float]) -> str:
    return f"{sum(1 for v in values if not math.isinf(v))}/{len(values)}"


def chain_header(rate: float) -> str:
    return (
        "| backend | store | one at a time: p50 (target < 100 ms) | p95 (< 300 ms) | max "
        f"| cancelled | under {rate:g}/s: p50 | p95 | cancelled | orders committed "
        f"| CPU idle | CPU under {rate:g}/s (target < 25 %) | passes rows idle / load |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )


def chain_row(backend: str, figures: ChainFigures) -> str:
    single, loaded = figures.single, figures.loaded
    rate = figures.committed_under_load / figures.load_seconds
    return (
        f"| {backend} | {figures.store} | {_ms(percentile(single, 0.5))} | "
        f"{_ms(percentile(single, 0.95))} | {_ms(max(single))} | {_sent(single)} | "
        f"{_ms(percentile(loaded, 0.5)) if loaded else '-'} | "
        f"{_ms(percentile(loaded, 0.95)) if loaded else '-'} | {_sent(loaded)} | "
        f"{figures.committed_under_load} ({rate:.1f}/s) | {100 * figures.idle_cpu:.1f} % | "
        f"{100 * figures.load_cpu:.1f} % | {figures.idle_passes} / {figures.load_passes} |"
    )


def chain_table(targets: Sequence[tuple[str, str]], settings: ChainSettings, keep: bool) -> None:
    print(chain_header(settings.rate), flush=True)
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, url in targets:
            begun = time.monotonic()
            load_before = os.getloadavg()[0]
            try:
                figures = measure_chain(url, Path(folder) / f"{name}.rules.yaml", settings)
            finally:
                if not keep:
                    drop_store(url)
            print(chain_row(name, figures), flush=True)
            notes.append(
                f"{name}: {time.monotonic() - begun:.0f} s; machine load (1-min) "
                f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after; first pass "
                f"{figures.first_pass_cancels} cancels (generated matches "
                f"{figures.expected_first_pass}); cancels of ordinary orders: "
                f"{figures.unexpected_cancels}"
            )
    print()
    print(
        f"'never': no cancel within {settings.timeout:.0f} s. CPU: utime+stime of the daemon "
        "process (all threads) / wall time, 100 % = one core; idle includes the scheduled "
        "passes (every 15 s)."
    )
    for note in notes:
        print(note)


# --- command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reaction_bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--chain", action="store_true", help="the chain store (issue 12 target 4)")
    parser.add_argument("--restaurants", "-R", type=int, default=1000)
    parser.add_argument("--orders-per-restaurant", "-K", type=int, default=10)
    parser.add_argument("--history", "-H", type=int, default=200_000)
    parser.add_argument(
        "--orders", type=int, help="matching orders one at a time (default 50; --chain: 20)"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="new orders/s under load")
    parser.add_argument(
        "--rate-seconds", type=float, default=30.0, help="idle and load windows (default 30)"
    )
    parser.add_argument("--match-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a cancel may take (--chain)"
    )
    parser.add_argument(
        "--pg-url",
        help="also measure on PostgreSQL (--chain: a URL selecting its own schema, "
        "options=-csearch_path%%3DNAME, which is dropped and recreated)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--workdir", type=Path, help="folder for the SQLite store (default: a temporary one)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="--chain: keep the stores (SQLite: with --workdir)"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.rate_seconds <= 0 or not 0 <= args.match_share <= 1:
        parser.error("--rate and --rate-seconds must be positive, --match-share within 0..1")
    with tempfile.TemporaryDirectory() as scratch:
        folder = (args.workdir or Path(scratch)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        name = "reaction-chain.db" if args.chain else "reaction.db"
        targets = [] if args.no_sqlite else [("sqlite", f"sqlite:///{folder / name}")]
        if args.pg_url:
            targets.append(("postgresql", args.pg_url))
        if not targets:
            parser.error("nothing to measure: --no-sqlite without --pg-url")
        try:
            if not args.chain:
                empty_table(targets, args.orders or 50)
                return 0
            settings = ChainSettings(
                spec=StoreSpec(
                    restaurants=args.restaurants,
                    orders_per_restaurant=args.orders_per_restaurant,
                    history=args.history,
                ),
                orders=args.orders or 20,
                rate=args.rate,
                rate_seconds=args.rate_seconds,
                match_share=args.match_share,
                seed=args.seed,
                timeout=args.timeout,
            )
            chain_table(targets, settings, keep=args.keep)
        except (DaemonFailed, subprocess.SubprocessError) as exc:
            print(f"reaction_bench: {exc}", file=sys.stderr)
            return 1
        except sa.exc.SQLAlchemyError as exc:  # e.g. PostgreSQL terminated the POS's session
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"reaction_bench: the store failed: {first_line}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

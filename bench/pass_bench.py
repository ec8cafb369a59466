"""Pass benchmark (issue 6, items 1, 2 and 4): what one evaluation pass costs.

    python -m bench.pass_bench                       # small + big, SQLite + PostgreSQL
    python -m bench.pass_bench --sizes big --backends sqlite --passes 9

For each store size and backend it generates a fresh store (bench.generate)
and measures, all in dry-run (nothing changes between passes except the
ledger's ``updated_at`` and one ``passes`` row per pass):

first pass
    A fresh process's first pass on the fresh store; it writes the
    ``would_cancel`` rows to the ledger.
cold pass
    A fresh process (fresh engine, empty statement cache), ledger already
    written: what a restarted daemon's first pass costs.
steady pass
    Median of N full passes of one ``PassRunner(..., dry_run=True)`` after a
    warm-up: what ``run`` pays every ``schedule.full_pass_seconds``.
incremental pass
    Median of N ``run_once(incremental=True)`` of the same runner: with
    nothing changed, and after a POS committed one new order (3 items, at a
    random restaurant; the commit is not timed): what ``run`` pays between
    full passes. The orders are deleted afterwards.
orders/s
    Active orders / steady pass.
raw floor
    ``bench.floor``: one statement through the plain driver (active orders
    joined with items and stock), rows to tuples, a haversine per delivery and
    the same decisions counted, in plain Python (median of N). Every pass
    figure is also printed as a ratio to it: the least any pass must do.
floor
    ``read_snapshot`` inside ``connect.snapshot_reader`` (median of N): the
    snapshot query with its conversion to ``Order`` objects, which any pass pays.
bare SQL
    The statements ``read_snapshot`` issues, replayed on the raw DBAPI cursor
    with ``fetchall`` (median of N): database + driver only.
statements
    ``before_cursor_execute`` events during one steady pass (an executemany
    counts once).
once
    ``autocancel once --dry-run -c rules.yaml`` as a subprocess, on the chain
    store and on an empty store with the same rules file; ``(once - once on
    the empty store) / raw floor`` is the cold pass's cost in floors. Wall time,
    start-up to first pass (the pass's ``passes.started_at`` minus the spawn
    time) and peak RSS (``os.wait4`` rusage).
idle CPU
    ``autocancel run --dry-run``: CPU time used between two passes (after the
    first pass finished, over ``--idle-seconds``), and its RSS high-water mark.

Plus, once per run, ``python -X importtime`` of ``once``: the import time by
top-level package and the slowest imports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.floor import FloorRules
from bench.floor import measure as measure_raw_floor
from bench.generate import (
    Generated,
    StoreSpec,
    create_empty_store,
    default_rules_path,
    drop_store,
    generate,
)
from daemon.config.load import load_config
from daemon.engine.passes import PassRunner
from daemon.store import connect, schema
from daemon.store.snapshot import read_snapshot

SIZES: dict[str, StoreSpec] = {
    "small": StoreSpec(restaurants=50, orders_per_restaurant=10, history=10_000),
    "big": StoreSpec(restaurants=1000, orders_per_restaurant=10, history=200_000),
}
# A database of its own (created if missing, dropped afterwards if the bench
# created it), so nothing else on the server sees or disturbs the bench.
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/autocancel_bench"
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "autocancel-bench"


# --- counting and timing ------------------------------------------------------


@dataclass
class StatementLog:
    """Every statement an engine sends while ``recording``."""

    recording: bool = False
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)

    def attach(self, engine: sa.Engine) -> None:
        @sa.event.listens_for(engine, "before_cursor_execute")
        def _seen(
            _conn: Any,
            _cursor: Any,
            statement: str,
            parameters: Any,
            _context: Any,
            executemany: bool,
        ) -> None:
            if self.recording:
                self.statements.append((statement, parameters, executemany))

    @contextmanager
    def record(self) -> Iterator[list[tuple[str, Any, bool]]]:
        self.statements = []
        self.recording = True
        try:
            yield self.statements
        finally:
            self.recording = False


def _median_time(action: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _runner(rules: Path) -> tuple[PassRunner, sa.Engine, StatementLog]:
    config = load_config(rules)
    engine = connect.create_store_engine(config.store.url)
    log = StatementLog()
    log.attach(engine)
    runner = PassRunner(config=config, engine=engine, executor_factory=None, dry_run=True)
    return runner, engine, log


def _incremental_passes(runner: PassRunner, engine: sa.Engine, repeat: int) -> tuple[float, float]:
    """Median incremental pass with nothing changed, and after one new order (see docstring)."""
    runner.run_once()  # a full pass: the change log's place
    idle, _ = _median_time(lambda: runner.run_once(incremental=True), repeat)
    restaurants = [r.id for r in runner.config.restaurants]
    rng = random.Random(7)
    keys = []
    times = []
    for n in range(repeat):
        key = f"bench-new-{n}"
        keys.append(key)
        with engine.begin() as connection:
            connection.execute(
                sa.insert(schema.orders).values(
                    payment_key=key,
                    restaurant_id=rng.choice(restaurants),
                    status_id=1,
                    shipping_method="delivery",
                    payment_status="ok",
                    created_at=datetime.now(UTC),
                )
            )
            connection.execute(
                sa.insert(schema.order_items),
                [{"payment_key": key, "food_id": rng.randrange(1, 19), "quantity": 1}] * 3,
            )
        started = time.perf_counter()
        report = runner.run_once(incremental=True)
        times.append(time.perf_counter() - started)
        assert not report.scope.full, "the bench measures incremental passes"
    with engine.begin() as connection:
        connection.execute(
            sa.delete(schema.order_items).where(schema.order_items.c.payment_key.in_(keys))
        )
        connection.execute(sa.delete(schema.orders).where(schema.orders.c.payment_key.in_(keys)))
    return idle, statistics.median(times)


def child_pass(rules: Path) -> dict[str, Any]:
    """One pass in this (fresh) process: what ``--child`` prints for the parent."""
    runner, engine, log = _runner(rules)
    try:
        with log.record() as statements:
            started = time.perf_counter()
            report = runner.run_once()
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        "seconds": seconds,
        "orders": report.orders_seen,
        "decisions": len(report.primary),
        "statements": len(statements),
    }


def _in_fresh_process(rules: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.pass_bench", "--child", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child pass failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def _replay(engine: sa.Engine, statements: Sequence[tuple[str, Any, bool]]) -> Callable[[], None]:
    """The captured snapshot statements on the raw DBAPI connection, rows fetched."""

    def run() -> None:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement, parameters, _many in statements:
                cursor.execute(statement, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
            connection.rollback()
        finally:
            connection.close()

    return run


# --- the subprocess measurements ------------------------------------------------


def autocancel_command() -> list[str]:
    script = Path(sys.executable).with_name("autocancel")
    found = str(script) if script.exists() else shutil.which("autocancel")
    return [found] if found else [sys.executable, "-m", "daemon"]


def _latest_pass_start(url: str) -> datetime | None:
    engine = connect.create_store_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(sa.func.max(schema.passes.c.started_at))
            ).scalar_one_or_none()
    finally:
        engine.dispose()


# A tiny launcher: it spawns the command and reaps it with wait4. Linux carries
# the spawning process's RSS high-water mark into the child's ru_maxrss (the
# child starts as a copy of its parent until exec), so the parent must be small:
# never this benchmark, which holds snapshots of its own.
_LAUNCHER = """
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
spawned_at, started = time.time(), time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as f:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "wall_s": wall,
               "spawned_at": spawned_at, "max_rss_kib": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, f)
"""


def measure_once(rules: Path, url: str) -> dict[str, float]:
    """``autocancel once --dry-run``: wall, start-up to first pass, peak RSS."""
    with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile("r") as answer:
        subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                _LAUNCHER,
                answer.name,
                *autocancel_command(),
                "once",
                "--dry-run",
                "-c",
                str(rules),
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            check=True,
            timeout=600,
        )
        launched = json.load(answer)
        if launched["exit"] != 0:
            errors.seek(0)
            raise RuntimeError(f"autocancel once failed:\n{errors.read().decode()[-3000:]}")
    pass_start = _latest_pass_start(url)
    assert pass_start is not None
    return {
        "wall_s": launched["wall_s"],
        "startup_s": pass_start.timestamp() - launched["spawned_at"],
        "max_rss_mb": launched["max_rss_kib"] / 1024,  # KiB on Linux
        "cpu_s": launched["cpu_s"],
    }


def _cpu_and_wakeups(pid: int) -> tuple[float, int]:
    """CPU seconds (ns precision, /proc/PID/task/*/schedstat) and context switches."""
    cpu_ns, switches = 0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu_ns += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except FileNotFoundError:  # a thread ended while we looked
            continue
    return cpu_ns / 1e9, switches


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def measure_idle(rules: Path, url: str, seconds: float) -> dict[str, float]:
    """``autocancel run --dry-run``: CPU between passes, RSS high-water after one pass."""
    before = _latest_pass_start(url)
    engine = connect.create_store_engine(url)
    process = subprocess.Popen(
        [*autocancel_command(), "run", "--dry-run", "-c", str(rules)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        finished = None
        while finished is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("autocancel run did not finish a pass")
            time.sleep(0.1)
            with engine.connect() as connection:
                finished = connection.execute(
                    sa.select(schema.passes.c.finished_at)
                    .where(schema.passes.c.started_at > before if before else sa.true())
                    .where(schema.passes.c.finished_at.is_not(None))
                ).scalar()
        time.sleep(0.5)  # let the pass's logging and clean-up settle
        (cpu_before, switches_before), started = _cpu_and_wakeups(process.pid), time.perf_counter()
        time.sleep(seconds)
        cpu_after, switches_after = _cpu_and_wakeups(process.pid)
        elapsed = time.perf_counter() - started
        with engine.connect() as connection:
            passes = connection.execute(
                sa.select(sa.func.count())
                .select_from(schema.passes)
                .where(schema.passes.c.started_at > before if before else sa.true())
            ).scalar_one()
        return {
            "idle_cpu_pct": 100 * (cpu_after - cpu_before) / elapsed,
            "idle_wakeups_per_s": (switches_after - switches_before) / elapsed,
            "passes_during_idle": passes - 1,
            "run_rss_mb": _status_kib(process.pid, "VmRSS") / 1024,
            "run_hwm_mb": _status_kib(process.pid, "VmHWM") / 1024,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        engine.dispose()


def import_profile(rules: Path, top: int = 12) -> dict[str, Any]:
    """``python -X importtime -m daemon once --dry-run``: time by package, slowest imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "daemon", "once", "--dry-run", "-c", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    by_package: dict[str, int] = defaultdict(int)
    direct: list[tuple[int, str]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        by_package[module.split(".")[0]] += int(self_us)
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:
            direct.append((int(cumulative_us), module))
    total = sum(by_package.values())
    return {
        "total_s": total / 1e6,
        "by_package": sorted(
            ((p, us / 1e6) for p, us in by_package.items()), key=lambda item: -item[1]
        )[:top],
        "slowest_direct": [(m, us / 1e6) for us, m in sorted(direct, reverse=True)[:top]],
    }


# --- one store ----------------------------------------------------------------


@dataclass
class Result:
    backend: str
    size: str
    store: str
    active_orders: int
    history_orders: int
    expected_matches: int
    decisions: int
    generate_s: float
    first_pass_s: float
    first_pass_statements: int
    cold_pass_s: float
    steady_pass_s: float
    steady_passes: list[float]
    incremental_idle_s: float
    incremental_change_s: float
    orders_per_s: float
    raw_floor_s: float
    raw_floor_decisions: int
    floor_s: float
    bare_sql_s: float
    pass_over_floor: float
    pass_over_sql: float
    statements: int
    snapshot_statements: int
    once: dict[str, float]
    once_empty: dict[str, float]
    idle: dict[str, float] | None

    @property
    def steady_over_raw(self) -> float:
        return self.steady_pass_s / self.raw_floor_s

    @property
    def once_over_raw(self) -> float:
        return (self.once["wall_s"] - self.once_empty["wall_s"]) / self.raw_floor_s


def bench_store(
    backend: str,
    size: str,
    spec: StoreSpec,
    url: str,
    *,
    passes: int,
    idle_seconds: float,
    log: Callable[[str], None],
) -> tuple[Result, Generated]:
    generated = generate(spec, url)
    log(f"  generated: {generated.summary()}")
    rules = generated.rules_path
    first = _in_fresh_process(rules)
    log(
        f"  first pass (fresh process, writes the ledger): {first['seconds']:.3f} s, "
        f"{first['decisions']} decisions, {first['statements']} statements"
    )
    cold = _in_fresh_process(rules)
    log(f"  cold pass (fresh process): {cold['seconds']:.3f} s")

    runner, engine, statements_log = _runner(rules)
    try:
        report = runner.run_once()  # warm-up: connections, statement cache
        steady, steady_all = _median_time(runner.run_once, passes)
        with statements_log.record() as pass_statements:
            runner.run_once()
        log(
            f"  steady pass: median {steady:.3f} s of {passes} "
            f"({', '.join(f'{t:.3f}' for t in steady_all)}); "
            f"{len(pass_statements)} statements:"
        )
        for statement, _parameters, many in pass_statements:
            log(f"    {'executemany ' if many else ''}{' '.join(statement.split())[:110]}")
        incremental_idle, incremental_change = _incremental_passes(runner, engine, passes)
        log(
            f"  incremental pass: {incremental_idle * 1000:.1f} ms with nothing changed, "
            f"{incremental_change * 1000:.1f} ms after one new order (medians of {passes})"
        )

        def snapshot() -> None:
            with connect.snapshot_reader(engine) as connection, connection.begin():
                read_snapshot(connection)

        snapshot()
        floor, _ = _median_time(snapshot, passes)
        with statements_log.record() as snapshot_statements:
            snapshot()
        replay = _replay(engine, snapshot_statements)
        replay()
        bare, _ = _median_time(replay, passes)
        log(
            f"  floor (read_snapshot): {floor:.3f} s; bare SQL: {bare:.3f} s "
            f"({len(snapshot_statements)} statements)"
        )
    finally:
        engine.dispose()

    raw_floor, raw_all, raw_decisions = measure_raw_floor(
        url, FloorRules.from_file(rules), repeat=passes
    )
    log(
        f"  raw floor (plain driver, one statement): median {raw_floor:.3f} s "
        f"({', '.join(f'{t:.3f}' for t in raw_all)}), {raw_decisions} decisions; "
        f"steady pass = {steady / raw_floor:.1f}x the raw floor"
    )
    once = measure_once(rules, url)
    empty_url, empty_rules = _empty_twin(url, rules)
    try:
        once_empty = measure_once(empty_rules, empty_url)
    finally:
        drop_store(empty_url)
        empty_rules.unlink(missing_ok=True)
    log(
        f"  once --dry-run on an empty store with the same rules: {once_empty['wall_s']:.2f} s; "
        f"(once - empty) / raw floor = {(once['wall_s'] - once_empty['wall_s']) / raw_floor:.1f}"
    )
    log(
        f"  once --dry-run: wall {once['wall_s']:.2f} s, start-up to first pass "
        f"{once['startup_s']:.2f} s, max RSS {once['max_rss_mb']:.0f} MB"
    )
    idle = None
    if idle_seconds > 0:
        idle = measure_idle(rules, url, idle_seconds)
        log(
            f"  run --dry-run idle: {idle['idle_cpu_pct']:.3f} % CPU over {idle_seconds:.0f} s, "
            f"{idle['idle_wakeups_per_s']:.1f} wake-ups/s, "
            f"RSS {idle['run_rss_mb']:.0f} MB (high-water {idle['run_hwm_mb']:.0f} MB)"
        )
    result = Result(
        backend=backend,
        size=size,
        store=spec.label,
        active_orders=generated.active_orders,
        history_orders=generated.history_orders,
        expected_matches=generated.expected_matches,
        decisions=len(report.primary),
        generate_s=generated.seconds,
        first_pass_s=first["seconds"],
        first_pass_statements=first["statements"],
        cold_pass_s=cold["seconds"],
        steady_pass_s=steady,
        steady_passes=steady_all,
        incremental_idle_s=incremental_idle,
        incremental_change_s=incremental_change,
        orders_per_s=report.orders_seen / steady,
        raw_floor_s=raw_floor,
        raw_floor_decisions=raw_decisions,
        floor_s=floor,
        bare_sql_s=bare,
        pass_over_floor=steady / floor,
        pass_over_sql=steady / bare,
        statements=len(pass_statements),
        snapshot_statements=len(snapshot_statements),
        once=once,
        once_empty=once_empty,
        idle=idle,
    )
    return result, generated


def _empty_twin(url: str, rules: Path) -> tuple[str, Path]:
    """An empty store beside ``url`` and a copy of ``rules`` pointing at it."""
    empty_url = (
        url.replace(".db", "-empty.db")
        if url.startswith("sqlite")
        else url.replace("search_path%3D", "search_path%3Dempty_")
    )
    create_empty_store(empty_url)
    twin = rules.with_name(f"empty-{rules.name}")
    twin.write_text(rules.read_text(encoding="utf-8").replace(url, empty_url), encoding="utf-8")
    return empty_url, twin


# --- output -------------------------------------------------------------------


def pass_table(results: Sequence[Result]) -> str:
    header = (
        "| backend | store | active | decisions | raw floor | steady pass "
        "| **steady / raw floor** | **(once - empty once) / raw floor** "
        "| incremental, no change | incremental, one new order | **/ raw floor** | first pass "
        "| cold pass | orders/s | read_snapshot | bare SQL | statements/pass |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.store} | {r.active_orders} | {r.decisions} "
            f"| {r.raw_floor_s:.3f} s | {r.steady_pass_s:.3f} s | {r.steady_over_raw:.1f}x "
            f"| {r.once_over_raw:.1f} | {r.incremental_idle_s * 1000:.1f} ms "
            f"| {r.incremental_change_s * 1000:.1f} ms "
            f"| {r.incremental_change_s / r.raw_floor_s:.2f}x "
            f"| {r.first_pass_s:.3f} s | {r.cold_pass_s:.3f} s "
            f"| {r.orders_per_s:,.0f} | {r.floor_s:.3f} s | {r.bare_sql_s:.3f} s "
            f"| {r.statements} |"
        )
    return "\n".join(lines)


def process_table(results: Sequence[Result]) -> str:
    header = (
        "| backend | store | `once` wall | start-up to first pass | `once` peak RSS "
        "| `run` idle CPU | `run` RSS after a pass |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        idle = (
            f"{r.idle['idle_cpu_pct']:.3f} % ({r.idle['idle_wakeups_per_s']:.0f} wake-ups/s)"
            if r.idle
            else "-"
        )
        rss = f"{r.idle['run_rss_mb']:.0f} MB" if r.idle else "-"
        lines.append(
            f"| {r.backend} | {r.store} | {r.once['wall_s']:.2f} s | {r.once['startup_s']:.2f} s "
            f"| {r.once['max_rss_mb']:.0f} MB | {idle} | {rss} |"
        )
    return "\n".join(lines)


def import_table(profile: dict[str, Any]) -> str:
    lines = [
        f"import time of `once` (-X importtime, self time summed): {profile['total_s']:.3f} s",
        "",
        "| package | self time | | slowest import at depth <= 1 | cumulative |",
        "|---|---|---|---|---|",
    ]
    for (package, seconds), (module, cumulative) in zip(
        profile["by_package"], profile["slowest_direct"], strict=False
    ):
        lines.append(f"| {package} | {seconds:.3f} s | | {module} | {cumulative:.3f} s |")
    return "\n".join(lines)


def _with_schema(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def usable_backends(names: str, pg_url: str) -> tuple[list[str], bool]:
    """The ``--backends`` that can run here, and whether the bench created the
    PostgreSQL database (then it drops it when done)."""
    backends = [b.strip() for b in names.split(",") if b.strip()]
    created_database = False
    if "postgresql" in backends:
        created = _pg_database(pg_url)
        if created is None:
            backends.remove("postgresql")
        created_database = bool(created)
    return backends, created_database


def _pg_database(url: str, *, drop: bool = False) -> bool | None:
    """Create the bench database if missing (True: created); None if unreachable.

    With ``drop``, drop it instead.
    """
    target = sa.make_url(url)
    name = target.database
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name or "")
    try:
        with admin.connect() as connection:
            if drop:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
                return False
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
            return exists is None
    except sa.exc.SQLAlchemyError as exc:
        print(
            f"PostgreSQL at {connect.describe_url(url)} unusable, skipped: {exc}", file=sys.stderr
        )
        return None
    finally:
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pass_bench", description="Benchmark autocancel passes (issue 6)."
    )
    parser.add_argument(
        "--sizes",
        default="small,big",
        help="comma-separated: small, big, or RxKxH (default small,big)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("AUTOCANCEL_BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL database; the bench creates and drops schemas bench_<size> in it",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="SQLite stores and rules files (default %(default)s)",
    )
    parser.add_argument("--passes", type=int, default=7, help="N for the medians (default 7)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=10,
        help="idle CPU sample of `run` (0 = skip; must stay below 15 - pass)",
    )
    parser.add_argument("--no-imports", action="store_true", help="skip -X importtime")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_pass(args.child)))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    sizes: list[tuple[str, StoreSpec]] = []
    for name in args.sizes.split(","):
        if name in SIZES:
            sizes.append((name, SIZES[name]))
        else:
            r, k, h = (int(part) for part in name.lower().split("x"))
            sizes.append((name, StoreSpec(restaurants=r, orders_per_restaurant=k, history=h)))
    backends, created_database = usable_backends(args.backends, args.pg_url)

    results: list[Result] = []
    imports: dict[str, Any] | None = None
    for backend in backends:
        for name, spec in sizes:
            slug = name.replace("x", "_")
            url = (
                f"sqlite:///{args.workdir / f'{slug}.db'}"
                if backend == "sqlite"
                else _with_schema(args.pg_url, f"bench_{slug}")
            )
            log(f"{backend} {name} ({spec.label})")
            try:
                result, generated = bench_store(
                    backend,
                    name,
                    spec,
                    url,
                    passes=args.passes,
                    idle_seconds=args.idle_seconds,
                    log=log,
                )
                results.append(result)
                if imports is None and not args.no_imports:
                    imports = import_profile(generated.rules_path)
            finally:
                if not args.keep:
                    drop_store(url)
                    default_rules_path(url).unlink(missing_ok=True)
    if created_database and not args.keep:
        _pg_database(args.pg_url, drop=True)

    print(pass_table(results))
    print()
    print(process_table(results))
    if imports is not None:
        print()
        print(import_table(imports))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "results": [
                        {
                            **asdict(r),
                            "steady_over_raw": r.steady_over_raw,
                            "once_over_raw": r.once_over_raw,
                        }
                        for r in results
                    ],
                    "imports": imports,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

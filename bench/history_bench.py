"""Flat in history (issue 12, target 5): the steady pass with 200,000 and with N past orders.

    python -m bench.history_bench                      # H = 200,000 vs 2,000,000, both backends
    python -m bench.history_bench --history 500000 --backends sqlite --passes 5
    python -m bench.history_bench --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        --reuse --keep                                 # keep the stores, reuse them next time

For each backend, two chain stores (R=1000 K=10) that differ only in their
past orders: ``--base-history`` (200,000) and ``--history`` (2,000,000). Per
store, in the same process and interleaved (A B A B ...), the steady dry-run
pass (``PassRunner.run_once``) and the raw floor (``bench.floor``); printed:
each median, each as a ratio to the floor of the same store, and the ratio
pass(H) / pass(base) (target ≤ 1.1). Then the plan of every statement the
snapshot sends, as the database chooses it (``EXPLAIN`` on PostgreSQL, run in
the snapshot's own transaction settings; ``EXPLAIN QUERY PLAN`` on SQLite):
none of them may scan ``order_items`` or ``orders`` whole.

Stores: SQLite files ``hist_<H>.db`` in ``--workdir``, PostgreSQL schemas
``bench_hist_<H>`` in ``--pg-url``; generated unless ``--reuse`` finds one,
dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import floor
from bench.generate import StoreSpec, default_rules_path, drop_store, generate
from bench.pass_bench import DEFAULT_PG_URL, DEFAULT_WORKDIR, _pg_database, _runner, _with_schema
from daemon.store import connect


def _store_url(backend: str, history: int, workdir: Path, pg_url: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'hist_{history}.db'}"
    return _with_schema(pg_url, f"bench_hist_{history}")


def _exists(url: str, rules: Path) -> bool:
    if not rules.exists():
        return False
    engine = connect.create_store_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def snapshot_statements(rules: Path) -> list[tuple[str, Any]]:
    """The statements one ``read_snapshot`` sends (with the snapshot's SET LOCALs)."""
    runner, engine, log = _runner(rules)
    try:
        with log.record() as statements:
            runner.judge.read()
        return [(statement, parameters) for statement, parameters, _many in statements]
    finally:
        engine.dispose()


def explain(rules: Path, url: str) -> str:
    """The database's plan of each SELECT of the snapshot."""
    statements = snapshot_statements(rules)
    engine = connect.create_store_engine(url)
    postgresql = engine.dialect.name == "postgresql"
    lines = []
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement, parameters in statements:
                if statement.lstrip().upper().startswith("SET"):
                    cursor.execute(statement, parameters)  # the snapshot's own planner settings
                    continue
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                prefix = (
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
                    if postgresql
                    else "EXPLAIN QUERY PLAN "
                )
                cursor.execute(prefix + statement, parameters)
                plan = [str(row[0] if postgresql else row[-1]) for row in cursor.fetchall()]
                lines.append("-- " + " ".join(statement.split())[:160])
                lines += [f"   {line[:200]}" for line in plan]  # an = ANY(array) can be long
            cursor.close()
            connection.rollback()
        finally:
            connection.close()
    finally:
        engine.dispose()
    return "\n".join(lines)


def measure(rules_by_history: dict[int, Path], passes: int) -> dict[int, dict[str, float]]:
    """Per history size: median steady pass and median raw floor, interleaved."""
    runners = {h: _runner(rules) for h, rules in rules_by_history.items()}
    floors = {h: floor.FloorRules.from_file(rules) for h, rules in rules_by_history.items()}
    urls = {h: runner.config.store.url for h, (runner, _e, _l) in runners.items()}
    passes_s: dict[int, list[float]] = {h: [] for h in runners}
    floor_s: dict[int, list[float]] = {h: [] for h in runners}
    decisions: dict[int, int] = {}
    try:
        for runner, _engine, _log in runners.values():
            runner.run_once()  # warm-up: the ledger rows, the caches, the page cache
        for _ in range(passes):
            for h, (runner, _engine, _log) in runners.items():
                started = time.perf_counter()
                report = runner.run_once()
                passes_s[h].append(time.perf_counter() - started)
                decisions[h] = len(report.primary)
                raw, _times, _decided = floor.measure(urls[h], floors[h], repeat=1)
                floor_s[h].append(raw)
    finally:
        for _unused, engine, _log in runners.values():
            engine.dispose()
    return {
        h: {
            "pass_s": statistics.median(passes_s[h]),
            "floor_s": statistics.median(floor_s[h]),
            "decisions": decisions[h],
        }
        for h in runners
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_bench", description=__doc__)
    parser.add_argument("--history", type=int, default=2_000_000, help="the big history")
    parser.add_argument("--base-history", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="use existing stores of these sizes")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends and _pg_database(args.pg_url) is None:
        backends.remove("postgresql")
    histories = (args.base_history, args.history)
    rows = []
    plans = []
    for backend in backends:
        rules_by_history = {}
        urls = {}
        for history in histories:
            url = _store_url(backend, history, args.workdir, args.pg_url)
            rules = default_rules_path(url)
            if not (args.reuse and _exists(url, rules)):
                print(f"generating {backend} H={history:,}", file=sys.stderr, flush=True)
                generate(StoreSpec(1000, 10, history), url=url, rules_path=rules)
            rules_by_history[history] = rules
            urls[history] = url
        try:
            print(f"measuring {backend}", file=sys.stderr, flush=True)
            figures = measure(rules_by_history, args.passes)
            base, big = figures[args.base_history], figures[args.history]
            for history in histories:
                f = figures[history]
                rows.append(
                    f"| {backend} | {history:,} | {f['decisions']} | {f['floor_s']:.3f} s "
                    f"| {f['pass_s']:.3f} s | {f['pass_s'] / f['floor_s']:.2f}x |"
                    + (
                        f" {big['pass_s'] / base['pass_s']:.2f} |"
                        if history == args.history
                        else " |"
                    )
                )
            if not args.no_explain:
                for history in histories:
                    plans.append(
                        f"## {backend}, H={history:,}\n"
                        + explain(rules_by_history[history], urls[history])
                    )
        finally:
            if not args.keep:
                for history in histories:
                    drop_store(urls[history])
                    rules_by_history[history].unlink(missing_ok=True)
    print(
        "| backend | past orders | decisions | raw floor | steady pass | pass / floor "
        "| pass(H) / pass(base) (target ≤ 1.1) |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    for plan in plans:
        print()
        print(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Profile the steady-state dry-run pass on a generated store (issue 6, item 2).

    python -m bench.generate --url sqlite:////tmp/autocancel-bench/big.db
    python -m bench.profile_pass --rules /tmp/autocancel-bench/big.rules.yaml
    python -m bench.profile_pass --rules ... --pyinstrument   # if pyinstrument is installed

First, without a profiler, the medians of N: ``read`` (the floor),
``plan``, the whole ``run_once``, and the same with a what-if: geodesic
distances memoised per (restaurant, delivery) point pair, as issue 6 asks the
product to do (the bench patches ``rules.max_distance.geodesic`` in its own
process, at ``geopy.distance`` and ``rules.max_distance``; the product is
not changed). Then, under cProfile, where a pass's
time goes phase by phase (cumulative time of the product functions that make
up ``PassRunner.run_once``) and the functions with the most own time.
``--out FILE`` keeps the raw cProfile data for ``python -m pstats`` or snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rules.max_distance
from daemon.config.load import load_config
from daemon.engine.passes import PassRunner
from daemon.store import connect

# (label, function name, files it may live in): the phases of PassRunner.run_once,
# outermost first.
PHASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("run_once (whole pass)", "run_once", ("daemon/engine/passes/runner.py",)),
    ("  read: read_snapshot (the floor)", "read_snapshot", ("daemon/store/snapshot.py",)),
    ("    SQL: Connection.execute", "execute", ("sqlalchemy/engine/base.py",)),
    ("    rows: Result.all", "all", ("sqlalchemy/engine/result.py",)),
    ("    Order objects: _order_from_row", "_order_from_row", ("daemon/store/snapshot.py",)),
    ("    items: _items", "_items", ("daemon/store/snapshot.py",)),
    ("    stock: _stock", "_stock", ("daemon/store/snapshot.py",)),
    ("  plan: Judge.plan_for", "plan_for", ("daemon/engine/passes/judge.py",)),
    ("    context: Locator.locate_all", "locate_all", ("daemon/engine/geo.py",)),
    ("    evaluate (all verdicts)", "evaluate_orders", ("daemon/engine/decide.py",)),
    ("      max_distance evaluate", "evaluate", ("rules/max_distance.py",)),
    ("        geopy geodesic(...).measure", "measure", ("geopy/distance.py",)),
    ("      out_of_stock evaluate", "evaluate", ("rules/out_of_stock.py",)),
    ("      payment_failed evaluate", "evaluate", ("rules/payment_failed.py",)),
    ("      congestion evaluate_all", "evaluate_all", ("rules/congestion.py",)),
    ("      guard", "guard", ("daemon/engine/decide.py",)),
    ("      Verdict.no_match", "no_match", ("rules/verdict.py",)),
    ("    decide_order", "decide_order", ("daemon/engine/decide.py",)),
    ("  safety: apply_safety", "apply_safety", ("daemon/engine/safety.py",)),
    ("  ledger: record_decisions", "record_decisions", ("daemon/store/ledger.py",)),
    ("  _execute (dry-run notes)", "_execute", ("daemon/engine/passes/runner.py",)),
    ("  log_decision", "log_decision", ("daemon/engine/passes/report.py",)),
    ("  record.finish", "finish", ("daemon/engine/passes/record.py",)),
)


def phase_report(stats: pstats.Stats, passes: int) -> str:
    raw = stats.stats  # type: ignore[attr-defined]  # set by Stats.init; typeshed omits it
    total = 0.0
    lines = []
    for label, name, files in PHASES:
        calls, cumulative = 0, 0.0
        for (filename, _line, function), (_cc, nc, _tt, ct, _callers) in raw.items():
            if function == name and filename.endswith(files):
                calls += nc
                cumulative += ct
        if label.startswith("run_once"):
            total = cumulative
        if not calls:
            lines.append(f"{label:<42} {'-':>9}")
            continue
        share = f"{100 * cumulative / total:5.1f} %" if total else ""
        lines.append(
            f"{label:<42} {cumulative / passes * 1000:9.1f} ms/pass {share:>8} "
            f"{calls // passes:>9} calls/pass"
        )
    return "\n".join(lines)


@contextmanager
def distances_memoised() -> Iterator[None]:
    """What-if: each (restaurant, delivery) geodesic computed once, then reused."""
    import geopy.distance

    original = geopy.distance.geodesic
    # The rule imports geodesic at module level or inside evaluate(); patch both.
    modules: list[Any] = [m for m in (geopy.distance, rules.max_distance) if hasattr(m, "geodesic")]

    @functools.cache
    def km(a: tuple[float, float], b: tuple[float, float]) -> float:
        return float(original(a, b).km)

    class Memoised:
        def __init__(self, a: Sequence[float], b: Sequence[float]) -> None:
            self.km = km((a[0], a[1]), (b[0], b[1]))

    for module in modules:
        module.geodesic = Memoised
    try:
        yield
    finally:
        for module in modules:
            module.geodesic = original


def _median(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def phase_timings(runner: PassRunner, repeat: int) -> str:
    snapshot = runner.judge.read()
    floor = _median(runner.judge.read, repeat)
    rows = [
        ("read (read_snapshot, the floor)", floor),
        ("plan (locate + evaluate + decide)", _median(lambda: runner.judge.plan(snapshot), repeat)),
        ("run_once", _median(runner.run_once, repeat)),
    ]
    with distances_memoised():
        runner.run_once()  # fills the memo, as the first pass of a daemon would
        rows += [
            (
                "plan, distances memoised (what-if)",
                _median(lambda: runner.judge.plan(snapshot), repeat),
            ),
            ("run_once, distances memoised (what-if)", _median(runner.run_once, repeat)),
        ]
    return "\n".join(
        f"{label:<42} {seconds * 1000:9.1f} ms  {seconds / floor:5.2f}x floor"
        for label, seconds in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_pass", description="Profile steady-state dry-run passes."
    )
    parser.add_argument("--rules", type=Path, required=True, help="a generated rules.yaml")
    parser.add_argument("--passes", type=int, default=3, help="passes under cProfile")
    parser.add_argument("--repeat", type=int, default=5, help="N for the unprofiled medians")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the cProfile data here")
    parser.add_argument(
        "--pyinstrument",
        action="store_true",
        help="also print a pyinstrument call tree (pip install pyinstrument)",
    )
    args = parser.parse_args(argv)

    config = load_config(args.rules)
    engine = connect.create_store_engine(config.store.url)
    runner = PassRunner(config=config, engine=engine, executor_factory=None, dry_run=True)
    try:
        runner.run_once()  # warm-up: the ledger rows exist, statements are cached
        print(f"steady dry-run pass, no profiler, median of {args.repeat}:\n")
        print(phase_timings(runner, args.repeat))
        print()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.passes):
            runner.run_once()
        profiler.disable()
        stats = pstats.Stats(profiler)
        if args.out:
            stats.dump_stats(args.out)
        print(
            f"steady dry-run pass, {args.passes} passes, under cProfile "
            "(profiling overhead inflates the absolute times)\n"
        )
        print(phase_report(stats, args.passes))
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(args.top)
        print("\nown time, top functions:")
        print(buffer.getvalue().split("\n\n", 1)[-1])
        if args.pyinstrument:
            from pyinstrument import Profiler

            tree = Profiler(interval=0.0005)
            tree.start()
            runner.run_once()
            tree.stop()
            print(tree.output_text(unicode=True, color=False, show_all=False))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up and memory of ``autocancel once`` on the chain store (issue 12, target 7).

Prints, in one run:

* ``once --dry-run`` as a fresh process, N times (medians, min-max): the time
  from the process's spawn to its first pass starting (the pass's
  ``passes.started_at``), the whole run, its CPU and its peak RSS
  (``ru_maxrss`` from ``wait4``, spawned by a tiny launcher; see
  ``pass_bench.measure_once``); the same on an empty store with the same rules,
  and ``(once − once on the empty store) / raw floor`` (target 2's ratio);
* inside one such process, at the moment its first pass starts: CPU seconds
  used, RSS, and which heavy libraries are already imported;
* the rules file's YAML load with each loader (libyaml, the line-tracking
  reference, plain PyYAML for scale) and ``load_config`` with each, median of N;
* the raw floor (``bench/floor.py``) measured in the same run.

    python -m bench.startup_bench --rules /tmp/bench.rules.yaml [--runs 7]
    python -m bench.startup_bench                     # generates the chain store first
    python -m bench.startup_bench --rules R --pythonpath /path/to/other/checkout   # "before"

``--pythonpath`` runs the processes (not the in-process YAML figures) on
another checkout of the code, for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bench.floor import FloorRules
from bench.floor import measure as measure_raw_floor
from bench.generate import StoreSpec, generate
from bench.pass_bench import _empty_twin, autocancel_command, measure_once
from daemon.config import yamlsource
from daemon.config.load import YamlLoader, load_config

CHAIN = StoreSpec(restaurants=1000, orders_per_restaurant=10, history=200_000)
TARGET_STARTUP_S = 0.8
TARGET_RSS_MB = 120.0
# Libraries a dry-run `once` has no use for (or, geopy, none before its pass).
HEAVY = ("httpx", "tenacity", "alembic", "apscheduler", "geopy", "geographiclib", "requests")

# Runs the real command line in this process, and reports, when the first pass
# starts, what the process has spent and imported by then.
_MARKER = """
import json, os, sys, time
out = sys.argv.pop(1)
def hwm_kib():  # this process's own high-water mark (ru_maxrss would include our parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
from daemon.engine.passes import runner
original = runner.PassRunner.run_once
def marked(self):
    if not os.path.exists(out):
        heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
        with open(out, "w") as f:
            json.dump({"cpu_s": time.process_time(),
                       "rss_mb": hwm_kib() / 1024,
                       "modules": len(sys.modules), "heavy": heavy}, f)
    return original(self)
runner.PassRunner.run_once = marked
from daemon.cli.main import main
sys.argv[0] = "autocancel"
raise SystemExit(main())
"""


def _spread(values: Sequence[float], unit: str = "s", digits: int = 3) -> str:
    return (
        f"{statistics.median(values):.{digits}f} {unit} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


@contextmanager
def _pythonpath(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def measure_processes(rules: Path, url: str, runs: int) -> dict[str, list[float]]:
    measure_once(rules, url)  # warm-up: page cache, and the ledger rows of a first pass
    figures: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, value in measure_once(rules, url).items():
            figures.setdefault(key, []).append(value)
    return figures


def at_first_pass(rules: Path, runs: int) -> dict[str, Any]:
    """CPU, RSS and heavy imports of a real ``once --dry-run`` when its pass starts."""
    cpu: list[float] = []
    answer: dict[str, Any] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "marker.json"
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"HEAVY = {HEAVY!r}\n{_MARKER}",
                    str(out),
                    "once",
                    "--dry-run",
                    "-c",
                    str(rules),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=600,
                cwd=scratch,  # `-c` puts the working directory first on sys.path
            )
            answer = json.loads(out.read_text(encoding="utf-8"))
        cpu.append(answer["cpu_s"])
    return {**answer, "cpu_s": cpu}


def _median_time(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def measure_yaml(rules: Path, repeat: int) -> list[tuple[str, list[float] | None]]:
    text = rules.read_text(encoding="utf-8")
    fast = getattr(yamlsource, "load_yaml_fast", None)
    has_c = bool(getattr(yaml, "__with_libyaml__", False))
    rows: list[tuple[str, list[float] | None]] = [
        ("yaml.safe_load (pure Python, no lines)", _median_time(lambda: yaml.safe_load(text), 3)),
        (
            "yaml.load CSafeLoader (libyaml, no lines)",
            _median_time(lambda: yaml.load(text, Loader=yaml.CSafeLoader), repeat)
            if has_c
            else None,
        ),
        (
            "load_yaml: reference, line-tracking",
            _median_time(lambda: yamlsource.load_yaml(text), 3),
        ),
        (
            "load_yaml_fast: libyaml, same line maps",
            _median_time(lambda: fast(text), repeat) if fast is not None and has_c else None,
        ),
    ]
    loaders: tuple[YamlLoader, ...] = ("reference", "libyaml", "auto")
    for loader in loaders:

        def load(loader: YamlLoader = loader) -> object:
            return load_config(rules, environ={}, loader=loader)

        rows.append((f"load_config(loader={loader!r})", _median_time(load, repeat)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup_bench", description=__doc__)
    parser.add_argument("--rules", type=Path, help="a generated chain store's rules.yaml")
    parser.add_argument("--runs", type=int, default=7, help="N for the medians (default 7)")
    parser.add_argument(
        "--pythonpath", type=Path, help="run the processes on this checkout instead"
    )
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ac-startup")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not byte-compile the code first (then, with PYTHONDONTWRITEBYTECODE set, "
        "every process compiles the daemon's sources again)",
    )
    args = parser.parse_args(argv)
    code_root = args.pythonpath or Path(__file__).resolve().parent.parent
    if not args.no_compile:
        # An installed package is byte-compiled by pip; a checkout run with
        # PYTHONDONTWRITEBYTECODE=1 would pay ~0.1 s of compiling in every process.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                str(code_root / "daemon"),
                str(code_root / "rules"),
            ],
            check=True,
        )

    rules: Path = args.rules
    if rules is None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{args.workdir / 'chain.db'}"
        print(f"generating the chain store ({CHAIN.label}) at {url} ...", flush=True)
        rules = generate(CHAIN, url).rules_path
    url = str(yaml.safe_load(rules.read_text(encoding="utf-8"))["store"]["url"])
    empty_url, empty_rules = _empty_twin(url, rules)

    print(f"python {sys.version.split()[0]}, PyYAML {yaml.__version__}", end="")
    if getattr(yaml, "__with_libyaml__", False):
        print(", libyaml available: the fast path parses with CSafeLoader")
    else:
        print(", no libyaml: the fast path falls back to the line-tracking loader everywhere")
    code = "this checkout" if args.pythonpath is None else f"PYTHONPATH={args.pythonpath}"
    print(f"processes: {' '.join(autocancel_command())} once --dry-run, code from {code}")
    print(
        "bytecode: "
        + ("not compiled first (--no-compile)" if args.no_compile else f"compiled ({code_root})")
        + f"; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
    )

    floor, floor_times, decisions = measure_raw_floor(
        url, FloorRules.from_file(rules), repeat=args.runs
    )
    with _pythonpath(args.pythonpath):
        chain = measure_processes(rules, url, args.runs)
        empty = measure_processes(empty_rules, empty_url, args.runs)
        marker = at_first_pass(rules, args.runs)

    startup = statistics.median(chain["startup_s"])
    rss = statistics.median(chain["max_rss_mb"])
    once_minus_empty = statistics.median(chain["wall_s"]) - statistics.median(empty["wall_s"])
    print()
    print(f"raw floor (bench/floor.py): {_spread(floor_times)}; {decisions} decisions")
    print(f"chain store, once --dry-run, {args.runs} runs (median, min-max):")
    print(
        f"  spawn to first pass start  {_spread(chain['startup_s'])}   "
        f"target < {TARGET_STARTUP_S} s: {'met' if startup < TARGET_STARTUP_S else 'NOT met'}; "
        f"{startup / floor:.1f}x the raw floor"
    )
    print(
        f"  peak RSS                   {_spread(chain['max_rss_mb'], 'MB', 1)}   "
        f"target < {TARGET_RSS_MB:.0f} MB: {'met' if rss < TARGET_RSS_MB else 'NOT met'}"
    )
    print(f"  whole run (wall)           {_spread(chain['wall_s'])}")
    print(f"  whole run (CPU)            {_spread(chain['cpu_s'])}")
    print(
        f"  at the first pass's start  CPU {_spread(marker['cpu_s'])}, "
        f"peak RSS so far {marker['rss_mb']:.1f} MB, {marker['modules']} modules; "
        f"heavy libraries loaded: {', '.join(marker['heavy']) or 'none'} (of {', '.join(HEAVY)})"
    )
    print(
        f"empty store, same rules: whole run {_spread(empty['wall_s'])}, "
        f"spawn to first pass {_spread(empty['startup_s'])}, "
        f"peak RSS {_spread(empty['max_rss_mb'], 'MB', 1)}"
    )
    print(
        f"(once - once on the empty store) / raw floor = {once_minus_empty:.3f} s / "
        f"{floor:.3f} s = {once_minus_empty / floor:.1f} (target 2's ratio, <= 2.0)"
    )
    print()
    print(f"YAML load of {rules.name} ({rules.stat().st_size / 1024:.0f} KiB), in this process:")
    for label, times in measure_yaml(rules, args.runs):
        shown = "not available (no libyaml)" if times is None else _spread(times)
        print(f"  {label:44} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reaction time: from committing a matching order to the simulator receiving its cancel.

``autocancel run`` with ``interval_seconds: 15``, so only the change signal
(migration 0004: SQLite counter / PostgreSQL NOTIFY) explains a fast reaction.

    python -m bench.reaction_bench [--orders 50] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from daemon.simulator.defaults import HALASKARGAZI
from daemon.simulator.server import Simulator
from daemon.store import connect, migrate, schema

RULES = """\
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


def measure(url: str, orders: int) -> list[float]:
    migrate.upgrade(url)
    engine = connect.create_store_engine(url)
    delays: list[float] = []
    with Simulator(cooldown_seconds=0) as sim, tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules.yaml"
        rules.write_text(RULES.format(url=url, base_url=sim.url, restaurant=HALASKARGAZI))
        env = {**os.environ, "DUKKANGO_ACCESS_TOKEN": sim.static_token or ""}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "-c", str(rules)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # start-up and the first pass
            for _ in range(orders):
                key = f"reaction-{uuid.uuid4().hex[:10]}"
                sim.add_order(payment_key=key, restaurant_id=HALASKARGAZI)
                with engine.begin() as conn:
                    conn.execute(
                        sa.insert(schema.orders).values(
                            payment_key=key,
                            restaurant_id=HALASKARGAZI,
                            status_id=1,
                            payment_status="failed",
                            created_at=datetime.now(UTC),
                        )
                    )
                committed = time.monotonic()
                deadline = committed + 20
                while not sim.requests("PUT", f"orders/cancel/{key}"):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no cancel for {key} within 20 s")
                    time.sleep(0.005)
                delays.append(time.monotonic() - committed)
                time.sleep(0.2)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            engine.dispose()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--pg-url", help="also measure on this (empty) PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        targets = [("sqlite", f"sqlite:///{folder}/reaction.db")]
        if args.pg_url:
            targets.append(("postgresql", args.pg_url))
        print("| backend | orders | p50 | p95 | max |")
        print("|---|---|---|---|---|")
        for name, url in targets:
            delays = sorted(measure(url, args.orders))
            p95 = delays[max(0, int(len(delays) * 0.95) - 1)]
            print(
                f"| {name} | {len(delays)} | {statistics.median(delays):.3f} s | "
                f"{p95:.3f} s | {delays[-1]:.3f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()

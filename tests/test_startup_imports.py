"""A dry-run ``once`` imports only what a dry pass needs (issue 12, target 7: start-up).

The HTTP client and its retries, the scheduler and the migrations are for live
passes, the daemon and ``db upgrade``; a dry-run pass on an up-to-date store
never needs them, and geopy only when a rule measures distances.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_environment
from tests.world import DEFAULT_RULES, PAYMENT_FAILED, World

# Runs the real command line in this process, then lists the imported packages.
_PROBE = """
import json, sys
out = sys.argv.pop(1)
from daemon.cli.main import main
code = main(sys.argv[1:])
with open(out, "w") as f:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, f)
"""

NOT_FOR_A_DRY_PASS = {"httpx", "httpcore", "tenacity", "alembic", "apscheduler"}
GEO = {"geopy", "geographiclib"}


def _packages_after_once(world: World, tmp_path: Path, *flags: str) -> set[str]:
    return {name.split(".")[0] for name in _modules_after_once(world, tmp_path, *flags)}


def _modules_after_once(world: World, tmp_path: Path, *flags: str) -> set[str]:
    out = tmp_path / "imported.json"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), "once", "-c", str(world.rules_path), *flags],
        env=cli_environment(world.env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["exit"] == 0, result.stderr
    return set(answer["modules"])


@pytest.mark.parametrize("flags", [("--dry-run",), ("--dry-run", "--json")])
def test_a_dry_run_once_does_not_import_the_client_the_scheduler_or_alembic(
    world: World, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    world.configure(DEFAULT_RULES)
    world.add_order("far-and-failed", payment_status="failed", coordinates=(41.2, 29.3))

    imported = _packages_after_once(world, tmp_path, *flags)

    assert "daemon" in imported and "sqlalchemy" in imported  # the probe did run a pass
    assert imported & NOT_FOR_A_DRY_PASS == set()


def test_a_dry_run_once_without_distance_rules_does_not_import_geopy(
    world: World, tmp_path: Path
) -> None:
    world.configure(PAYMENT_FAILED, dry_run=True)
    world.add_order("failed", payment_status="failed")

    imported = _packages_after_once(world, tmp_path)

    assert imported & (NOT_FOR_A_DRY_PASS | GEO) == set()


def test_a_once_on_a_sqlite_store_does_not_import_the_postgresql_dialect(
    world: World, tmp_path: Path
) -> None:
    world.configure(DEFAULT_RULES)
    world.add_order("failed", payment_status="failed")

    imported = _modules_after_once(world, tmp_path)  # live: it cancels, through the client

    assert "sqlalchemy.dialects.sqlite" in imported and "httpx" in imported
    assert {
        m for m in imported if m.startswith(("sqlalchemy.dialects.postgresql", "psycopg"))
    } == set()
    assert world.status_of("failed") == 6

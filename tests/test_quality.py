"""The code stays clean: ruff (lint and format), strict mypy, the layer contract and
the unit layer's coverage of the decision logic run as part of the suite, so CI
fails on a violation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=290, check=False
    )


def _tool(name: str) -> str:
    # Console scripts sit beside the interpreter that runs the suite (pyenv's
    # shims may not know a script pip installed a moment ago).
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name) or name


def test_ruff_reports_nothing() -> None:
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged() -> None:
    result = _run(_tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


# A clean clone has no .mypy_cache: mypy then checks every dependency's types too,
# 90-120 s of one core on this 2-core machine while the suite runs (a warm cache:
# ~2 s). Past pytest's 120 s default it would fail for being slow, not for an error.
@pytest.mark.timeout(300)
def test_mypy_strict_reports_nothing() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_keep_the_layers() -> None:
    """pyproject.toml's [tool.importlinter] contracts: the layers and what each may import."""
    result = _run(_tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# Decision modules the gate must measure: a misconfigured [tool.coverage.run]
# that measured nothing (or only the I/O modules) would otherwise pass.
DECISION_MODULES = {
    "daemon/engine/plan.py",
    "daemon/engine/decide.py",
    "daemon/engine/safety.py",
    "daemon/engine/rejudge.py",
    "daemon/engine/manual_policy.py",
    "daemon/engine/reactivation.py",
    "daemon/engine/simulated.py",
    "rules/base.py",
    "rules/congestion.py",
    "rules/out_of_stock.py",
}


def test_the_unit_layer_alone_covers_the_decision_logic(tmp_path: Path) -> None:
    """tests/unit, under coverage, reaches [tool.coverage.report] fail_under on rules/ and
    the pure engine. This test lives outside tests/unit, so that run never starts it again."""
    coverage = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "coverage"
    ]
    # A data file of its own (parallel runs never mix), and no pytest state of this run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["COVERAGE_FILE"] = str(tmp_path / "unit.coverage")
    unit = _run(
        *(sys.executable, "-m", "coverage", "run", "-m", "pytest"),
        *("-q", "-n0", "-p", "no:cacheprovider", "tests/unit"),
        env=env,
    )
    assert unit.returncode == 0, unit.stdout[-4000:] + unit.stderr[-4000:]

    report = _run(sys.executable, "-m", "coverage", "report", env=env)
    exported = _run(
        sys.executable, "-m", "coverage", "json", "-o", str(tmp_path / "unit.json"), env=env
    )
    assert exported.returncode in (0, 2), exported.stdout + exported.stderr  # 2: under the bar
    measured = json.loads((tmp_path / "unit.json").read_text(encoding="utf-8"))
    files = {name.replace(os.sep, "/") for name in measured["files"]}
    assert files >= DECISION_MODULES, sorted(files)
    assert not files & set(coverage["run"]["omit"]), sorted(files)
    total = measured["totals"]["percent_covered"]
    assert total >= coverage["report"]["fail_under"], (
        f"the unit layer covers {total:.1f} % of the decision logic; what it misses:\n"
        + report.stdout
    )
    assert report.returncode == 0, report.stdout + report.stderr

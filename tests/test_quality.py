"""The code stays clean: ruff (lint and format), strict mypy and the layer contract
run as part of the suite, so CI fails on a violation."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )


def _tool(name: str) -> str:
    # Console scripts sit beside the interpreter that runs the suite.
    return shutil.which(name) or name


def test_ruff_reports_nothing() -> None:
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged() -> None:
    result = _run(_tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_reports_nothing() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_keep_the_layers() -> None:
    """pyproject.toml's [tool.importlinter] contracts: the layers and what each may import."""
    result = _run(_tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout

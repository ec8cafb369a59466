"""``autocancel test FILE...``: rules unit tests, reported as ``promtool test rules`` does.

Each file gets a ``Unit Testing: FILE`` header, then ``  SUCCESS``, or
``  FAILED:`` and each failed expectation as ``FILE:LINE: test NAME, step N
(...): decisions differ`` with a unified diff of expected and got. A
malformed file lists every problem as ``FILE:LINE: message``. Exit 0 when
every test passed, 1 when an expectation failed, 2 when a file is
malformed (that wins: the tests it holds could not all run).
``--json``: one JSON object per line, per test (and per problem of a malformed file).
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

from daemon.config.ruletests.load import RuleTestFileError, load_rule_tests
from daemon.domain import exitcodes
from daemon.domain.windows import zone_name
from daemon.engine.ruletest import Mismatch, RuleTestResult, run_file

# The test file `autocancel test` runs when it is given none: beside the rules file.
DEFAULT_TEST_FILE = "rules-test.yaml"


def beside(rules: Path) -> Path:
    return rules.parent / DEFAULT_TEST_FILE


def run(files: Sequence[Path], *, default_rules: Path, as_json: bool, verbose: bool) -> int:
    # The planner logs what a live pass must tell the journal (the hourly cap held
    # orders: CRITICAL); in a test it is an expected result, not news. -v shows it.
    if not verbose:
        logging.disable(logging.CRITICAL)
    try:
        return _run(files, default_rules=default_rules, as_json=as_json)
    finally:
        logging.disable(logging.NOTSET)


def _run(files: Sequence[Path], *, default_rules: Path, as_json: bool) -> int:
    malformed = failed = False
    for path in files:
        if not as_json:
            print(f"Unit Testing: {path}")
        try:
            spec = load_rule_tests(path, default_rules=default_rules)
        except RuleTestFileError as exc:
            malformed = True
            _malformed(path, exc.errors, as_json=as_json)
            continue
        for warning in spec.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        results = run_file(spec)
        failed = failed or not all(result.passed for result in results)
        if as_json:
            for result in results:
                print(json.dumps(_result_json(path, result), ensure_ascii=False))
        else:
            _report(path, results, zone=spec.zone)
    if malformed:
        return exitcodes.INVALID_CONFIG
    return exitcodes.RUNTIME_FAILURE if failed else exitcodes.OK


def _malformed(path: Path, errors: Sequence[str], *, as_json: bool) -> None:
    if as_json:
        for error in errors:
            print(json.dumps({"file": str(path), "error": error}, ensure_ascii=False))
        return
    print("  FAILED (the test file is malformed):")
    for error in errors:
        print(error)


def _result_json(path: Path, result: RuleTestResult) -> dict[str, Any]:
    return {
        "file": str(path),
        "test": result.name,
        "line": result.line,
        "passes": result.passes,
        "result": "passed" if result.passed else "failed",
        "failures": [mismatch.to_json() for mismatch in result.mismatches],
    }


def _report(path: Path, results: Sequence[RuleTestResult], *, zone: tzinfo) -> None:
    """The failures on the wall clock of the test file's times (``timezone``)."""
    failures = [mismatch for result in results for mismatch in result.mismatches]
    if not failures:
        print("  SUCCESS")
        return
    print("  FAILED:")
    for mismatch in failures:
        clock = mismatch.clock.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{path}:{mismatch.line}: test {mismatch.test!r}, step {mismatch.step} "
            f"({clock} {zone_name(zone)}): {mismatch.what} differ"
        )
        for line in _diff(mismatch):
            print(f"    {line}")


def _diff(mismatch: Mismatch) -> list[str]:
    """The whole of both sides, as a unified diff: every line shown, the differences marked."""
    size = max(len(mismatch.expected), len(mismatch.got))
    diff = list(
        difflib.unified_diff(
            list(mismatch.expected),
            list(mismatch.got),
            fromfile="expected",
            tofile="got",
            n=size,
            lineterm="",
        )
    )
    return diff

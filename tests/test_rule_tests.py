"""``autocancel test`` as operators run it: the installed script, real files, exit codes.

The shipped example must pass against the shipped rules.yaml; a failed
expectation is reported at its line with a diff (exit 1); a malformed file
lists its problems (exit 2, and 2 wins over 1); ``--json``; the -c fallback.
The malformed-file messages themselves are checked in tests/test_rule_test_files.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO_ROOT, SHIPPED_RULES, run_cli

EXAMPLE = REPO_ROOT / "examples" / "rules-test.yaml"

FAILING = f"""\
rules_file: {SHIPPED_RULES}
tests:
  - name: congestion reopens too early
    now: 2026-11-27T20:00:00
    orders:
      - {{payment_key: "cooking-{{n}}", count: 20, status_id: 2, created_at: -40m, every: 1m}}
      - {{payment_key: fresh, created_at: -1m}}
    expect:
      decisions:
        - {{payment_key: fresh, rule: overloaded, outcome: cancelled}}
      side_effects:
        - {{close: Halaskargazi Şube}}
    steps:
      - advance: 5m
        change_orders:
          - {{payment_key: cooking-1, status_id: 5}}
          - {{payment_key: cooking-2, status_id: 5}}
          - {{payment_key: cooking-3, status_id: 5}}
          - {{payment_key: cooking-4, status_id: 5}}
          - {{payment_key: cooking-5, status_id: 5}}
          - {{payment_key: cooking-6, status_id: 5}}
        expect:
          side_effects:
            - {{reopen: Halaskargazi Şube}}
      - advance: 6m
        expect:
          side_effects: []
          decisions:
            - {{payment_key: cooking-7, rule: overloaded, outcome: cancelled}}
"""


def test_the_shipped_example_passes_on_the_shipped_rules(tmp_path: Path) -> None:
    result = run_cli("test", str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"Unit Testing: {EXAMPLE}\n  SUCCESS\n"
    assert result.stderr == ""


def test_failed_expectations_are_each_reported_at_their_line_with_a_diff(tmp_path: Path) -> None:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING, encoding="utf-8")
    result = run_cli("test", "failing.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    name = "'congestion reopens too early'"
    assert result.stdout.splitlines() == [
        "Unit Testing: failing.yaml",
        "  FAILED:",
        # Closed 5 minutes ago: min_closed_minutes (10) keeps it closed.
        f"failing.yaml:23: test {name}, step 1 (2026-11-27 20:05:00 Europe/Istanbul): "
        "side effects differ",
        "    --- expected",
        "    +++ got",
        "    @@ -1 +0,0 @@",
        "    -reopen restaurant=Halaskargazi Şube rule=overloaded",
        # ... and 11 minutes later it reopens, and nothing is cancelled any more.
        f"failing.yaml:27: test {name}, step 2 (2026-11-27 20:11:00 Europe/Istanbul): "
        "side effects differ",
        "    --- expected",
        "    +++ got",
        "    @@ -0,0 +1 @@",
        "    +reopen restaurant=Halaskargazi Şube rule=overloaded",
        f"failing.yaml:28: test {name}, step 2 (2026-11-27 20:11:00 Europe/Istanbul): "
        "decisions differ",
        "    --- expected",
        "    +++ got",
        "    @@ -1 +0,0 @@",
        "    -payment_key=cooking-7 rule=overloaded reason_id=3 outcome=cancelled",
    ]
    assert "Traceback" not in result.stderr


def test_json_reports_one_object_per_test(tmp_path: Path) -> None:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING, encoding="utf-8")
    result = run_cli("test", "--json", str(path), str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["file"], line["result"]) for line in lines[:2]] == [
        (str(path), "failed"),
        (str(EXAMPLE), "passed"),
    ]
    assert {line["result"] for line in lines[1:]} == {"passed"}
    first = lines[0]["failures"][0]
    assert first == {
        "line": 23,
        "test": "congestion reopens too early",
        "step": 1,
        "at": "2026-11-27T17:05:00+00:00",
        "what": "side effects",
        "expected": ["reopen restaurant=Halaskargazi Şube rule=overloaded"],
        "got": [],
    }
    assert lines[0]["passes"] == 3


def test_a_malformed_file_exits_2_even_beside_failures(tmp_path: Path) -> None:
    (tmp_path / "failing.yaml").write_text(FAILING, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(
        f"rules_file: {SHIPPED_RULES}\ntests:\n  - name: x\n    now: soon\n", encoding="utf-8"
    )
    result = run_cli("test", "failing.yaml", "broken.yaml", str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout
    assert "Unit Testing: broken.yaml\n  FAILED (the test file is malformed):\n" in out
    assert "broken.yaml:4: tests[0].now must be a time: now, an offset" in out
    assert "failing.yaml:23: test" in out  # the other files still ran
    assert out.endswith(f"Unit Testing: {EXAMPLE}\n  SUCCESS\n")

    json_result = run_cli("test", "--json", "broken.yaml", cwd=tmp_path)
    assert json_result.returncode == 2
    [problem] = [json.loads(line) for line in json_result.stdout.splitlines()]
    assert problem["file"] == "broken.yaml"
    assert problem["error"].startswith("broken.yaml:4: tests[0].now must be a time")


def test_a_file_naming_no_rules_tests_the_c_file(tmp_path: Path) -> None:
    body = EXAMPLE.read_text(encoding="utf-8").replace("rules_file: ../rules.yaml", "")
    (tmp_path / "mine.yaml").write_text(body, encoding="utf-8")

    result = run_cli("test", "-c", str(SHIPPED_RULES), "mine.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "Unit Testing: mine.yaml\n  SUCCESS\n"

    result = run_cli("test", "mine.yaml", env={"AUTOCANCEL_CONFIG": str(SHIPPED_RULES)})
    assert result.returncode == 2  # mine.yaml is not in the working directory
    result = run_cli(
        "test", "mine.yaml", env={"AUTOCANCEL_CONFIG": str(SHIPPED_RULES)}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr

    missing = run_cli("test", "mine.yaml", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stdout.splitlines()[2:] == [
        "mine.yaml: names no rules (rules_file: or config:), so it tests rules.yaml "
        "(-c, $AUTOCANCEL_CONFIG or ./rules.yaml):",
        "rules.yaml: no such file; pass -c PATH or set AUTOCANCEL_CONFIG (the default is "
        "./rules.yaml)",
    ]


def test_the_rules_own_problems_are_reported_where_they_are(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "restaurants:\n  - id: r-1\nrules:\n  - name: x\n    kind: payment_failed\n"
        "    reason_id: 9\n",
        encoding="utf-8",
    )
    (tmp_path / "t.yaml").write_text(
        "rules_file: rules.yaml\ntests:\n  - name: x\n    now: 2026-11-27T20:00:00\n"
        "    expect: {decisions: []}\n",
        encoding="utf-8",
    )
    result = run_cli("test", "t.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.splitlines()[2:] == [
        "rules.yaml:6: rules[0] (x): reason_id must be an integer from 1 to 8 (got 9)"
    ]


def test_without_a_file_the_one_beside_the_rules_file_runs(tmp_path: Path) -> None:
    result = run_cli("test", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "autocancel test: name the test files, or put them in rules-test.yaml (beside the "
        "rules file) to run them without naming them\n"
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "rules.yaml").write_text(
        SHIPPED_RULES.read_text(encoding="utf-8"), encoding="utf-8"
    )
    body = EXAMPLE.read_text(encoding="utf-8").replace("rules_file: ../rules.yaml", "")
    (tmp_path / "etc" / "rules-test.yaml").write_text(body, encoding="utf-8")
    result = run_cli("test", "-c", "etc/rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "Unit Testing: etc/rules-test.yaml\n  SUCCESS\n"


def test_the_planner_logs_only_with_verbose(tmp_path: Path) -> None:
    """The hourly cap's CRITICAL line is an expected result in a test, shown with -v."""
    quiet = run_cli("test", str(EXAMPLE), cwd=tmp_path)
    assert quiet.stderr == ""
    loud = run_cli("test", "-v", str(EXAMPLE), cwd=tmp_path)
    assert loud.returncode == 0
    assert "hourly cancellation cap reached" in loud.stderr


def test_the_example_checks_every_enabled_rule_and_a_reopen() -> None:
    """Each rule the shipped rules.yaml enables decides somewhere in the example, and the
    congestion closure is seen made and ended, across steps."""
    from daemon.config.ruletests.load import load_rule_tests

    spec = load_rule_tests(EXAMPLE)
    assert spec.config.source == EXAMPLE.parent / "../rules.yaml"
    expectations = [
        step.expect for test in spec.tests for step in test.steps if step.expect is not None
    ]
    decided = {d.rule for e in expectations for d in e.decisions or ()}
    assert decided == {rule.name for rule in spec.config.enabled_rules}
    effects = [(e.action, e.rule) for x in expectations for e in x.side_effects or ()]
    assert {
        ("close", "overloaded"),
        ("reopen", "overloaded"),
        ("deactivate", "out-of-stock"),
        ("reactivate", "out-of-stock"),
    } <= set(effects)
    outcomes = {d.outcome for e in expectations for d in e.decisions or ()}
    assert outcomes == {"cancelled", "skipped", "held"}

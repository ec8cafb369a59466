"""``autocancel check`` as operators run it: a real subprocess of the installed script."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHIPPED_RULES, run_cli

BROKEN = """\
schedule:
  intervall: 15
restaurants:
  - id: r-1
rules:
  - name: too-far
    kind: max_distance
    reason_id: 9
    max_km: -3
"""


def test_check_accepts_the_shipped_rules_yaml(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(SHIPPED_RULES), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "OK\n"


def test_check_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 2
    # (The restaurant's missing coordinates are reported once the rule itself is
    # valid: cross-checks need a whole rule.)
    assert result.stdout.splitlines() == [
        f"{path}:2: unknown key 'intervall' in schedule; "
        "valid keys: full_pass_seconds, interval_seconds, status_check_seconds",
        f"{path}:8: rules[0] (too-far): reason_id must be an integer from 1 to 8 (got 9)",
        f"{path}:9: rules[0] (too-far): max_km must be greater than 0 (got -3)",
    ], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_check_names_the_file_as_given(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(BROKEN, encoding="utf-8")
    result = run_cli("check", "-c", "mine.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith("mine.yaml:2: unknown key 'intervall'")


def test_autocancel_config_names_the_file_when_c_is_absent(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("check", env={"AUTOCANCEL_CONFIG": str(broken)}, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{broken}:2: unknown key 'intervall'" in result.stdout

    result = run_cli("check", env={"AUTOCANCEL_CONFIG": str(SHIPPED_RULES)}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "OK\n"


def test_check_of_a_missing_file_is_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = run_cli("check", "-c", str(missing), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith(f"{missing}: no such file")
    assert "Traceback" not in result.stdout + result.stderr


def test_check_prints_warnings_but_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "restaurants:\n  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8\nrules:\n"
        "  - name: other\n    kind: payment_failed\n"
        "    reason_id: 8\n",
        encoding="utf-8",
    )
    result = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    first, last = result.stdout.splitlines()
    assert first.startswith(f"warning: {path}:6: rules[0] (other): reason_id 8")
    assert last == "OK"


def test_every_command_validates_first(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("restaurants:\n  - id: r-1\nstroe:\n  url: sqlite:///x.db\n", encoding="utf-8")
    result = run_cli("db", "upgrade", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}:3: unknown key 'stroe' at the top level" in result.stderr
    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "orders.db").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["once"],
        ["once", "--dry-run"],
        ["run", "--dry-run"],
        ["audit"],
        ["status"],
        ["explain", "some-key"],
        ["cancel", "some-key", "--reason", "4", "--yes"],
        ["sync", "--once"],
        ["demo"],
        ["simulator", "--port", "1"],
    ],
    ids=" ".join,
)
def test_any_command_given_an_invalid_file_exits_2_before_doing_anything(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("restaurants:\n  - id: r-1\nstroe:\n  url: sqlite:///x.db\n", encoding="utf-8")
    result = run_cli(command[0], "-c", str(path), *command[1:], cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"{path}:3: unknown key 'stroe' at the top level" in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.yaml"]


CONGESTION_FIRST = """\
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
    latitude: 41.0493
    longitude: 28.9877
rules:
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
  - name: overloaded
    kind: congestion
    max_active_orders: 20
    reason_id: 3
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""


def test_check_warns_when_congestion_comes_before_per_order_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CONGESTION_FIRST, encoding="utf-8")

    result = run_cli("check", "-c", str(path), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    warning, ok = result.stdout.splitlines()
    assert warning.startswith(f"warning: {path}:9: rules[1] (overloaded): ")
    assert "payment-failed (rules[2]), too-far (rules[3])" in warning
    assert "out-of-stock" not in warning  # it comes first already
    assert "move it after them" in warning
    assert ok == "OK"

    # Per-order rules first; only a disabled one after congestion: no warning.
    path.write_text(
        CONGESTION_FIRST.replace(
            "  - name: overloaded\n    kind: congestion\n    max_active_orders: 20\n"
            "    reason_id: 3\n",
            "",
        )
        + "  - name: overloaded\n    kind: congestion\n    max_active_orders: 20\n"
        "    reason_id: 3\n  - name: later\n    kind: payment_failed\n    reason_id: 7\n"
        "    enabled: false\n",
        encoding="utf-8",
    )
    quiet = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert quiet.stdout == "OK\n"


SMALL_MISTAKES = """\
restaurants:
  - id: Halaskargazi
    name: Halaskargazi Şube
    latitude: 28.9877
    longitude: 41.0493
  - id: 8f2b9ce2-04de-4712-842d-a39f64596fdf
    name: Akat Şube
    latitude: 41.0789
    longitude: 29.0231
rules:
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""


def test_check_warns_on_a_restaurant_id_that_is_no_uuid_and_on_swapped_coordinates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(SMALL_MISTAKES, encoding="utf-8")

    result = run_cli("check", "-c", str(path), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    *warnings, ok = result.stdout.splitlines()
    assert ok == "OK"
    assert len(warnings) == 2, warnings
    not_uuid, swapped = warnings
    assert not_uuid.startswith(f"warning: {path}:2: restaurants[0].id 'Halaskargazi' is not a UUID")
    assert "0ca1d2b1-a199-4960-8617-83a659d890c8" in not_uuid  # what one looks like
    assert swapped.startswith(
        f"warning: {path}:4: restaurants[0] (Halaskargazi Şube): "
        "latitude 28.9877, longitude 41.0493"
    )
    assert "swapped" in swapped
    # Akat (a UUID, in Istanbul) draws no warning.
    assert "restaurants[1]" not in result.stdout


def test_check_rejects_a_congestion_rule_that_can_never_cancel(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "restaurants:\n  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8\nrules:\n"
        "  - name: overloaded\n    kind: congestion\n    max_active_orders: 20\n"
        "    reason_id: 3\n    statuses: [2, 16]\n",
        encoding="utf-8",
    )

    result = run_cli("check", "-c", str(path), cwd=tmp_path)

    assert result.returncode == 2
    [error] = result.stdout.splitlines()
    assert error.startswith(f"{path}:8: rules[0] (overloaded): statuses ")
    assert "1" in error.split("statuses", 1)[1]
    assert "never cancel" in error
    assert "Traceback" not in result.stdout + result.stderr

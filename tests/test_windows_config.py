"""The window keys of rules.yaml: every mistake is one FILE:LINE line, exit 2 from check.

``active_hours`` / ``active_days`` on a rule, ``timezone`` and ``quiet_windows``
at the top level. In process through load_config (the words and the line),
and through the installed ``autocancel check`` (one line, exit 2, no traceback).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from daemon.config.load import ConfigError, load_config
from daemon.domain.windows import Window
from daemon.service.reloading import changes
from tests.conftest import SHIPPED_RULES, run_cli

# Line numbers below count from the first line of the text.
HEAD = """\
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
    latitude: 41.0
    longitude: 29.0
rules:
  - name: lunch
    kind: payment_failed
    reason_id: 7
"""
# rules[0] ends on line 8: a rule key added after HEAD is on line 9, a second on 10.


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def only_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    errors = caught.value.errors
    assert len(errors) == 1, errors
    return errors[0]


RULE_MISTAKES = [
    (
        '    active_hours: ["11:00-15:00", "25:00-26:00"]\n',
        9,
        "rules[0] (lunch): active_hours[1]: '25:00-26:00': 25:00 is not a time of day "
        "(00:00 to 23:59)",
    ),
    (
        "    active_hours:\n      - 11:00-15:00\n      - 12:00-12:00\n",
        11,
        "rules[0] (lunch): active_hours[1]: '12:00-12:00' is an empty range: it ends where it "
        "starts; for the whole day write '00:00-24:00', or leave the hours out",
    ),
    (
        '    active_hours: ["24:00-02:00"]\n',
        9,
        "rules[0] (lunch): active_hours[0]: '24:00-02:00': 24:00 may only end a range; "
        "start at 00:00 instead",
    ),
    (
        '    active_hours: ["11.00-15.00"]\n',
        9,
        "rules[0] (lunch): active_hours[0]: '11.00-15.00' is not a time range; write "
        "HH:MM-HH:MM such as '11:00-15:00' (or '23:30-01:00' overnight)",
    ),
    (
        "    active_hours: [23:00]\n",  # YAML 1.1 reads an unquoted 23:00 as 1380
        9,
        "rules[0] (lunch): active_hours[0] must be text (got 23:00); put it in quotes so YAML "
        "keeps it as text",
    ),
    (
        "    active_hours: []\n",
        9,
        "rules[0] (lunch): active_hours must list at least one time range; leave the key out "
        "to mean all day",
    ),
    (
        "    active_hours: 11:00-15:00\n",
        9,
        "rules[0] (lunch): active_hours must be a list (got string '11:00-15:00')",
    ),
    (
        "    active_days: [mon, tue, caturday]\n",
        9,
        "rules[0] (lunch): active_days[2]: unknown day 'caturday'; use mon, tue, wed, thu, "
        "fri, sat, sun",
    ),
    (
        "    active_days: [fri, sat, Fri]\n",
        9,
        "rules[0] (lunch): active_days: lists fri more than once; list each once",
    ),
]


@pytest.mark.parametrize(("added", "line", "message"), RULE_MISTAKES)
def test_a_bad_rule_window_is_one_line_at_its_place(
    tmp_path: Path, added: str, line: int, message: str
) -> None:
    path = write(tmp_path, HEAD + added)

    assert only_error(path) == f"{path}:{line}: {message}"


TOP_LEVEL_MISTAKES = [
    (
        "timezone: Europe/Istambul\n",
        1,
        "timezone: unknown time zone 'Europe/Istambul'; did you mean 'Europe/Istanbul'? "
        "(an IANA name such as Europe/Istanbul, Europe/Berlin or America/New_York)",
    ),
    ("timezone: 3\n", 1, "timezone must be text (got 3); put it in quotes"),
    (
        "quiet_windows:\n  - name: derby\n",
        2,
        "quiet_windows[0]: give hours, days or dates (a quiet window that always holds would "
        "stop every automatic cancellation for good; use dry_run: true for that)",
    ),
    (
        "quiet_windows:\n  - dates: [2026-12-31]\n    hour: ['19:00-23:30']\n",
        3,
        "unknown key 'hour' in quiet_windows[0]; valid keys: dates, days, hours, name",
    ),
    (
        "quiet_windows:\n  - dates: ['2026-12-26..2026-12-24']\n",
        2,
        "quiet_windows[0].dates[0]: '2026-12-26..2026-12-24' ends before it starts; write the "
        "earlier date first (2026-12-24..2026-12-26)",
    ),
    (
        "quiet_windows:\n  - dates:\n      - 2026-12-31\n      - '2026-02-30'\n",
        4,
        "quiet_windows[0].dates[1]: '2026-02-30' is not a date; write YYYY-MM-DD such as "
        "'2026-12-31', or a range such as '2026-12-24..2026-12-26'",
    ),
    (  # unquoted, YAML itself reads it as a date and cannot
        "quiet_windows:\n  - dates:\n      - 2026-12-31\n      - 2026-02-30\n",
        4,
        "quiet_windows[0].dates[1]: cannot read '2026-02-30': day is out of range for month",
    ),
    (
        "quiet_windows:\n  - dates: [2026-12-31 18:00:00]\n",
        2,
        "quiet_windows[0].dates[0]: '2026-12-31 18:00:00' is not a date",
    ),
    (
        "quiet_windows:\n  - days: [sat]\n    hours: ['22:00-22:00']\n",
        3,
        "quiet_windows[0].hours[0]: '22:00-22:00' is an empty range",
    ),
    (
        "quiet_windows:\n  days: [sat]\n",
        2,
        "quiet_windows must be a list (got a mapping)",
    ),
]


@pytest.mark.parametrize(("top", "line", "message"), TOP_LEVEL_MISTAKES)
def test_a_bad_zone_or_quiet_window_is_one_line_at_its_place(
    tmp_path: Path, top: str, line: int, message: str
) -> None:
    path = write(tmp_path, top + HEAD)

    error = only_error(path)
    assert error.startswith(f"{path}:{line}: {message}"), error


def test_check_gives_one_line_and_exit_2_for_a_bad_window(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '    active_hours: ["18:00-18:00"]\n')

    result = run_cli("check", "-c", str(path), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{path}:9: rules[0] (lunch): active_hours[0]: '18:00-18:00' is an empty range: it "
        "ends where it starts; for the whole day write '00:00-24:00', or leave the hours out"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_check_gives_one_line_and_exit_2_for_an_unknown_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: Mars/Olympus_Mons\n" + HEAD)

    result = run_cli("check", "-c", str(path), cwd=tmp_path)

    assert result.returncode == 2
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{path}:1: timezone: unknown time zone 'Mars/Olympus_Mons'")
    assert "Traceback" not in result.stdout + result.stderr
    once = run_cli("once", "--dry-run", "-c", str(path), cwd=tmp_path)
    assert once.returncode == 2 and "Traceback" not in once.stderr


def test_good_windows_are_read_in_their_canonical_spelling(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
timezone: America/New_York
quiet_windows:
  - name: new-year
    dates: [2026-12-31, "2027-03-20..2027-03-22"]
  - days: [Fri, saturday]
    hours: ["9:00 - 11:30", "23:00-02:00"]
"""
        + HEAD
        + '    active_hours: ["00:00-24:00"]\n    active_days: [mon, sun]\n',
    )

    config = load_config(path, environ={})

    assert str(config.zone) == "America/New_York"
    (lunch,) = config.rules
    assert (lunch.active_hours, lunch.active_days) == (("00:00-24:00",), ("mon", "sun"))
    assert [(q.name, q.window.describe()) for q in config.quiet] == [
        ("new-year", "2026-12-31, 2027-03-20..2027-03-22 all day"),
        (None, "fri,sat 09:00-11:30, 23:00-02:00"),
    ]
    assert isinstance(lunch.window, Window)


def test_without_the_keys_rules_are_always_in_force_in_istanbul(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, HEAD + "quiet_windows:\n"), environ={})

    assert (config.timezone, config.quiet_windows) == ("Europe/Istanbul", ())
    assert config.rules[0].window is None


def test_the_shipped_examples_validate_once_uncommented(tmp_path: Path) -> None:
    shipped = SHIPPED_RULES.read_text(encoding="utf-8")
    lines, in_example = [], False
    for written in shipped.splitlines():
        line = written
        if line.startswith("# quiet_windows:") or (in_example and line.startswith("#   ")):
            in_example = True
            line = line[2:]
        else:
            in_example = False
        if line.startswith(("    # active_hours: [", "    # active_days: [")):
            line = "    " + line[6:]
        lines.append(line)
    path = tmp_path / "rules.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")

    config = load_config(path, environ={})

    assert config.warnings == ()
    assert [q.name for q in config.quiet] == ["new-year", "derby-night", "friday-prayer"]
    overloaded = next(rule for rule in config.rules if rule.name == "overloaded")
    assert overloaded.active_hours == ("11:30-14:30", "18:00-23:30")
    assert load_config(SHIPPED_RULES, environ={}).quiet_windows == ()


def test_a_reload_names_window_changes_as_they_were_written(tmp_path: Path) -> None:
    before = load_config(write(tmp_path, HEAD), environ={})
    after = load_config(
        write(
            tmp_path,
            "timezone: Europe/Berlin\nquiet_windows:\n  - days: [sun]\n"
            + HEAD
            + '    active_hours: ["11:00-15:00"]\n',
        ),
        environ={},
    )

    described = [change.describe() for change in changes(before, after)]

    assert "timezone Europe/Istanbul -> Europe/Berlin" in described
    assert "lunch: active_hours none -> [11:00-15:00]" in described
    assert any(d.startswith("quiet_windows [] -> [{") and "days: [sun]" in d for d in described)

"""``pause``, ``resume`` and ``pauses`` as an operator types them: mistakes, names, hostile text.

Every mistake is one line on stderr and exit 2, and stores nothing. What a
person typed is stored as typed and shown so that it cannot act on the
terminal. The off-switch works while rules.yaml is invalid.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from daemon.domain.windows import local_instant
from daemon.store import schema
from tests.world import AKAT, HALASKARGAZI, PAYMENT_FAILED, World

FOR_AN_HOUR = ("--for", "1h", "--comment", "test")

MISTAKES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "unknown rule": (
        ("pause", "--rule", "payment-faild", *FOR_AN_HOUR),
        ("--rule 'payment-faild' is not a rule", "did you mean 'payment-failed'?"),
    ),
    "unknown restaurant": (
        ("pause", "--restaurant", "Akt Şube", *FOR_AN_HOUR),
        ("is not a restaurant", "did you mean 'Akat Şube'?", "Halaskargazi Şube ("),
    ),
    "no end": (("pause", "--comment", "x"), ("a pause needs an end: --for DURATION",)),
    "two ends": (("pause", "--until", "23:59", *FOR_AN_HOUR), ("not both",)),
    "a bare number": (("pause", "--for", "3", "--comment", "x"), ("is not a duration",)),
    "a fraction": (("pause", "--for", "1.5h", "--comment", "x"), ("is not a duration",)),
    "no time at all": (("pause", "--for", "0m", "--comment", "x"), ("lasts no time",)),
    "a word": (("pause", "--for", "a while", "--comment", "x"), ("30m, 2h, 1h30m",)),
    "too long": (("pause", "--for", "25h", "--comment", "x"), ("max_pause_hours (24 h)",)),
    "forever": (("pause", "--for", "99999999d", "--comment", "x"), ("max_pause_hours",)),
    "an end in the past": (
        ("pause", "--until", "2020-01-01T00:00:00Z", "--comment", "x"),
        ("which has passed",),
    ),
    "not a time": (("pause", "--until", "25:00", "--comment", "x"), ("not a time of day",)),
    "no comment": (("pause", "--for", "1h"), ("--comment needs a reason",)),
    "a blank comment": (("pause", "--for", "1h", "--comment", " \n "), ("--comment needs",)),
    "a comment too long": (
        ("pause", "--for", "1h", "--comment", "x" * 501),
        ("--comment is 501 characters long; at most 500",),
    ),
    "a blank name": (("pause", *FOR_AN_HOUR, "--by", ""), ("--by needs a name",)),
    "a name too long": (("pause", *FOR_AN_HOUR, "--by", "y" * 101), ("at most 100",)),
    "resume, no such pause": (("resume", "99"), ("there is no pause 99",)),
    "resume, not an id": (("resume", "../1"), ("'../1' is not a pause id",)),
    "resume, id and --all": (("resume", "1", "--all"), ("not both",)),
}


def pauses_on_record(world: World) -> list[dict[str, Any]]:
    with world.engine.connect() as connection:
        rows = connection.execute(sa.select(schema.pauses).order_by(schema.pauses.c.id))
        return [dict(row) for row in rows.mappings()]


@pytest.mark.parametrize("name", list(MISTAKES))
def test_every_mistake_is_one_line_and_exit_2_and_stores_nothing(world: World, name: str) -> None:
    world.configure(PAYMENT_FAILED)
    args, says = MISTAKES[name]

    result = world.cli(*args)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"autocancel {args[0]}: error: "), line
    for words in says:
        assert words in line, line
    assert result.stdout == ""
    assert pauses_on_record(world) == []


def test_resume_without_an_id_asks_which_when_several_are_in_force(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    assert world.cli("resume").stdout == "no pause is in force; nothing to resume\n"
    for scope in (HALASKARGAZI, AKAT):  # in process: what pause says is not the subject here
        world.set_up_output("pause", "--restaurant", scope, *FOR_AN_HOUR)

    ambiguous = world.cli("resume")
    everything = world.cli("resume", "--all", "--by", "mehmet")
    again = world.cli("resume", "1")

    assert ambiguous.returncode == 2
    assert ambiguous.stderr.splitlines() == [
        "autocancel resume: error: 2 pauses are in force (1, 2): name the one to resume "
        "(autocancel resume ID), or resume them all with --all; `autocancel pauses` lists them"
    ]
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.count("resumed pause ") == 2
    assert [row["ended_by"] for row in pauses_on_record(world)] == ["mehmet", "mehmet"]
    assert (again.returncode, again.stdout) == (
        0,
        "pause 1 had already ended (resumed by mehmet); nothing to do\n",
    )
    assert world.cli("pauses").stdout == "no pause is in force\n"


def test_restaurants_by_id_or_by_name_in_any_case_and_the_longest_pause_configurable(
    world: World,
) -> None:
    world.configure(PAYMENT_FAILED)
    text = world.rules_path.read_text()
    world.rules_path.write_text(
        text.replace("  max_order_age_minutes: 180\n", "  max_order_age_minutes: 180\n"
                     "  max_pause_hours: 1.5\n")
    )  # fmt: skip

    by_id = world.cli("pause", "--restaurant", AKAT, "--for", "90m", "--comment", "x")
    by_name = world.cli(
        "pause", "--restaurant", "HALASKARGAZI ŞUBE", "--for", "1h", "--comment", "y"
    )
    too_long = world.cli("pause", "--for", "2h", "--comment", "z")

    assert (by_id.returncode, by_name.returncode) == (0, 0), by_id.stderr + by_name.stderr
    assert [row["restaurant_id"] for row in pauses_on_record(world)] == [AKAT, HALASKARGAZI]
    assert too_long.returncode == 2
    assert "longer than safety.max_pause_hours (1.5 h)" in too_long.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [("0", "greater than 0"), ("200", "at most 168"), ('"1h"', "a number")],
)
def test_a_bad_max_pause_hours_is_a_config_error(world: World, value: str, says: str) -> None:
    world.configure(PAYMENT_FAILED)
    text = world.rules_path.read_text()
    world.rules_path.write_text(
        text.replace("  max_order_age_minutes: 180\n", f"  max_order_age_minutes: 180\n"
                     f"  max_pause_hours: {value}\n")
    )  # fmt: skip

    checked = world.cli("check")

    assert checked.returncode == 2
    assert f"{world.rules_path}:" in checked.stdout and "safety.max_pause_hours" in checked.stdout
    assert says in checked.stdout


def test_until_is_read_on_the_timezone_of_rules_yaml(world: World) -> None:
    zone = "America/New_York"
    world.configure(PAYMENT_FAILED, top_level=f"timezone: {zone}\n")
    now = datetime.now(ZoneInfo(zone))
    later = now + timedelta(hours=2)
    day = "today" if later.date() == now.date() else "tomorrow"

    made = world.cli("pause", "--until", f"{day} {later:%H:%M}", "--comment", "x")

    assert made.returncode == 0, made.stderr
    (row,) = pauses_on_record(world)
    assert row["until"] == local_instant(
        later.date(), later.hour * 60 + later.minute, ZoneInfo(zone)
    )
    assert f"until {later:%Y-%m-%d %H:%M} {zone} (" in made.stdout


def test_the_author_is_the_person_behind_sudo_or_the_os_user(world: World) -> None:
    world.configure(PAYMENT_FAILED)

    behind_sudo = world.cli("pause", *FOR_AN_HOUR, env={"SUDO_USER": "ayse", "LOGNAME": "root"})
    plain = world.cli("pause", *FOR_AN_HOUR, env={"SUDO_USER": "", "LOGNAME": "kemal"})

    assert (behind_sudo.returncode, plain.returncode) == (0, 0)
    assert [row["created_by"] for row in pauses_on_record(world)] == ["ayse", "kemal"]


HOSTILE_COMMENT = "ok\nforged: pauses in force: 0\x1b[2J\u202e21 emuser"
HOSTILE_AUTHOR = "<script>alert(1)</script>/../.."


def test_hostile_text_is_stored_as_typed_and_shown_inert(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    made = world.cli("pause", "--for", "1h", "--comment", HOSTILE_COMMENT, "--by", HOSTILE_AUTHOR)
    assert made.returncode == 0, made.stderr

    (row,) = pauses_on_record(world)
    assert (row["comment"], row["created_by"]) == (HOSTILE_COMMENT, HOSTILE_AUTHOR)
    shown = {
        command: world.cli(*command.split()).stdout
        for command in ("pauses", "status", "audit", "pauses --json", "status --json")
    }
    for command, output in shown.items():
        assert all(line.isprintable() for line in output.splitlines()), command
        assert "\x1b" not in output and "\u202e" not in output, command
    escaped = "ok\\nforged: pauses in force: 0\\x1b[2J\\u202e21 emuser"
    for command in ("pauses", "status", "audit"):
        assert escaped in shown[command] and HOSTILE_AUTHOR in shown[command], command
    forged = [x for x in shown["status"].splitlines() if x.startswith(("pauses", "forged"))]
    assert forged == ["pauses in force: 1"]  # the comment stays on its own line
    (listed,) = [json.loads(line) for line in shown["pauses --json"].splitlines()]
    assert (listed["comment"], listed["created_by"]) == (HOSTILE_COMMENT, HOSTILE_AUTHOR)
    assert json.loads(shown["status --json"])["pauses"][0]["comment"] == HOSTILE_COMMENT
    assert escaped in made.stdout


def test_the_off_switch_works_while_rules_yaml_is_invalid(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.rules_path.write_text(
        world.rules_path.read_text()
        + "  - name: broken\n    kind: no_such_kind\n    reason_id: 7\n"
    )

    made = world.cli("pause", "--for", "30m", "--comment", "kurallar bozuk")
    named = world.cli("pause", "--rule", "payment-failed", "--for", "30m", "--comment", "x")
    broken = world.cli("pause", "--rule", "broken", "--for", "30m", "--comment", "x")
    once = world.cli("once")

    assert made.returncode == 0, made.stderr
    assert "warning: " in made.stderr and "is invalid" in made.stderr
    assert named.returncode == 0, named.stderr  # a rule that still validates
    assert broken.returncode == 2
    assert "only the rules that still validate are known" in broken.stderr
    assert [row["rule"] for row in pauses_on_record(world)] == [None, "payment-failed"]
    assert once.returncode == 2  # the commands that act still refuse the file
    assert world.cli("resume", "--all").returncode == 0

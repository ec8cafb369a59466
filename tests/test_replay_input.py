"""``replay`` and ``diff`` refuse bad input with one line: exit 2 for the command line or a
file, 1 for the store. They never write to the store, not even to create it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.domain.timeutil import utcnow
from daemon.store import history, schema
from tests.world import World


def _one_error(result_stderr: str, *fragments: str) -> None:
    assert "Traceback" not in result_stderr, result_stderr
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    matching = [line for line in lines if all(f in line for f in fragments)]
    assert matching, f"no line says {fragments}:\n{result_stderr}"


def _with_history(world: World) -> None:
    """A store whose history started a minute ago (a daemon's first pass)."""
    with world.engine.begin() as connection:
        history.write(connection, [], seen_at=utcnow(), started=True)


def test_a_store_without_history_is_one_line_and_exit_1(world: World) -> None:
    result = world.cli("replay")
    assert result.returncode == 1
    _one_error(result.stderr, "no order history yet", "autocancel run")
    assert result.stdout == ""


def test_an_unknown_rules_file_is_exit_2(world: World, tmp_path: Path) -> None:
    _with_history(world)
    missing = tmp_path / "no-such.yaml"
    for args in (
        ["replay", "--rules", str(missing)],
        ["diff", str(world.rules_path), str(missing)],
    ):
        result = world.cli(*args)
        assert result.returncode == 2, args
        _one_error(result.stderr, "no rules file", "no-such.yaml")


def test_an_invalid_rules_file_is_listed_with_its_lines_and_exit_2(
    world: World, tmp_path: Path
) -> None:
    _with_history(world)
    broken = tmp_path / "broken.yaml"
    broken.write_text(world.rules_path.read_text().replace("reason_id: 7", "reason_id: 9"))
    result = world.cli("replay", "--rules", str(broken))
    assert result.returncode == 2
    _one_error(result.stderr, f"{broken}:", "reason_id must be an integer from 1 to 8")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "last friday"], ("--from", "'last friday'", "ISO 8601")),
        (["--to", "25:00"], ("--to", "not a time of day")),
        (["--from", "1h", "--to", "2h"], ("--from", "is not before --to")),
        (["--from", "2030-01-01T00:00:00Z"], ("is not before --to",)),
    ],
)
def test_unreadable_or_reversed_times_are_exit_2(
    world: World, args: list[str], says: tuple[str, ...]
) -> None:
    _with_history(world)
    for command in (["replay"], ["diff", str(world.rules_path), str(world.rules_path)]):
        result = world.cli(*command, *args)
        assert result.returncode == 2, (command, result.stderr)
        _one_error(result.stderr, *says)


def test_a_replay_before_the_history_starts_says_where_it_starts(world: World) -> None:
    _with_history(world)
    result = world.cli("replay", "--from", "2d")
    assert result.returncode == 0, result.stderr
    assert "note: the history is complete from" in result.stderr
    assert "0 changes" in result.stdout


def test_a_missing_store_is_exit_1_and_not_created(world: World, tmp_path: Path) -> None:
    gone = tmp_path / "elsewhere" / "orders.db"
    gone.parent.mkdir()
    rules = tmp_path / "other.yaml"
    rules.write_text(world.rules_path.read_text().replace(world.store_url, f"sqlite:///{gone}"))
    result = world.cli("replay", "-c", str(rules))
    assert result.returncode == 1
    _one_error(result.stderr, "there is no store at")
    assert not gone.exists()


def test_replay_writes_nothing_to_the_store(world: World) -> None:
    _with_history(world)
    world.add_order("k1", payment_status="failed")

    def everything() -> dict[str, list[tuple[object, ...]]]:
        with world.engine.connect() as connection:
            return {
                table.name: [tuple(row) for row in connection.execute(sa.select(table))]
                for table in schema.metadata.sorted_tables
            }

    before = everything()
    assert world.cli("replay").returncode == 0
    assert world.cli("diff", str(world.rules_path), str(world.rules_path), "--now").returncode == 0
    assert everything() == before

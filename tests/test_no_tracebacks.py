"""Operator mistakes get one clear line and an exit code, never a traceback (issue 10, 7).

Every command is run as the operator would, with a representative broken
input: a store URL whose driver is not installed, a port that is taken or
impossible, a rules file that is not a file, a bad argument.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import autocancel_executable, cli_environment, run_cli
from tests.world import World

RULES = """\
store:
  url: {store_url}
api:
  base_url: http://127.0.0.1:9/api/integrations
restaurants:
  - id: r-1
    name: Şube Bir
{extra}rules:
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""
MYSQL = "mysql://autocancel@127.0.0.1/orders"
TOKEN = {"DUKKANGO_ACCESS_TOKEN": "some-token"}


@dataclass(frozen=True)
class Mistake:
    command: tuple[str, ...]
    exit_code: int
    says: tuple[str, ...]  # what the one error line must mention (the cause and the hint)
    store_url: str = MYSQL
    extra: str = ""  # more rules.yaml
    env: dict[str, str] = field(default_factory=dict)


MISTAKES = {
    "once, driver missing": Mistake(
        ("once",), 1, ("MySQLdb", "pip install mysqlclient"), env=TOKEN
    ),
    "once --dry-run, driver missing": Mistake(("once", "--dry-run"), 1, ("MySQLdb",)),
    "run, driver missing": Mistake(("run", "--dry-run"), 1, ("MySQLdb", "pip install")),
    "sync, driver missing": Mistake(("sync", "--once"), 1, ("MySQLdb",), env=TOKEN),
    "audit, driver missing": Mistake(("audit",), 1, ("MySQLdb",)),
    "audit, bad --since": Mistake(
        ("audit", "--since", "the other day"), 2, ("--since",), store_url="sqlite:///orders.db"
    ),
    "explain, driver missing": Mistake(("explain", "k-1"), 1, ("MySQLdb",)),
    "cancel, driver missing": Mistake(
        ("cancel", "k-1", "--reason", "4", "--yes"), 1, ("MySQLdb",), env=TOKEN
    ),
    "status, driver missing": Mistake(("status",), 1, ("MySQLdb",)),
    "replay, driver missing": Mistake(("replay",), 1, ("MySQLdb",)),
    "replay, bad --from": Mistake(
        ("replay", "--from", "last friday"), 2, ("--from",), store_url="sqlite:///orders.db"
    ),
    "status --json, driver missing": Mistake(("status", "--json"), 1, ("MySQLdb",)),
    "db upgrade, driver missing": Mistake(("db", "upgrade"), 1, ("MySQLdb",)),
    "once, unknown database": Mistake(
        ("once", "--dry-run"), 1, ("unknown database",), store_url="mongodb://127.0.0.1/orders"
    ),
    "status, no such folder": Mistake(
        ("status",), 1, ("does not exist",), store_url="sqlite:////nonexistent/folder/orders.db"
    ),
    "once, database down": Mistake(
        ("once", "--dry-run"),
        1,
        ("cannot",),
        store_url="postgresql+psycopg://nobody@127.0.0.1:9/orders",
    ),
    "run, metrics port in use": Mistake(
        ("run", "--dry-run"),
        1,
        ("metrics.port", "in use"),
        store_url="sqlite:///orders.db",
        extra="metrics:\n  port: {busy_port}\n",
    ),
    "check, a folder": Mistake(("check",), 2, ("directory",)),
    "demo, missing rules": Mistake(("demo",), 2, ("no such file",)),
    "simulator, port out of range": Mistake(("simulator", "--port", "99999"), 2, ("1-65535",)),
    "simulator, port in use": Mistake(
        ("simulator", "--port", "{busy_port}"), 1, ("cannot listen", "{busy_port}")
    ),
    "simulator, port not a number": Mistake(("simulator", "--port", "http"), 2, ("port",)),
}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("name", list(MISTAKES))
def test_an_operator_mistake_is_one_clear_line(name: str, tmp_path: Path, busy_port: int) -> None:
    mistake = MISTAKES[name]
    port = str(busy_port)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.format(store_url=mistake.store_url, extra=mistake.extra.replace("{busy_port}", port)),
        encoding="utf-8",
    )
    if name == "check, a folder":
        rules = tmp_path / "a-folder"
        rules.mkdir()
    if name == "demo, missing rules":
        rules = tmp_path / "missing.yaml"
    command = [part.replace("{busy_port}", port) for part in mistake.command]

    result = run_cli(
        *command[: 2 if command[0] == "db" else 1],
        "-c",
        str(rules),
        *command[2 if command[0] == "db" else 1 :],
        env=mistake.env,
        cwd=tmp_path,
        timeout=60,
    )

    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == mistake.exit_code, output
    errors = [
        line
        for line in output.splitlines()
        if all(part.replace("{busy_port}", port) in line for part in mistake.says)
    ]
    assert errors, f"no line says {mistake.says}:\n{output}"


def test_an_unknown_command_is_a_usage_error() -> None:
    result = run_cli("cancle", "k-1")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_output_cut_short_by_a_pager_ends_quietly(world: World, tmp_path: Path) -> None:
    """``autocancel once --dry-run | head -1``: no BrokenPipeError traceback when head leaves."""
    world.configure(dry_run=True)
    for number in range(400):  # far more output than a pipe holds
        world.add_order(f"failed-{number}", payment_status="failed", on_platform=False)
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [*autocancel_executable(), "once", "-c", str(world.rules_path), "--dry-run", "--json"],
            env=cli_environment(world.env),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().startswith("{")
        process.stdout.close()  # what head does after its first line
        code = process.wait(timeout=60)

    assert code == 141  # 128 + SIGPIPE, as a shell pipeline reports it
    assert "Traceback" not in errors.read_text()
    assert "BrokenPipeError" not in errors.read_text()

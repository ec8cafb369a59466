"""The shipped systemd unit: the directives an unattended, hardened service needs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, autocancel_executable, run_cli

UNIT = REPO_ROOT / "systemd" / "autocancel.service"

# Every directive the unit may use, by section: a misspelt one fails the test.
KNOWN = {
    "Unit": {"Description", "Documentation", "After", "Wants"},
    "Service": {
        "Type",
        "NotifyAccess",
        "User",
        "Group",
        "StateDirectory",
        "StateDirectoryMode",
        "WorkingDirectory",
        "Environment",
        "EnvironmentFile",
        "ExecStartPre",
        "ExecStart",
        "ExecReload",
        "Restart",
        "RestartSec",
        "WatchdogSec",
        "TimeoutStopSec",
        "KillSignal",
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RemoveIPC",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "RestrictAddressFamilies",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "ReadWritePaths",
        "UMask",
        "RestartPreventExitStatus",
    },
    "Install": {"WantedBy"},
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {raw!r}"
        sections[current][key.strip()].append(value.strip())
    return sections


def test_unit_directives_are_known_and_complete() -> None:
    unit = parse_unit(UNIT.read_text())
    for section, directives in unit.items():
        unknown = set(directives) - KNOWN.get(section, set())
        assert not unknown, f"[{section}] has unknown directives {unknown}"
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert int(service["WatchdogSec"]) > 0
    assert "kill -HUP $MAINPID" in service["ExecReload"]
    assert service["ExecStart"].endswith("autocancel run")
    assert service["User"] == "autocancel"
    assert service["StateDirectory"] == "autocancel"
    assert service["EnvironmentFile"].startswith("/etc/")
    for hardening, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/autocancel",
    }.items():
        assert service[hardening] == value, hardening
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_env_example_holds_no_secret_values() -> None:
    example = (REPO_ROOT / "systemd" / "autocancel.env.example").read_text()
    for line in example.splitlines():
        if line.startswith("DUKKANGO_") and "SECRET" in line:
            assert line.endswith("="), "the example must not carry a secret"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not found: apt-get install systemd (.ci/run does)",
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that commands exist: point them at the installed script.
    script = autocancel_executable()[0]
    unit = tmp_path / "autocancel.service"
    unit.write_text(UNIT.read_text().replace("/opt/autocancel/venv/bin/autocancel", script))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [line for line in result.stderr.splitlines() if "autocancel.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def _service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def _install_steps() -> list[str]:
    """The shell lines of the README's "Running as a service" install block."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running as a service", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_an_invalid_rules_file_stops_the_restarts(tmp_path: Path) -> None:
    """Exit 2 (invalid configuration) must end in "failed", never in a restart loop.

    systemd applies RestartPreventExitStatus= to the main process only, never
    to ExecStartPre= (systemd/systemd#11868): a pre-start command that exits 2
    would be restarted every RestartSec, forever. So every pre-start command
    that reads rules.yaml must be allowed to fail ("-"), and the main process,
    which validates the same file, must exit 2 and be told not to restart.
    """
    service = _service()
    assert service["Restart"] == ["on-failure"]
    prevented = " ".join(service["RestartPreventExitStatus"]).split()
    assert "2" in prevented

    rules = tmp_path / "rules.yaml"
    rules.write_text("restaurants: []\nrules:\n  - name: x\n    kind: nope\n")
    environment = dict(value.split("=", 1) for value in service["Environment"] if "=" in value)
    assert environment["AUTOCANCEL_CONFIG"].endswith("rules.yaml")
    env = {**environment, "AUTOCANCEL_CONFIG": str(rules)}

    def exit_status(command_line: str) -> int:
        program, *args = shlex.split(command_line)
        assert program == "/opt/autocancel/venv/bin/autocancel", program
        return run_cli(*args, env=env, cwd=tmp_path, timeout=30).returncode

    for pre_start in service["ExecStartPre"]:
        failure_ignored = pre_start.startswith("-")
        status = exit_status(pre_start.lstrip("-"))
        # A pre-start failure would restart the unit whatever its exit status.
        assert status == 0 or failure_ignored, f"{pre_start} exits {status}: a restart loop"
    (main,) = service["ExecStart"]
    assert exit_status(main) == 2


def test_documentation_points_at_a_file_the_install_steps_put_there() -> None:
    (documentation,) = parse_unit(UNIT.read_text())["Unit"]["Documentation"]
    steps = _install_steps()
    for link in documentation.split():
        assert link.startswith("file://"), f"{link}: only installed files can be relied on"
        target = link.removeprefix("file://")
        installing = [
            shlex.split(step)
            for step in steps
            if step.startswith("install ") and shlex.split(step)[-1] == target
        ]
        assert installing, f"no install step puts anything at {target}"
        source = installing[0][-2]
        assert (REPO_ROOT / source).is_file(), f"{source} is not in the checkout"


@pytest.mark.skipif(os.geteuid() != 0, reason="installs into a scratch root as root only")
def test_the_install_steps_put_the_documentation_in_place(tmp_path: Path) -> None:
    """Run the README's own install lines for /opt/autocancel into a scratch root."""
    (documentation,) = parse_unit(UNIT.read_text())["Unit"]["Documentation"]
    scratch = tmp_path / "root"
    for step in _install_steps():
        if step.startswith("install ") and "/opt/autocancel/" in step:
            command = re.sub(r"(?<=\s)/opt/", f"{scratch}/opt/", step)
            subprocess.run(["sh", "-ec", command], cwd=REPO_ROOT, check=True, timeout=30)
    for link in documentation.split():
        installed = scratch / link.removeprefix("file:///")
        assert installed.read_text(encoding="utf-8").startswith("# autocancel")

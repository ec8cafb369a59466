"""The shipped systemd unit: the directives an unattended, hardened service needs."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, autocancel_executable

UNIT = REPO_ROOT / "systemd" / "autocancel.service"

# Every directive the unit may use, by section: a misspelt one fails the test.
KNOWN = {
    "Unit": {"Description", "Documentation", "After", "Wants"},
    "Service": {
        "Type", "NotifyAccess", "User", "Group", "StateDirectory", "StateDirectoryMode",
        "WorkingDirectory", "Environment", "EnvironmentFile", "ExecStartPre", "ExecStart",
        "ExecReload", "Restart", "RestartSec", "WatchdogSec", "TimeoutStopSec", "KillSignal",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
        "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
        "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
        "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
        "MemoryDenyWriteExecute", "RemoveIPC", "CapabilityBoundingSet", "AmbientCapabilities",
        "RestrictAddressFamilies", "SystemCallArchitectures", "SystemCallFilter",
        "ReadWritePaths", "UMask",
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
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "CapabilityBoundingSet": "", "ReadWritePaths": "/var/lib/autocancel",
    }.items():
        assert service[hardening] == value, hardening
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_env_example_holds_no_secret_values() -> None:
    example = (REPO_ROOT / "systemd" / "autocancel.env.example").read_text()
    for line in example.splitlines():
        if line.startswith("DUKKANGO_") and "SECRET" in line:
            assert line.endswith("="), "the example must not carry a secret"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that commands exist: point them at the installed script.
    script = autocancel_executable()[0]
    unit = tmp_path / "autocancel.service"
    unit.write_text(UNIT.read_text().replace("/opt/autocancel/venv/bin/autocancel", script))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines() if "autocancel.service" in line]
    assert result.returncode == 0 and not problems, result.stderr

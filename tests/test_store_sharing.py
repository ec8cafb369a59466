"""A POS running as another user can write the SQLite store the daemon created.

The README's setup: the store lives in its own folder, owned by the daemon's
user and its group, mode 2770 (group-writable, setgid so every file created
there keeps the group); the POS's user joins the group. The daemon runs under
the unit's private ``UMask=0077``; a store it creates in a group-writable
folder is group-writable anyway, and SQLite gives the ``-wal`` and ``-shm``
files the store's own mode, whoever creates them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import pytest

from daemon.config.load import load_config
from tests.conftest import REPO_ROOT, SHIPPED_RULES, autocancel_executable
from tests.test_daemon import Daemon, eventually
from tests.world import HALASKARGAZI, World

UNIT_UMASK = 0o077  # systemd/autocancel.service
DAEMON_UID, POS_UID, SHARED_GID, POS_GID = 54_320, 54_321, 54_322, 54_323

RULES = f"""\
store:
  url: sqlite:///store/orders.db
dry_run: true
restaurants:
  - id: {HALASKARGAZI}
    name: Halaskargazi Şube
    latitude: 41.0493
    longitude: 28.9877
rules:
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""

POS_WRITES_AN_ORDER = """\
import os, sqlite3, sys
db = sys.argv[1]
connection = sqlite3.connect(db)
connection.execute("PRAGMA journal_mode=WAL")
connection.execute(
    "INSERT INTO orders (payment_key, restaurant_id, status_id, shipping_method,"
    " payment_status, created_at, latitude, longitude)"
    " VALUES (?, ?, 1, 'pickup', 'failed', datetime('now'), 41.05, 28.99)",
    (sys.argv[2], sys.argv[3]))
connection.commit()
for suffix in ("-wal", "-shm"):  # they exist while a connection is open
    info = os.stat(db + suffix)
    print(suffix, oct(info.st_mode & 0o7777), info.st_gid)
connection.close()
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class RunAs(TypedDict, total=False):
    """``subprocess.run`` keywords that start a process as another user."""

    user: int
    group: int
    extra_groups: list[int]


def _autocancel(
    *args: str, umask: int, **as_user: Unpack[RunAs]
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUKKANGO_", "AUTOCANCEL_"))}
    return subprocess.run(
        [*autocancel_executable(), *args],
        env=env,
        umask=umask,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **as_user,
    )


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """/var/lib/autocancel in miniature: rules.yaml, and store/ shared with the group.

    Under /tmp rather than pytest's private tmp_path, so other users can reach it.
    """
    top = Path(tempfile.mkdtemp(prefix="autocancel-share-"))
    try:
        top.chmod(0o755)
        (top / "rules.yaml").write_text(RULES, encoding="utf-8")
        (top / "rules.yaml").chmod(0o644)
        folder = top / "store"
        folder.mkdir()
        folder.chmod(0o2770)
        yield folder
    finally:
        shutil.rmtree(top)


def test_a_store_created_in_a_shared_folder_is_group_writable(shared_folder: Path) -> None:
    result = _autocancel(
        "db", "upgrade", "-c", str(shared_folder.parent / "rules.yaml"), umask=UNIT_UMASK
    )
    assert result.returncode == 0, result.stderr

    db = shared_folder / "orders.db"
    assert _mode(db) == 0o660  # not 0600, although the umask is 0077
    # SQLite creates the -wal and -shm files with the store's own mode.
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("SELECT count(*) FROM orders").fetchone()
        assert _mode(db.with_name("orders.db-wal")) == 0o660
        assert _mode(db.with_name("orders.db-shm")) == 0o660
    finally:
        connection.close()


def test_a_store_in_a_private_folder_stays_private(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir(mode=0o750)
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    result = _autocancel("db", "upgrade", "-c", str(tmp_path / "rules.yaml"), umask=UNIT_UMASK)
    assert result.returncode == 0, result.stderr
    assert _mode(tmp_path / "store" / "orders.db") == 0o600


def _reachable_by_everyone(path: Path) -> bool:
    """Another user can run ``path``: every folder above it can be entered, it can be read."""
    resolved = path.resolve()
    folders_enterable = all(folder.stat().st_mode & stat.S_IXOTH for folder in resolved.parents)
    return folders_enterable and bool(resolved.stat().st_mode & stat.S_IROTH)


def _programs_reachable() -> bool:
    import daemon

    return all(
        _reachable_by_everyone(Path(p))
        for p in (sys.executable, autocancel_executable()[0], daemon.__file__)
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as two other users")
def test_a_pos_as_another_user_writes_the_store_the_daemon_created(shared_folder: Path) -> None:
    if not _programs_reachable():
        pytest.skip(
            f"{sys.executable} or this checkout is not readable by other users "
            "(e.g. under a private /root), so no other user can run autocancel"
        )
    os.chown(shared_folder, DAEMON_UID, SHARED_GID)
    rules = str(shared_folder.parent / "rules.yaml")
    daemon: RunAs = {"user": DAEMON_UID, "group": SHARED_GID, "extra_groups": [SHARED_GID]}
    # The POS: its own user and group, in the shared group, with the common 022 umask.
    pos: RunAs = {"user": POS_UID, "group": POS_GID, "extra_groups": [SHARED_GID]}

    created = _autocancel("db", "upgrade", "-c", rules, umask=UNIT_UMASK, **daemon)
    assert created.returncode == 0, created.stderr
    db = shared_folder / "orders.db"
    assert (db.stat().st_uid, db.stat().st_gid) == (DAEMON_UID, SHARED_GID)

    written = subprocess.run(
        [sys.executable, "-c", POS_WRITES_AN_ORDER, str(db), "from-the-pos", HALASKARGAZI],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        umask=0o022,
        **pos,
    )
    assert written.returncode == 0, written.stderr
    assert written.stdout.split() == [
        "-wal",
        "0o660",
        str(SHARED_GID),
        "-shm",
        "0o660",
        str(SHARED_GID),
    ]

    decided = _autocancel("once", "--dry-run", "--json", "-c", rules, umask=UNIT_UMASK, **daemon)
    assert decided.returncode == 0, decided.stderr
    [decision] = [json.loads(line) for line in decided.stdout.splitlines()]
    assert (decision["payment_key"], decision["outcome"]) == ("from-the-pos", "would_cancel")

    # ... and the POS can still write after the daemon wrote its ledger.
    again = subprocess.run(
        [sys.executable, "-c", POS_WRITES_AN_ORDER, str(db), "second-order", HALASKARGAZI],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        umask=0o022,
        **pos,
    )
    assert again.returncode == 0, again.stderr


def test_run_warns_when_a_shared_folder_holds_a_store_its_group_cannot_write(
    world: World,
) -> None:
    folder = world.folder / "store"
    folder.mkdir()
    folder.chmod(0o2770)
    db = folder / "orders.db"
    text = world.rules_path.read_text().replace(world.store_url, f"sqlite:///{db}")
    world.rules_path.write_text(text + "schedule:\n  interval_seconds: 1\n")
    assert _autocancel("db", "upgrade", "-c", str(world.rules_path), umask=0o022).returncode == 0
    db.chmod(0o644)  # as a POS with umask 022 would have created it

    daemon = Daemon(world, "--dry-run")
    try:
        eventually(lambda: "running" in daemon.log(), what="start-up")
        assert (
            f"{db} is not writable by its group (mode 644), although its folder is "
            "shared with the group"
        ) in daemon.log()
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_the_install_steps_point_the_shipped_rules_at_the_shared_folder(tmp_path: Path) -> None:
    """The README's own sed line, run on the shipped rules.yaml."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (step,) = [
        line
        for line in readme.splitlines()
        if line.startswith("sed -i ") and "/var/lib/autocancel/rules.yaml" in line
    ]
    installed = tmp_path / "rules.yaml"
    shutil.copy(SHIPPED_RULES, installed)
    command = step.replace("/var/lib/autocancel/rules.yaml", str(installed))
    subprocess.run(["sh", "-ec", command], check=True, timeout=30)
    assert load_config(installed).store.url == f"sqlite:///{tmp_path}/store/orders.db"

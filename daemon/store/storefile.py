"""The SQLite store's file on disk, shared with a POS that runs as another user.

The setup (README, "Sharing the store with a POS"): the store lives in a
folder owned by the daemon's user and a group the POS's user joins, mode 2770
(group-writable; setgid, so every file created there keeps that group). A
store created in such a folder is made group-writable whatever the process's
umask (the unit's is a private 0077); SQLite then gives the ``-wal`` and
``-shm`` files the store's own mode, whichever process creates them. In any
other folder the umask decides, as it always did: private stays private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

GROUP_READ_WRITE = stat.S_IRGRP | stat.S_IWGRP
# What SQLite creates beside the store; each must be writable by every writer.
COMPANIONS = ("-wal", "-shm", "-journal")


def _shared_with_group(folder: Path) -> bool:
    try:
        return bool(folder.stat().st_mode & stat.S_IWGRP)
    except OSError:
        return False


def create_if_missing(path: Path) -> None:
    """Create an empty store file, group-writable when its folder is shared.

    SQLite takes an empty file for a new database. Creating it here, before
    the first connection, is the only moment its mode is ours to choose.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        return  # someone else's (or an earlier) store: its mode is theirs
    except OSError:
        return  # an unwritable folder: the connection will say so, in its words
    try:
        if _shared_with_group(path.parent):
            mode = stat.S_IMODE(os.fstat(descriptor).st_mode)
            os.fchmod(descriptor, mode | GROUP_READ_WRITE)
    finally:
        os.close(descriptor)


def sharing_problems(path: Path) -> list[str]:
    """Files of a store in a shared folder that the folder's group cannot write."""
    if not _shared_with_group(path.parent):
        return []
    group = path.parent.stat().st_gid
    problems = []
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in COMPANIONS)):
        try:
            info = candidate.stat()
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & GROUP_READ_WRITE != GROUP_READ_WRITE:
            problems.append(
                f"{candidate} is not writable by its group (mode {mode:o}), although its "
                "folder is shared with the group: a POS in that group cannot write the "
                f"store; chmod g+rw {candidate}"
            )
        elif info.st_gid != group:
            problems.append(
                f"{candidate} belongs to group {info.st_gid}, not to its folder's group "
                f"{group}: that group cannot write the store; chgrp {group} {candidate} "
                "(and chmod g+s the folder, so new files keep its group)"
            )
    return problems


def sqlite_file(url: str) -> Path | None:
    """The store's file for an SQLite URL naming one; None for anything else."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return Path(database)

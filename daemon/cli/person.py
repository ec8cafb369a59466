"""Who runs a command, as the OS knows them: the default author of pauses, reopens, cancels.

Its own module so that ``pause``, ``resume`` and ``reopen`` need not import the
manual cancel (and through it the pass engine) only to name the operator.
"""

from __future__ import annotations

import getpass
import os


def os_user() -> str:
    """Who runs the command, as the OS knows them (getpass reads LOGNAME, USER, ...)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such variable and no passwd entry (a bare container)
        return f"uid {os.getuid()}"

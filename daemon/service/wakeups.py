"""What wakes the daemon's main thread: a stop, or a reload of the rules file.

SIGTERM and SIGINT stop the daemon (after the pass in flight); SIGHUP, and a
change of the rules file's modification time or size seen by the watch job,
ask for a reload. The main thread sleeps on one event, set by all of them,
so an idle daemon wakes for nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

# The daemon's own lines: the journal knows them by its name, as before the split.
log = logging.getLogger("daemon.service.daemon")

# Seconds between two looks at the rules file (the watch job's interval).
CONFIG_POLL_SECONDS = 2.0


def _file_stamp(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


class Wakeups:
    def __init__(self, rules_path: Path) -> None:
        self._path = rules_path
        self._stamp = _file_stamp(rules_path)
        # Set once, by SIGTERM/SIGINT: the executor and the change watcher stop too.
        self.stopping = threading.Event()
        self._reload_requested = threading.Event()
        self._attention = threading.Event()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested.set()
        else:
            self.stopping.set()
        self._attention.set()

    def watch_rules_file(self) -> None:
        """The watch job: a changed stamp asks for a reload."""
        stamp = _file_stamp(self._path)
        if stamp != self._stamp:
            self._stamp = stamp
            log.info("rules file %s changed on disk", self._path)
            self._reload_requested.set()
            self._attention.set()

    def reloading(self) -> None:
        """A reload begins: the request is taken, and the file as it is now is the one read."""
        self._reload_requested.clear()
        self._stamp = _file_stamp(self._path)

    def next_reload(self) -> bool:
        """Sleep until a reload is asked for (True) or the daemon is to stop (False)."""
        while not self.stopping.is_set():
            self._attention.wait()
            self._attention.clear()
            if self._reload_requested.is_set() and not self.stopping.is_set():
                return True
        return False

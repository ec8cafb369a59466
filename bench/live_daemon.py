"""``python -m daemon run`` as a real subprocess, for benchmarks that watch it work.

Its stderr goes to a temporary file (not DEVNULL) so that a failure can show
what the daemon said; :meth:`LiveDaemon.cpu_seconds` reads the process's
``utime + stime`` from ``/proc/PID/stat`` (every thread; clock ticks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

# Variables that would override what the bench's rules.yaml says, or log in
# with real secrets: the daemon must talk to the bench's simulator only.
_OVERRIDES = (
    "AUTOCANCEL_CONFIG",
    "AUTOCANCEL_STORE_URL",
    "DUKKANGO_BASE_URL",
    "DUKKANGO_APP_SECRET_KEY",
    "DUKKANGO_REST_SECRET_KEY",
)
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class DaemonFailed(RuntimeError):
    """The daemon exited, or never got where the bench waited for it."""


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads: utime + stime of /proc/PID/stat."""
    # Fields after the command name (which may hold spaces, so split after its ")"):
    # state is field 3, utime field 14, stime field 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


class LiveDaemon:
    """``python -m daemon run -c RULES`` with a fixed access token; stopped with SIGTERM."""

    def __init__(self, rules: Path, *, access_token: str) -> None:
        self._rules = rules
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES}
        self._env = {**env, "DUKKANGO_ACCESS_TOKEN": access_token}
        self._stderr: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self._stderr = tempfile.TemporaryFile()  # closed in __exit__
        self._process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "-c", str(self._rules)],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        code = self.stop()
        if error is not None or code != 0:
            print(
                f"--- daemon exit {code}; last lines of its stderr:\n{self.stderr_tail()}",
                file=sys.stderr,
            )
        if self._stderr is not None:
            self._stderr.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def check_alive(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise DaemonFailed(f"the daemon exited with {code}")

    def cpu_seconds(self) -> float:
        self.check_alive()
        return cpu_seconds(self.pid)

    def wait_quiet(
        self, *, window: float = 0.3, max_cpu: float = 0.02, timeout: float = 60.0
    ) -> None:
        """Until the daemon spends at most ``max_cpu`` seconds of CPU in ``window`` seconds.

        A pass costs far more than two clock ticks per 0.3 s; an idle daemon
        (its change watch and timers) far less. So "quiet" means no pass in
        flight, whatever the daemon does or does not write about its passes.
        """
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while True:
            time.sleep(window)  # the sampling window itself, not a guess at a duration
            after = self.cpu_seconds()
            if after - before <= max_cpu:
                return
            if time.monotonic() > deadline:
                raise DaemonFailed(f"the daemon was still busy after {timeout:.0f} s")
            before = after

    def stop(self) -> int | None:
        """SIGTERM (the daemon finishes its pass in flight), then wait; kill after 30 s."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    def stderr_tail(self, lines: int = 40) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

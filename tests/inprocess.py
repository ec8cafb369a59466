"""The CLI's own ``main()`` run inside the test process: for setting a world up, never for checks.

A CLI process costs ~0.5 s of CPU, most of it imports the test process has
already paid for. A test whose subject is a later command (``reopen`` after a
pass closed the restaurant, a reactivation after a pass switched a food off),
or what a series of passes leaves behind (the passes between the ones it
checks, whose output it does not read), may bring the store and the simulator
into that state with :func:`run_main`: the same ``daemon.cli.main.main`` with
the same arguments, the environment a CLI process gets
(:func:`tests.conftest.cli_environment`'s DUKKANGO_ and AUTOCANCEL_ settings),
its own stdout and stderr, and the process-wide state it changes put back
afterwards (``os.environ``, the root logger's handlers and level, the library
loggers' levels, the log redactor's secrets).

What a test asserts about a command (exit codes, output, tracebacks, signals,
daemons) still comes from a real process: World.cli, World.once, start_cli.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
from collections.abc import Iterator, Sequence

from daemon.cli.main import main
from daemon.domain import redaction

# The loggers daemon.cli.logsetup.configure_logging sets a level on.
_TUNED_LOGGERS = ("httpx", "alembic", "apscheduler")
_CLI_SETTINGS = ("DUKKANGO_", "AUTOCANCEL_")


def run_main(args: Sequence[str], *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``autocancel ARGS`` through ``main()`` in this process; the result a subprocess gives."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        _cli_environ(env),
        _own_logging(),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(
        ["autocancel", *args], code, stdout.getvalue(), stderr.getvalue()
    )


@contextlib.contextmanager
def _cli_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(_CLI_SETTINGS)]:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _own_logging() -> Iterator[None]:
    """An empty root logger for main() to configure (onto its stderr), restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in _TUNED_LOGGERS}
    secrets = redaction.REDACTOR._secrets
    root.handlers = []
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = handlers
        root.setLevel(level)
        for name, saved_level in levels.items():
            logging.getLogger(name).setLevel(saved_level)
        redaction.REDACTOR._secrets = secrets

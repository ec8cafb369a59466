"""``autocancel sync [--once]``: poll get-current into the store, respecting its cooldown."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.service.runtime import ApiSession, open_store
from daemon.service.sync.syncer import Syncer
from daemon.store import connect

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)


def run_command(config: Config, *, once: bool) -> int:
    """``autocancel sync [--once]``: poll now (after the cooldown), and again unless --once."""
    try:
        require_credentials()
        engine = open_store(config)
    except (MissingCredentials, connect.StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    result = exitcodes.OK
    try:
        with ApiSession(config) as api:
            syncer = Syncer(
                engine=engine,
                client=api.client(),
                acknowledge=config.sync.acknowledge,
                owns=config.sync.owns,
            )
            while not stop.is_set():
                wait = syncer.wait_needed()
                if wait > 0:
                    log.info("waiting %.0f s for the get-current cooldown", wait)
                    if stop.wait(wait):
                        break
                report = syncer.poll()
                print(
                    f"received {report.received}, stored {report.stored}, acknowledged "
                    f"{report.acknowledged}, vanished {report.vanished}, malformed "
                    f"{len(report.malformed)}, conflicts {report.conflicts}"
                    + (f"; error: {report.error}" if report.error else ""),
                    flush=True,
                )
                result = exitcodes.RUNTIME_FAILURE if report.error else exitcodes.OK
                if once or stop.wait(config.sync.interval_seconds):
                    break
    finally:
        engine.dispose()
    return result

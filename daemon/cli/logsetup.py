"""Logging for every command: the format, the credential redactor, quiet libraries."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(verbose: bool) -> None:
    # Under systemd the journal adds its own timestamp; elsewhere we add one.
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_journal
        else ("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr
    )
    # Libraries log URLs and headers at DEBUG (geopy: ...&key=API_KEY): every
    # record goes through the redactor, which knows the credentials from here on.
    from daemon.config import credentials
    from daemon.domain import redaction

    environ = credentials.process_environ()
    redaction.register(*(environ.get(name) for name in credentials.CREDENTIAL_NAMES))
    redaction.install(logging.getLogger().handlers)
    # httpx logs every request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

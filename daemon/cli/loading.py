"""Loading rules.yaml for a command: the path, and what an invalid file means.

Commands that act validate the whole file first and exit 2 if it is invalid
(contract); ``status``, ``audit`` and ``explain`` read the store even so,
with a warning, since they are how an operator sees what the daemon does
meanwhile.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.domain import exitcodes

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.store.readonly import ReadingConfig

log = logging.getLogger("autocancel")

DEFAULT_CONFIG = "rules.yaml"


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    return Path(os.environ.get("AUTOCANCEL_CONFIG") or DEFAULT_CONFIG)


def load_config_or_exit(args: argparse.Namespace) -> Config:
    """Every command validates the whole file first (contract): exit 2 if invalid."""
    from daemon.config.load import ConfigError, load_config

    path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        raise SystemExit(exitcodes.INVALID_CONFIG) from None
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def load_config_for_reading(args: argparse.Namespace) -> ReadingConfig:
    """status, audit and explain: an invalid file is a warning while its store can be read.

    The daemon keeps its last good rules running; these commands are how an
    operator sees what it does meanwhile. Commands that act still exit 2.
    """
    from daemon.config.load import ConfigError
    from daemon.store import connect
    from daemon.store.readonly import check_store, load_for_reading

    path = config_path(args)
    try:
        reading = load_for_reading(path)
        check_store(reading)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(
            f"autocancel {args.command}: {path} is invalid and does not say which store to "
            "read: fix it, or name the store in AUTOCANCEL_STORE_URL",
            file=sys.stderr,
        )
        raise SystemExit(exitcodes.INVALID_CONFIG) from None
    except connect.StoreError as exc:
        for line in reading.problems:
            print(line, file=sys.stderr)
        print(f"autocancel {args.command}: {path} is invalid, and {exc}", file=sys.stderr)
        raise SystemExit(exitcodes.INVALID_CONFIG) from None
    if reading.problems:
        print(
            f"warning: {path} is invalid; {args.command} reads the store as it is (a running "
            "daemon keeps its last good rules; once, run, cancel and sync refuse the file "
            "until it is fixed):",
            file=sys.stderr,
        )
        for line in reading.problems:
            print(f"warning: {line}", file=sys.stderr)
    for warning in reading.config.warnings:
        log.warning("%s", warning)
    return reading

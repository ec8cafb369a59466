"""The ``autocancel`` command line.

Parsing and dispatch only: every command lives in the module that does its
job and is imported lazily, so ``autocancel check`` does not pay for httpx or
the scheduler. Exit codes follow the contract (see :mod:`daemon.exitcodes`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from daemon import __version__, exitcodes

if TYPE_CHECKING:
    from daemon.config import Config

log = logging.getLogger("autocancel")

DEFAULT_CONFIG = "rules.yaml"


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message on stderr."""


def _config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    return Path(os.environ.get("AUTOCANCEL_CONFIG") or DEFAULT_CONFIG)


def _load_config_or_exit(args: argparse.Namespace) -> Config:
    """Every command validates the whole file first (contract): exit 2 if invalid."""
    from daemon.config import ConfigError, load_config

    path = _config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        raise SystemExit(exitcodes.INVALID_CONFIG) from None
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


# --- commands ---------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from daemon.config import ConfigError, load_config

    try:
        config = load_config(_config_path(args))
    except ConfigError as exc:
        print("\n".join(exc.errors))
        return exitcodes.INVALID_CONFIG
    for warning in config.warnings:
        print(f"warning: {warning}")
    print("OK")
    return exitcodes.OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from daemon import store

    config = _load_config_or_exit(args)
    try:
        revision = store.upgrade(config.store.url)
    except store.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    print(f"store {store.describe_url(config.store.url)} is at revision {revision}")
    return exitcodes.OK


def cmd_simulator(args: argparse.Namespace) -> int:
    from daemon import simulator

    return simulator.run_foreground(host=args.host, port=args.port)


# --- parser -----------------------------------------------------------------


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help=f"rules file (default: $AUTOCANCEL_CONFIG or ./{DEFAULT_CONFIG})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autocancel",
        description="Rule-based auto-cancellation of Dükkango orders.",
    )
    parser.add_argument("--version", action="version", version=f"autocancel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_config_option(sub)
        sub.set_defaults(handler=handler)
        return sub

    command("check", cmd_check, "validate rules.yaml; print OK or every error")

    db = commands.add_parser("db", help="order-store maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create or migrate the store")
    _add_config_option(upgrade)
    upgrade.set_defaults(handler=cmd_db_upgrade)

    sim = command("simulator", cmd_simulator, "run the local Dükkango stand-in for rehearsals")
    sim.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    return parser


def _configure_logging(verbose: bool) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130

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

from daemon import __version__
from daemon.domain import exitcodes

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.store.readonly import ReadingConfig

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
    from daemon.config.load import ConfigError, load_config

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


def _load_config_for_reading(args: argparse.Namespace) -> ReadingConfig:
    """status, audit and explain: an invalid file is a warning while its store can be read.

    The daemon keeps its last good rules running; these commands are how an
    operator sees what it does meanwhile. Commands that act still exit 2.
    """
    from daemon.config.load import ConfigError
    from daemon.store import connect
    from daemon.store.readonly import check_store, load_for_reading

    path = _config_path(args)
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


def _port(text: str) -> int:
    """A TCP port for argparse: a usage error (exit 2) instead of a crash at bind time."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port: use 1-65535 (or 0 for any free port)"
        )
    return port


# --- commands ---------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from daemon.config.load import ConfigError, load_config

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
    from daemon.store import connect, migrate

    config = _load_config_or_exit(args)
    try:
        revision = migrate.upgrade(config.store.url)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    print(f"store {connect.describe_url(config.store.url)} is at revision {revision}")
    return exitcodes.OK


def cmd_once(args: argparse.Namespace) -> int:
    from daemon.cli import operations

    config = _load_config_or_exit(args)
    return operations.once(config, dry_run=args.dry_run, as_json=args.json)


def cmd_audit(args: argparse.Namespace) -> int:
    from daemon.cli import operations

    config = _load_config_for_reading(args).config
    return operations.audit(config, since=args.since, until=args.until, fmt=args.format)


def cmd_status(args: argparse.Namespace) -> int:
    from daemon.cli import status

    return status.status(_load_config_for_reading(args), as_json=args.json)


def cmd_explain(args: argparse.Namespace) -> int:
    from daemon.cli import explain

    reading = _load_config_for_reading(args)
    if not reading.valid:
        print(
            f"note: {reading.config.source} is invalid ({', '.join(sorted(reading.broken))}): "
            "judged with what still validates in it (invalid rules left out, defaults for "
            "invalid settings); a running daemon keeps its last good rules, which may differ"
        )
    return explain.explain(reading.config, args.payment_key)


def cmd_cancel(args: argparse.Namespace) -> int:
    from daemon.cli import manual

    config = _load_config_or_exit(args)
    return manual.cancel(
        config,
        args.payment_key,
        reason_id=args.reason,
        note=args.note,
        assume_yes=args.yes,
        force=args.force,
        by=args.by,
        dry_run=args.dry_run,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from daemon import demo

    if args.config:  # every command validates a file it is given
        _load_config_or_exit(args)
    return demo.run(keep=args.keep, verbose=args.verbose)


def cmd_run(args: argparse.Namespace) -> int:
    from daemon.service import daemon as service

    return service.run(_load_config_or_exit(args), dry_run=args.dry_run)


def cmd_sync(args: argparse.Namespace) -> int:
    from daemon.service import sync

    return sync.run_command(_load_config_or_exit(args), once=args.once)


def cmd_simulator(args: argparse.Namespace) -> int:
    from daemon.cli import rehearsal

    # The stand-in needs no rules unless it loads the store, but a file it is
    # given is checked.
    config = _load_config_or_exit(args) if args.config or args.from_store else None
    return rehearsal.run_simulator(
        config if args.from_store else None,
        host=args.host,
        port=args.port,
        geocode_file=args.geocode_file,
    )


# --- parser -----------------------------------------------------------------


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help=f"rules file (default: $AUTOCANCEL_CONFIG or ./{DEFAULT_CONFIG})",
    )
    # -v after the command name too (`autocancel once -v`). SUPPRESS: when it is
    # not given here, the value from before the command name stands.
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at DEBUG level"
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

    once = command("once", cmd_once, "run one full pass, print one row per decision, exit")
    once.add_argument("--dry-run", action="store_true", help="decide and record, send nothing")
    once.add_argument("--json", action="store_true", help="one JSON object per decision per line")

    run = command("run", cmd_run, "the daemon, in the foreground (systemd runs this)")
    run.add_argument("--dry-run", action="store_true", help="decide and record, send nothing")

    sync = command("sync", cmd_sync, "pull orders/get-current into the store")
    sync.add_argument("--once", action="store_true", help="one poll, then exit")

    audit = command("audit", cmd_audit, "show the ledger: what was cancelled, why, the outcome")
    audit.add_argument(
        "--since",
        metavar="T",
        help="only entries from this time on: today, "
        "1h (an hour ago), 14:00 (local time) or ISO 8601",
    )
    audit.add_argument("--until", metavar="T", help="only entries before this time (same forms)")
    audit.add_argument("--format", choices=("table", "json", "csv"), default="table")

    explain = command("explain", cmd_explain, "every rule's verdict on one order, with evidence")
    explain.add_argument("payment_key", metavar="PAYMENT_KEY")

    cancel = command(
        "cancel", cmd_cancel, "a staff-confirmed manual cancellation (reasons 4, 5, 8)"
    )
    cancel.add_argument("payment_key", metavar="PAYMENT_KEY")
    cancel.add_argument(
        "--reason",
        type=int,
        required=True,
        metavar="N",
        help="4 customer canceled, 5 technical issue, 8 other",
    )
    cancel.add_argument("--note", metavar="TEXT", help="kept in the ledger")
    cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    cancel.add_argument(
        "--force",
        action="store_true",
        help="cancel even an order of a restaurant not in rules.yaml, or one "
        "in safety.never_cancel (recorded in the ledger)",
    )
    cancel.add_argument(
        "--by", metavar="NAME", help="who confirmed it, kept in the ledger (default: the OS user)"
    )
    cancel.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be cancelled, send nothing (as dry_run: true)",
    )

    status = command(
        "status", cmd_status, "last pass and its result, API health, closures, safety budget left"
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    demo = command(
        "demo",
        cmd_demo,
        "seeded store + local simulator, one live pass, report "
        "(uses its own temporary rules and store)",
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo folder afterwards")

    db = commands.add_parser("db", help="order-store maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create or migrate the store")
    _add_config_option(upgrade)
    upgrade.set_defaults(handler=cmd_db_upgrade)

    sim = command("simulator", cmd_simulator, "run the local Dükkango stand-in for rehearsals")
    sim.add_argument("--port", type=_port, default=8080, help="port to listen on (default 8080)")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument(
        "--from-store",
        action="store_true",
        help="serve the store's active orders, the restaurants of rules.yaml and "
        "the stock foods (-c names the rules file)",
    )
    sim.add_argument(
        "--geocode-file",
        metavar="F",
        type=Path,
        help="YAML: address -> [latitude, longitude] or not_found; any other "
        "address is answered as unknown",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130

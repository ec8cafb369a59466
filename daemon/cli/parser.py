"""The ``autocancel`` argument parser: every command, its options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from daemon import __version__
from daemon.cli.commands import (
    cmd_audit,
    cmd_cancel,
    cmd_check,
    cmd_db_upgrade,
    cmd_demo,
    cmd_diff,
    cmd_explain,
    cmd_food_reactivate,
    cmd_foods,
    cmd_notify_test,
    cmd_once,
    cmd_pause,
    cmd_pauses,
    cmd_release,
    cmd_reopen,
    cmd_replay,
    cmd_report,
    cmd_resume,
    cmd_run,
    cmd_simulator,
    cmd_status,
    cmd_summary,
    cmd_sync,
    cmd_test,
)
from daemon.cli.loading import DEFAULT_CONFIG


class _Command(Protocol):
    """``build_parser``'s helper: a subcommand with the common options."""

    def __call__(
        self, name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser: ...


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message on stderr."""


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


def _add_summary_command(command: _Command) -> None:
    summary = command(
        "summary", cmd_summary, "per restaurant and rule: what was cancelled, closed, switched off"
    )
    summary.add_argument(
        "--since", metavar="T", help="from this time on (default: today); same forms as audit"
    )
    summary.add_argument("--until", metavar="T", help="up to this time (same forms)")
    summary.add_argument("--format", choices=("table", "json"), default="table")


def _add_report_command(command: _Command) -> None:
    report = command(
        "report",
        cmd_report,
        "write the audit report: one self-contained HTML page of every decision, "
        "with charts, closures and the rules files in force",
    )
    report.add_argument(
        "--html", metavar="FILE", required=True, help="the page to write (replaced atomically)"
    )
    report.add_argument(
        "--since",
        metavar="T",
        help="from this time on (default: the whole ledger); same forms as audit",
    )
    report.add_argument("--until", metavar="T", help="up to this time (same forms)")
    report.add_argument(
        "--dry-run-only", action="store_true", help="only the decisions taken in dry-run"
    )


def _add_closure_overrides(command: _Command) -> None:
    """``reopen`` and ``release``: people ending a closure autocancel made (README "Overrides")."""
    reopen = command(
        "reopen",
        cmd_reopen,
        "reopen a restaurant autocancel closed (PUT restaurants/status/open), now",
    )
    release = command(
        "release",
        cmd_release,
        "give up autocancel's closure of a restaurant without reopening it (staff keep it "
        "closed by hand; the daemon never reopens it)",
    )
    for sub, verb in ((reopen, "reopens"), (release, "releases")):
        sub.add_argument("restaurant", metavar="RESTAURANT", help="its id or name in rules.yaml")
        sub.add_argument(
            "--by",
            metavar="NAME",
            help=f"who {verb} it, kept with the closure (default: the OS user)",
        )


def _add_food_commands(command: _Command) -> None:
    """``foods`` and ``food-reactivate``: the foods autocancel has off, and the way back."""
    foods = command(
        "foods",
        cmd_foods,
        "the foods autocancel has off: since when, why, and when each comes back",
    )
    foods.add_argument("--json", action="store_true", help="one JSON object per food per line")

    reactivate = command(
        "food-reactivate",
        cmd_food_reactivate,
        "put a food autocancel deactivated back on sale now (recorded for audit)",
    )
    reactivate.add_argument(
        "food_id", metavar="FOOD_ID", help="the food's id, as in the stock table"
    )
    reactivate.add_argument(
        "--by", metavar="NAME", help="who asks, kept for audit (default: the OS user)"
    )
    reactivate.add_argument("--note", metavar="TEXT", help="why, kept for audit")
    reactivate.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be reactivated, send nothing (as dry_run: true)",
    )


def _add_override_commands(command: _Command) -> None:
    """The ways staff take back what the daemon does (README "Overrides")."""
    _add_pause_commands(command)
    _add_food_commands(command)
    _add_closure_overrides(command)


def _add_span_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="since",
        metavar="T",
        help="replay from this time: ISO 8601, today, 2d (two days ago), 14:00 (local time); "
        "default: a day before --to, or the start of the history",
    )
    parser.add_argument(
        "--to", dest="until", metavar="T", help="replay up to this time (same forms; default: now)"
    )


def _add_review_commands(command: _Command) -> None:
    """replay and diff: a rules file over the order history."""
    replay = command(
        "replay",
        cmd_replay,
        "replay a rules file over the order history: what it would have cancelled, "
        "closed and held (sends nothing, writes nothing)",
    )
    replay.add_argument(
        "--rules",
        metavar="FILE",
        help="the rules file to replay (default: the -c file); -c names the store",
    )
    _add_span_options(replay)
    replay.add_argument("--json", action="store_true", help="the report as one JSON object")

    diff = command(
        "diff",
        cmd_diff,
        "replay two rules files over the same history: the orders decided differently",
    )
    diff.add_argument("old", metavar="OLD", help="the rules file as it is")
    diff.add_argument("new", metavar="NEW", help="the rules file as proposed")
    _add_span_options(diff)
    diff.add_argument(
        "--now", action="store_true", help="also judge the store as it is now with both files"
    )
    diff.add_argument("--format", choices=("table", "json", "markdown"), default="table")


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

    explain = command(
        "explain", cmd_explain, "every rule's verdict on orders, with evidence (one plan for all)"
    )
    explain.add_argument("payment_keys", metavar="PAYMENT_KEY", nargs="+")

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

    notify_test = command(
        "notify-test", cmd_notify_test, "send a test message to one notification channel"
    )
    notify_test.add_argument("channel", metavar="CHANNEL", help="a channel of notifications")
    _add_override_commands(command)

    status = command(
        "status", cmd_status, "last pass and its result, API health, closures, safety budget left"
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    for add_commands in (_add_summary_command, _add_report_command, _add_test_command):
        add_commands(command)

    demo = command(
        "demo",
        cmd_demo,
        "seeded store + local simulator, one live pass, report "
        "(uses its own temporary rules and store)",
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo folder afterwards")

    _add_review_commands(command)

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


def _add_test_command(command: _Command) -> None:
    """autocancel test: the rules unit tests (README, "Testing rules")."""
    test = command(
        "test",
        cmd_test,
        "run rules unit tests: each step a pass in memory (no store, no network), "
        "its decisions and side effects checked",
    )
    test.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        type=Path,
        help="test files (YAML; see README, 'Testing rules'); a file that names no "
        "rules tests the -c file. Default: rules-test.yaml beside the -c file",
    )
    test.add_argument(
        "--json", action="store_true", help="one JSON object per test (or problem) per line"
    )


def _add_pause_commands(command: _Command) -> None:
    """``pause``, ``resume`` and ``pauses`` (daemon.cli.pausing)."""
    pause = command(
        "pause",
        cmd_pause,
        "pause automatic cancellations (a rule, a restaurant, or all) until a time; "
        "every pause ends by itself",
    )
    pause.add_argument("--rule", metavar="NAME", help="only this rule of rules.yaml")
    pause.add_argument(
        "--restaurant", metavar="ID_OR_NAME", help="only this restaurant of rules.yaml"
    )
    pause.add_argument(
        "--for", dest="for_text", metavar="DURATION", help="how long: 30m, 2h, 1h30m, end-of-day"
    )
    pause.add_argument(
        "--until",
        dest="until_text",
        metavar="TIME",
        help="until when: 18:00 (today, rules.yaml's timezone), 'tomorrow 09:00', end-of-day, "
        "ISO 8601",
    )
    pause.add_argument("--comment", metavar="TEXT", help="why (required; shown in status, audit)")
    pause.add_argument(
        "--by", metavar="NAME", help="who pauses, kept with the pause (default: the OS user)"
    )

    resume = command("resume", cmd_resume, "end a pause now (the only one in force, or ID)")
    resume.add_argument("pause_id", metavar="ID", nargs="?", help="the pause, as `pauses` lists it")
    resume.add_argument("--all", dest="every", action="store_true", help="every pause in force")
    resume.add_argument(
        "--by", metavar="NAME", help="who resumes, kept with the pause (default: the OS user)"
    )

    listing = command("pauses", cmd_pauses, "the pauses in force, with their time left")
    listing.add_argument("--json", action="store_true", help="one JSON object per pause per line")
    listing.add_argument(
        "--all", dest="every", action="store_true", help="every pause on record, ended ones too"
    )

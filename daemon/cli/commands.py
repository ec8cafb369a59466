"""One handler per command: load the rules file as the command needs it, then hand over.

Every command lives in the module that does its job and is imported lazily,
so ``autocancel check`` does not pay for httpx or the scheduler.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli.loading import config_path, load_config_for_reading, load_config_or_exit
from daemon.domain import exitcodes

if TYPE_CHECKING:
    from daemon.config.models import Config


def cmd_check(args: argparse.Namespace) -> int:
    from daemon.config.load import ConfigError, load_config

    try:
        config = load_config(config_path(args))
    except ConfigError as exc:
        print("\n".join(exc.errors))
        return exitcodes.INVALID_CONFIG
    for warning in config.warnings:
        print(f"warning: {warning}")
    print("OK")
    return exitcodes.OK


def cmd_test(args: argparse.Namespace) -> int:
    from daemon.cli import ruletest

    # The rules are each test file's own (or the -c file's): validated by the test run.
    rules = config_path(args)
    files = args.files or [ruletest.beside(rules)]
    if not args.files and not files[0].exists():
        print(
            f"autocancel test: name the test files, or put them in {files[0]} (beside the "
            "rules file) to run them without naming them",
            file=sys.stderr,
        )
        return exitcodes.INVALID_CONFIG
    return ruletest.run(files, default_rules=rules, as_json=args.json, verbose=args.verbose)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from daemon.store import connect, migrate

    config = load_config_or_exit(args)
    try:
        revision = migrate.upgrade(config.store.url)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    print(f"store {connect.describe_url(config.store.url)} is at revision {revision}")
    return exitcodes.OK


def cmd_once(args: argparse.Namespace) -> int:
    from daemon.cli import operations

    config = load_config_or_exit(args)
    return operations.once(config, dry_run=args.dry_run, as_json=args.json)


def cmd_audit(args: argparse.Namespace) -> int:
    from daemon.cli import operations

    config = load_config_for_reading(args).config
    return operations.audit(config, since=args.since, until=args.until, fmt=args.format)


def cmd_summary(args: argparse.Namespace) -> int:
    from daemon.cli import summary

    config = load_config_for_reading(args).config
    return summary.summary(config, since=args.since, until=args.until, fmt=args.format)


def cmd_report(args: argparse.Namespace) -> int:
    from daemon.cli.auditreport import command

    config = load_config_for_reading(args).config
    return command.html_report(
        config,
        target=args.html,
        since=args.since,
        until=args.until,
        dry_run_only=args.dry_run_only,
    )


def cmd_notify_test(args: argparse.Namespace) -> int:
    from daemon.cli import notices

    return notices.notify_test(load_config_or_exit(args), args.channel)


def cmd_status(args: argparse.Namespace) -> int:
    from daemon.cli import status

    return status.status(load_config_for_reading(args), as_json=args.json)


def cmd_explain(args: argparse.Namespace) -> int:
    from daemon.cli import explain

    reading = load_config_for_reading(args)
    if not reading.valid:
        print(
            f"note: {reading.config.source} is invalid ({', '.join(sorted(reading.broken))}): "
            "judged with what still validates in it (invalid rules left out, defaults for "
            "invalid settings); a running daemon keeps its last good rules, which may differ"
        )
    return explain.explain(reading.config, args.payment_keys)


def cmd_cancel(args: argparse.Namespace) -> int:
    from daemon.cli import manual

    config = load_config_or_exit(args)
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


def cmd_reopen(args: argparse.Namespace) -> int:
    from daemon.cli import closures

    return closures.reopen(load_config_or_exit(args), args.restaurant, by=args.by)


def cmd_release(args: argparse.Namespace) -> int:
    from daemon.cli import closures

    return closures.release_command(load_config_or_exit(args), args.restaurant, by=args.by)


def cmd_pause(args: argparse.Namespace) -> int:
    from daemon.cli import pausing

    # The off-switch works while rules.yaml is invalid, as status does (daemon.cli.pausing).
    return pausing.pause(
        load_config_for_reading(args),
        rule=args.rule,
        restaurant=args.restaurant,
        for_text=args.for_text,
        until_text=args.until_text,
        comment=args.comment,
        by=args.by,
    )


def cmd_resume(args: argparse.Namespace) -> int:
    from daemon.cli import pausing

    return pausing.resume(
        load_config_for_reading(args), pause_id=args.pause_id, every=args.every, by=args.by
    )


def cmd_pauses(args: argparse.Namespace) -> int:
    from daemon.cli import pausing

    return pausing.list_pauses(load_config_for_reading(args), as_json=args.json, every=args.every)


def cmd_demo(args: argparse.Namespace) -> int:
    from daemon import demo

    if args.config:  # every command validates a file it is given
        load_config_or_exit(args)
    return demo.run(keep=args.keep, verbose=args.verbose)


def cmd_run(args: argparse.Namespace) -> int:
    from daemon.service import daemon as service

    return service.run(load_config_or_exit(args), dry_run=args.dry_run)


def cmd_sync(args: argparse.Namespace) -> int:
    from daemon.service import sync

    return sync.run_command(load_config_or_exit(args), once=args.once)


def cmd_simulator(args: argparse.Namespace) -> int:
    from daemon.cli import rehearsal

    # The stand-in needs no rules unless it loads the store, but a file it is
    # given is checked.
    config = load_config_or_exit(args) if args.config or args.from_store else None
    return rehearsal.run_simulator(
        config if args.from_store else None,
        host=args.host,
        port=args.port,
        geocode_file=args.geocode_file,
    )


def cmd_foods(args: argparse.Namespace) -> int:
    from daemon.cli import foods

    return foods.list_foods(load_config_for_reading(args), as_json=args.json)


def cmd_food_reactivate(args: argparse.Namespace) -> int:
    from daemon.cli import foods
    from daemon.cli.person import os_user

    config = load_config_or_exit(args)
    return foods.reactivate(
        config,
        args.food_id,
        by=args.by,
        note=args.note,
        who_default=os_user(),
        dry_run=args.dry_run,
    )


def _review_configs(args: argparse.Namespace, paths: list[str]) -> tuple[Config, list[Config]]:
    """The store's configuration (``-c``) and the rules files to replay (exit 2 if invalid).

    Without ``-c`` (nor AUTOCANCEL_CONFIG, nor ./rules.yaml) the first file names the store.
    """
    from daemon.cli import review

    try:
        rules = [review.load_rules(Path(path)) for path in paths]
    except review.UsageError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(exitcodes.INVALID_CONFIG) from None
    if args.config or os.environ.get("AUTOCANCEL_CONFIG") or config_path(args).exists():
        return load_config_for_reading(args).config, rules
    return rules[0], rules


def cmd_replay(args: argparse.Namespace) -> int:
    from daemon.cli import review

    if args.rules is None:
        config = load_config_or_exit(args)
        store, rules = config, config
    else:
        store, (rules,) = _review_configs(args, [args.rules])
    return review.run_replay(store, rules, since=args.since, until=args.until, as_json=args.json)


def cmd_diff(args: argparse.Namespace) -> int:
    from daemon.cli import review

    store, (old, new) = _review_configs(args, [args.old, args.new])
    return review.run_diff(
        store,
        old,
        new,
        since=args.since,
        until=args.until,
        now=args.now,
        fmt=args.format,
    )

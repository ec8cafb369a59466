"""``autocancel replay`` and ``autocancel diff``: a rules file replayed over the order history.

The store is the one ``-c`` names (the daemon's rules.yaml; AUTOCANCEL_STORE_URL
overrides), opened read-only; ``--rules FILE`` (replay) or ``OLD NEW`` (diff)
give the rules, restaurants, limits, schedule and time zone replayed. Nothing
is sent and nothing is written but the report on stdout.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daemon.cli import markdown as md
from daemon.cli.progress import ReplayProgress
from daemon.config.load import ConfigError, load_config
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.printable import printable
from daemon.domain.reasons import REASONS_EN
from daemon.domain.timespec import FORMS, BadMoment, parse_moment
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.engine.replay import summary
from daemon.engine.replay.diff import GROUPS, Difference, RulesDiff, compare, revenue
from daemon.engine.replay.load import Coverage, NoHistory, evaluate_now, read_coverage, replay
from daemon.engine.replay.outcomes import OrderOutcome, ReplayResult
from daemon.store import connect
from daemon.store.names import Names
from daemon.store.readonly import open_read_only

# The limits' CRITICAL lines ("holding N cancellations") are what the live daemon would
# log; a replay plans thousands of passes and counts them in its report instead.
_PLANNING_LOGGER = "daemon.engine.safety"

# A replay allocates a few short-lived objects per order per pass (verdicts, tuples,
# dicts) and keeps a large heap (the memo, the orders): at the default thresholds the
# collector walks that heap over and over for nothing (about a tenth of a day's replay).
# Almost nothing it leaves is a cycle (reference counting frees it): a young
# collection every million objects more costs a day's replay about 5 % less than one
# every 50,000, at the same peak memory (bench/README.md). Collections are only made
# rarer, never turned off.
REPLAY_GC_THRESHOLDS = (1_000_000, 10, 100)


@contextmanager
def _replaying() -> Iterator[None]:
    """While replaying: the limits' log lines off, the garbage collector's thresholds raised."""
    logger = logging.getLogger(_PLANNING_LOGGER)
    was_disabled, thresholds = logger.disabled, gc.get_threshold()
    logger.disabled = True
    gc.set_threshold(*REPLAY_GC_THRESHOLDS)
    try:
        yield
    finally:
        logger.disabled = was_disabled
        gc.set_threshold(*thresholds)


def _replayed(
    config: Config, engine: sa.Engine, chosen: Span, covered: Coverage, *, what: str
) -> ReplayResult:
    """One rules file replayed over the span, its progress on the terminal."""
    with ReplayProgress(what, start=chosen.start, end=chosen.end, stream=sys.stderr) as progress:
        return replay(
            config, engine, start=chosen.start, end=chosen.end, covered=covered, progress=progress
        )


# Without --from: the last day of the history.
DEFAULT_SPAN = timedelta(days=1)


class UsageError(Exception):
    """Bad input on the command line or in a file: exit 2."""


def load_rules(path: Path) -> Config:
    """A rules file to replay, validated as every command validates it (exit 2 if invalid)."""
    if not path.is_file():
        raise UsageError(f"error: no rules file {path}")
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise UsageError("\n".join(exc.errors)) from None
    return config


@dataclass(frozen=True)
class Asked:
    """--from and --to as given: read before the store is opened (a typo is exit 2)."""

    start: datetime | None
    end: datetime

    @classmethod
    def read(cls, *, since: str | None, until: str | None, config: Config) -> Asked:
        now = utcnow()
        end = _moment("--to", until, config, now) if until else now
        start = _moment("--from", since, config, now) if since else None
        if start is not None and start >= end:
            raise UsageError(
                f"error: --from {isoformat_z(start)} is not before --to {isoformat_z(end)}"
            )
        return cls(start, end)


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    note: str | None = None  # said on stderr: how --from was adjusted


def span(covered: Coverage, asked: Asked) -> Span:
    """The times to replay: --from defaults to a day before --to, never before the history."""
    end = asked.end
    start = asked.start if asked.start is not None else max(covered.since, end - DEFAULT_SPAN)
    note = None
    if start < covered.since:
        note = (
            f"note: the history is complete from {isoformat_z(covered.since)} (history."
            f"retention_days, or when the daemon first recorded it): replaying from there"
        )
        start = covered.since
    if start >= end:
        raise UsageError(
            f"error: the history starts at {isoformat_z(covered.since)}, not before --to "
            f"{isoformat_z(end)}: nothing to replay"
        )
    return Span(start, end, note)


def _moment(flag: str, text: str, config: Config, now: datetime) -> datetime:
    try:
        return parse_moment(text, now=now, zone=config.zone)
    except BadMoment as exc:
        raise UsageError(f"error: {flag}: {exc}; use {FORMS}") from None


# --- replay -------------------------------------------------------------------------


def _open(
    store: Config, rules: Config, *, since: str | None, until: str | None
) -> tuple[Asked, sa.Engine] | int:
    """The asked span (read on ``rules``' clock) and the store, read-only; or the exit code."""
    try:
        asked = Asked.read(since=since, until=until, config=rules)
        engine = open_read_only(store.store.url)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    return asked, engine


def _chosen_span(config: Config, engine: sa.Engine, asked: Asked) -> tuple[Coverage, Span]:
    """What the history covers, and the span to replay in it (saying how it was narrowed)."""
    covered = read_coverage(config, engine)
    chosen = span(covered, asked)
    if chosen.note:
        print(chosen.note, file=sys.stderr)
    return covered, chosen


def run_replay(
    store: Config, rules: Config, *, since: str | None, until: str | None, as_json: bool
) -> int:
    opened = _open(store, rules, since=since, until=until)
    if isinstance(opened, int):
        return opened
    asked, engine = opened
    try:
        covered, chosen = _chosen_span(rules, engine, asked)
        with _replaying():
            result = _replayed(rules, engine, chosen, covered, what=f"replaying {rules.source}")
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    except NoHistory as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    except sa.exc.SQLAlchemyError as exc:
        print(
            f"error: cannot read the order history: {connect.describe_db_error(exc)}",
            file=sys.stderr,
        )
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    if as_json:
        report = {"rules": str(rules.source), **summary.report(result, rules.zone)}
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_replay(result, rules)
    return exitcodes.OK


def _money(value: Decimal | str) -> str:
    return f"{Decimal(value):,.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = "  ") -> None:
    # Names and keys come from rules.yaml and the POS: a newline or an escape sequence in
    # one must not forge a line or repaint the terminal.
    cells = [[str(c) for c in header], *[[printable(str(c)) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print(
            indent
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def print_replay(result: ReplayResult, rules: Config) -> None:
    names = Names.of(rules.restaurants)
    zone = rules.zone
    print(f"replay of {rules.source} from {isoformat_z(result.start)} to {isoformat_z(result.end)}")
    print(
        f"  {result.changes} changes, {result.passes} passes ({result.full_passes} full), "
        f"{result.orders_seen} orders seen"
    )
    for gap in result.unwatched:
        print(f"  not watched (no daemon ran): {isoformat_z(gap.start)} to {isoformat_z(gap.end)}")
    totals = summary.report(result, zone)["decisions"]
    print(
        f"orders: {totals['cancelled']} cancelled (revenue {_money(totals['revenue'])}), "
        f"{totals['would_cancel']} would be cancelled by dry-run rules (revenue "
        f"{_money(totals['would_cancel_revenue'])}), {totals['held']} held "
        f"by the limits, {totals['skipped']} skipped by safety or a pause"
    )
    by_rule = summary.by_rule(result)
    if by_rule:
        print("by rule and reason:")
        _table(
            ["rule", "reason", "cancelled", "would_cancel", "held", "skipped", "revenue"],
            [
                [
                    row["rule"],
                    f"{row['reason_id']} {row['reason']}",
                    row["cancelled"],
                    row["would_cancel"],
                    row["held"],
                    row["skipped"],
                    _money(row["revenue"]),
                ]
                for row in by_rule
            ],
        )
        print("by restaurant:")
        _table(
            ["restaurant", "cancelled", "would_cancel", "held", "skipped", "revenue", "closures"],
            [
                [
                    names.restaurant(row["restaurant_id"]),
                    row["cancelled"],
                    row["would_cancel"],
                    row["held"],
                    row["skipped"],
                    _money(row["revenue"]),
                    row["closures"],
                ]
                for row in summary.by_restaurant(result)
            ],
        )
        print(f"by hour ({rules.timezone}):")
        _table(
            ["hour", "cancelled", "would_cancel", "held", "skipped", "revenue"],
            [
                [
                    row["hour"],
                    row["cancelled"],
                    row["would_cancel"],
                    row["held"],
                    row["skipped"],
                    _money(row["revenue"]),
                ]
                for row in summary.by_hour(result, zone)
            ],
        )
    if result.closures:
        print("closures:")
        _table(
            ["restaurant", "rule", "closed", "reopened", "minutes", "ended by"],
            [
                [
                    names.restaurant(span.restaurant_id),
                    span.rule,
                    isoformat_z(span.closed_at),
                    "still closed" if span.reopened_at is None else isoformat_z(span.reopened_at),
                    f"{span.minutes(result.end):.1f}",
                    "" if span.reopened_at is None else span.ended_by or "the rule",
                ]
                for span in sorted(result.closures, key=lambda s: s.closed_at)
            ],
        )
    held = summary.held(result)
    limits = ", ".join(f"{limit} {count}" for limit, count in held["by_limit"].items())
    print(
        f"held by the limits: {held['orders']} order(s)"
        + (f" ({limits})" if limits else "")
        + f"; {held['then_cancelled']} held, then cancelled once the limit allowed"
    )
    _print_people(result, names)
    skipped = summary.skipped(result)
    if skipped:
        print("skipped: " + ", ".join(f"{cause} {count}" for cause, count in skipped.items()))
    if result.foods:
        print(f"foods deactivated: {', '.join(str(f.food_id) for f in result.foods)}")
    if result.foods_reactivated:
        back = (f"{f.food_id} ({f.trigger})" for f in result.foods_reactivated)
        print(f"foods reactivated: {', '.join(back)}")


def _print_people(result: ReplayResult, names: Names) -> None:
    """What the pauses held, and the closures people ended (reopen, release, staff)."""
    paused = summary.paused(result)
    if result.pauses or paused["then_cancelled"]:
        by_pause = ", ".join(
            f"pause {pause} {count}" for pause, count in paused["by_pause"].items()
        )
        print(
            f"held by pauses: {paused['orders']} order(s)"
            + (f" ({by_pause})" if by_pause else "")
            + f"; {paused['then_cancelled']} paused, then cancelled once the pause ended"
        )
    for pause in sorted(result.pauses, key=lambda p: p.id):
        held_from, held_to = summary.pause_span(pause, result.start, result.end)
        to = "the end" if held_to is None else isoformat_z(held_to)
        print(
            f"  pause {pause.id}: {pause.scope(names.restaurant(pause.restaurant_id))}, "
            f"{isoformat_z(held_from)} to {to}, by {printable(pause.created_by)} "
            f'("{printable(pause.comment)}")'
        )
    for override in result.overrides:
        what = (
            "ended the replay's closure"
            if override.ended_closure
            else "nothing to end: the replayed rules had not closed it"
        )
        respected = (
            ""
            if override.respect_ended_at is None
            else f", respected until {isoformat_z(override.respect_ended_at)} (the load fell)"
        )
        by = "" if override.by is None else f" by {printable(override.by)}"
        print(
            f"override: {names.restaurant(override.restaurant_id)} {override.kind}{by} at "
            f"{isoformat_z(override.at)}: {what}{respected}"
        )


# --- diff ---------------------------------------------------------------------------


def run_diff(
    store: Config,
    old: Config,
    new: Config,
    *,
    since: str | None,
    until: str | None,
    now: bool,
    fmt: str,
) -> int:
    opened = _open(store, new, since=since, until=until)
    if isinstance(opened, int):
        return opened
    asked, engine = opened
    try:
        covered, chosen = _chosen_span(new, engine, asked)
        with _replaying():
            before = _replayed(old, engine, chosen, covered, what=f"replaying {old.source} (old)")
            after = _replayed(new, engine, chosen, covered, what=f"replaying {new.source} (new)")
            current = evaluate_now([old, new], engine) if now else None
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    except NoHistory as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    except sa.exc.SQLAlchemyError as exc:
        print(
            f"error: cannot read the order store: {connect.describe_db_error(exc)}", file=sys.stderr
        )
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    shown = Compared(
        old=old,
        new=new,
        result=before,
        found=compare(before.orders, after.orders),
        on_now=None if current is None else compare(current[0], current[1]),
        names=Names.of((*old.restaurants, *new.restaurants)),
    )
    if fmt == "json":
        print(json.dumps(_diff_json(shown), ensure_ascii=False))
    elif fmt == "markdown":
        print_markdown(shown)
    else:
        print_diff_table(shown)
    return exitcodes.OK


@dataclass(frozen=True)
class Compared:
    """What ``diff`` prints: the two files, the old one's replay, and the differences."""

    old: Config
    new: Config
    result: ReplayResult
    found: RulesDiff
    on_now: RulesDiff | None
    names: Names

    def sections(self, replay_title: str, now_title: str) -> list[tuple[str, RulesDiff]]:
        return [(replay_title, self.found)] + (
            [] if self.on_now is None else [(now_title, self.on_now)]
        )


_TITLES = {
    "newly_cancelled": "newly cancelled",
    "no_longer_cancelled": "no longer cancelled",
    "different_rule_or_reason": "different rule or reason",
}


def _decision(outcome: OrderOutcome | None) -> str:
    if outcome is None:
        return "none"
    words = f"{outcome.rule} ({outcome.reason_id} {REASONS_EN.get(outcome.reason_id, '')})"
    if outcome.outcome in ("cancelled", "would_cancel"):
        return words + ("" if outcome.mode == "live" else ", dry-run")
    return f"{words}, {outcome.outcome}" + (f" ({outcome.because})" if outcome.because else "")


def _difference_json(difference: Difference) -> dict[str, Any]:
    return {
        "payment_key": difference.payment_key,
        "restaurant_id": difference.restaurant_id,
        "total": None if difference.total is None else str(difference.total),
        "old": None if difference.old is None else summary.outcome_json(difference.old),
        "new": None if difference.new is None else summary.outcome_json(difference.new),
    }


def _groups_json(found: RulesDiff) -> dict[str, Any]:
    return {
        name: {
            "orders": len(found.group(name)),
            "revenue": summary.money(revenue(found.group(name))),
            "changes": [_difference_json(d) for d in found.group(name)],
        }
        for name in GROUPS
    }


def _diff_json(shown: Compared) -> dict[str, Any]:
    result = shown.result
    return {
        "old": str(shown.old.source),
        "new": str(shown.new.source),
        "from": isoformat_z(result.start),
        "to": isoformat_z(result.end),
        "orders_seen": result.orders_seen,
        **{title: _groups_json(diff) for title, diff in shown.sections("replay", "now")},
    }


def print_diff_table(shown: Compared) -> None:
    """The diff as text tables for a terminal."""
    result, names = shown.result, shown.names
    print(
        f"diff {shown.old.source} -> {shown.new.source}, replayed from "
        f"{isoformat_z(result.start)} to {isoformat_z(result.end)} "
        f"({result.orders_seen} orders seen)"
    )
    for title, diff in shown.sections("replay", "now"):
        if title == "now":
            print("on the store now:")
        if diff.empty:
            print("  no order is decided differently")
            continue
        for name in GROUPS:
            group = diff.group(name)
            if not group:
                continue
            print(f"{_TITLES[name]}: {len(group)} order(s), revenue {_money(revenue(group))}")
            _table(
                ["order", "restaurant", "old", "new", "total"],
                [
                    [
                        d.payment_key,
                        names.restaurant_name(d.restaurant_id) or d.restaurant_id,
                        _decision(d.old),
                        _decision(d.new),
                        "" if d.total is None else _money(d.total),
                    ]
                    for d in group
                ],
            )


def print_markdown(shown: Compared) -> None:
    """The diff as Markdown for a review; every name and key in it shown as text (.markdown)."""
    result, names = shown.result, shown.names
    print(f"### Rules change: {md.code(str(shown.old.source))} → {md.code(str(shown.new.source))}")
    print()
    print(
        f"Replayed over the order history from {isoformat_z(result.start)} to "
        f"{isoformat_z(result.end)}: {result.orders_seen} orders seen."
    )
    for title, diff in shown.sections("Replay", "On the store now"):
        print()
        print(f"#### {title}")
        print()
        print("| change | orders | revenue |")
        print("|---|---:|---:|")
        for name in GROUPS:
            group = diff.group(name)
            print(f"| {_TITLES[name]} | {len(group)} | {_money(revenue(group))} |")
        for name in GROUPS:
            group = diff.group(name)
            if not group:
                continue
            print()
            print(f"<details><summary>{_TITLES[name]} ({len(group)})</summary>")
            print()
            print("| order | restaurant | old | new | total |")
            print("|---|---|---|---|---:|")
            for d in group:
                total = "" if d.total is None else _money(d.total)
                restaurant = names.restaurant_name(d.restaurant_id) or d.restaurant_id
                print(
                    f"| {md.code(d.payment_key)} | {md.text(restaurant)} | "
                    f"{md.text(_decision(d.old))} | {md.text(_decision(d.new))} | {total} |"
                )
            print()
            print("</details>")

"""``status`` as text for a terminal: one line per fact, names beside ids."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from daemon.cli.status.view import ApiView, PassView, StatusReport
from daemon.domain.pauses import describe_span
from daemon.domain.printable import printable
from daemon.domain.timeutil import isoformat_z

_ERROR_WORDS = {
    "http_401": "401 unauthorized",
    "http_403": "403 forbidden",
    "http_404": "404 not found",
    "http_429": "429 too many requests",
    "timeout": "timeout",
    "connection": "connection failed",
    "invalid_id": "invalid id",
}


def describe_error_code(code: str) -> str:
    if code in _ERROR_WORDS:
        return _ERROR_WORDS[code]
    if code.startswith("http_5"):
        return f"{code.removeprefix('http_')} server error"
    return code.removeprefix("http_")


def _labelled(name: str | None, ident: str) -> str:
    """``Akat Şube (8f2b…)``: the name an operator knows, beside the id; the id alone."""
    return f"{name} ({ident})" if name else ident


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def _pass_lines(view: PassView) -> list[str]:
    summary = view.summary
    line = (
        f"last pass: {isoformat_z(view.started_at)} ({view.mode}), "
        f"result {view.result or 'unfinished'}"
    )
    scope = summary.scope
    if view.orders_seen is not None and scope.get("scope") == "incremental":
        line += (
            f", incremental: {view.orders_seen} active orders of the "
            f"{scope.get('restaurants', 0)} restaurant(s) {scope.get('changes', 0)} change(s) "
            f"touched, {view.decisions} decisions"
        )
    elif view.orders_seen is not None:
        line += f", {view.orders_seen} active orders, {view.decisions} decisions"
    if view.finished_at is not None:
        line += f", finished {isoformat_z(view.finished_at)}"
    if view.error:
        line += f", error: {view.error}"
    lines = [line]
    if summary.outcomes:
        lines.append(f"  outcomes: {_counts(summary.outcomes)}")
    if summary.actions:
        lines.append(f"  actions: {_counts(summary.actions)}")
    if summary.deferred:
        lines.append(
            f"  deferred: {summary.deferred} cancellation(s) kept back while the API "
            "circuit was open"
        )
    calls = summary.calls
    if calls.sent:
        lines.append(f"  API calls: {calls.succeeded} ok, {calls.sent - calls.succeeded} failed")
    top = calls.top_error
    if top is not None:
        lines.append(
            f"  most common error: {describe_error_code(top.code)} x{top.count}"
            + (f" ({top.example})" if top.example else "")
        )
    return lines


def _api_lines(api: ApiView) -> list[str]:
    as_of = (
        f" (as of the daemon's pass finished {isoformat_z(api.circuit_as_of)})"
        if api.circuit_as_of
        else ""
    )
    if api.circuit is None:
        circuit = "API circuit: unknown (no pass of `autocancel run` on record)"
    elif api.circuit_open_since is not None:
        circuit = (
            f"API circuit: open since {isoformat_z(api.circuit_open_since)}: calls are "
            f"paused after repeated failures{as_of}"
        )
    else:
        circuit = f"API circuit: closed{as_of}"
    success = "last successful API call: " + (
        isoformat_z(api.last_success_at) if api.last_success_at else "none on record"
    )
    return [circuit, success]


def _notification_lines(report: StatusReport) -> list[str]:
    counts = report.notifications
    if not any(counts.values()):
        return []
    oldest = report.notifications_oldest_pending_at
    since = "" if oldest is None else f" (the oldest since {isoformat_z(oldest)})"
    lines = [
        f"notifications: {counts.get('pending', 0)} waiting{since}, "
        f"{counts.get('delivered', 0)} delivered, {counts.get('gave_up', 0)} given up"
    ]
    lines += [
        f"  given up: {g['event']} of {g['at']}: {g['error']}"
        for g in report.notifications_given_up
    ]
    return lines


def _digest_lines(report: StatusReport) -> list[str]:
    """Which file the daemon acts on, by digest; a file edited since loading says so."""
    loaded = report.rules_loaded
    if loaded is None:
        return []
    line = (
        f"rules in force: sha256 {loaded['digest'][:12]} of {loaded['path']}, "
        f"loaded {loaded['loaded_at']} ({loaded['event']})"
    )
    on_disk = report.rules_digest_on_disk
    if on_disk is not None and on_disk != loaded["digest"]:
        line += f"; the file on disk is now sha256 {on_disk[:12]} (not loaded yet)"
    return [line]


def render(report: StatusReport) -> str:
    lines: list[str] = []
    if report.problems:
        lines.append(
            f"rules file: {report.rules_path} is invalid ({len(report.problems)} "
            "problem(s), listed on stderr); a running daemon keeps its last good rules"
        )
    else:
        lines.append(f"rules file: {report.rules_path} is valid")
    lines += _digest_lines(report)
    if report.last_pass is None:
        lines.append("last pass: none yet")
    else:
        lines += _pass_lines(report.last_pass)
    if report.running is not None:
        lines.append(
            f"pass in progress: started {isoformat_z(report.running.started_at)} "
            f"({report.running.mode}, {report.running.host}), not finished "
            "(or its process stopped)"
        )
    lines += _api_lines(report.api)
    lines += [f"hint: {hint}" for hint in report.hints]
    lines += _pause_lines(report)
    lines += _notification_lines(report)
    lines.append(f"pending intents: {len(report.pending)}")
    lines += [
        f"  {p['payment_key']} rule={p['rule']} since {p['since']} at "
        f"{_labelled(p['restaurant_name'], p['restaurant_id'] or 'an unknown restaurant')}"
        for p in report.pending
    ]
    lines.append(f"closures in force: {len(report.closures)}")
    lines += [
        f"  {_labelled(c['restaurant_name'], c['restaurant_id'])}: closed "
        f"{c['closed_at']} by {c['rule']} ({c['outcome']}"
        + ("" if c["state"] == "in force" else f"; {c['state']}")
        + ")"
        for c in report.closures
    ]
    if report.overrides:
        lines.append(f"closures ended by people (last 24 h): {len(report.overrides)}")
        lines += [f"  {_override_line(o)}" for o in report.overrides]
    lines.append(f"foods deactivated: {len(report.food_deactivations)}")
    lines += [
        f"  {_labelled(f['food_name'], 'food ' + str(f['food_id']))} at "
        f"{_labelled(f['restaurant_name'], f['restaurant_id'] or 'every restaurant')}: "
        f"{f['outcome']} {f['at']} by {f['rule']}"
        + (f", error: {f['last_error']}" if f["last_error"] else "")
        + (f", reactivation {f['reactivation']}" if f.get("reactivation") else "")
        for f in report.food_deactivations
    ]
    if report.food_deactivations:
        lines.append("  (autocancel foods: when each comes back)")
    lines += _load_lines(report)
    if report.budget is None:
        lines.append("safety budget: unknown (the safety section of rules.yaml is invalid)")
    else:
        lines.append(
            f"safety budget: {report.budget['left']} of {report.budget['limit']} "
            "cancellations left this hour"
        )
    if report.manual_last_hour is not None:
        # A separate line: staff-confirmed cancellations never use the automatic budget.
        lines.append(
            f"manual cancellations: {report.manual_last_hour} in the last hour (not "
            "counted against max_cancellations_per_hour)"
        )
    return "\n".join(lines)


_ENDED_BY = {"reopen": "reopened by {by}", "release": "released by {by}", "staff": ""}


def _override_line(override: Mapping[str, Any]) -> str:
    """``Akat Şube (...): released by Ayşe at T (closed T0 by overloaded); respected until T1``."""
    kind = override["kind"]
    who = (
        "opened by staff on Dükkango"
        if kind == "staff"
        else _ENDED_BY.get(kind, kind).format(by=override["by"])
    )
    line = (
        f"{_labelled(override['restaurant_name'], override['restaurant_id'])}: {who} at "
        f"{override['at']} (closed {override['closed_at']} by {override['rule']}); "
    )
    if override["state"] == "respected":
        return line + (
            f"not closed again or cancelled for capacity until the load falls below "
            f"reopen_below, at the latest {override['respected_until']}"
        )
    if override["respect_ended_at"] is not None:
        return line + f"respected until {override['respect_ended_at']} (the load fell)"
    return line + f"respected until {override['respected_until'] or 'its rule was removed'}"


def _pause_lines(report: StatusReport) -> list[str]:
    """The pauses in force, first among the daemon's state: they switch automation off."""
    lines = [f"pauses in force: {len(report.pauses)}"]
    lines += [
        f"  pause {p['id']}: {p['scope']} until {p['until']} "
        f"({describe_span(timedelta(seconds=p['seconds_left']))} left), by "
        f'{printable(p["created_by"])}: "{printable(p["comment"])}"'
        for p in report.pauses
    ]
    return lines


def _load_lines(report: StatusReport) -> list[str]:
    if report.orders_error is not None:
        return [f"orders by restaurant: unknown, the orders cannot be read: {report.orders_error}"]
    if report.restaurants is None:
        return ["orders by restaurant: unknown (the safety section of rules.yaml is invalid)"]
    age = report.max_order_age_minutes
    lines = ["orders by restaurant:"]
    for load in report.restaurants:
        lines.append(
            f"  {_labelled(load.name, load.id)}: {load.active} active, {load.stale} "
            f"stale (older than {age} min; not counted as load, never cancelled)"
        )
    return lines

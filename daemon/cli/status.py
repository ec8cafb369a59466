"""``autocancel status``: what the daemon did, read from the store, as text or one JSON object.

Everything comes from the store (passes, ledger, closures, deactivations,
orders), so it is the same whichever host or process asks, and it works
while rules.yaml on disk is invalid (the daemon keeps running its last good
rules; see :mod:`daemon.readonly`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.engine import passresult
from daemon.engine.passes import safety_limits
from daemon.engine.passresult import PassSummary
from daemon.engine.plan import orders_by_restaurant
from daemon.engine.safety import protections
from daemon.service.runtime import open_store
from daemon.store import connect, ledger, schema
from daemon.store.names import Names, food_names
from daemon.store.readonly import ReadingConfig
from daemon.store.snapshot import read_snapshot

# How far back to look for the daemon's circuit state (a one-off `once` has none).
RECENT_PASSES = 50

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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


@dataclass(frozen=True, kw_only=True)
class PassView:
    id: str
    started_at: datetime
    finished_at: datetime | None
    mode: str
    host: str | None
    result: str | None
    orders_seen: int | None
    decisions: int | None
    error: str | None
    summary: PassSummary

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> PassView:
        return cls(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            mode=row["mode"],
            host=row["host"],
            result=row["result"],
            orders_seen=row["orders_seen"],
            decisions=row["decisions"],
            error=row["error"],
            summary=PassSummary.from_row(row["result"], row["summary"]),
        )

    def to_json(self) -> dict[str, Any]:
        top = self.summary.calls.top_error
        return {
            "id": self.id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "mode": self.mode,
            "host": self.host,
            "result": self.result,
            "orders_seen": self.orders_seen,
            "decisions": self.decisions,
            "outcomes": dict(self.summary.outcomes),
            "actions": dict(self.summary.actions),
            "deferred": self.summary.deferred,
            "api_calls": {
                "succeeded": self.summary.calls.succeeded,
                "failed": dict(self.summary.calls.failures),
            },
            "top_error": None
            if top is None
            else {"code": top.code, "count": top.count, "example": top.example},
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class ApiView:
    circuit: str | None  # open, closed; None: no daemon pass on record
    circuit_open_since: datetime | None
    circuit_as_of: datetime | None  # the pass that saw it
    last_success_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "circuit": self.circuit,
            "circuit_open_since": _iso(self.circuit_open_since),
            "circuit_as_of": _iso(self.circuit_as_of),
            "last_success_at": _iso(self.last_success_at),
        }


@dataclass(frozen=True, kw_only=True)
class RestaurantLoad:
    id: str
    name: str | None
    active: int
    stale: int


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    rules_path: str
    problems: tuple[str, ...]
    last_pass: PassView | None
    running: PassView | None  # started after the last finished one, not finished (yet)
    api: ApiView
    pending: tuple[Mapping[str, Any], ...]
    closures: tuple[Mapping[str, Any], ...]
    food_deactivations: tuple[Mapping[str, Any], ...]
    restaurants: tuple[RestaurantLoad, ...] | None  # None: the orders could not be read
    orders_error: str | None
    max_order_age_minutes: int | None  # None: unknown (safety section invalid)
    budget: Mapping[str, int] | None
    hints: tuple[str, ...] = field(default=())
    # Staff-confirmed cancellations of the last hour: never counted in the budget.
    manual_last_hour: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rules_file": {
                "path": self.rules_path,
                "valid": not self.problems,
                "problems": list(self.problems),
            },
            "last_pass": None if self.last_pass is None else self.last_pass.to_json(),
            "running_pass": None if self.running is None else self.running.to_json(),
            "api": self.api.to_json(),
            "pending_intents": [dict(p) for p in self.pending],
            "closures": [dict(c) for c in self.closures],
            "food_deactivations": [dict(f) for f in self.food_deactivations],
            "restaurants": None
            if self.restaurants is None
            else [
                {"id": r.id, "name": r.name, "active": r.active, "stale": r.stale}
                for r in self.restaurants
            ],
            "orders_error": self.orders_error,
            "max_order_age_minutes": self.max_order_age_minutes,
            "safety_budget": None if self.budget is None else dict(self.budget),
            "manual_cancellations_last_hour": self.manual_last_hour,
            "hints": list(self.hints),
        }


# --- reading ------------------------------------------------------------------------


def _passes(connection: sa.Connection) -> tuple[PassView | None, PassView | None, ApiView]:
    table = schema.passes
    recent = [
        PassView.from_row(row)
        for row in connection.execute(
            sa.select(table).order_by(table.c.started_at.desc()).limit(RECENT_PASSES)
        ).mappings()
    ]
    last = next((p for p in recent if p.finished_at is not None), None)
    if last is None:
        last_row = (
            connection.execute(
                sa.select(table)
                .where(table.c.finished_at.is_not(None))
                .order_by(table.c.started_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        last = None if last_row is None else PassView.from_row(last_row)
    running = recent[0] if recent and recent[0].finished_at is None else None
    tracked = next((p for p in recent if p.summary.circuit is not None), None)
    success = connection.execute(
        sa.select(table.c.last_api_success_at)
        .where(table.c.last_api_success_at.is_not(None))
        .order_by(table.c.started_at.desc())
        .limit(1)
    ).scalar()
    synced = connection.execute(sa.select(sa.func.max(schema.sync_state.c.last_success_at)))
    successes = [t for t in (success, synced.scalar()) if t is not None]
    api = ApiView(
        circuit=None if tracked is None else tracked.summary.circuit,
        circuit_open_since=None if tracked is None else tracked.summary.circuit_open_since,
        circuit_as_of=None if tracked is None else tracked.finished_at,
        last_success_at=max(successes) if successes else None,
    )
    return last, running, api


def _closures(connection: sa.Connection, names: Names) -> tuple[Mapping[str, Any], ...]:
    table = schema.restaurant_closures
    rows = connection.execute(
        sa.select(table).where(table.c.active_key.is_not(None)).order_by(table.c.closed_at)
    ).mappings()
    return tuple(
        {
            "restaurant_id": row["restaurant_id"],
            "restaurant_name": names.restaurant_name(row["restaurant_id"]),
            "closed_at": _iso(row["closed_at"]),
            "rule": row["rule"],
            "outcome": row["close_outcome"],
        }
        for row in rows
    )


def _deactivations(connection: sa.Connection, names: Names) -> tuple[Mapping[str, Any], ...]:
    table = schema.food_deactivations
    rows = list(connection.execute(sa.select(table).order_by(table.c.at)).mappings())
    foods = names.with_foods(food_names(connection, [row["food_id"] for row in rows]))
    return tuple(
        {
            "food_id": row["food_id"],
            "food_name": foods.food_name(row["food_id"]),
            "restaurant_id": row["restaurant_id"],
            "restaurant_name": foods.restaurant_name(row["restaurant_id"]),
            "at": _iso(row["at"]),
            "rule": row["rule"],
            "outcome": row["outcome"],
            "attempts": row["attempts"],
            "last_error": row["last_error"],
        }
        for row in rows
    )


def _loads(config: Config, engine: sa.Engine, now: datetime) -> tuple[RestaurantLoad, ...]:
    """Active and stale orders per listed restaurant, by the planner's own definitions.

    The rest of a load (the orders leaving) needs the rules' verdicts, positions
    included; ``explain`` shows a restaurant's whole load as the pass computes it.
    """
    with connect.snapshot_reader(engine) as connection, connection.begin():
        snapshot = read_snapshot(connection)
    limits = safety_limits(config)
    by_restaurant = orders_by_restaurant(snapshot, [r.id for r in config.restaurants])
    loads = []
    for restaurant in config.restaurants:
        orders = by_restaurant.get(restaurant.id, [])
        protected = protections(orders, limits, now)
        loads.append(
            RestaurantLoad(
                id=restaurant.id,
                name=restaurant.name,
                active=len(orders),
                stale=sum(1 for p in protected.values() if p.stale),
            )
        )
    return tuple(loads)


def gather(reading: ReadingConfig, engine: sa.Engine) -> StatusReport:
    """Raises SQLAlchemyError when the daemon's own tables cannot be read."""
    config = reading.config
    now = utcnow()
    names = Names.of(config.restaurants)
    safety_known = reading.trusts("safety")
    with engine.connect() as connection:
        last, running, api = _passes(connection)
        pending = tuple(
            {
                "payment_key": row["payment_key"],
                "rule": row["rule"],
                "since": _iso(row["at"]),
                "restaurant_id": row["restaurant_id"],
                "restaurant_name": names.restaurant_name(row["restaurant_id"]),
            }
            for row in ledger.pending_intents(connection)
        )
        closures = _closures(connection, names)
        deactivations = _deactivations(connection, names)
        used = ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
        manual = ledger.manual_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
    loads: tuple[RestaurantLoad, ...] | None = None
    orders_error = None
    if safety_known:
        try:
            loads = _loads(config, engine, now)
        except sa.exc.SQLAlchemyError as exc:  # a POS table broken: say so, show the rest
            orders_error = connect.describe_db_error(exc)
    limit = config.safety.max_cancellations_per_hour
    hints = list(passresult.hints(last.summary)) if last is not None else []
    return StatusReport(
        rules_path=str(config.source),
        problems=reading.problems,
        last_pass=last,
        running=running,
        api=api,
        pending=pending,
        closures=closures,
        food_deactivations=deactivations,
        restaurants=loads,
        orders_error=orders_error,
        max_order_age_minutes=config.safety.max_order_age_minutes if safety_known else None,
        budget={"limit": limit, "used": used, "left": max(0, limit - used)}
        if safety_known
        else None,
        hints=tuple(hints),
        manual_last_hour=manual,
    )


# --- showing ------------------------------------------------------------------------


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def _pass_lines(view: PassView) -> list[str]:
    summary = view.summary
    line = (
        f"last pass: {isoformat_z(view.started_at)} ({view.mode}), "
        f"result {view.result or 'unfinished'}"
    )
    if view.orders_seen is not None:
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


def render(report: StatusReport) -> str:
    lines: list[str] = []
    if report.problems:
        lines.append(
            f"rules file: {report.rules_path} is invalid ({len(report.problems)} "
            "problem(s), listed on stderr); a running daemon keeps its last good rules"
        )
    else:
        lines.append(f"rules file: {report.rules_path} is valid")
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
    lines.append(f"pending intents: {len(report.pending)}")
    lines += [
        f"  {p['payment_key']} rule={p['rule']} since {p['since']} at "
        f"{_labelled(p['restaurant_name'], p['restaurant_id'] or 'an unknown restaurant')}"
        for p in report.pending
    ]
    lines.append(f"closures in force: {len(report.closures)}")
    lines += [
        f"  {_labelled(c['restaurant_name'], c['restaurant_id'])}: closed "
        f"{c['closed_at']} by {c['rule']} ({c['outcome']})"
        for c in report.closures
    ]
    lines.append(f"foods deactivated: {len(report.food_deactivations)}")
    lines += [
        f"  {_labelled(f['food_name'], 'food ' + str(f['food_id']))} at "
        f"{_labelled(f['restaurant_name'], f['restaurant_id'] or 'every restaurant')}: "
        f"{f['outcome']} {f['at']} by {f['rule']}"
        + (f", error: {f['last_error']}" if f["last_error"] else "")
        for f in report.food_deactivations
    ]
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


def status(reading: ReadingConfig, *, as_json: bool) -> int:
    try:
        engine = open_store(reading.config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        report = gather(reading, engine)
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot read the store: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(render(report))
    return exitcodes.OK

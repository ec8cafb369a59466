"""What ``status`` shows, as frozen values: gathered once, rendered as text or JSON.

``to_json`` gives the shape of ``status --json`` (timestamps in ISO 8601 UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daemon.domain.timeutil import isoformat_z
from daemon.engine.passresult import PassSummary


def iso(value: datetime | None) -> str | None:
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
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "mode": self.mode,
            "host": self.host,
            "result": self.result,
            "orders_seen": self.orders_seen,
            "decisions": self.decisions,
            "outcomes": dict(self.summary.outcomes),
            "actions": dict(self.summary.actions),
            "deferred": self.summary.deferred,
            "scope": dict(self.summary.scope),
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
            "circuit_open_since": iso(self.circuit_open_since),
            "circuit_as_of": iso(self.circuit_as_of),
            "last_success_at": iso(self.last_success_at),
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
    # Closures people ended in the last 24 h (reopen, release, staff), and whether
    # the daemon still leaves the restaurant alone because of it.
    overrides: tuple[Mapping[str, Any], ...] = field(default=())
    # Staff-confirmed cancellations of the last hour: never counted in the budget.
    manual_last_hour: int | None = None
    # The pauses in force, as `pauses --json` shows them (daemon.cli.pause_view).
    pauses: tuple[Mapping[str, Any], ...] = ()
    # The outbox by state (pending, delivered, gave_up), and the last given up.
    notifications: Mapping[str, int] = field(default_factory=dict)
    notifications_given_up: tuple[Mapping[str, Any], ...] = field(default=())
    # The rules file the last process that acted loaded (daemon.store.rules_loads):
    # digest, path, loaded_at, event; None before any load was recorded.
    rules_loaded: Mapping[str, Any] | None = None
    rules_digest_on_disk: str | None = None  # SHA-256 of the file as it is now
    # When the oldest event not yet delivered was written (None: none waits).
    notifications_oldest_pending_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rules_file": {
                "path": self.rules_path,
                "valid": not self.problems,
                "problems": list(self.problems),
                "digest": self.rules_digest_on_disk,
                "loaded": None if self.rules_loaded is None else dict(self.rules_loaded),
            },
            "last_pass": None if self.last_pass is None else self.last_pass.to_json(),
            "running_pass": None if self.running is None else self.running.to_json(),
            "api": self.api.to_json(),
            "pending_intents": [dict(p) for p in self.pending],
            "pauses": [dict(p) for p in self.pauses],
            "closures": [dict(c) for c in self.closures],
            "closure_overrides": [dict(o) for o in self.overrides],
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
            "notifications": {
                **self.notifications,
                "oldest_pending_at": iso(self.notifications_oldest_pending_at),
                "given_up_recently": [dict(g) for g in self.notifications_given_up],
            },
        }

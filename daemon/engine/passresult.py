"""How a pass went, in the words ``status`` uses: ok, degraded, failed or crashed.

A pass that ran is not necessarily a pass that worked: one whose every
cancellation got 401 did nothing at all. The result is computed from what
the pass's decisions and actions came to, and kept (as codes and counts) in
its ``passes`` row with the API's answers and the circuit's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from daemon.domain.timeutil import isoformat_z, parse_timestamp
from daemon.dukkango.callstats import CallSummary

if TYPE_CHECKING:
    from daemon.domain.decisions import Decision
    from daemon.engine.side_effects import ActionResult

OK: Final = "ok"  # everything the pass decided to do went through (or nothing was to be done)
DEGRADED: Final = "degraded"  # some of it failed or was kept back (open circuit)
FAILED: Final = "failed"  # calls were made and none went through
CRASHED: Final = "crashed"  # the pass stopped with an error; see ``passes.error``
RESULTS: Final = (OK, DEGRADED, FAILED, CRASHED)


@dataclass(frozen=True, kw_only=True)
class PassSummary:
    result: str
    outcomes: Mapping[str, int] = field(default_factory=dict)  # decisions shown, by outcome
    actions: Mapping[str, int] = field(default_factory=dict)  # "close_restaurant done": 1
    deferred: int = 0  # cancellations the open circuit kept back for a later pass
    calls: CallSummary = field(default_factory=CallSummary)
    circuit_open_since: datetime | None = None
    circuit_tracked: bool = False  # the daemon has a circuit; a one-off `once` has none
    # What the pass re-judged (daemon.engine.active.PassScope.to_json): the whole
    # store, or the restaurants its changes touched.
    scope: Mapping[str, Any] = field(default_factory=lambda: {"scope": "full"})

    @property
    def circuit(self) -> str | None:
        if not self.circuit_tracked:
            return None
        return "open" if self.circuit_open_since is not None else "closed"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "actions": dict(self.actions),
            "deferred": self.deferred,
            "calls": self.calls.to_json(),
            "circuit": self.circuit,
            "circuit_open_since": isoformat_z(self.circuit_open_since)
            if self.circuit_open_since
            else None,
            "scope": dict(self.scope),
        }

    @classmethod
    def from_row(cls, result: str | None, data: Mapping[str, Any] | None) -> PassSummary:
        data = data or {}
        since = data.get("circuit_open_since")
        return cls(
            result=result or "",
            outcomes={str(k): int(v) for k, v in (data.get("outcomes") or {}).items()},
            actions={str(k): int(v) for k, v in (data.get("actions") or {}).items()},
            deferred=int(data.get("deferred") or 0),
            calls=CallSummary.from_json(data.get("calls")),
            circuit_open_since=parse_timestamp(since) if since else None,
            circuit_tracked=data.get("circuit") is not None,
            scope=dict(data.get("scope") or {"scope": "full"}),
        )


def summarize(
    decisions: Iterable[Decision],
    actions: Iterable[ActionResult],
    *,
    calls: CallSummary,
    deferred: int = 0,
    circuit_tracked: bool = False,
    circuit_open_since: datetime | None = None,
    scope: Mapping[str, Any] | None = None,
) -> PassSummary:
    outcomes: Counter[str] = Counter(d.outcome for d in decisions if d.primary)
    taken = list(actions)
    failures = outcomes["failed"] + sum(1 for a in taken if a.outcome == "failed")
    successes = outcomes["cancelled"] + sum(1 for a in taken if a.outcome == "done")
    if failures and not successes:
        result = FAILED
    elif failures or deferred:
        result = DEGRADED
    else:
        result = OK
    return PassSummary(
        result=result,
        outcomes=dict(outcomes),
        actions=dict(Counter(f"{a.action} {a.outcome}" for a in taken)),
        deferred=deferred,
        calls=calls,
        circuit_tracked=circuit_tracked,
        circuit_open_since=circuit_open_since,
        scope=dict(scope or {"scope": "full"}),
    )


def hints(summary: PassSummary) -> list[str]:
    """What an operator should look at after this pass, one line each."""
    found = []
    if summary.calls.all_refused_as_unauthorized:
        found.append(
            f"every Dükkango API call of the pass ({summary.calls.sent}) got 401 unauthorized: "
            "check DUKKANGO_ACCESS_TOKEN / the secret keys (DUKKANGO_APP_SECRET_KEY, "
            "DUKKANGO_REST_SECRET_KEY)"
        )
    return found

"""What a pass tells its caller (a :class:`PassReport`) and the log.

The log gets one line per decision (a dry-run verdict only while it is news)
and, when the pass did not fully work, its result with hints, only when that
changes from the pass before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from daemon.domain.decisions import Decision, Mode
from daemon.domain.orders import Closure
from daemon.engine import decisionlog, passresult
from daemon.engine.active import FULL, PassScope
from daemon.engine.passresult import PassSummary
from daemon.engine.plan import Plan
from daemon.engine.side_effects import ActionResult

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)


@dataclass(frozen=True)
class PassReport:
    pass_id: str
    mode: Mode
    started_at: datetime
    orders_seen: int
    decisions: tuple[Decision, ...]
    actions: tuple[ActionResult, ...] = ()
    plan: Plan | None = field(default=None, repr=False)
    summary: PassSummary | None = None
    scope: PassScope = FULL  # what the pass re-judged (daemon.engine.active)
    closures: Mapping[str, Closure] = field(default_factory=dict)  # held after the pass's read

    @property
    def primary(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.primary)

    def shown(self) -> tuple[Decision, ...]:
        """At most one decision per order: the primary one (contract for ``once``)."""
        return self.primary


def log_decision(decision: Decision) -> None:
    if decision.mode == "dry_run" and not decisionlog.dry_run_is_news(
        decision.payment_key, decision.rule, decision.outcome
    ):
        return  # the same shadow or dry-run verdict as an earlier pass: the ledger has it
    level = logging.WARNING if decision.outcome in ("failed", "held") else logging.INFO
    log.log(
        level,
        "decision order=%s rule=%s kind=%s reason=%d mode=%s outcome=%s attempts=%d%s",
        decision.payment_key,
        decision.rule,
        decision.kind,
        decision.reason_id,
        decision.mode,
        decision.outcome,
        decision.attempts,
        f" error={decision.last_error!r}" if decision.last_error else "",
    )


class ResultLog:
    """Logs a pass's result when it did not fully work, and the hints that go with it.

    Only when that changes from the pass before: an outage that lasts
    (the circuit open, every call 401) is not repeated every interval.
    """

    def __init__(self) -> None:
        # (result, most common error) of the previous pass.
        self._last: tuple[str, str | None] | None = None

    def log(self, summary: PassSummary) -> None:
        top = summary.calls.top_error
        state = (summary.result, None if top is None else top.code)
        previous, self._last = self._last, state
        if state == previous:
            return
        if summary.result == passresult.OK:
            if previous is not None:
                log.info("pass result=ok again")
            return
        log.warning(
            "pass result=%s outcomes=%s%s%s",
            summary.result,
            ",".join(f"{k}:{v}" for k, v in sorted(summary.outcomes.items())) or "none",
            f" deferred={summary.deferred}" if summary.deferred else "",
            f" top_error={top.code} x{top.count} ({top.example})" if top else "",
        )
        for hint in passresult.hints(summary):
            log.error("hint: %s", hint)

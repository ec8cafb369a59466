"""One evaluation pass, end to end.

snapshot → rules → one decision per order → safety → intents committed in one
transaction → API calls (bounded concurrency, retries) → outcomes recorded one
by one as they arrive. Dry-run stops after the ledger: it never builds a client.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.actions import DeactivateFood
from daemon.domain.decisions import Decision, Mode
from daemon.domain.orders import Snapshot
from daemon.domain.timeutil import utcnow
from daemon.dukkango.callstats import CallSummary
from daemon.engine import decisionlog, passresult
from daemon.engine.geo import Locator, build_geocoder
from daemon.engine.manual_policy import is_manual
from daemon.engine.passresult import PassSummary
from daemon.engine.plan import Plan, plan_pass
from daemon.engine.rejudge import rejudge
from daemon.engine.safety import SafetyLimits
from daemon.engine.side_effects import TAKEOVER_AFTER, ActionResult, SideEffects
from daemon.store import connect, ledger, rowcheck, schema
from daemon.store.names import Names, food_names
from daemon.store.snapshot import read_snapshot, read_stock_level
from rules.context import PassContext

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.dukkango.executor import CircuitBreaker, Executor

log = logging.getLogger(__name__)


class PassError(Exception):
    """The pass could not run (store unreadable, ...): nothing was decided."""


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


def safety_limits(config: Config) -> SafetyLimits:
    return SafetyLimits(
        max_cancellations_per_hour=config.safety.max_cancellations_per_hour,
        max_order_age_minutes=config.safety.max_order_age_minutes,
        never_cancel=frozenset(config.safety.never_cancel),
        max_cancel_ratio=config.safety.max_cancel_ratio,
    )


def _one_per_food(
    candidates: Iterable[tuple[DeactivateFood, Mode]],
) -> list[tuple[DeactivateFood, Mode]]:
    """Each food once, from the first order going ahead; a live rule's claim beats a shadow's."""
    chosen: dict[int, tuple[DeactivateFood, Mode]] = {}
    for food, mode in candidates:
        if food.food_id not in chosen or (mode == "live" and chosen[food.food_id][1] != "live"):
            chosen[food.food_id] = (food, mode)
    return list(chosen.values())


class PassRunner:
    """Runs passes for one configuration; the daemon keeps one per loaded rules file."""

    def __init__(
        self,
        *,
        config: Config,
        engine: sa.Engine,
        executor_factory: Callable[[], Executor] | None,
        dry_run: bool = False,
        breaker: CircuitBreaker | None = None,
        bad_data_of: Collection[str] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.dry_run = dry_run or config.dry_run
        self._executor_factory = executor_factory
        self._breaker = breaker
        # Whose bad data (unreadable rows, refused positions) evaluating logs:
        # None, every order's, as a pass; explain passes the one it explains.
        self._bad_data_of = None if bad_data_of is None else frozenset(bad_data_of)
        self._locator = self._build_locator()
        # (result, most common error) of the previous pass, to log changes only.
        self._last_result: tuple[str, str | None] | None = None

    def _build_locator(self) -> Locator:
        geocoder_config = self.config.geocoder
        geocoder = None
        if geocoder_config is not None:
            geocoder = build_geocoder(
                geocoder_config.provider, geocoder_config.options, geocoder_config.timeout_seconds
            )
        return Locator(
            engine=self.engine,
            geocoder=geocoder,
            provider=geocoder_config.provider if geocoder_config is not None else "",
            origins={
                r.id: (r.latitude, r.longitude)
                for r in self.config.restaurants
                if r.latitude is not None and r.longitude is not None
            },
            max_plausible_km=self.config.safety.max_plausible_km,
        )

    # --- reading and deciding ----------------------------------------------

    def read(
        self, *, also_include: Sequence[str] = (), restaurants: Sequence[str] | None = None
    ) -> Snapshot:
        try:
            with connect.snapshot_reader(self.engine) as connection, connection.begin():
                return read_snapshot(connection, also_include=also_include, restaurants=restaurants)
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(
                f"cannot read the order store: {connect.describe_db_error(exc)}"
            ) from exc

    def context(self, snapshot: Snapshot, *, locate: Sequence[str] | None = None) -> PassContext:
        """What the rules see; ``locate`` limits geocoding to those orders."""
        rules = [rule for rule in self.config.rules if rule.enabled]
        needs_locations = any(rule.needs_location for rule in rules)
        to_locate = (
            snapshot.orders
            if locate is None
            else [o for o in snapshot.orders if o.payment_key in locate]
        )
        locations = self._locator.locate_all(to_locate) if needs_locations else {}
        return PassContext(
            now=snapshot.taken_at,
            snapshot=snapshot,
            restaurants={r.id: r for r in self.config.restaurants},
            locations=locations,
            geocoding_enabled=self._locator.geocoding_enabled,
        )

    def hourly_usage(self, now: datetime) -> int:
        """Live cancellations in the rolling hour before the pass clock ``now``."""
        try:
            with self.engine.connect() as connection:
                return ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(f"cannot read the ledger: {connect.describe_db_error(exc)}") from exc

    def plan_for(self, ctx: PassContext, *, hourly_used: int) -> Plan:
        """The one planner, with this runner's rules, limits and mode (daemon.planning)."""
        return plan_pass(
            self.config.rules,
            ctx,
            safety_limits(self.config),
            hourly_used=hourly_used,
            dry_run=self.dry_run,
        )

    def plan(self, snapshot: Snapshot) -> Plan:
        """What a pass on ``snapshot`` would do (``explain`` and the benchmarks use it)."""
        ctx = self.context(snapshot)
        self._report_bad_data(ctx)
        return self.plan_for(ctx, hourly_used=self.hourly_usage(ctx.now))

    def _report_bad_data(self, ctx: PassContext) -> None:
        """Log (once each) the bad data the orders being evaluated rest on."""
        keys = self._bad_data_of
        for subject, problem in ctx.snapshot.bad_data(keys):
            rowcheck.REPORT.problem(subject, problem.text)
        for key, location in ctx.locations.items():
            if location.problem and (keys is None or key in keys):
                rowcheck.REPORT.problem(key, location.problem)

    # --- one pass -----------------------------------------------------------

    # --- deciding again right before a call (daemon/rejudge.py) ----------------

    def recheck(self, decision: Decision) -> dict[str, Any] | None:
        """None while ``decision`` still stands on the store's current data, else the change."""
        snapshot = self.read(
            also_include=[decision.payment_key], restaurants=[decision.order.restaurant_id]
        )
        # A manual cancellation is judged without positions: no geocoder call for it.
        locate = [] if is_manual(decision.kind) else [decision.payment_key]
        return rejudge(
            decision,
            rules=self.config.rules,
            ctx=self.context(snapshot, locate=locate),
            limits=safety_limits(self.config),
            now=snapshot.taken_at,
            dry_run=self.dry_run,
        )

    def recheck_food(self, food: DeactivateFood) -> dict[str, Any] | None:
        """None while the food is still unavailable in the store, else the change."""
        with self.engine.connect() as connection:
            level = read_stock_level(connection, food.food_id)
        if level is not None and level.unavailable:
            return None
        return {
            "skipped_because": "no_longer_qualifies",
            "change": f"food {food.food_id} is available again",
        }

    def names(self, snapshot: Snapshot | None = None) -> Names:
        """Restaurant names from the rules, food names from the snapshot's stock rows."""
        foods = (
            {}
            if snapshot is None
            else {food_id: level.name for food_id, level in snapshot.stock.items() if level.name}
        )
        return Names.of(self.config.restaurants, foods=foods)

    def _side_effects(self, executor: Executor, names: Names) -> SideEffects:
        return SideEffects(
            engine=self.engine,
            executor=executor,
            lost_answer_retries=self.config.api.lost_answer_retries,
            names=names,
        )

    def _recover(self) -> tuple[list[Decision], list[ActionResult], CallSummary]:
        """Resend what no live sender holds: lost answers and a crashed sender's intents.

        Each is re-judged on current data first, like any call.
        """
        now = utcnow()
        deactivations = schema.food_deactivations
        with connect.writer(self.engine) as connection, connection.begin():
            resendable = ledger.claim_resendable_intents(
                connection, stale_before=now - TAKEOVER_AFTER, now=now
            )
            foods_left = [
                food_id
                for (food_id,) in connection.execute(
                    sa.select(deactivations.c.food_id).where(deactivations.c.outcome == "retry")
                )
            ]
            names = self.names().with_foods(food_names(connection, foods_left))
        if not resendable and not foods_left:
            return [], [], CallSummary()
        if resendable:
            log.warning(
                "re-checking %d cancellation(s) whose answer was lost or whose sender stopped",
                len(resendable),
            )
        assert self._executor_factory is not None
        executor = self._executor_factory()
        effects = self._side_effects(executor, names)
        decisions = effects.cancel_all(resendable, recheck=self.recheck)
        foods = effects.retry_food_deactivations(self.recheck_food) if foods_left else []
        return decisions, foods, executor.calls.summary()

    def run_once(self) -> PassReport:
        pass_id = str(uuid.uuid4())
        started = utcnow()
        mode: Mode = "dry_run" if self.dry_run else "live"
        self._begin(pass_id, started=started, mode=mode)
        try:
            report = self._run(pass_id, started=started, mode=mode)
        except Exception as exc:
            # Recorded, so `status` shows this pass and not the last good one.
            self._finish(pass_id, result=passresult.CRASHED, error=_describe_crash(exc))
            raise
        assert report.summary is not None
        self._finish(pass_id, result=report.summary.result, summary=report.summary)
        self._log_result(report.summary)
        return report

    def _log_result(self, summary: PassSummary) -> None:
        """One line when a pass did not fully work, and the hints that go with it.

        Only when that changes from the pass before: an outage that lasts
        (the circuit open, every call 401) is not repeated every interval.
        """
        top = summary.calls.top_error
        state = (summary.result, None if top is None else top.code)
        previous, self._last_result = self._last_result, state
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

    def _run(self, pass_id: str, *, started: datetime, mode: Mode) -> PassReport:
        recovered, recovered_actions, calls = (
            ([], [], CallSummary())
            if self.dry_run or self._executor_factory is None
            else self._recover()
        )
        snapshot = self.read()
        ctx = self.context(snapshot)
        self._report_bad_data(ctx)
        plan = self.plan_for(ctx, hourly_used=self.hourly_usage(ctx.now))
        now = plan.now  # one pass clock, for the plan and the ledger alike
        circuit_open = self._breaker is not None and self._breaker.is_open
        try:
            with connect.writer(self.engine) as connection, connection.begin():
                used = ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
                if used != plan.hourly_used:
                    # Another daemon cancelled since the budget was read: plan again
                    # (pure and quick) on what it left, inside the write lock.
                    plan = self.plan_for(ctx, hourly_used=used)
                checked = list(plan.decisions)
                if circuit_open:
                    # Nothing can be sent now: decide again once the API answers.
                    checked = [d for d in checked if not ledger.is_intent(d)]
                deferred = len(plan.decisions) - len(checked)
                recorded = ledger.record_decisions(connection, checked, pass_id=pass_id, now=now)
                connection.execute(
                    sa.update(schema.passes)
                    .where(schema.passes.c.id == pass_id)
                    .values(
                        orders_seen=len(snapshot.orders),
                        decisions=sum(1 for d in recorded if d.primary),
                    )
                )
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(
                f"cannot record decisions in the ledger: {connect.describe_db_error(exc)}"
            ) from exc

        decisions, actions, executed_calls = self._execute(recorded, plan, self.names(snapshot))
        decisions = [*recovered, *decisions]
        actions = [*recovered_actions, *actions]
        for decision in decisions:
            log_decision(decision)
        summary = passresult.summarize(
            decisions,
            actions,
            calls=calls.merged(executed_calls),
            deferred=deferred,
            circuit_tracked=self._breaker is not None,
            circuit_open_since=None if self._breaker is None else self._breaker.open_since,
        )
        return PassReport(
            pass_id=pass_id,
            mode=mode,
            started_at=started,
            orders_seen=len(snapshot.orders),
            decisions=tuple(decisions),
            actions=tuple(actions),
            plan=plan,
            summary=summary,
        )

    def _execute(
        self, recorded: list[Decision], plan: Plan, names: Names
    ) -> tuple[list[Decision], list[ActionResult], CallSummary]:
        intents = [d for d in recorded if ledger.is_intent(d)]
        proceeding = {
            d.payment_key
            for d in recorded
            if d.primary and d.outcome in ("pending", "would_cancel")
        }
        foods = _one_per_food(
            (f, m) for f, m in plan.food_deactivations if f.payment_key in proceeding
        )
        live_foods = [(f, m) for f, m in foods if m == "live"]
        live_actions = [(a, m) for a, m in plan.restaurant_actions if m == "live"]
        dry_notes = [
            *(ActionResult.dry_run(f, names) for f, m in foods if m == "dry_run"),
            *(ActionResult.dry_run(a, names) for a, m in plan.restaurant_actions if m == "dry_run"),
        ]
        if self.dry_run or not (intents or live_foods or live_actions):
            return recorded, dry_notes, CallSummary()
        if self._executor_factory is None:
            raise PassError("a live pass needs a Dükkango client, and none was configured")
        executor = self._executor_factory()
        effects = self._side_effects(executor, names)
        outcomes = {d.ledger_id: d for d in effects.cancel_all(intents, recheck=self.recheck)}
        results = [
            *effects.deactivate_foods([f for f, _m in live_foods], recheck=self.recheck_food),
            *effects.apply_restaurant_actions([a for a, _m in live_actions]),
            *dry_notes,
        ]
        final = [outcomes.get(d.ledger_id, d) if ledger.is_intent(d) else d for d in recorded]
        return final, results, executor.calls.summary()

    def _begin(self, pass_id: str, *, started: datetime, mode: Mode) -> None:
        """The pass's row, before anything can go wrong (``result`` NULL: running)."""
        try:
            with connect.writer(self.engine) as connection, connection.begin():
                connection.execute(
                    sa.insert(schema.passes).values(
                        id=pass_id,
                        started_at=started,
                        mode=mode,
                        host=socket.gethostname(),
                    )
                )
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(
                f"cannot record the pass in the store: {connect.describe_db_error(exc)}"
            ) from exc

    def _finish(
        self,
        pass_id: str,
        *,
        result: str,
        error: str | None = None,
        summary: PassSummary | None = None,
    ) -> None:
        values: dict[str, Any] = {"finished_at": utcnow(), "result": result, "error": error}
        if summary is not None:
            values.update(
                summary=summary.to_json(),
                last_api_success_at=summary.calls.last_success_at,
                circuit_open_since=summary.circuit_open_since,
            )
        try:
            with connect.writer(self.engine) as connection, connection.begin():
                connection.execute(
                    sa.update(schema.passes).where(schema.passes.c.id == pass_id).values(**values)
                )
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not record the end of pass %s: %s", pass_id, exc)


def _describe_crash(exc: Exception) -> str:
    if isinstance(exc, PassError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

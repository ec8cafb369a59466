"""The pass runner: one evaluation pass, end to end, on one pass clock.

Recover what no live sender holds → read the snapshot and plan
(:mod:`.judge`) → commit the decisions (:mod:`.record`) → send the API calls
(:mod:`daemon.engine.side_effects`) → summarise, log (:mod:`.report`) and
finish the pass's row. Dry-run stops after the ledger: it never builds a client.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from daemon.domain.decisions import Decision, Mode
from daemon.domain.distance import GeodesicFunction
from daemon.domain.events import Event
from daemon.domain.location import geodesic_km
from daemon.domain.timeutil import utcnow
from daemon.dukkango.callstats import CallSummary
from daemon.engine import passresult
from daemon.engine.active import PassScope
from daemon.engine.passes import record
from daemon.engine.passes.errors import PassError
from daemon.engine.passes.history import PassHistory
from daemon.engine.passes.judge import Judge
from daemon.engine.passes.report import PassReport, ResultLog, log_decision
from daemon.engine.plan import Plan, foods_to_deactivate
from daemon.engine.side_effects import (
    TAKEOVER_AFTER,
    ActionResult,
    SideEffects,
    announce,
    watch_due,
)
from daemon.store import changelog, connect, ledger, schema
from daemon.store.names import Names, food_names

if TYPE_CHECKING:
    from daemon.config.models import Config
    from daemon.dukkango.executor import CircuitBreaker, Executor
    from rules.context import PassContext

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)


def _waiting(plan: Plan, *, circuit_open: bool) -> set[str]:
    """Restaurants with something only time lets go ahead: held, or kept back by the circuit."""
    waiting = set(plan.held_restaurants)
    if plan.held:
        waiting.update(plan.loads)
    for decision in plan.decisions:
        if decision.outcome == "held" or (circuit_open and ledger.is_intent(decision)):
            waiting.add(decision.order.restaurant_id)
    return waiting


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
        geodesic: GeodesicFunction = geodesic_km,
        distance_bound: bool = True,
        record_history: bool = False,
    ) -> None:
        self.config = config
        self.engine = engine
        self.dry_run = dry_run or config.dry_run
        self.judge = Judge(
            config=config,
            engine=engine,
            dry_run=self.dry_run,
            geodesic=geodesic,
            distance_bound=distance_bound,
        )
        self._executor_factory = executor_factory
        self._breaker = breaker
        self._result_log = ResultLog()
        self._circuit_open_since: datetime | None = None  # as the last pass left it
        # What the passes saw change, for replay (daemon.engine.passes.history):
        # recorded by the daemon's passes, not by one-off commands.
        self._history = (
            PassHistory(engine, retention_days=config.history.retention_days)
            if record_history
            else None
        )

    def _side_effects(self, executor: Executor, names: Names) -> SideEffects:
        return SideEffects.through(
            executor,
            engine=self.engine,
            lost_answer_retries=self.config.api.lost_answer_retries,
            names=names,
            reactivations_abandoned_after=self.judge.reactivations_abandoned_after,
            customer=announce.customer_messages(self.config.notifications.customer),
        )

    def _circuit_news(self) -> list[Event]:
        """``api_unreachable`` when the circuit opened since the last pass, ``api_recovered``."""
        if self._breaker is None or self.dry_run:
            return []
        since, before = self._breaker.open_since, self._circuit_open_since
        self._circuit_open_since = since
        host = socket.gethostname()
        if since is not None and before is None:
            return [
                Event(
                    "api_unreachable",
                    f"api_unreachable:{host}:{since.isoformat()}",
                    {"since": since.isoformat(), "host": host},
                )
            ]
        if since is None and before is not None:
            return [
                Event(
                    "api_recovered",
                    f"api_recovered:{host}:{before.isoformat()}",
                    {"unreachable_since": before.isoformat(), "host": host},
                )
            ]
        return []

    def _prune_change_log(self) -> None:
        """Keep the change log's tail only; a full pass needs nothing older."""
        try:
            with connect.writer(self.engine) as connection, connection.begin():
                changelog.prune(connection)
        except sa.exc.SQLAlchemyError as exc:  # the log only grows a little longer
            log.warning("could not prune the change log: %s", connect.describe_db_error(exc))

    def _count_kept_back(self) -> int:
        """The resendable intents an open circuit keeps back (nothing is claimed)."""
        # A read: no write lock (the writer's BEGIN IMMEDIATE on SQLite) for a count.
        with self.engine.connect() as connection:
            return ledger.count_resendable_intents(
                connection, stale_before=utcnow() - TAKEOVER_AFTER
            )

    def _recover(self) -> tuple[list[Decision], list[ActionResult], CallSummary, int]:
        """Resend what no live sender holds: lost answers and a crashed sender's intents.

        Each is re-judged on current data first, like any call. While the API
        circuit is open nothing is sent, so nothing is claimed either: the
        parked intents keep the error of the call that was lost, and wait for
        a pass after the circuit closes, as new cancellations do.
        """
        if self._breaker is not None and self._breaker.is_open:
            return [], [], CallSummary(), self._count_kept_back()
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
            names = self.judge.names().with_foods(food_names(connection, foods_left))
        if not resendable and not foods_left:
            return [], [], CallSummary(), 0
        if resendable:
            log.warning(
                "re-checking %d cancellation(s) whose answer was lost or whose sender stopped",
                len(resendable),
            )
        assert self._executor_factory is not None
        executor = self._executor_factory()
        effects = self._side_effects(executor, names)
        decisions = effects.cancellations.cancel_all(resendable, recheck=self.judge.recheck)
        foods = effects.foods.retry_unfinished(self.judge.recheck_food) if foods_left else []
        return decisions, foods, executor.calls.summary(), 0

    def _watch_closures(self) -> tuple[list[ActionResult], CallSummary]:
        """Read the platform's status of the restaurants we hold closed, where one is due.

        A live pass's first step, so that a staff reopen found now is what this
        pass plans on. Nothing while the circuit is open (the read would not be
        sent, and would only push the next one a pace later).
        """
        if self._breaker is not None and self._breaker.is_open:
            return [], CallSummary()
        every = timedelta(seconds=self.config.schedule.status_check_seconds)
        if not watch_due(self.engine, every=every):
            return [], CallSummary()
        assert self._executor_factory is not None
        executor = self._executor_factory()
        effects = self._side_effects(executor, self.judge.names())
        return effects.closures.watch(every=every), executor.calls.summary()

    def run_once(self, *, incremental: bool = False) -> PassReport:
        """One pass: over the whole store, or (``incremental``) over what changed since the last.

        The first pass of a runner, and the first after one that failed, is
        a full pass whatever ``incremental`` says (daemon.engine.active).
        """
        pass_id = str(uuid.uuid4())
        started = utcnow()
        mode: Mode = "dry_run" if self.dry_run else "live"
        try:
            record.begin(self.engine, pass_id, started=started, mode=mode)
        except PassError:
            self.judge.start_over()
            raise
        try:
            report = self._run(pass_id, started=started, mode=mode, incremental=incremental)
        except Exception as exc:
            self.judge.start_over()  # what it read may not have been acted on
            if self._history is not None:
                self._history.forget()
            # Recorded, so `status` shows this pass and not the last good one.
            record.finish(
                self.engine, pass_id, result=passresult.CRASHED, error=record.describe_crash(exc)
            )
            raise
        assert report.summary is not None
        record.finish(
            self.engine,
            pass_id,
            result=report.summary.result,
            summary=report.summary,
            announcing=self._circuit_news(),
        )
        self._result_log.log(report.summary)
        return report

    def _run(self, pass_id: str, *, started: datetime, mode: Mode, incremental: bool) -> PassReport:
        recovered, recovered_actions, calls, kept_back = (
            ([], [], CallSummary(), 0)
            if self.dry_run or self._executor_factory is None
            else self._recover()
        )
        watched, watch_calls = (
            ([], CallSummary())
            if self.dry_run or self._executor_factory is None
            else self._watch_closures()
        )
        recovered_actions = [*recovered_actions, *watched]
        calls = calls.merged(watch_calls)
        judge = self.judge
        snapshot, scope = judge.read_pass(incremental=incremental)
        if scope.full:
            self._prune_change_log()
        history = self._history
        seen = None if history is None else history.seen(snapshot, scope)
        ctx = judge.context(snapshot, scope=scope)
        judge.report_bad_data(ctx)
        plan = self._plan(ctx, scope)
        judge.keep_distances(ctx)
        circuit_open = self._breaker is not None and self._breaker.is_open
        committed = record.commit(
            self.engine,
            pass_id,
            plan,
            replan=lambda used: judge.plan_for(ctx, hourly_used=used),
            orders_seen=len(snapshot.orders),
            circuit_open=circuit_open,
            also=None
            if history is None or seen is None
            else lambda connection: history.write(connection, seen, pass_id=pass_id),
        )
        if history is not None and scope.full:
            history.prune_if_due(snapshot.taken_at)
        plan = committed.plan
        judge.carry_over(_waiting(plan, circuit_open=circuit_open))
        decisions, actions, executed_calls = self._execute(
            committed.recorded, plan, judge.names(snapshot), circuit_open=circuit_open
        )
        decisions = [*recovered, *decisions]
        actions = [*recovered_actions, *actions]
        for decision in decisions:
            log_decision(decision)
        summary = passresult.summarize(
            decisions,
            actions,
            calls=calls.merged(executed_calls),
            deferred=committed.deferred + kept_back,
            circuit_tracked=self._breaker is not None,
            circuit_open_since=None if self._breaker is None else self._breaker.open_since,
            scope=scope.to_json(),
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
            scope=scope,
            closures=snapshot.closures,
        )

    def _plan(self, ctx: PassContext, scope: PassScope) -> Plan:
        """The pass's plan, braked by the hourly cap on the ledger's count.

        An incremental pass seldom decides anything, so it counts the hour's
        cancellations only when its plan would spend some of the budget.
        """
        judge = self.judge
        if scope.full:
            return judge.plan_for(ctx, hourly_used=judge.hourly_usage(ctx.now))
        plan = judge.plan_for(ctx, hourly_used=0)
        if not plan.may_spend_budget:
            return plan
        used = judge.hourly_usage(ctx.now)
        return plan if used == 0 else judge.plan_for(ctx, hourly_used=used)

    def _execute(
        self, recorded: list[Decision], plan: Plan, names: Names, *, circuit_open: bool = False
    ) -> tuple[list[Decision], list[ActionResult], CallSummary]:
        intents = [d for d in recorded if ledger.is_intent(d)]
        proceeding = {
            d.payment_key
            for d in recorded
            if d.primary and d.outcome in ("pending", "would_cancel")
        }
        foods = foods_to_deactivate(plan, proceeding)
        live_foods = [(f, m) for f, m in foods if m == "live"]
        live_actions = [(a, m) for a, m in plan.restaurant_actions if m == "live"]
        # While the circuit is open nothing is sent, so no reactivation is claimed
        # either: every pass plans them afresh, the first after it closes sends them.
        comebacks = [] if circuit_open else [f for f, m in plan.food_reactivations if m == "live"]
        dry_notes = [
            *(ActionResult.dry_run(f, names) for f, m in foods if m == "dry_run"),
            *(ActionResult.dry_run(a, names) for a, m in plan.restaurant_actions if m == "dry_run"),
            *(ActionResult.dry_run(f, names) for f, m in plan.food_reactivations if m == "dry_run"),
        ]
        if self.dry_run or not (intents or live_foods or live_actions or comebacks):
            return recorded, dry_notes, CallSummary()
        if self._executor_factory is None:
            raise PassError("a live pass needs a Dükkango client, and none was configured")
        executor = self._executor_factory()
        effects = self._side_effects(executor, names)
        cancelled = effects.cancellations.cancel_all(intents, recheck=self.judge.recheck)
        outcomes = {d.ledger_id: d for d in cancelled}
        results = [
            *effects.foods.deactivate([f for f, _m in live_foods], recheck=self.judge.recheck_food),
            *effects.closures.apply(
                [a for a, _m in live_actions], recheck=self.judge.recheck_closure
            ),
            *effects.reactivations.reactivate(comebacks, recheck=self.judge.recheck_reactivation),
            *dry_notes,
        ]
        final = [outcomes.get(d.ledger_id, d) if ledger.is_intent(d) else d for d in recorded]
        return final, results, executor.calls.summary()

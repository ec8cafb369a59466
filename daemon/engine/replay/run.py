"""Simulated passes over the history, with the one planner and its limits. Pure.

A replay starts from the store as it was at ``--from``
(:class:`~daemon.engine.replay.world.Start`) and walks the history's rows in
the order they were seen. It runs a pass where the live daemon did:

- at every moment a row was seen: each row carries the clock of the live
  pass that saw it, and the daemon reacts to a change within milliseconds
  (daemon.service.changes), so that pass judged the rows' restaurants at
  that clock, on that data;
- every ``schedule.interval_seconds`` of simulated time (the daemon's
  schedule), so what only time changes (the rolling hour releasing held
  orders, a closure old enough to reopen) happens as it would;
- never while nobody watched (:class:`~daemon.engine.replay.outcomes.Unwatched`).

Each pass judges what a live pass would (daemon.engine.active): the
restaurants its rows touched, what a limit held in the pass before, the
closed restaurants every 10 s, and every restaurant on the first pass and
when a rule window or quiet window opened or closed, or a pause began or
ended (as :meth:`daemon.engine.passes.judge.Judge.read_pass`). People's
decisions come in with the history (:class:`~daemon.engine.replay.world.Change`):
a pass runs at each, as the daemon is woken by a pause, a resume, a
pause's end and an operator's reopen. The live daemon's full
pass every ``schedule.full_pass_seconds`` re-reads everything to catch a
change its log missed; the history misses none, so the replay's full pass
judges, beyond the above, only the restaurants where time alone may have
changed a decision: an order crossing ``max_order_age_minutes`` (or out of
the clock-skew tolerance) since the restaurant was last judged, and a
restaurant whose closure people ended (respected for at most
``respect_staff_minutes``). Where the
ratio brake's whole-pass share could differ (``max_cancel_ratio`` set, or
something held), the full pass judges every restaurant, as live.

Every pass plans with :func:`daemon.engine.plan.plan_pass` and
:func:`daemon.engine.passes.judge.safety_limits`, on a context built as
:meth:`daemon.engine.passes.judge.Judge.context` builds it, with the rolling
hour's cancellations counted from the simulated store; the plan's effects
are applied to that store as a live pass would apply them
(:meth:`~daemon.engine.replay.world.SimulatedStore.apply`).

What a replay cannot know: how the world would have answered. Every call
succeeds; a restaurant closed by the replay is ours to reopen; an order the
live daemon cancelled leaves the history when it did, whatever the replayed
rules decide about it; orders that a closure kept away in reality, or that
only arrived because the live daemon did not close, are not invented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from daemon.domain.distance import Distances
from daemon.domain.location import Location
from daemon.domain.orders import Order
from daemon.engine.active import CLOSED_EVERY
from daemon.engine.passes.judge import safety_limits
from daemon.engine.plan import Plan, WindowState, plan_pass, window_state
from daemon.engine.replay.outcomes import Collector, ReplayResult, Unwatched
from daemon.engine.replay.world import Change, SimulatedStore, Start
from daemon.engine.safety import CLOCK_SKEW_TOLERANCE
from daemon.engine.verdictmemo import VerdictMemo
from rules.context import PassContext

if TYPE_CHECKING:
    from daemon.config.models import Config

Locate = Callable[[Sequence[Order]], Mapping[str, Location]]

# How many passes between two calls of a replay's ``progress``.
PROGRESS_EVERY = 1000


def waiting(plan: Plan) -> set[str]:
    """Restaurants a limit held: judged again next pass, changed or not (as live)."""
    held = set(plan.held_restaurants)
    if plan.held:
        held.update(plan.loads)
    held.update(d.order.restaurant_id for d in plan.decisions if d.outcome == "held")
    return held


class Replay:
    """One rules file replayed over the history from one start."""

    def __init__(
        self,
        config: Config,
        start: Start,
        *,
        locate: Locate,
        distances: Distances,
        geocoding_enabled: bool = False,
        unwatched: Sequence[Unwatched] = (),
        remember_verdicts: bool = True,
    ) -> None:
        self._config = config
        self._rules = config.rules
        self._limits = safety_limits(config)
        self._listed = {r.id: r for r in config.restaurants}
        self._start = start
        self._store = SimulatedStore(start)
        self._locate = locate
        self._distances = distances
        self._geocoding = geocoding_enabled
        self._unwatched = tuple(unwatched)
        self._interval = timedelta(seconds=config.schedule.interval_seconds)
        self._full_every = timedelta(seconds=config.schedule.full_pass_seconds)
        self._max_age = timedelta(minutes=config.safety.max_order_age_minutes)
        # Without an enabled rule's window or a quiet window, the window state is one
        # value for good: computed once, not at every pass.
        self._fixed_windows = (
            None
            if self._limits.quiet_windows
            or any(rule.enabled and rule.window is not None for rule in self._rules)
            else window_state(self._rules, self._limits, start.at, config.zone)
        )
        self._collector = Collector()
        self._touched: set[str] = set()
        self._carry: set[str] = set()
        self._judged_at: dict[str, datetime] = {}
        self._last_full: datetime | None = None
        # The windows and the pauses in force the last full pass judged on.
        self._windows: tuple[WindowState, frozenset[int]] | None = None
        self._closed_judged: datetime | None = None
        self._seen: set[str] = {key for key in start.orders}
        self._changes = 0
        # Most passes re-judge orders that did not change: their order-local
        # verdicts are kept (daemon.engine.verdictmemo); False re-judges everything.
        self._memo = VerdictMemo() if remember_verdicts else None

    # --- the walk ------------------------------------------------------------------

    def run(
        self,
        changes: Iterable[Change],
        *,
        until: datetime,
        progress: Callable[[datetime], None] | None = None,
    ) -> ReplayResult:
        """Replay ``changes`` (seen after the start, in order) up to ``until``.

        ``progress`` is told the simulated clock every ``PROGRESS_EVERY`` passes (a
        month of a chain's history takes half an hour to replay).
        """
        passes = 0
        rows = iter(changes)
        upcoming = next(rows, None)
        ticks = self._ticks(until)
        tick = next(ticks, None)
        while True:
            seen_at = upcoming.seen_at if upcoming is not None else None
            if seen_at is not None and seen_at > until:
                seen_at = None
            if seen_at is None and tick is None:
                break
            now = min(t for t in (seen_at, tick) if t is not None)
            while upcoming is not None and upcoming.seen_at == now:
                self._take(upcoming)
                upcoming = next(rows, None)
            if tick == now:
                tick = next(ticks, None)
            self._pass(now)
            passes += 1
            if progress is not None and passes % PROGRESS_EVERY == 0:
                progress(now)
        return self._result(until)

    def _ticks(self, until: datetime) -> Iterator[datetime]:
        moment = self._start.at
        while moment <= until:
            if not any(gap.start < moment < gap.end for gap in self._unwatched):
                yield moment
            moment += self._interval

    def _take(self, change: Change) -> None:
        self._changes += change.recorded
        self._touched |= self._store.take(change)
        if change.kind == "order" and change.value is not None:
            self._seen.add(change.subject)

    # --- one pass ------------------------------------------------------------------

    def _pass(self, now: datetime) -> None:
        windows = (
            self._fixed_windows or window_state(self._rules, self._limits, now, self._config.zone),
            self._store.pauses_in_force(now),
        )
        every = self._full_every
        full = (
            self._last_full is None
            or not every
            or now - self._last_full >= every
            or windows != self._windows
        )
        scope = self._scope(now, full=full, windows_moved=windows != self._windows)
        # In id order, not the set's: what one pass does comes out in the same order
        # whatever the process's hash seed (the report is the same, run after run).
        listed = {rid: self._listed[rid] for rid in sorted(scope) if rid in self._listed}
        snapshot = self._store.snapshot(now, listed)
        ctx = PassContext(
            now=now,
            snapshot=snapshot,
            restaurants=listed,
            locations=self._locate(snapshot.orders),
            geocoding_enabled=self._geocoding,
            distances=self._distances,
            timezone=self._config.zone,
        )
        plan = plan_pass(
            self._rules,
            ctx,
            self._limits,
            hourly_used=self._store.hourly_used(now),
            dry_run=self._config.dry_run,
            memo=self._memo,
        )
        effects = self._store.apply(plan)
        self._collector.add(plan, effects, full=full)
        self._carry = waiting(plan)
        self._touched = set()
        for rid in scope:
            self._judged_at[rid] = now
        if full:
            self._last_full, self._windows = now, windows

    def _scope(self, now: datetime, *, full: bool, windows_moved: bool) -> set[str]:
        """The restaurants this pass judges (see the module's docstring)."""
        store = self._store
        everything = (
            self._last_full is None
            or windows_moved
            or not self._full_every
            or (full and (bool(self._carry) or self._limits.max_cancel_ratio is not None))
        )
        if everything:
            self._closed_judged = now
            return set(self._listed)
        scope = self._touched | self._carry
        last = self._closed_judged
        if full or last is None or (now - last).total_seconds() >= CLOSED_EVERY:
            scope |= store.closed
            self._closed_judged = now
        if full:
            scope |= self._aged(now) | store.respected(now)
        return scope

    def _aged(self, now: datetime) -> set[str]:
        """Restaurants with an order whose protection by age changed since they were judged."""
        due = set()
        for order in self._store.active_orders():
            created = order.created_at
            if created is None or order.restaurant_id in due:
                continue
            judged = self._judged_at.get(order.restaurant_id)
            for edge in (created + self._max_age, created - CLOCK_SKEW_TOLERANCE):
                if (judged is None or judged < edge) and edge <= now:
                    due.add(order.restaurant_id)
                    break
        return due

    def _result(self, until: datetime) -> ReplayResult:
        collected = self._collector
        return ReplayResult(
            start=self._start.at,
            end=until,
            passes=collected.passes,
            full_passes=collected.full_passes,
            changes=self._changes,
            orders_seen=len(self._seen),
            orders=dict(collected.orders),
            shadows=tuple(collected.shadows.values()),
            closures=tuple(collected.closures.values()),
            foods=tuple(collected.foods),
            foods_reactivated=tuple(collected.foods_back),
            unwatched=self._unwatched,
            pauses=self._store.pauses,
            overrides=tuple(collected.overrides),
        )

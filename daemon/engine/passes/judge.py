"""The store as the rules see it, and the one planner on it.

A pass, ``explain`` and ``cancel`` all judge through a :class:`Judge`: the
same snapshot, positions, limits, clock and mode, so none of them can tell
another story than the pass does. Right before each API call, the decision
is judged again on the store's current data (:meth:`Judge.recheck`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain.actions import CloseRestaurant, DeactivateFood, ReactivateFood
from daemon.domain.decisions import Decision
from daemon.domain.distance import GeodesicFunction
from daemon.domain.foods import describe_stock
from daemon.domain.location import geodesic_km
from daemon.domain.orders import Snapshot
from daemon.domain.pauses import Pause, in_force, pause_ids
from daemon.domain.timeutil import utcnow
from daemon.engine.active import FULL, ActiveOrders, PassScope
from daemon.engine.distances import DistanceBook
from daemon.engine.geo import Locator, build_geocoder
from daemon.engine.manual_policy import is_manual
from daemon.engine.passes.errors import PassError
from daemon.engine.plan import Plan, WindowState, plan_pass, window_state
from daemon.engine.reactivation import abandoned_after, reason_now, snoozes
from daemon.engine.rejudge import rejudge
from daemon.engine.safety import SafetyLimits, Suspension, suspension_of, suspensions_at
from daemon.store import connect, ledger, pauses, rowcheck
from daemon.store.changelog import ChangeCursor
from daemon.store.foods_off import read_foods_off
from daemon.store.names import Names
from daemon.store.snapshot import RowCache, read_order_restaurant, read_snapshot
from daemon.store.stockrows import read_stock_level
from rules.context import PassContext

if TYPE_CHECKING:
    from daemon.config.models import Config

# The package's name, as the pass's other lines.
log = logging.getLogger(__package__)


def safety_limits(config: Config) -> SafetyLimits:
    return SafetyLimits(
        max_cancellations_per_hour=config.safety.max_cancellations_per_hour,
        max_order_age_minutes=config.safety.max_order_age_minutes,
        never_cancel=frozenset(config.safety.never_cancel),
        max_cancel_ratio=config.safety.max_cancel_ratio,
        quiet_windows=config.quiet,
    )


class Judge:
    """Reads the store and plans on it, with one configuration's rules, limits and mode."""

    def __init__(
        self,
        *,
        config: Config,
        engine: sa.Engine,
        dry_run: bool = False,
        bad_data_of: Collection[str] | None = None,
        geodesic: GeodesicFunction = geodesic_km,
        distance_bound: bool = True,
    ) -> None:
        self.config = config
        self.engine = engine
        self.dry_run = dry_run or config.dry_run
        # Whose bad data (unreadable rows, refused positions) evaluating logs:
        # None, every order's, as a pass; explain passes the one it explains.
        self._bad_data_of = None if bad_data_of is None else frozenset(bad_data_of)
        self._locator = self._build_locator()
        # Exact distances known across passes and processes (daemon.engine.distances).
        # distance_bound=False measures every distance exactly (a baseline for benchmarks).
        self._distances = DistanceBook(engine, geodesic=geodesic, use_bound=distance_bound)
        # The objects of the last pass's rows, reused while the rows stay the same.
        self._rows = RowCache()
        # Where the last pass stopped in the change log, and what the reads so
        # far say each restaurant holds (daemon.engine.active). No cursor: the
        # next pass reads everything.
        self._cursor: ChangeCursor | None = None
        self._active = ActiveOrders()
        # The rules outside their window and the quiet window the last full pass
        # judged on: when time alone changes them, the next pass judges everything.
        self._windows: WindowState | None = None
        # The same for the pauses in force (their ids), and those this judge
        # last said were in force (for one journal line as each begins and ends).
        self._pauses: frozenset[int] | None = None
        self._announced: dict[int, Pause] = {}
        # Restaurants the next incremental pass judges again whatever changed:
        # a brake held their orders, or the open circuit kept them back.
        self._carry: frozenset[str] = frozenset()
        self.drifted = 0  # restaurants a full pass found different from the incremental picture
        self._drift_reported = 0

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
                return read_snapshot(
                    connection,
                    also_include=also_include,
                    restaurants=restaurants,
                    cache=self._rows,
                )
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(
                f"cannot read the order store: {connect.describe_db_error(exc)}"
            ) from exc

    def read_pass(self, *, incremental: bool) -> tuple[Snapshot, PassScope]:
        """What a pass judges: what changed since the last pass, or the whole store.

        ``incremental`` asks for the first; the whole store is read anyway
        when no pass read it before, the last pass failed, or the change
        log lost rows this reader never saw, or a time window opened or
        closed since the last pass, or a pause began or ended (changes no
        log records).
        """
        if incremental and self._windows_moved():
            log.info("a rule window or quiet window opened or closed: judging every restaurant")
            incremental = False
        try:
            with connect.snapshot_reader(self.engine) as connection, connection.begin():
                if incremental and self._pauses_moved(connection):
                    log.info("a pause began or ended: judging every restaurant")
                    incremental = False
                if incremental and self._cursor is not None:
                    changed = self._read_changed(connection, self._cursor)
                    if changed is not None:
                        self._announce_pauses(changed[0])
                        return changed
                    self._cursor = None
                snapshot = self._read_everything(connection)
                # Every restaurant is judged on the windows and pauses at this pass clock.
                self._windows = self._window_state(snapshot.taken_at)
                self._pauses = pause_ids(snapshot.pauses, snapshot.taken_at)
                self._announce_pauses(snapshot)
                return snapshot, FULL
        except sa.exc.SQLAlchemyError as exc:
            self.start_over()
            raise PassError(
                f"cannot read the order store: {connect.describe_db_error(exc)}"
            ) from exc

    def _window_state(self, now: datetime) -> WindowState:
        return window_state(self.config.rules, safety_limits(self.config), now, self.config.zone)

    def _windows_moved(self) -> bool:
        """Whether time alone changed the windows since the last full pass judged everything.

        Kept from the last full pass, not the last pass: an incremental pass
        judges only some restaurants, the others still stand on the old windows.
        """
        return self._windows is not None and self._window_state(utcnow()) != self._windows

    def _pauses_moved(self, connection: sa.Connection) -> bool:
        """Whether a pause began or ended since the last full pass judged everything.

        A pause changes no order, so the change log cannot name it. One
        query of a small table; kept from the last full pass, as the windows.
        """
        if self._pauses is None:
            return False
        now = utcnow()
        return pause_ids(pauses.in_force(connection, now), now) != self._pauses

    def _announce_pauses(self, snapshot: Snapshot) -> None:
        """One journal line when a pause begins to hold for this process, one when it ends."""
        holding = {p.id: p for p in in_force(snapshot.pauses, snapshot.taken_at)}
        names = Names.of(self.config.restaurants)
        for pause_id, pause in holding.items():
            if pause_id not in self._announced:
                log.warning(
                    "paused: %s, no automatic cancellation, closure or food change for it; %s",
                    pause.scope(names.restaurant(pause.restaurant_id)),
                    pause.describe(),
                )
        for pause_id, pause in self._announced.items():
            if pause_id not in holding:
                how = "expired" if snapshot.taken_at >= pause.until else "was resumed"
                log.info(
                    "pause %d %s: %s goes ahead again",
                    pause_id,
                    how,
                    pause.scope(names.restaurant(pause.restaurant_id)),
                )
        self._announced = holding

    def carry_over(self, restaurants: Iterable[str]) -> None:
        """Judge these restaurants again in the next pass, changed or not.

        What a brake held or the open circuit kept back waits for no change
        of its own: only time (the hour rolling on, the API answering again)
        lets it go ahead.
        """
        self._carry = frozenset(restaurants)

    def take_drift(self) -> int:
        """The restaurants found drifted since the last call (for a counter)."""
        found, self._drift_reported = self.drifted - self._drift_reported, self.drifted
        return found

    def start_over(self) -> None:
        """Forget where the change log was read: a pass that failed may have missed changes."""
        self._cursor = None

    def _read_changed(
        self, connection: sa.Connection, cursor: ChangeCursor
    ) -> tuple[Snapshot, PassScope] | None:
        batch = cursor.read(connection)
        if not batch.complete:
            log.warning("the change log was pruned past this daemon's place: reading everything")
            return None
        touched = (
            self._active.touched(batch.changes)
            | self._carry
            | self._active.closed_due(time.monotonic())
        )
        snapshot = read_snapshot(connection, restaurants=touched, cache=self._rows)
        self._active.update(touched, snapshot)
        return snapshot, PassScope(full=False, restaurants=touched, changes=len(batch.changes))

    def _read_everything(self, connection: sa.Connection) -> Snapshot:
        """The whole store, checked against the picture the incremental passes kept."""
        cursor = self._cursor
        # Catch up first, in the same transaction, so both pictures are of one moment.
        checked = cursor is not None and self._read_changed(connection, cursor) is not None
        if cursor is None or not checked:
            cursor = ChangeCursor()
            cursor.start(connection)  # before the read: what it misses comes next
        snapshot = read_snapshot(connection, cache=self._rows)
        if checked and (drift := self._active.disagreements(snapshot)):
            self.drifted += len(drift)
            log.warning(
                "the full pass found %d restaurant(s) (%s) other than the change log left "
                "them: a change was missed; judging them now, on the full read",
                len(drift),
                ", ".join(sorted(drift)[:5]),
            )
        self._active.reset(snapshot, now=time.monotonic())
        self._cursor = cursor
        return snapshot

    def context(
        self,
        snapshot: Snapshot,
        *,
        locate: Sequence[str] | None = None,
        scope: PassScope = FULL,
    ) -> PassContext:
        """What the rules see; ``locate`` limits geocoding to those orders.

        An incremental ``scope`` limits the restaurants whose loads are
        judged to those it re-read: the others' orders are not in the snapshot.
        """
        rules = [rule for rule in self.config.rules if rule.enabled]
        needs_locations = any(rule.needs_location for rule in rules)
        to_locate = (
            snapshot.orders
            if locate is None
            else [o for o in snapshot.orders if o.payment_key in locate]
        )
        distances = self._distances.table()
        locations = self._locator.locate_all(to_locate, distances) if needs_locations else {}
        return PassContext(
            now=snapshot.taken_at,
            snapshot=snapshot,
            restaurants={
                r.id: r for r in self.config.restaurants if scope.full or r.id in scope.restaurants
            },
            locations=locations,
            geocoding_enabled=self._locator.geocoding_enabled,
            distances=distances,
            timezone=self.config.zone,
        )

    def keep_distances(self, ctx: PassContext) -> None:
        """Keep the geodesics ``ctx``'s pass measured, for later passes and processes."""
        self._distances.keep(ctx.distances)

    def hourly_usage(self, now: datetime) -> int:
        """Live cancellations in the rolling hour before the pass clock ``now``."""
        try:
            with self.engine.connect() as connection:
                return ledger.live_cancellations_since(connection, now - ledger.HOURLY_WINDOW)
        except sa.exc.SQLAlchemyError as exc:
            raise PassError(f"cannot read the ledger: {connect.describe_db_error(exc)}") from exc

    def plan_for(self, ctx: PassContext, *, hourly_used: int) -> Plan:
        """The one planner, with this judge's rules, limits and mode (daemon.engine.plan)."""
        return plan_pass(
            self.config.rules,
            ctx,
            safety_limits(self.config),
            hourly_used=hourly_used,
            dry_run=self.dry_run,
            reactivations_abandoned_after=self.reactivations_abandoned_after,
        )

    @property
    def reactivations_abandoned_after(self) -> timedelta:
        api = self.config.api
        return abandoned_after(
            pass_deadline_seconds=api.pass_deadline_seconds, timeout_seconds=api.timeout_seconds
        )

    def plan(self, snapshot: Snapshot) -> Plan:
        """What a pass on ``snapshot`` would do (``explain`` and the benchmarks use it)."""
        ctx = self.context(snapshot)
        self.report_bad_data(ctx)
        plan = self.plan_for(ctx, hourly_used=self.hourly_usage(ctx.now))
        self.keep_distances(ctx)
        return plan

    def report_bad_data(self, ctx: PassContext) -> None:
        """Log (once each) the bad data the orders being evaluated rest on."""
        keys = self._bad_data_of
        for subject, problem in ctx.snapshot.bad_data(keys):
            rowcheck.REPORT.problem(subject, problem.text)
        for key, location in ctx.locations.items():
            if location.problem and (keys is None or key in keys):
                rowcheck.REPORT.problem(key, location.problem)

    # --- deciding again right before a call (daemon/engine/rejudge.py) ------

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
        """None while the food is still unavailable and its rule not suspended, else the change."""
        with self.engine.connect() as connection:
            level = read_stock_level(connection, food.food_id)
            restaurant_id = food.restaurant_id or read_order_restaurant(
                connection, food.payment_key
            )
            suspended = self._suspension_now(connection, food.rule, restaurant_id)
        if suspended is not None:
            return {
                "skipped_because": "no_longer_qualifies",
                "change": suspended.why,
                "suspended": dict(suspended.evidence),
            }
        if level is not None and level.unavailable:
            return None
        return {
            "skipped_because": "no_longer_qualifies",
            "change": f"food {food.food_id} is available again",
        }

    def recheck_closure(self, action: CloseRestaurant) -> str | None:
        """None while nothing suspends the closing rule at the restaurant, else why it does.

        A reopening is never held: it undoes what the daemon did.
        """
        with self.engine.connect() as connection:
            suspended = self._suspension_now(connection, action.rule, action.restaurant_id)
        return None if suspended is None else suspended.why

    def _suspension_now(
        self, connection: sa.Connection, rule: str, restaurant_id: str | None
    ) -> Suspension | None:
        """What suspends ``rule`` at ``restaurant_id`` right now: a pause, a quiet window."""
        now = utcnow()
        held = suspensions_at(
            safety_limits(self.config), now, self.config.zone, pauses.in_force(connection, now)
        )
        return suspension_of(held, rule, restaurant_id)

    def recheck_reactivation(self, food: ReactivateFood) -> dict[str, Any] | None:
        """None while ``food`` may still go back on sale, on the store's current data.

        Its deactivation must still be ours, in force; then a person's request
        stands, and an automatic one needs its reason still true: the stock
        row (read again now) says it can be sold, or the snooze is up.
        """
        with self.engine.connect() as connection:
            found = read_foods_off(connection, deactivation_id=food.deactivation_id)
        if not found:
            return {
                "skipped_because": "no_longer_qualifies",
                "change": f"the deactivation of food {food.food_id} is no longer in force",
            }
        if food.trigger == "manual":
            return None
        snooze = snoozes(self.config.rules).get(food.rule)
        if reason_now(found[0], snooze, utcnow()) is not None:
            return None
        return {
            "skipped_because": "no_longer_qualifies",
            "change": f"food {food.food_id} is out of stock again",
            "stock": describe_stock(found[0].stock),
        }

    def names(self, snapshot: Snapshot | None = None) -> Names:
        """Restaurant names from the rules, food names from the snapshot's stock rows."""
        foods = (
            {}
            if snapshot is None
            else {
                level.food_id: level.name
                for level in (
                    *snapshot.stock.values(),
                    *(off.stock for off in snapshot.foods_off if off.stock is not None),
                )
                if level.name
            }
        )
        return Names.of(self.config.restaurants, foods=foods)

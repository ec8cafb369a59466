"""Reading a replay's inputs from the store: the history, and the daemon's state at the start.

The store is opened read-only (daemon.store.readonly.open_read_only); the
replay itself is pure (:mod:`.run`). What this module reads:

- where the history is complete from and when nobody watched (its marks);
- the orders and stock rows in force at ``--from``, and every row seen
  after it up to ``--to``, decoded (daemon.domain.images);
- the daemon's own state at ``--from``, from its tables: the live intents
  recorded before it (never decided again), the closures in force, the
  food deactivations in force (each as a pass reads it), the automatic
  cancellations of the hour before (the rolling cap), the pauses in force
  and the closures people ended whose respect had not ended;
- people's decisions during the period, from the same tables, merged with
  the history in time order (:class:`~daemon.engine.replay.world.Change`):
  each pause as stored when it was made, resumed, or expired
  (``pauses``: created_at, ended_at, until), and each closure people ended
  (``restaurant_closures``: reopened_at, override_kind). A moment nobody
  watched counts from the end of that stretch, when a daemon first saw it;
- the geodesics the daemon measured (``distance_cache``) and the geocoder
  answers it cached (``geocode_cache``). A replay never asks a geocoder: an
  address without an answer in the cache is "unknown", as with no geocoder.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.domain import images
from daemon.domain.distance import Distances
from daemon.domain.location import Location
from daemon.domain.orders import Closure, Order, StockLevel
from daemon.domain.overrides import MAX_RESPECT, OVERRIDE_KINDS, Override
from daemon.domain.pauses import Pause
from daemon.domain.timeutil import utcnow
from daemon.engine.geo import Locator
from daemon.engine.passes.judge import safety_limits
from daemon.engine.plan import plan_pass
from daemon.engine.replay.outcomes import Collector, OrderOutcome, ReplayResult, Unwatched
from daemon.engine.replay.run import Replay
from daemon.engine.replay.world import Change, Effects, Start
from daemon.engine.verdictmemo import FORGET_AFTER_PASSES
from daemon.store import connect, history, ledger, pauses, schema
from daemon.store import distances as stored_distances
from daemon.store.foods_off import read_foods_off_at
from daemon.store.rowcheck import integer
from daemon.store.snapshot import read_snapshot
from rules.context import PassContext

if TYPE_CHECKING:
    from daemon.config.models import Config

log = logging.getLogger(__name__)

# The geodesics the daemon measured that a replay reads (it measures the rest itself).
KNOWN_DISTANCES = timedelta(days=60)


class NoHistory(Exception):
    """The store holds no history to replay, or none for the times asked."""


@dataclass(frozen=True)
class Coverage:
    """What the history covers: complete from ``since``, last row seen at ``until``."""

    since: datetime
    until: datetime
    unwatched: tuple[Unwatched, ...]


def coverage(connection: sa.Connection, *, interval_seconds: float) -> Coverage:
    """Where the history starts, its newest row, and the stretches nobody watched.

    A recording process that started after a pause longer than two pass
    intervals since the last pass of any process leaves an unwatched stretch.
    """
    marks = history.marks(connection)
    if not marks:
        raise NoHistory(
            "the store has no order history yet: `autocancel run` records it from its first "
            "pass after `autocancel db upgrade`"
        )
    table = schema.order_history
    newest = connection.execute(sa.select(sa.func.max(table.c.seen_at))).scalar()
    slack = timedelta(seconds=2 * interval_seconds)
    since = marks[0].seen_at
    unwatched = tuple(
        Unwatched(mark.after, mark.seen_at)
        for mark in marks
        if mark.what == history.STARTED
        and mark.after is not None
        and mark.after >= since
        and mark.seen_at - mark.after > slack
    )
    return Coverage(since=since, until=newest or since, unwatched=unwatched)


def _decode(row: history.Row, latest: dict[str, Order] | None = None) -> Change | None:
    """The row's change; None for a row this version cannot read (logged).

    ``latest``: each order's version decoded last, kept up to date here (a new
    version reuses its items, daemon.domain.images.decode_order).
    """
    value: Order | StockLevel | None = None
    try:
        if row.kind == "order":
            earlier = None if latest is None else latest.pop(row.subject, None)
            if row.image is not None:
                value = images.decode_order(
                    row.subject, row.restaurant_id, row.image, earlier=earlier
                )
                if latest is not None:
                    latest[row.subject] = value
        else:
            food = integer(row.subject)
            if food is None:
                raise images.BadImage(f"stock row of food {row.subject!r}")
            if row.image is not None:
                value = images.decode_stock(food, row.image)
    except images.BadImage as exc:
        log.warning("order history row %d skipped: %s", row.id, exc)
        return None
    return Change(seen_at=row.seen_at, kind=row.kind, subject=row.subject, value=value)


def start_at(connection: sa.Connection, moment: datetime) -> Start:
    """The store at ``moment``, as the history and the daemon's own tables knew it."""
    orders: dict[str, Order] = {}
    stock: dict[int, StockLevel] = {}
    for row in history.state_at(connection, moment):  # later rows win (replicas)
        change = _decode(row)
        if change is None:
            continue
        if change.kind == "order":
            orders.pop(change.subject, None)
            if isinstance(change.value, Order):
                orders[change.subject] = change.value
        else:
            food = int(change.subject)
            stock.pop(food, None)
            if isinstance(change.value, StockLevel):
                stock[food] = change.value
    intents = ledger.live_intents_before(connection, moment)
    return Start(
        at=moment,
        orders=orders,
        stock=stock,
        live_intents={key: outcome for key, outcome in intents.items() if key in orders},
        closures=_closures_at(connection, moment),
        # Each read with the food's stock row of then, from the history, by every pass.
        foods_off=tuple(read_foods_off_at(connection, moment)),
        cancelled_at=tuple(
            ledger.automatic_cancellation_times(
                connection, since=moment - ledger.HOURLY_WINDOW, before=moment
            )
        ),
        pauses=_pauses_at(connection, moment),
        overrides=_overrides_at(connection, moment),
    )


def _pauses_at(connection: sa.Connection, moment: datetime) -> tuple[Pause, ...]:
    """The pauses in force at ``moment``, as stored then (as daemon.store.pauses.in_force)."""
    stored = (
        as_stored_at(pause, moment)
        for pause in pauses.every_pause(connection)
        if pause.created_at <= moment
    )
    return tuple(pause for pause in stored if pause.in_force(moment))


def as_stored_at(pause: Pause, moment: datetime) -> Pause:
    """The pause's row as it was at ``moment``: not resumed yet if its resume came later."""
    if pause.ended_at is not None and pause.ended_at > moment:
        return replace(pause, ended_at=None, ended_by=None)
    return pause


def _override(row: sa.Row[Any]) -> Override:
    closure_id, restaurant_id, rule, kind, at, by = tuple(row)
    return Override(closure_id, restaurant_id, rule, kind, at, by)


def _override_columns() -> tuple[sa.ColumnElement[Any], ...]:
    table = schema.restaurant_closures
    return (
        table.c.id,
        table.c.restaurant_id,
        table.c.rule,
        table.c.override_kind,
        table.c.reopened_at,
        table.c.override_by,
    )


def _ended_by_people() -> sa.ColumnElement[bool]:
    table = schema.restaurant_closures
    return sa.and_(
        table.c.override_kind.in_(OVERRIDE_KINDS),
        table.c.active_key.is_(None),
        table.c.reopened_at.is_not(None),
        table.c.close_outcome != "failed",
    )


def _overrides_at(connection: sa.Connection, moment: datetime) -> tuple[Override, ...]:
    """The closures people ended by ``moment`` that the store's snapshot then offered.

    As daemon.store.snapshot reads them: of the last MAX_RESPECT, respect
    not ended yet (``respect_ended_at``), oldest first.
    """
    table = schema.restaurant_closures
    rows = connection.execute(
        sa.select(*_override_columns())
        .where(
            _ended_by_people(),
            table.c.reopened_at <= moment,
            table.c.reopened_at >= moment - MAX_RESPECT,
            sa.or_(table.c.respect_ended_at.is_(None), table.c.respect_ended_at > moment),
        )
        .order_by(table.c.id)
    )
    return tuple(_override(row) for row in rows)


def _watched_from(moment: datetime, unwatched: Sequence[Unwatched]) -> datetime:
    """When a daemon first saw what happened at ``moment``: the end of a stretch nobody watched."""
    return next((gap.end for gap in unwatched if gap.start < moment < gap.end), moment)


def decisions_of_people(
    connection: sa.Connection,
    start: datetime,
    end: datetime,
    *,
    unwatched: Sequence[Unwatched] = (),
) -> list[Change]:
    """The pauses and overrides of ``(start, end]``, as changes in time order."""
    found: list[Change] = []

    def add(moment: datetime, kind: str, subject: str, value: Pause | Override) -> None:
        if start < moment <= end:
            found.append(Change(_watched_from(moment, unwatched), kind, subject, value))

    for pause in pauses.every_pause(connection):
        if pause.until <= start or pause.created_at > end:
            continue
        add(pause.created_at, "pause", str(pause.id), as_stored_at(pause, pause.created_at))
        ended = pause.ended_at if pause.ended_at is not None else pause.until
        add(min(ended, pause.until), "pause", str(pause.id), as_stored_at(pause, ended))
    table = schema.restaurant_closures
    rows = connection.execute(
        sa.select(*_override_columns()).where(
            _ended_by_people(), table.c.reopened_at > start, table.c.reopened_at <= end
        )
    )
    for row in rows:
        override = _override(row)
        add(override.at, "override", override.restaurant_id, override)
    return sorted(found, key=lambda change: change.seen_at)


def _closures_at(connection: sa.Connection, moment: datetime) -> dict[str, Closure]:
    table = schema.restaurant_closures
    rows = connection.execute(
        sa.select(table.c.id, table.c.restaurant_id, table.c.rule, table.c.closed_at).where(
            table.c.closed_at < moment,
            table.c.close_outcome != "failed",
            sa.or_(table.c.reopened_at.is_(None), table.c.reopened_at > moment),
        )
    )
    return {
        rid: Closure(id=cid, restaurant_id=rid, rule=rule, closed_at=at)
        for cid, rid, rule, at in rows
    }


def changes(connection: sa.Connection, start: datetime, end: datetime) -> Iterator[Change]:
    latest: dict[str, Order] = {}  # an order leaves it with its last row (its image None)
    for row in history.changes_between(connection, start, end):
        change = _decode(row, latest)
        if change is not None:
            yield change


def merged(history_rows: Iterable[Change], people: Sequence[Change]) -> Iterator[Change]:
    """Both in time order; at one moment, the history's rows first."""
    if not people:  # nobody paused or reopened anything: the history as it comes
        return iter(history_rows)
    return heapq.merge(history_rows, people, key=lambda change: change.seen_at)


class _CacheOnly:
    """A geocoder that is never asked (the locator's budget is 0): only its cache answers."""

    def geocode(self, query: str, **kwargs: Any) -> Any:
        raise AssertionError("a replay asks no geocoder")


def _position_of(order: Order) -> tuple[object, ...]:
    """What an order's position is computed from (daemon.engine.geo.Locator.locate_all)."""
    return (
        order.shipping_method,
        order.latitude,
        order.longitude,
        order.address,
        order.restaurant_id,
        order.problems,
    )


class Locations:
    """Each order's position, computed once per position of the order.

    Most new versions of an order change its status, not where it goes: they
    keep the position (the very object, so the verdicts kept beside it hold).
    An order not located for ``forget_after`` passes (up to twice that) is
    forgotten: it left, most likely, and a month of a chain's history holds
    millions of orders. If it comes back it is located again.
    """

    def __init__(
        self,
        locator: Locator,
        distances: Distances,
        *,
        forget_after: int = FORGET_AFTER_PASSES,
    ) -> None:
        self._locator = locator
        self._distances = distances
        self._forget_after = forget_after
        # payment_key -> (the version last seen, what its position was computed from, it)
        self._known: dict[str, tuple[Order, tuple[object, ...], Location]] = {}
        self._calls = 0
        # The keys located since the last sweep; a sweep keeps only those.
        self._recent: set[str] = set()

    def __len__(self) -> int:
        return len(self._known)

    def __call__(self, orders: Sequence[Order]) -> Mapping[str, Location]:
        self._calls += 1
        if self._calls % self._forget_after == 0:
            self._sweep()
        known = self._known
        found: dict[str, Location] = {}
        fresh: dict[str, Order] = {}
        for order in orders:
            key = order.payment_key
            kept = known.get(key)
            if kept is not None and kept[0] is order:
                found[key] = kept[2]
            elif not order.is_delivery:
                known.pop(key, None)
            elif kept is not None and kept[1] == (position := _position_of(order)):
                known[key] = (order, position, kept[2])
                found[key] = kept[2]
            else:
                fresh[key] = order
        if fresh:
            located = self._locator.locate_all(fresh.values(), self._distances)
            for key, location in located.items():
                order = fresh[key]
                known[key] = (order, _position_of(order), location)
                found[key] = location
        self._recent.update(found)
        return found

    def _sweep(self) -> None:
        """Forget the orders not located since the last sweep (``forget_after`` passes)."""
        recent = self._recent
        self._known = {key: kept for key, kept in self._known.items() if key in recent}
        self._recent = set()


def _locations(config: Config, engine: sa.Engine, distances: Distances) -> Locations:
    geocoder = config.geocoder
    locator = Locator(
        engine=engine,
        geocoder=None if geocoder is None else _CacheOnly(),
        provider="" if geocoder is None else geocoder.provider,
        max_lookups=0,
        origins={
            r.id: (r.latitude, r.longitude)
            for r in config.restaurants
            if r.latitude is not None and r.longitude is not None
        },
        max_plausible_km=config.safety.max_plausible_km,
    )
    return Locations(locator, distances)


def read_coverage(config: Config, engine: sa.Engine) -> Coverage:
    """What the store's history covers (:class:`NoHistory` when it has none)."""
    with engine.connect() as connection:
        return coverage(connection, interval_seconds=config.schedule.interval_seconds)


def _known_distances(engine: sa.Engine) -> Distances:
    with engine.connect() as connection:
        known = stored_distances.read_known(connection, since=utcnow() - KNOWN_DISTANCES)
    return Distances(known)


def replay(
    config: Config,
    engine: sa.Engine,
    *,
    start: datetime,
    end: datetime,
    covered: Coverage,
    remember_verdicts: bool = True,
    progress: Callable[[datetime], None] | None = None,
) -> ReplayResult:
    """Replay ``config``'s rules over the store's history from ``start`` to ``end``.

    ``remember_verdicts`` False re-judges every order at every pass (the
    reference the kept verdicts are tested against; daemon.engine.verdictmemo).
    ``progress``: told the simulated clock now and then (:meth:`Replay.run`).
    """
    distances = _known_distances(engine)
    unwatched = [gap for gap in covered.unwatched if gap.end > start and gap.start < end]
    with engine.connect() as connection, connection.begin():
        run = Replay(
            config,
            start_at(connection, start),
            locate=_locations(config, engine, distances),
            remember_verdicts=remember_verdicts,
            distances=distances,
            geocoding_enabled=config.geocoder is not None,
            unwatched=unwatched,
        )
        people = decisions_of_people(connection, start, end, unwatched=unwatched)
        return run.run(
            merged(changes(connection, start, end), people), until=end, progress=progress
        )


def evaluate_now(configs: Sequence[Config], engine: sa.Engine) -> list[dict[str, OrderOutcome]]:
    """Each configuration's decisions on the store as it is now: one read, one plan each."""
    with connect.snapshot_reader(engine) as connection, connection.begin():
        snapshot = read_snapshot(connection)
        used = ledger.live_cancellations_since(connection, snapshot.taken_at - ledger.HOURLY_WINDOW)
    distances = _known_distances(engine)
    found = []
    for config in configs:
        ctx = PassContext(
            now=snapshot.taken_at,
            snapshot=snapshot,
            restaurants={r.id: r for r in config.restaurants},
            locations=_locations(config, engine, distances)(snapshot.orders),
            geocoding_enabled=config.geocoder is not None,
            distances=distances,
            timezone=config.zone,
        )
        plan = plan_pass(
            config.rules, ctx, safety_limits(config), hourly_used=used, dry_run=config.dry_run
        )
        collector = Collector()
        collector.add(plan, Effects(), full=True)
        found.append(collector.orders)
    return found

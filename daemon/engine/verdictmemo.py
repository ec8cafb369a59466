"""Per-order verdicts kept from one pass to the next while nothing they read changed. Pure.

A replay plans a pass at every recorded change, and each pass judges every
active order of the restaurants it touches, although one order changed.
A rule that declares itself :attr:`~rules.base.Rule.order_local` reads of
a pass only the order, the stock rows of the order's foods, the order's
position (``ctx.location``), its restaurant's entry in ``ctx.restaurants``,
``ctx.snapshot.looked_up``, and what is fixed for the memo's life (the rule
itself, ``ctx.geocoding_enabled``, ``ctx.distances``); the engine's guard
(daemon.engine.decide.guarded) reads a subset of the same. So such a rule's
guarded verdict on an order is the same as in an earlier pass whenever all
of those are: the memo keeps each order's verdicts beside those inputs and
hands them back only when every input is the same object (or an equal one).
The stock rows are compared only when the snapshot's count of changes to
them (:attr:`~daemon.domain.orders.Snapshot.stock_versions`, which a replay's
world keeps by restaurant) moved for the order's restaurant since the entry
was last checked, or when the snapshot does not count them.
Anything else (a stock row or position that changed, another rules file)
is judged afresh. A new version of an order (most are a new status) keeps
the rule's own verdict, not the guarded one, when the rule declares which
of the order's attributes it reads (:attr:`~rules.base.Rule.order_fields`)
and none of them changed: the guard, which reads the status, judges it
again. The clock is not an input:
a rule that reads it, or another order, is not order-local and is never
memoised, and neither are the verdicts of rules outside their window.

The same holds for the foods a pass would put back on sale
(daemon.engine.reactivation.due_reactivations): judged on the deactivations
in force with their stock rows, they are kept while the snapshot hands the
very same tuple of them (a replay's world builds a new one when one of them
or its stock row changes) and no snooze or claim in it reads the clock.

Nothing here decides anything: :func:`daemon.engine.plan.plan_pass` given a
memo returns the very plan it returns without one (tests/unit/test_verdict_memo.py
and the replay's equivalence test check it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

from daemon.engine import reactivation

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from daemon.domain.actions import ReactivateFood
    from daemon.domain.distance import Distances
    from daemon.domain.foods import FoodOff
    from daemon.domain.location import Location
    from daemon.domain.orders import Order, StockLevel
    from rules.base import Rule
    from rules.context import PassContext, Place
    from rules.verdict import Verdict

# An order not judged for this many passes is forgotten (it left, most likely);
# forgetting costs only a fresh judgement if it comes back.
FORGET_AFTER_PASSES = 20_000


@dataclass(slots=True)
class MemoEntry:
    """One version of one order, what its verdicts read, and the verdicts so far."""

    order: Order
    place: Place | None  # ctx.restaurants.get(order.restaurant_id)
    location: Location | None  # ctx.locations.get(payment_key)
    foods: tuple[int, ...]
    stock: tuple[StockLevel | None, ...]  # ctx.snapshot.stock.get(food) of each of ``foods``
    looked_up: bool
    used: int
    # The restaurant's stock version ``stock`` was last found current in (None: unknown).
    version: int | None
    # By the rule's index in the file: the guarded verdict of an order-local rule ...
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    # ... the rule's own verdict where the guard let it decide (kept across versions) ...
    evaluated: dict[int, Verdict] = field(default_factory=dict)
    # ... and the guard's own verdict (None: the rule decides) for a load rule.
    guards: dict[int, Verdict | None] = field(default_factory=dict)
    # The guarded verdicts of the rules one pass kept (their indices ``row_of``), and which
    # of them matched: the next pass keeping the same rules reads one tuple, no verdict.
    row_of: tuple[int, ...] = ()
    row: tuple[Verdict, ...] = ()
    row_matched: tuple[int, ...] = ()


# What a rule reads of an order (rules.base.Rule.order_fields), read off it in one call.
_Fields = Callable[["Order"], object]


class VerdictMemo:
    """The verdicts of the order-local rules across the passes of one rules file."""

    def __init__(self) -> None:
        self._entries: dict[str, MemoEntry] = {}
        self._bound: tuple[tuple[Rule, ...], bool, Distances] | None = None
        # By the rule's index: the attributes of the order its own verdict reads.
        self._fields: dict[int, _Fields] = {}
        self._passes = 0
        self._swept = 0
        # The foods off last judged (the very tuple), the snoozes, and the reactivations due.
        self._reactivations: (
            tuple[tuple[FoodOff, ...], dict[str, timedelta], tuple[ReactivateFood, ...]] | None
        ) = None

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, rules: Sequence[Rule], ctx: PassContext) -> list[MemoEntry]:
        """This pass's entry of every order in ``ctx.snapshot`` (in its order), checked."""
        self._bind(rules if isinstance(rules, tuple) else tuple(rules), ctx)
        self._passes += 1
        used = self._passes
        if used - self._swept >= FORGET_AFTER_PASSES:
            self._sweep()
        entries = self._entries
        stock = ctx.snapshot.stock
        locations = ctx.locations
        restaurants = ctx.restaurants
        looked_up = ctx.snapshot.looked_up
        # Where the restaurant's version did not move, the rows an entry read still hold.
        versions = ctx.snapshot.stock_versions
        current: list[MemoEntry] = []
        append = current.append
        get, place_of, location_of = entries.get, restaurants.get, locations.get
        for order in ctx.snapshot.orders:
            key = order.payment_key
            entry = get(key)
            place = place_of(order.restaurant_id)
            location = location_of(key)
            version = None if versions is None else versions.get(order.restaurant_id)
            if (
                entry is not None
                and entry.order is order
                and entry.place is place
                and (entry.location is location or entry.location == location)
                and entry.looked_up is (key in looked_up)
                and (
                    entry.version == version is not None
                    or not entry.foods
                    or entry.stock == tuple(map(stock.get, entry.foods))
                )
            ):
                entry.used = used
                entry.version = version
                append(entry)
                continue
            if entry is not None and entry.order.items is order.items:
                # A new version with the very items (daemon.domain.images keeps them).
                foods = entry.foods
                rows = (
                    entry.stock
                    if entry.version == version is not None
                    else tuple(map(stock.get, foods))
                )
            else:
                foods = tuple(sorted({item.food_id for item in order.items}))
                rows = tuple(map(stock.get, foods))
            fresh = entries[key] = MemoEntry(
                order=order,
                place=place,
                location=location,
                foods=foods,
                stock=rows,
                looked_up=key in looked_up,
                used=used,
                version=version,
            )
            if entry is not None and entry.evaluated and entry.order is not order:
                fresh.evaluated = self._carried(entry, fresh)
            append(fresh)
        return current

    def _carried(self, old: MemoEntry, new: MemoEntry) -> dict[int, Verdict]:
        """The rules' own verdicts on ``old`` that hold for ``new``, a new version of the order.

        Only where nothing else a verdict reads changed, and only the rules that
        declare what they read of the order, none of which changed.
        """
        if not (
            old.place is new.place
            and (old.location is new.location or old.location == new.location)
            and old.looked_up is new.looked_up
            and old.foods == new.foods
            and old.stock == new.stock
        ):
            return {}
        fields = self._fields
        return {
            index: verdict
            for index, verdict in old.evaluated.items()
            if index in fields and fields[index](old.order) == fields[index](new.order)
        }

    def _bind(self, rules: tuple[Rule, ...], ctx: PassContext) -> None:
        bound = self._bound
        if (
            bound is not None
            and bound[0] is rules
            and bound[1] is ctx.geocoding_enabled
            and bound[2] is ctx.distances
        ):
            return
        if (
            bound is None
            or len(bound[0]) != len(rules)
            or any(old is not new for old, new in zip(bound[0], rules, strict=True))
            or bound[1] is not ctx.geocoding_enabled
            or bound[2] is not ctx.distances
        ):
            self._entries.clear()
            self._bound = (rules, ctx.geocoding_enabled, ctx.distances)
            self._fields = {
                index: _reader(rule.order_fields)
                for index, rule in enumerate(rules)
                if rule.order_local and rule.order_fields
            }

    def due_reactivations(
        self,
        foods: tuple[FoodOff, ...],
        snooze_of: Mapping[str, timedelta],
        now: datetime,
        *,
        abandoned_before: datetime,
    ) -> tuple[ReactivateFood, ...]:
        """:func:`~daemon.engine.reactivation.due_reactivations`, kept while nothing it reads moved.

        Without a claim (whose age counts) or a snooze (whose time comes) it reads
        only the deactivations and their stock rows, never the clock.
        """
        kept = self._reactivations
        if kept is not None and kept[0] is foods and kept[1] == snooze_of:
            return kept[2]
        due = reactivation.due_reactivations(
            foods, snooze_of, now, abandoned_before=abandoned_before
        )
        timeless = all(food.reactivation is None and food.rule not in snooze_of for food in foods)
        self._reactivations = (foods, dict(snooze_of), due) if timeless else None
        return due

    def _sweep(self) -> None:
        oldest = self._passes - FORGET_AFTER_PASSES
        self._entries = {k: e for k, e in self._entries.items() if e.used > oldest}
        self._swept = self._passes


def _reader(names: frozenset[str]) -> _Fields:
    """One call that reads ``names`` off an order (a tuple of them, in a fixed order)."""
    return attrgetter(*sorted(names)) if len(names) > 1 else attrgetter(*names)

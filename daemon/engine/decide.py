"""The rule engine: verdicts and one decision per order. Pure; no I/O.

Every enabled rule gives a verdict on every order (kept for ``explain``);
the decision for an order is the first matching *live* rule in file order,
and matches of shadow (dry-run) rules are kept beside it as ``would_cancel``.
Rules that judge a restaurant's whole load (congestion) are evaluated after
the per-order rules, on the loads the planner computes from them.
The order of those steps, safety, and the side effects belong to
``daemon.planning``, the one planner every command runs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daemon.domain.decisions import Decision, Mode
from daemon.domain.ids import segment_problem
from daemon.domain.orders import Order
from daemon.domain.statuses import ACTIVE_STATUSES
from rules.context import PassContext, RestaurantLoad
from rules.verdict import Verdict, VerdictKind

if TYPE_CHECKING:
    from daemon.engine.verdictmemo import MemoEntry
    from rules.base import Rule


def rule_mode(rule: Rule, *, dry_run: bool) -> Mode:
    return "dry_run" if dry_run or rule.dry_run else "live"


def guarded(rule: Rule, order: Order, ctx: PassContext) -> Verdict | None:
    """The verdict the guard gives whatever the rule says, or None when the rule decides.

    No rule may cancel outside its statuses, a finished order, or another's restaurant.
    """
    if order.status_id not in ACTIVE_STATUSES:
        return Verdict.no_match(f"status {order.status_id} is not active; never cancelled")
    if order.payment_key in ctx.snapshot.looked_up:
        return Verdict.no_match("vanished from Dükkango's current orders; no longer active")
    if not rule.allows_status(order.status_id):
        return Verdict.no_match(
            f"status {order.status_id} is not in this rule's statuses {list(rule.statuses)}"
        )
    if segment_problem(order.payment_key) is not None:
        return Verdict.skipped("the payment_key cannot be sent to Dükkango (bad data)")
    if order.restaurant_id not in ctx.restaurants:
        # Unknown data is never a reason to cancel (a POS bug, another branch's order).
        return Verdict.skipped(f"restaurant {order.restaurant_id!r} is not in rules.yaml")
    return None


def guard(rule: Rule, order: Order, verdict: Verdict, ctx: PassContext) -> Verdict:
    """``verdict``, unless the guard overrides it (see :func:`guarded`)."""
    overridden = guarded(rule, order, ctx)
    return verdict if overridden is None else overridden


def _evaluate_guarded(rule: Rule, order: Order, ctx: PassContext) -> Verdict:
    """The guarded verdict; the rule is asked only where the guard lets it decide."""
    overridden = guarded(rule, order, ctx)
    return rule.evaluate(order, ctx) if overridden is None else overridden


class Column(dict[str, Verdict]):
    """One rule's verdicts on the orders of a pass, by payment_key, and which of them matched.

    Built where the verdicts are gathered, so a pass that asks which orders
    matched (most match nothing) does not walk every verdict again.
    """

    __slots__ = ("matched",)

    def __init__(self) -> None:
        super().__init__()
        self.matched: list[str] = []


def matches(column: Mapping[str, Verdict]) -> Collection[str]:
    """The orders ``column``'s rule matched."""
    if isinstance(column, Column):
        return column.matched
    return [key for key, verdict in column.items() if verdict.kind is VerdictKind.MATCH]


# Verdicts of one pass, by the rule's index in the file, then payment_key.
RuleVerdicts = dict[int, Mapping[str, Verdict]]


def _enabled(rules: Sequence[Rule]) -> list[tuple[int, Rule]]:
    return [(index, rule) for index, rule in enumerate(rules) if rule.enabled]


# The verdict of each enabled rule outside its active window this pass, by index.
Asleep = Mapping[int, Verdict]


def outside_windows(rules: Sequence[Rule], ctx: PassContext) -> dict[int, Verdict]:
    """The enabled rules outside their window at the pass clock: judged once per pass."""
    return {
        index: verdict
        for index, rule in _enabled(rules)
        if (verdict := rule.outside_window(ctx.now, ctx.timezone)) is not None
    }


def _all_orders(ctx: PassContext, verdict: Verdict) -> dict[str, Verdict]:
    return {order.payment_key: verdict for order in ctx.snapshot.orders}


def evaluate_orders(
    rules: Sequence[Rule],
    ctx: PassContext,
    *,
    asleep: Asleep | None = None,
    memo: Sequence[MemoEntry] | None = None,
) -> RuleVerdicts:
    """The verdicts of every enabled per-order rule (not the load rules) on every order.

    A rule in ``asleep`` (outside its window) is not asked: its verdict is the window's.
    With ``memo`` (this pass's :meth:`daemon.engine.verdictmemo.VerdictMemo.begin`, one
    entry per order of the snapshot, in its order), an order-local rule's verdict an
    earlier pass gave on the same inputs is taken from it.
    """
    asleep = asleep or {}
    by_rule: RuleVerdicts = {}
    kept: list[tuple[int, Rule, Column]] = []
    for index, rule in _enabled(rules):
        if rule.aggregate:
            continue
        if index in asleep:
            by_rule[index] = _all_orders(ctx, asleep[index])
        elif memo is not None and rule.order_local:
            column = by_rule[index] = Column()  # filled below, in file order like the rest
            kept.append((index, rule, column))
        else:
            by_rule[index] = {
                order.payment_key: _evaluate_guarded(rule, order, ctx)
                for order in ctx.snapshot.orders
            }
    if kept and memo is not None:
        _remembered(kept, ctx, memo)
    return by_rule


def _remembered(
    kept: Sequence[tuple[int, Rule, Column]], ctx: PassContext, memo: Sequence[MemoEntry]
) -> None:
    """The order-local rules' guarded verdicts, judged only where the memo has none.

    One walk over the orders for all of them: most passes judge nothing new, and
    read each order's row of verdicts as the pass before left it.
    """
    indices = tuple(index for index, _rule, _column in kept)
    columns = [column for _index, _rule, column in kept]
    keys: list[str] = []
    rows: list[tuple[Verdict, ...]] = []
    for order, entry in zip(ctx.snapshot.orders, memo, strict=True):
        key = order.payment_key
        if entry.row_of != indices:
            _fill_row(entry, kept, indices, order, ctx)
        keys.append(key)
        rows.append(entry.row)
        for position in entry.row_matched:
            columns[position].matched.append(key)
    if rows:  # each rule's column from the rows, in the orders' order (zip(*rows): by rule)
        for column, verdicts in zip(columns, zip(*rows, strict=True), strict=True):
            column.update(zip(keys, verdicts, strict=True))


def _fill_row(
    entry: MemoEntry,
    kept: Sequence[tuple[int, Rule, Column]],
    indices: tuple[int, ...],
    order: Order,
    ctx: PassContext,
) -> None:
    """The entry's row for ``kept``, each verdict judged only where the entry has none."""
    verdicts = entry.verdicts
    for index, rule, _column in kept:
        if index not in verdicts:
            verdicts[index] = _judged(index, rule, order, ctx, entry)
    entry.row = tuple(verdicts[index] for index in indices)
    entry.row_matched = tuple(
        position for position, verdict in enumerate(entry.row) if verdict.kind is VerdictKind.MATCH
    )
    entry.row_of = indices


def _judged(index: int, rule: Rule, order: Order, ctx: PassContext, entry: MemoEntry) -> Verdict:
    """The guarded verdict, with the rule's own from an earlier version of the order if kept."""
    overridden = guarded(rule, order, ctx)
    if overridden is not None:
        return overridden
    own = entry.evaluated.get(index)
    if own is None:
        own = entry.evaluated[index] = rule.evaluate(order, ctx)
    return own


# A load rule's verdict on an order of no listed restaurant (a value: shared).
_OUTSIDE_THE_LOADS = Verdict.no_match("not an order of a listed load")


def evaluate_loads(
    rules: Sequence[Rule],
    ctx: PassContext,
    loads: Mapping[str, RestaurantLoad],
    *,
    asleep: Asleep | None = None,
    memo: Sequence[MemoEntry] | None = None,
) -> RuleVerdicts:
    """The verdicts of every enabled load rule (congestion), given the pass's loads."""
    asleep = asleep or {}
    by_rule: RuleVerdicts = {}
    outside = _OUTSIDE_THE_LOADS
    for index, rule in _enabled(rules):
        if not rule.aggregate:
            continue
        if index in asleep:
            by_rule[index] = _all_orders(ctx, asleep[index])
            continue
        verdicts = rule.evaluate_all(ctx.snapshot.orders, ctx, loads=loads)
        judged = Column()
        orders = ctx.snapshot.orders
        entries: Sequence[MemoEntry | None] = memo if memo is not None else [None] * len(orders)
        for order, entry in zip(orders, entries, strict=True):
            key = order.payment_key
            if entry is None:
                overridden = guarded(rule, order, ctx)
            else:  # the guard is order-local: kept with the order's other verdicts
                guards = entry.guards
                if index in guards:
                    overridden = guards[index]
                else:
                    overridden = guards[index] = guarded(rule, order, ctx)
            verdict = verdicts.get(key, outside) if overridden is None else overridden
            judged[key] = verdict
            if verdict.kind is VerdictKind.MATCH:
                judged.matched.append(key)
        by_rule[index] = judged
    return by_rule


class VerdictTable(Mapping[str, tuple[tuple["Rule", Verdict], ...]]):
    """Every enabled rule's verdict on each order of a pass, in file order, by payment_key.

    A read-only mapping like the dict it stands for; each order's row is put
    together when first asked for, since a pass asks only for the orders some
    rule matched (and ``explain`` for the ones it explains).
    """

    __slots__ = ("_columns", "_keys", "_rows")

    def __init__(
        self, columns: Sequence[tuple[Rule, Mapping[str, Verdict]]], keys: Mapping[str, object]
    ) -> None:
        """``keys``: a mapping whose keys are the pass's orders, in its order (not copied)."""
        self._columns = tuple(columns)
        self._keys = keys
        self._rows: dict[str, tuple[tuple[Rule, Verdict], ...]] = {}

    def __getitem__(self, key: str) -> tuple[tuple[Rule, Verdict], ...]:
        row = self._rows.get(key)
        if row is None:
            if key not in self._keys:
                raise KeyError(key)
            row = self._rows[key] = tuple((rule, column[key]) for rule, column in self._columns)
        return row

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def matching(self) -> set[str]:
        """The orders at least one rule matched: the only ones with a decision."""
        return {key for _rule, column in self._columns for key in matches(column)}


def verdicts_by_order(
    rules: Sequence[Rule], ctx: PassContext, by_rule: RuleVerdicts
) -> VerdictTable:
    """Every enabled rule's verdict on each order, in file order (for decisions and explain)."""
    columns = [(rule, by_rule[index]) for index, rule in _enabled(rules)]
    # Every column holds every order of the pass, in its order: the first one is the keys.
    keys = (
        columns[0][1]
        if columns
        else dict.fromkeys(order.payment_key for order in ctx.snapshot.orders)
    )
    return VerdictTable(columns, keys)


def _other_matches(matches: Iterable[tuple[Rule, Verdict]], chosen: Rule) -> list[dict[str, Any]]:
    return [
        {"rule": rule.name, "kind": rule.kind, "evidence": dict(verdict.evidence)}
        for rule, verdict in matches
        if rule is not chosen
    ]


def decide_order(order: Order, verdicts: Sequence[tuple[Rule, Verdict]]) -> list[Decision]:
    """The order's decision (first live match wins) and its shadow matches.

    Modes are the rules' own: the global dry-run switch is applied after the
    safety limits (daemon.planning), so a dry run decides exactly what a live
    pass would.
    """
    matches = [(rule, verdict) for rule, verdict in verdicts if verdict.matched]
    if not matches:
        return []
    live = [(r, v) for r, v in matches if not r.dry_run]
    shadows = [(r, v) for r, v in matches if r.dry_run]
    chosen_rule, chosen_verdict = live[0] if live else shadows[0]
    evidence = dict(chosen_verdict.evidence)
    others = _other_matches(matches, chosen_rule)
    if others:
        evidence["other_matches"] = others
    primary = Decision(
        order=order,
        rule=chosen_rule.name,
        kind=chosen_rule.kind,
        reason_id=chosen_rule.reason_id,
        mode="live" if live else "dry_run",
        outcome="pending" if live else "would_cancel",
        evidence=evidence,
    )
    shadow_decisions = [
        Decision(
            order=order,
            rule=rule.name,
            kind=rule.kind,
            reason_id=rule.reason_id,
            mode="dry_run",
            outcome="would_cancel",
            evidence={**verdict.evidence, "shadowed_by": chosen_rule.name},
            primary=False,
        )
        for rule, verdict in shadows
        if live  # without a live match the first shadow is the primary decision
    ]
    return [primary, *shadow_decisions]

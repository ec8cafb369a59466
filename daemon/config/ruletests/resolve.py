"""Turning a test file's validated models into specs, checking what they refer to.

Restaurants (by id or name), rules, payment keys and foods named in rows and
expectations must exist; clocks may not run back; a closure needs its rule;
an expectation's rule defaults to the only one that could take it. Every
problem is collected (as a :class:`Problem` at its path), none stops the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from daemon.config.models import Config
from daemon.config.ruletests import models
from daemon.config.ruletests.moments import Moment
from daemon.config.ruletests.spec import (
    EffectAction,
    Expectation,
    ExpectedDecision,
    ExpectedEffect,
    FoodOffSetting,
    OrderChange,
    PauseSetting,
    RestaurantSetting,
    RuleTestSpec,
    StepSpec,
)
from daemon.config.yamlsource import YamlDocument
from daemon.domain.orders import Item, Order, StockLevel
from daemon.domain.problems import Anchor, Problem, YamlPath
from rules.base import Rule


@dataclass
class _TestState:
    """What a test has put in so far, for the references of later steps."""

    keys: dict[str, int] = field(default_factory=dict)  # payment_key -> line it was put in
    foods: set[int] = field(default_factory=set)


# The order columns that hold times (read on the pass's clock).
_TIME_COLUMNS = ("created_at", "updated_at")


class Resolver:
    """Turns the validated models into specs, collecting every reference problem."""

    def __init__(
        self, *, document: YamlDocument, config: Config, zone: tzinfo, rules_name: str
    ) -> None:
        self.document = document
        self.config = config
        self.zone = zone
        self.rules_name = rules_name
        self.problems: list[Problem] = []
        self.rules = {rule.name: rule for rule in config.rules}
        self.ids = {r.id for r in config.restaurants}
        self.names = {r.name: r.id for r in config.restaurants if r.name}

    def _problem(self, path: YamlPath, message: str, *, anchor: Anchor = "value") -> None:
        self.problems.append(Problem.error(path, message, anchor=anchor))

    def _line(self, path: YamlPath) -> int:
        return self.document.line_of(path, anchor="key")

    def _at(self, moment: Moment, clock: datetime) -> datetime:
        return moment.at(clock, self.zone)

    # --- a test -----------------------------------------------------------------

    def test(self, index: int, test: models.RuleTest) -> RuleTestSpec | None:
        at: YamlPath = ("tests", index)
        if test.now.relative:
            self._problem(
                (*at, "now"),
                "now must be a date and time such as 2026-11-27T21:00:00: the clock of the "
                "test's first pass, which every offset counts from",
            )
            return None
        now = self._at(test.now, _EPOCH)  # an instant: no clock to count from
        state = _TestState(foods=_foods_of(test))
        first = self._step(
            number=0,
            at=at,
            clock=now,
            restaurants=test.restaurants,
            stock=test.stock,
            pauses=test.pauses,
            add_orders=test.orders,
            change_orders=(),
            expect=test.expect,
            state=state,
            orders_key="orders",
        )
        steps = [first]
        clock = now
        for number, step in enumerate(test.steps, start=1):
            step_at: YamlPath = (*at, "steps", number - 1)
            if step.at is not None:
                # An offset counts from the test's now (the pass's own clock is what is set).
                next_clock = self._at(step.at, now)
            else:
                next_clock = clock + (step.advance or timedelta())
            if next_clock < clock:
                self._problem(
                    (*step_at, "at"),
                    f"this pass's clock ({self._show(next_clock)}) is before the previous "
                    f"pass's ({self._show(clock)}): passes run forward in time",
                )
            clock = max(clock, next_clock)
            steps.append(
                self._step(
                    number=number,
                    at=step_at,
                    clock=clock,
                    restaurants=step.restaurants,
                    stock=step.stock,
                    pauses=step.pauses,
                    add_orders=step.add_orders,
                    change_orders=step.change_orders,
                    expect=step.expect,
                    state=state,
                    orders_key="add_orders",
                )
            )
        if test.expect is None and all(step.expect is None for step in test.steps):
            self._problem(
                (*at, "name"),
                f"test {test.name!r} checks nothing: give expect: (decisions:, side_effects:) "
                "to the test or to one of its steps",
            )
        return RuleTestSpec(
            name=test.name,
            line=self._line(at),
            steps=tuple(steps),
            deactivated_foods=self._foods_off(test.deactivated_foods, at, now),
            earlier_cancellations=self._earlier(test.cancelled_in_last_hour, at, now),
        )

    def _show(self, instant: datetime) -> str:
        return instant.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def _earlier(
        self, given: int | Sequence[Moment], at: YamlPath, now: datetime
    ) -> tuple[datetime, ...]:
        if isinstance(given, int):
            return (now,) * given
        moments = []
        for index, moment in enumerate(given):
            instant = self._at(moment, now)
            if instant > now:
                self._problem(
                    (*at, "cancelled_in_last_hour", index),
                    f"a cancellation made before the test cannot be after its now "
                    f"({self._show(instant)} is after {self._show(now)})",
                )
            moments.append(instant)
        return tuple(moments)

    def _step(
        self,
        *,
        number: int,
        at: YamlPath,
        clock: datetime,
        restaurants: Sequence[models.RestaurantState],
        stock: Sequence[models.StockRow],
        pauses: Sequence[models.PauseRow],
        add_orders: Sequence[models.OrderRow],
        change_orders: Sequence[models.OrderChange],
        expect: models.Expect | None,
        state: _TestState,
        orders_key: str,
    ) -> StepSpec:
        settings = [
            found
            for index, entry in enumerate(restaurants)
            if (found := self._restaurant_state(entry, (*at, "restaurants", index), clock))
        ]
        levels = self._stock(stock, (*at, "stock"))
        paused = [
            found_pause
            for index, entry in enumerate(pauses)
            if (found_pause := self._pause(entry, (*at, "pauses", index), clock))
        ]
        orders = self._orders(add_orders, (*at, orders_key), clock, state)
        changes = [
            found_change
            for index, change in enumerate(change_orders)
            if (found_change := self._change(change, (*at, "change_orders", index), clock, state))
        ]
        return StepSpec(
            number=number,
            line=self._line(at),
            clock=clock,
            restaurants=tuple(settings),
            stock=tuple(levels),
            pauses=tuple(paused),
            add_orders=tuple(orders),
            change_orders=tuple(changes),
            expect=None if expect is None else self._expect(expect, (*at, "expect"), state),
        )

    # --- the daemon's own state: food deactivations, pauses ------------------------

    def _foods_off(
        self, given: Sequence[int | models.DeactivatedFood], at: YamlPath, now: datetime
    ) -> tuple[FoodOffSetting, ...]:
        found = []
        for index, entry in enumerate(given):
            path = (*at, "deactivated_foods", index)
            food = entry if isinstance(entry, models.DeactivatedFood) else None
            rule = self._effect_rule(None if food is None else food.rule, "deactivate", path)
            # The restaurant of the order that deactivated it: given, the only one, or
            # none (then any restaurant's stock row may bring the food back).
            restaurant_id = None if food is None else food.restaurant_id
            if restaurant_id is not None:
                restaurant_id = self._any_restaurant(restaurant_id)
            elif len(self.config.restaurants) == 1:
                restaurant_id = self.config.restaurants[0].id
            when = now if food is None or food.at is None else self._at(food.at, now)
            if when > now:
                self._problem(
                    (*path, "at"),
                    f"a deactivation in force at {self._show(now)} cannot start later "
                    f"({self._show(when)})",
                )
            if rule is not None:
                food_id = entry if isinstance(entry, int) else entry.food_id
                found.append(FoodOffSetting(food_id, rule, when, restaurant_id))
        return tuple(found)

    def _pause(
        self, entry: models.PauseRow, path: YamlPath, clock: datetime
    ) -> PauseSetting | None:
        rule = None if entry.rule is None else self._rule(entry.rule, (*path, "rule"))
        restaurant_id = (
            None
            if entry.restaurant is None
            else self._listed(entry.restaurant, (*path, "restaurant"))
        )
        since = clock if entry.since is None else self._at(entry.since, clock)
        until = self._at(entry.until, clock)
        if until <= since:
            self._problem(
                (*path, "until"),
                f"a pause must end after it starts ({self._show(until)} is not after "
                f"{self._show(since)})",
            )
            return None
        if (entry.rule is not None and rule is None) or (
            entry.restaurant is not None and restaurant_id is None
        ):
            return None
        return PauseSetting(
            rule=None if rule is None else rule.name,
            restaurant_id=restaurant_id,
            since=since,
            until=until,
        )

    # --- restaurants --------------------------------------------------------------

    def _listed(self, ref: str, path: YamlPath) -> str | None:
        """The id of the rules' restaurant ``ref`` names (id or name), or None (reported)."""
        if ref in self.ids:
            return ref
        if ref in self.names:
            return self.names[ref]
        known = ", ".join(f"{r.id} ({r.name})" if r.name else r.id for r in self.config.restaurants)
        self._problem(path, f"{ref!r} is not a restaurant of {self.rules_name} ({known})")
        return None

    def _any_restaurant(self, ref: str) -> str:
        """An order's or stock row's restaurant: a name of the rules' becomes its id."""
        return self.names.get(ref, ref) if ref not in self.ids else ref

    def _restaurant_state(
        self, entry: models.RestaurantState, path: YamlPath, clock: datetime
    ) -> RestaurantSetting | None:
        restaurant_id = self._listed(entry.id, (*path, "id"))
        if restaurant_id is None:
            return None
        if entry.state != "closed_by_autocancel":
            return RestaurantSetting(restaurant_id, entry.state)
        closed_at = clock if entry.closed_at is None else self._at(entry.closed_at, clock)
        if closed_at > clock:
            self._problem(
                (*path, "closed_at"),
                f"a closure in force at {self._show(clock)} cannot start later "
                f"({self._show(closed_at)})",
            )
        rule = self._closing_rule(entry.rule, path)
        if rule is None:
            return None
        return RestaurantSetting(restaurant_id, entry.state, closed_at=closed_at, rule=rule)

    def _closing_rule(self, name: str | None, path: YamlPath) -> str | None:
        congestion = [rule for rule in self.config.rules if rule.kind == "congestion"]
        if name is not None:
            if name not in {rule.name for rule in congestion}:
                self._problem(
                    (*path, "rule"),
                    f"rule {name!r} is not a congestion rule of {self.rules_name}"
                    + _listing("congestion rules", congestion),
                )
                return None
            return name
        if len(congestion) == 1:
            return congestion[0].name
        self._problem(
            (*path, "state"),
            "name the congestion rule that closed it (rule: NAME)"
            + _listing("congestion rules", congestion),
        )
        return None

    # --- rows ---------------------------------------------------------------------

    def _stock(self, rows: Sequence[models.StockRow], at: YamlPath) -> list[StockLevel]:
        levels: dict[int, StockLevel] = {}
        lines: dict[int, int] = {}
        for index, row in enumerate(rows):
            path = (*at, index)
            if row.food_id in levels:
                self._problem(
                    (*path, "food_id"),
                    f"food {row.food_id} has a stock row already (line {lines[row.food_id]}); "
                    "the stock table has one row per food",
                )
                continue
            lines[row.food_id] = self._line(path)
            levels[row.food_id] = StockLevel(
                food_id=row.food_id,
                name=row.name,
                available=row.available,
                quantity=row.quantity,
                restaurant_id=None
                if row.restaurant_id is None
                else self._any_restaurant(row.restaurant_id),
            )
        return list(levels.values())

    def _order_restaurant(self, ref: str | None, path: YamlPath) -> str | None:
        if ref is not None:
            return self._any_restaurant(ref)
        if len(self.config.restaurants) == 1:
            return self.config.restaurants[0].id
        self._problem(
            path,
            f"give restaurant_id: {self.rules_name} lists {len(self.config.restaurants)} "
            "restaurants",
            anchor="key",
        )
        return None

    def _orders(
        self,
        rows: Sequence[models.OrderRow],
        at: YamlPath,
        clock: datetime,
        state: _TestState,
    ) -> list[Order]:
        orders = []
        for index, row in enumerate(rows):
            path = (*at, index)
            restaurant_id = self._order_restaurant(row.restaurant_id, path)
            if restaurant_id is None:
                continue
            created = clock if row.created_at is None else self._at(row.created_at, clock)
            spacing = row.every or timedelta()
            count = row.count or 1
            for n in range(count):
                key = row.payment_key.replace("{n}", str(n + 1))
                if key in state.keys:
                    self._problem(
                        (*path, "payment_key"),
                        f"payment_key {key!r} is an order of this test already (line "
                        f"{state.keys[key]}); change it with change_orders",
                    )
                    continue
                state.keys[key] = self._line(path)
                orders.append(
                    Order(
                        payment_key=key,
                        restaurant_id=restaurant_id,
                        created_at=created + n * spacing,
                        order_number=None if row.order_number is None else row.order_number + n,
                        **self._columns(row, row.model_fields_set - _ROW_ONLY, clock),
                    )
                )
        return orders

    def _columns(
        self, row: models.OrderColumns, given: Iterable[str], clock: datetime
    ) -> dict[str, Any]:
        """The Order fields of the columns ``given``, converted; status_id always."""
        columns: dict[str, Any] = {"status_id": row.status_id}
        for name in given:
            value = getattr(row, name)
            if name in _TIME_COLUMNS:
                value = None if value is None else self._at(value, clock)
            elif name == "total":
                value = None if value is None else Decimal(str(value))
            elif name == "items":
                value = tuple(Item(item.food_id, item.name, item.quantity) for item in value)
            elif name == "restaurant_id":
                value = "" if value is None else self._any_restaurant(value)
            columns[name] = value
        return columns

    def _change(
        self, change: models.OrderChange, path: YamlPath, clock: datetime, state: _TestState
    ) -> OrderChange | None:
        if change.payment_key not in state.keys:
            self._problem(
                (*path, "payment_key"),
                f"{change.payment_key!r} is not an order of this test yet: add it under "
                "orders or add_orders first",
            )
            return None
        given = change.model_fields_set - {"payment_key"}
        columns = self._columns(change, given, clock)
        if "status_id" not in given:
            del columns["status_id"]
        return OrderChange(change.payment_key, columns, self._line(path))

    # --- expectations -------------------------------------------------------------

    def _expect(self, expect: models.Expect, at: YamlPath, state: _TestState) -> Expectation:
        decisions = None
        if expect.decisions is not None:
            found = [
                (index, decision)
                for index, entry in enumerate(expect.decisions)
                if (decision := self._decision(entry, (*at, "decisions", index), state))
            ]
            self._duplicates(found, (*at, "decisions"))
            decisions = tuple(decision for _, decision in found)
        effects = None
        if expect.side_effects is not None:
            effects = tuple(
                effect
                for index, entry in enumerate(expect.side_effects)
                if (effect := self._effect(entry, (*at, "side_effects", index), state))
            )
        return Expectation(
            decisions=decisions,
            decisions_line=self._line((*at, "decisions")),
            side_effects=effects,
            side_effects_line=self._line((*at, "side_effects")),
        )

    def _rule(self, name: str, path: YamlPath) -> Rule | None:
        rule = self.rules.get(name)
        if rule is None:
            self._problem(
                path,
                f"rule {name!r} is not a rule of {self.rules_name}"
                + _listing("rules", self.config.rules),
            )
        return rule

    def _decision(
        self, entry: models.ExpectedDecision, path: YamlPath, state: _TestState
    ) -> ExpectedDecision | None:
        known = entry.payment_key in state.keys
        if not known:
            self._problem(
                (*path, "payment_key"),
                f"{entry.payment_key!r} is not an order of this test (by this step)",
            )
        rule = self._rule(entry.rule, (*path, "rule"))
        if rule is None or not known:
            return None
        return ExpectedDecision(
            payment_key=entry.payment_key,
            rule=rule.name,
            reason_id=entry.reason_id if entry.reason_id is not None else rule.reason_id,
            outcome=entry.outcome,
            evidence=entry.evidence,
            line=self._line(path),
        )

    def _duplicates(self, decisions: Sequence[tuple[int, ExpectedDecision]], at: YamlPath) -> None:
        """One order has one decision per rule: a second expectation of it is a slip."""
        seen: dict[tuple[str, str], int] = {}
        for index, decision in decisions:
            key = (decision.payment_key, decision.rule)
            if key in seen:
                self._problem(
                    (*at, index),
                    f"{decision.payment_key} by {decision.rule} is expected already "
                    f"(line {seen[key]})",
                    anchor="key",
                )
            seen.setdefault(key, decision.line)

    def _effect(
        self, entry: models.ExpectedEffect, path: YamlPath, state: _TestState
    ) -> ExpectedEffect | None:
        action: EffectAction
        target: str | int | None
        food = entry.deactivate if entry.deactivate is not None else entry.reactivate
        if food is not None:
            action = "deactivate" if entry.deactivate is not None else "reactivate"
            target = food
            if food not in state.foods:
                self._problem(
                    (*path, action),
                    f"food {food} is in no stock row, order item or deactivated_foods of this test",
                )
                target = None
        else:
            action = "close" if entry.close is not None else "reopen"
            ref = entry.close if entry.close is not None else entry.reopen
            assert ref is not None  # the model asks for exactly one
            target = self._listed(ref, (*path, action))
        rule = self._effect_rule(entry.rule, action, path)
        if target is None or rule is None:
            return None
        return ExpectedEffect(
            action=action,
            target=target,
            rule=rule,
            mode="dry_run" if entry.dry_run else "live",
            line=self._line(path),
        )

    def _effect_rule(self, name: str | None, action: EffectAction, path: YamlPath) -> str | None:
        if name is not None:
            rule = self._rule(name, (*path, "rule"))
            return None if rule is None else rule.name
        able = [rule for rule in self.config.enabled_rules if _can(rule, action)]
        if len(able) == 1:
            return able[0].name
        if not able:
            self._problem(
                (*path, action),
                f"no enabled rule of {self.rules_name} can {action} anything; name the "
                "rule (rule: NAME) if that is what the test is about",
            )
        else:
            self._problem(
                (*path, action),
                f"name the rule (rule: NAME): {', '.join(r.name for r in able)} can all {action}",
            )
        return None


# OrderRow fields that are not columns of ``orders``.
_ROW_ONLY = frozenset(
    {"payment_key", "count", "every", "created_at", "order_number", "restaurant_id"}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _can(rule: Rule, action: EffectAction) -> bool:
    """Whether ``rule`` may take ``action`` at all (to default an expectation's rule)."""
    if action in ("deactivate", "reactivate"):
        return rule.kind == "out_of_stock" and bool(getattr(rule, "deactivate_food", False))
    if action == "close":
        return rule.kind == "congestion" and bool(getattr(rule, "close_restaurant", False))
    return rule.kind == "congestion"


def _listing(what: str, rules: Sequence[Rule]) -> str:
    return (
        f" ({what}: {', '.join(rule.name for rule in rules)})" if rules else f" (it has no {what})"
    )


def _foods_of(test: models.RuleTest) -> set[int]:
    """Every food a test mentions, in stock rows and order items, in any step."""
    foods = {row.food_id for row in test.stock}
    foods |= {f if isinstance(f, int) else f.food_id for f in test.deactivated_foods}
    foods |= {item.food_id for order in test.orders for item in order.items}
    for step in test.steps:
        foods |= {row.food_id for row in step.stock}
        for orders in (step.add_orders, step.change_orders):
            foods |= {item.food_id for order in orders for item in order.items}
    return foods

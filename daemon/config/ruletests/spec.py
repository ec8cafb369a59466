"""A rules test file as read and checked: the rules, and each test's passes, ready to run.

Everything is resolved: times are UTC instants, restaurants are ids, rows are
the domain's :class:`Order` and :class:`StockLevel`, expectations carry the
line they were written on. Step 0 of a test is its first pass, at ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from daemon.config.geocode_file import GeocodeEntries
from daemon.config.models import Config
from daemon.domain.decisions import Mode
from daemon.domain.orders import Order, StockLevel

EffectAction = Literal["close", "reopen", "deactivate", "reactivate"]
RestaurantStateName = Literal["open", "closed_by_autocancel", "closed_by_others"]


@dataclass(frozen=True, slots=True)
class ExpectedDecision:
    payment_key: str
    rule: str
    reason_id: int
    outcome: str
    evidence: Mapping[str, Any] | None  # None: not compared
    line: int


@dataclass(frozen=True, slots=True)
class ExpectedEffect:
    action: EffectAction
    target: str | int  # restaurant id, or food id
    rule: str
    mode: Mode
    line: int


@dataclass(frozen=True, slots=True)
class Expectation:
    """A pass's expected decisions and side effects; None: that list is not checked."""

    decisions: tuple[ExpectedDecision, ...] | None = None
    decisions_line: int = 0
    side_effects: tuple[ExpectedEffect, ...] | None = None
    side_effects_line: int = 0


@dataclass(frozen=True, slots=True)
class RestaurantSetting:
    restaurant_id: str
    state: RestaurantStateName
    closed_at: datetime | None = None  # closed_by_autocancel: since when
    rule: str | None = None  # closed_by_autocancel: the congestion rule that closed it


@dataclass(frozen=True, slots=True)
class FoodOffSetting:
    """A deactivation of ours in force at the start."""

    food_id: int
    rule: str
    at: datetime
    restaurant_id: str | None


@dataclass(frozen=True, slots=True)
class PauseSetting:
    rule: str | None  # None: every rule
    restaurant_id: str | None  # None: every restaurant
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class OrderChange:
    payment_key: str
    columns: Mapping[str, Any]  # Order field -> new value
    line: int


@dataclass(frozen=True)
class StepSpec:
    """One pass of a test: what changes first, when it runs, what it must do."""

    number: int  # 0: the test's first pass, at `now`
    line: int
    clock: datetime  # UTC
    restaurants: tuple[RestaurantSetting, ...] = ()
    stock: tuple[StockLevel, ...] = ()
    pauses: tuple[PauseSetting, ...] = ()
    add_orders: tuple[Order, ...] = ()
    change_orders: tuple[OrderChange, ...] = ()
    expect: Expectation | None = None


@dataclass(frozen=True)
class RuleTestSpec:
    name: str
    line: int
    steps: tuple[StepSpec, ...]
    deactivated_foods: tuple[FoodOffSetting, ...] = ()
    earlier_cancellations: tuple[datetime, ...] = ()  # live cancellations before step 0


@dataclass(frozen=True)
class RuleTestFile:
    source: Path
    config: Config
    zone: tzinfo  # the wall clock messages show times on
    tests: tuple[RuleTestSpec, ...]
    geocode: GeocodeEntries = field(default_factory=GeocodeEntries)
    warnings: tuple[str, ...] = ()  # the rules' own warnings (FILE:LINE: message)

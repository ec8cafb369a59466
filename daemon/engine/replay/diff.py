"""Two rules files' decisions on the same orders, compared. Pure.

An order is cancelled by a file when its outcome is ``cancelled`` or, for
a dry-run rule or file, ``would_cancel`` (the decision is what a review is
about; the mode is shown beside it). The orders whose decision differs fall
in three groups: newly cancelled (only the new file cancels them), no longer
cancelled (only the old one does), and cancelled by both with a different
rule, reason or mode. Revenue is the sum of ``total`` of each group's orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from daemon.engine.replay.outcomes import OrderOutcome

CANCELLING: Final = ("cancelled", "would_cancel")
GROUPS: Final = ("newly_cancelled", "no_longer_cancelled", "different_rule_or_reason")


@dataclass(frozen=True, slots=True)
class Difference:
    payment_key: str
    restaurant_id: str
    old: OrderOutcome | None
    new: OrderOutcome | None

    @property
    def total(self) -> Decimal | None:
        shown = self.new if self.new is not None else self.old
        return None if shown is None else shown.total


@dataclass(frozen=True)
class RulesDiff:
    newly_cancelled: tuple[Difference, ...]
    no_longer_cancelled: tuple[Difference, ...]
    different_rule_or_reason: tuple[Difference, ...]

    def group(self, name: str) -> tuple[Difference, ...]:
        found: tuple[Difference, ...] = getattr(self, name)
        return found

    @property
    def empty(self) -> bool:
        return not any(self.group(name) for name in GROUPS)


def revenue(differences: tuple[Difference, ...]) -> Decimal:
    return sum((d.total or Decimal(0) for d in differences), Decimal(0))


def _cancelling(outcome: OrderOutcome | None) -> OrderOutcome | None:
    return outcome if outcome is not None and outcome.outcome in CANCELLING else None


def compare(old: Mapping[str, OrderOutcome], new: Mapping[str, OrderOutcome]) -> RulesDiff:
    """The orders whose decision differs between ``old`` and ``new``, grouped."""
    newly: list[tuple[datetime, Difference]] = []
    gone: list[tuple[datetime, Difference]] = []
    different: list[tuple[datetime, Difference]] = []
    for key in sorted(old.keys() | new.keys()):
        before, after = _cancelling(old.get(key)), _cancelling(new.get(key))
        if before is None and after is None:
            continue
        shown = after if after is not None else before
        assert shown is not None
        found = Difference(key, shown.restaurant_id, old.get(key), new.get(key))
        if before is None:
            newly.append((shown.at, found))
        elif after is None:
            gone.append((shown.at, found))
        elif _decision(before) != _decision(after):
            different.append((shown.at, found))
    return RulesDiff(
        newly_cancelled=_in_time_order(newly),
        no_longer_cancelled=_in_time_order(gone),
        different_rule_or_reason=_in_time_order(different),
    )


def _decision(outcome: OrderOutcome) -> tuple[str, int, str]:
    return (outcome.rule, outcome.reason_id, outcome.mode)


def _in_time_order(found: list[tuple[datetime, Difference]]) -> tuple[Difference, ...]:
    """When the cancelling side decided, then by key."""
    return tuple(d for _at, d in sorted(found, key=lambda pair: (pair[0], pair[1].payment_key)))

"""What a staff-confirmed cancellation of one order must satisfy, as codes.

One definition, used twice: by ``autocancel cancel`` before it records the
intent, and by the re-check right before every call (daemon/engine/rejudge.py), so
a manual cancellation resent after a lost answer is judged as it was asked.
Some obstacles can be overridden by the operator (``--force``), and the
override is recorded in the ledger evidence under :data:`FORCED`; the others
cannot (the platform refuses them, or they are not an order at all).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from daemon.domain.decisions import MANUAL
from daemon.domain.ids import segment_problem
from daemon.domain.orders import Order
from daemon.domain.statuses import CANCELED, DELIVERED
from daemon.engine.safety import never_cancel_match

# Evidence keys of a manual cancellation.
CONFIRMED_BY: Final = "confirmed_by"
FORCED: Final = "forced"

FINISHED: Final = {DELIVERED: "delivered", CANCELED: "canceled"}


class Obstacle(StrEnum):
    NOT_IN_STORE = "not_in_store"
    BAD_PAYMENT_KEY = "bad_payment_key"
    FINISHED = "finished"
    # The two below are what the daemon itself never cancels: --force overrides them.
    RESTAURANT_NOT_IN_RULES = "restaurant_not_in_rules"
    NEVER_CANCEL = "never_cancel"


FORCEABLE: Final = frozenset({Obstacle.RESTAURANT_NOT_IN_RULES, Obstacle.NEVER_CANCEL})


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    obstacle: Obstacle
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def forceable(self) -> bool:
        return self.obstacle in FORCEABLE


def is_manual(kind: str) -> bool:
    return kind == MANUAL


def findings(
    order: Order | None, *, restaurant_ids: Collection[str], never_cancel: frozenset[str]
) -> list[Finding]:
    """Every obstacle to cancelling ``order`` by hand, most fundamental first."""
    if order is None:
        return [Finding(obstacle=Obstacle.NOT_IN_STORE)]
    found: list[Finding] = []
    if segment_problem(order.payment_key) is not None:
        found.append(Finding(obstacle=Obstacle.BAD_PAYMENT_KEY))
    if order.status_id in FINISHED:
        found.append(
            Finding(
                obstacle=Obstacle.FINISHED,
                details={
                    "status_id": order.status_id,
                    "status": FINISHED[order.status_id],
                },
            )
        )
    if order.restaurant_id not in restaurant_ids:
        found.append(
            Finding(
                obstacle=Obstacle.RESTAURANT_NOT_IN_RULES,
                details={"restaurant_id": order.restaurant_id},
            )
        )
    matched = never_cancel_match(order, never_cancel)
    if matched is not None:
        found.append(Finding(obstacle=Obstacle.NEVER_CANCEL, details={"matched": matched}))
    return found


def blocking(found: Sequence[Finding], *, forced: Collection[str]) -> list[Finding]:
    """The findings that stop the cancellation, given the obstacles the operator forced."""
    return [f for f in found if not (f.forceable and f.obstacle.value in forced)]

"""Carrying out a pass's live decisions: cancellations, food changes, closures.

Each call follows the same discipline as cancellations: the daemon's claim
is committed first under a unique key (so replicas never both act), then the
API is called, then the outcome is written.

- :mod:`.cancellations` sends the ledger's intents and records each outcome,
  parking a cancellation whose answer was lost for a bounded resend;
- :mod:`.heartbeat` keeps the intents being sent visibly alive for replicas;
- :mod:`.foods` deactivates out-of-stock foods, once per deactivation;
- :mod:`.reactivations` puts them back on sale, once per deactivation;
- :mod:`.closures` closes and reopens restaurants, reading the state back, and
  notices (and never fights) a restaurant staff opened while we held it closed;
- :mod:`.results` is what a food or restaurant action came to, and its log line;
- :mod:`.answers` tells a final refusal from a failure that may pass.

Code outside the package imports from here. Every module logs as ``daemon.engine.side_effects``,
the name its lines had in the journal before the package was split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from daemon.engine.reactivation import DEFAULT_ABANDONED_AFTER
from daemon.engine.side_effects.announce import CustomerMessage
from daemon.engine.side_effects.cancellations import Cancellations, Recheck
from daemon.engine.side_effects.closures import Closures, release, watch_due
from daemon.engine.side_effects.foods import FoodDeactivations, FoodRecheck
from daemon.engine.side_effects.heartbeat import HEARTBEAT_SECONDS, TAKEOVER_AFTER
from daemon.engine.side_effects.reactivations import (
    FoodReactivations,
    Reactivation,
    ReactivationRecheck,
)
from daemon.engine.side_effects.results import ActionKind, ActionResult
from daemon.store.names import Names

if TYPE_CHECKING:  # a dry run reports actions without loading the HTTP client
    from daemon.dukkango.executor import Executor

__all__ = [
    "HEARTBEAT_SECONDS",
    "TAKEOVER_AFTER",
    "ActionKind",
    "ActionResult",
    "Cancellations",
    "Closures",
    "FoodDeactivations",
    "FoodReactivations",
    "FoodRecheck",
    "Reactivation",
    "ReactivationRecheck",
    "Recheck",
    "SideEffects",
    "release",
    "watch_due",
]


@dataclass(frozen=True, slots=True)
class SideEffects:
    """Everything a live pass may do on the platform, through one executor."""

    cancellations: Cancellations
    foods: FoodDeactivations
    reactivations: FoodReactivations
    closures: Closures

    @classmethod
    def through(
        cls,
        executor: Executor,
        *,
        engine: sa.Engine,
        lost_answer_retries: int,
        names: Names,
        reactivations_abandoned_after: timedelta = DEFAULT_ABANDONED_AFTER,
        customer: CustomerMessage | None = None,
    ) -> SideEffects:
        return cls(
            cancellations=Cancellations(
                engine=engine,
                executor=executor,
                lost_answer_retries=lost_answer_retries,
                names=names,
                customer=customer,
            ),
            foods=FoodDeactivations(
                engine=engine,
                executor=executor,
                lost_answer_retries=lost_answer_retries,
                names=names,
            ),
            reactivations=FoodReactivations(
                engine=engine,
                executor=executor,
                lost_answer_retries=lost_answer_retries,
                names=names,
                abandoned_after=reactivations_abandoned_after,
            ),
            closures=Closures(engine=engine, executor=executor, names=names),
        )

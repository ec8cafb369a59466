"""A decision: what happens to one order in one pass, and its vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.orders import Order

Mode = Literal["live", "dry_run"]


Outcome = Literal["pending", "cancelled", "would_cancel", "failed", "skipped", "held"]

# Outcomes of a live cancellation intent that is gone or on its way: the order
# is leaving, and no later pass may send it again. A refused one ("failed")
# leaves the order where it is.
IN_FLIGHT: Final[tuple[Outcome, ...]] = ("pending", "cancelled")


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one order in one pass (or, with ``primary=False``, a shadow match)."""

    order: Order
    rule: str
    kind: str
    reason_id: int
    mode: Mode
    outcome: Outcome
    evidence: Mapping[str, Any]
    primary: bool = True
    attempts: int = 0
    last_error: str | None = None
    # Why this pass's API call failed, as a code (``last_error`` has the words).
    error_code: ApiErrorCode | None = None
    ledger_id: int | None = None
    note: str | None = None
    # Earlier calls of this cancellation whose answer was lost (see ledger).
    uncertain_sends: int = 0

    @property
    def payment_key(self) -> str:
        return self.order.payment_key

    def with_outcome(self, outcome: Outcome, **evidence: Any) -> Decision:
        return replace(self, outcome=outcome, evidence={**self.evidence, **evidence})


# The ledger's rule and kind of a manual cancellation; no rule kind has this name.
MANUAL: Final = "manual"

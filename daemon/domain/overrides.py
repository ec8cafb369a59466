"""People taking a restaurant back from the daemon: the ways a closure of ours ends by hand.

A closure the daemon made ends in one of two ways: the congestion rule
reopens it when the load allows (automatic), or people end it first:

- ``reopen``: an operator ran ``autocancel reopen`` (the platform got ``PUT
  restaurants/status/open``);
- ``release``: an operator ran ``autocancel release``: the daemon gives up
  its claim and sends nothing; staff keep the restaurant closed by hand;
- ``staff``: staff opened the restaurant on Dükkango themselves, and the
  daemon noticed on its next read of the platform's status.

Each is a decision of a person, and the daemon does not fight it: it does
not close that restaurant again, nor cancel its orders for capacity, until
the overload it closed for has ended (a pass sees the load below
``reopen_below``), and never longer than the congestion rule's
``respect_staff_minutes``. Every override expires.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

OverrideKind = Literal["reopen", "release", "staff"]
OVERRIDE_KINDS: Final[tuple[OverrideKind, ...]] = ("reopen", "release", "staff")

# The longest a person's decision can be respected (respect_staff_minutes may
# not exceed it): the snapshot reads only the overrides this recent.
MAX_RESPECT: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Override:
    """A closure of ours that people ended: respected while it is recent and the overload lasts."""

    closure_id: int
    restaurant_id: str
    rule: str  # the rule whose closure it was
    kind: OverrideKind
    at: datetime  # when it ended (staff: when the daemon noticed)
    by: str | None = None  # who, for reopen and release (--by, or the OS user)

    def describe(self) -> str:
        """``reopened by staff on Dükkango``, ``reopened by Ayşe (autocancel reopen)``, ..."""
        if self.kind == "staff":
            return "reopened by staff on Dükkango"
        verb = "reopened" if self.kind == "reopen" else "released"
        return f"{verb} by {self.by or 'an operator'} (autocancel {self.kind})"

    def respected_until(self, minutes: int) -> datetime:
        """When respecting it ends at the latest, for a rule that respects it ``minutes``."""
        return self.at + min(timedelta(minutes=minutes), MAX_RESPECT)


def newest_overrides(ended: Iterable[Override], *, closed: Collection[str]) -> dict[str, Override]:
    """The override each restaurant is judged with: its newest, unless we closed it again.

    ``ended``: the closures people ended whose respect has not ended, oldest
    closure first (a newer one replaces an older one); ``closed``: the
    restaurants with a closure of ours in force, which have none. The store's
    snapshot and a replay's world both choose with this.
    """
    found: dict[str, Override] = {}
    for override in ended:
        if override.restaurant_id not in closed:
            found[override.restaurant_id] = override
    return found

"""What one get-current poll came to."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SyncReport:
    received: int = 0
    stored: int = 0
    acknowledged: int = 0
    vanished: int = 0
    malformed: list[str] = field(default_factory=list)
    conflicts: int = 0  # orders a POS wrote where Dükkango newly disagrees
    error: str | None = None

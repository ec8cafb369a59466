"""What a rule says about one order: it matches (with evidence), it does not, or it cannot tell."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class VerdictKind(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    # The rule could not decide (no geocoder, geocoder down, unreadable data):
    # "unknown" never leads to a cancellation.
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    evidence: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""

    @classmethod
    def match(cls, why: str = "", **evidence: Any) -> Verdict:
        return cls(VerdictKind.MATCH, evidence, why)

    @classmethod
    def no_match(cls, why: str, **evidence: Any) -> Verdict:
        return cls(VerdictKind.NO_MATCH, evidence, why)

    @classmethod
    def skipped(cls, why: str, **evidence: Any) -> Verdict:
        return cls(VerdictKind.SKIPPED, evidence, why)

    @property
    def matched(self) -> bool:
        return self.kind is VerdictKind.MATCH

"""Configuration problems: where in rules.yaml (a path) and what is wrong, by severity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

YamlPath = tuple[str | int, ...]


Severity = Literal["error", "warning"]


class _Rejected:
    """Stands in for a value we refused to build; validation ignores it."""

    _instance: _Rejected | None = None

    def __new__(cls) -> _Rejected:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<rejected>"


REJECTED: Final = _Rejected()


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about the file, located by path rather than by line.

    ``anchor`` says which line the path stands for: ``"key"`` is the line of
    the key naming the value (right for unknown keys, and for "this mapping
    lacks X"), ``"value"`` the line where the value starts.
    """

    path: YamlPath
    message: str
    severity: Severity = "error"
    anchor: Anchor = "value"

    @classmethod
    def error(cls, path: YamlPath, message: str, *, anchor: Anchor = "value") -> Problem:
        return cls(path=path, message=message, severity="error", anchor=anchor)

    @classmethod
    def warning(cls, path: YamlPath, message: str, *, anchor: Anchor = "value") -> Problem:
        return cls(path=path, message=message, severity="warning", anchor=anchor)


def describe_path(path: YamlPath) -> str:
    """``("rules", 2, "max_km")`` -> ``rules[2].max_km``; ``()`` -> ``the top level``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "the top level"


Anchor = Literal["key", "value"]

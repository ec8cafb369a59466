"""The addresses a rehearsal's geocoder knows: ``autocancel simulator --geocode-file F``.

A YAML mapping from address text (as the orders have it; spaces are
collapsed) to ``[latitude, longitude]``, or to ``not_found`` for an address
that definitely does not exist::

    "Dershane Sokak 4, Şişli": [41.0520, 28.9900]
    "Olmayan Sokak 999": not_found

Loaded safely, and every problem reported at once as ``FILE:LINE: message``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from daemon.config.yamlsource import YamlDocument, YamlSyntaxError, load_yaml
from daemon.domain.problems import YamlPath

NOT_FOUND: Final = "not_found"


class GeocodeFileError(Exception):
    """The file is unusable; ``errors`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True, kw_only=True)
class GeocodeEntries:
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    not_found: frozenset[str] = frozenset()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _position_problem(value: Any) -> str | None:
    """Why ``value`` is not ``[latitude, longitude]``, or None."""
    if not isinstance(value, list) or len(value) != 2:
        return f"must be [latitude, longitude] or {NOT_FOUND} (got {value!r})"
    latitude, longitude = (_number(v) for v in value)
    if latitude is None or longitude is None:
        return f"must be two numbers [latitude, longitude] (got {value!r})"
    if not -90 <= latitude <= 90:
        return f"latitude must be between -90 and 90 (got {latitude})"
    if not -180 <= longitude <= 180:
        return f"longitude must be between -180 and 180 (got {longitude})"
    return None


def load_geocode_file(path: Path) -> GeocodeEntries:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GeocodeFileError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GeocodeFileError([f"{path}: cannot read it as UTF-8 text: {exc}"]) from None
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        raise GeocodeFileError([f"{path}:{exc.line}: {exc.message}"]) from None
    entries, errors = geocode_entries(
        document.data, document=document, source=path, at=(), whole="the file"
    )
    errors = [f"{path}:{document.line_of(p.path)}: {p.message}" for p in document.problems] + errors
    if errors:
        raise GeocodeFileError(errors)
    return entries


def geocode_entries(
    data: Any, *, document: YamlDocument, source: Path, at: YamlPath, whole: str
) -> tuple[GeocodeEntries, list[str]]:
    """The entries of the mapping ``data`` at ``at``, and a ``FILE:LINE: message`` per problem.

    ``whole`` names the mapping in messages ("the file", "geocode").
    """
    if data is None:
        return GeocodeEntries(), []
    if not isinstance(data, dict):
        return GeocodeEntries(), [
            f"{source}:{document.line_of(at)}: {whole} must map addresses to [latitude, "
            f"longitude] or {NOT_FOUND}"
        ]
    errors: list[str] = []
    positions: dict[str, tuple[float, float]] = {}
    not_found: set[str] = set()
    for address, value in data.items():
        where = f"{source}:{document.line_of((*at, address))}"
        normalized = " ".join(str(address).split())
        if not isinstance(address, str) or not normalized:
            errors.append(f"{where}: an address must be text (got {address!r})")
        elif value == NOT_FOUND:
            not_found.add(normalized)
        elif (problem := _position_problem(value)) is not None:
            errors.append(f"{where}: {address!r}: {problem}")
        else:
            positions[normalized] = (float(value[0]), float(value[1]))
    return GeocodeEntries(positions=positions, not_found=frozenset(not_found)), errors

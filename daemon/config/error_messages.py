"""pydantic's validation errors as messages an operator can act on.

pydantic's own messages ("Input should be a valid integer") name neither the
place nor the fix. :func:`problems_from` translates each pydantic error into a
:class:`Problem` at the right path, saying what was expected, what was given
and, where it is obvious, what to do.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Final

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from daemon.config.yamlsource import YamlDocument
from daemon.domain.problems import REJECTED, Problem, YamlPath, describe_path

_EXPECTED: Final = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "tuple_type": "a list",
    "is_instance_of": "a value of another type",
}
_NUMERIC_TYPES: Final = frozenset({"int_type", "int_parsing", "float_type", "float_parsing"})
_RANGE_TYPES: Final = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
)


def describe_value(value: Any, written: str | None = None) -> str:
    """What the operator gave, in their terms: ``string 'fast'``, ``-3``, ``nothing``."""
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, bool | int | float):
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        return written if written is not None else shown
    shapes = {type(None): "nothing", list: "a list", dict: "a mapping"}
    return shapes.get(type(value)) or f"{type(value).__name__} {written or value}"


def _hint(error_type: str, value: Any) -> str:
    if error_type in _NUMERIC_TYPES and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return "; write the number without quotes"
    if error_type == "bool_type" and isinstance(value, str):
        return "; write true or false without quotes"
    if error_type == "string_type" and isinstance(value, bool | int | float):
        return "; put it in quotes so YAML keeps it as text"
    return ""


def _bounds(info: FieldInfo | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for constraint in info.metadata if info is not None else ():
        for name, kind in (
            ("gt", annotated_types.Gt),
            ("ge", annotated_types.Ge),
            ("lt", annotated_types.Lt),
            ("le", annotated_types.Le),
        ):
            if isinstance(constraint, kind):
                found[name] = getattr(constraint, name)
    return found


def _range_phrase(bounds: dict[str, Any], *, integer: bool) -> str:
    """``from 1 to 8``, ``greater than 0``, ``at least 1`` ... or "" without bounds."""
    low = (
        f"greater than {bounds['gt']}"
        if "gt" in bounds
        else (f"at least {bounds['ge']}" if "ge" in bounds else "")
    )
    high = (
        f"less than {bounds['lt']}"
        if "lt" in bounds
        else (f"at most {bounds['le']}" if "le" in bounds else "")
    )
    if "ge" in bounds and "le" in bounds:
        return (
            f"from {bounds['ge']} to {bounds['le']}"
            if integer
            else (f"between {bounds['ge']} and {bounds['le']}")
        )
    return " and ".join(part for part in (low, high) if part)


def _integer(annotation: Any) -> bool:
    """``int``, or an optional ``int`` (``int | None``): ranges read "an integer from 1 to 8"."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return False
    return set(typing.get_args(annotation)) == {int, type(None)}


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    """The pydantic models a field annotation can hold (through Optional, tuple, list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
        return
    if origin in (typing.Union, types.UnionType, tuple, list):
        for argument in typing.get_args(annotation):
            yield from _models_in(argument)


def _walk(
    model: type[BaseModel] | None, loc: YamlPath
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that owns the last key of ``loc``, and that key's field info."""
    owner, info = model, None
    for index, part in enumerate(loc):
        if isinstance(part, int) or owner is None:
            continue
        info = owner.model_fields.get(part)
        if info is None:
            return (owner if index == len(loc) - 1 else None), None
        if index < len(loc) - 1:
            owner = next(iter(_models_in(info.annotation)), None)
    return owner, info


def valid_keys(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def problems_from(
    exc: ValidationError,
    *,
    document: YamlDocument,
    at: YamlPath,
    model: type[BaseModel] | None,
    subject: str | None = None,
) -> list[Problem]:
    """Translate ``exc`` (raised validating the value at ``at``) into problems.

    With ``subject`` (``rules[2] (too-far)``) messages read
    ``rules[2] (too-far): max_km must be ...``; without it fields are named by
    their full path (``schedule.interval_seconds must be ...``).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc: YamlPath = tuple(error["loc"])
        problem = _translate(error, loc=loc, document=document, at=at, model=model, subject=subject)
        if problem is not None and not document.is_rejected(problem.path):
            problems.append(problem)
    return problems


def _translate(
    error: ErrorDetails,
    *,
    loc: YamlPath,
    document: YamlDocument,
    at: YamlPath,
    model: type[BaseModel] | None,
    subject: str | None,
) -> Problem | None:
    path = (*at, *loc)
    value = error.get("input")
    if value is REJECTED:
        return None
    error_type = error["type"]
    prefix = f"{subject}: " if subject else ""

    def name_of(relative: YamlPath) -> str:
        if subject is not None:
            return describe_path(relative) if relative else subject
        return describe_path((*at, *relative))

    if error_type == "missing":
        key = str(loc[-1])
        owner, info = _walk(model, loc)
        what = f" ({info.description})" if info is not None and info.description else ""
        where = "" if subject is not None and len(loc) == 1 else f" in {name_of(loc[:-1])}"
        message = f"{prefix}missing required key '{key}'{where}{what}"
        return Problem.error(path[:-1], message, anchor="key")

    if error_type == "extra_forbidden":
        owner, _ = _walk(model, loc)
        container = subject if subject is not None and len(loc) == 1 else name_of(loc[:-1])
        valid = f"; valid keys: {', '.join(valid_keys(owner))}" if owner is not None else ""
        return Problem.error(path, f"unknown key '{loc[-1]}' in {container}{valid}", anchor="key")

    field = name_of(loc)
    message = _value_message(error, path=path, document=document, model=model, loc=loc)
    joiner = "" if message.startswith(" ") else ": "
    return Problem.error(path, f"{prefix}{field}{joiner}{message}")


def _value_message(
    error: ErrorDetails,
    *,
    path: YamlPath,
    document: YamlDocument,
    model: type[BaseModel] | None,
    loc: YamlPath,
) -> str:
    """The part after the field name: `` must be ... (got ...)`` or ``<explanation>``.

    A leading space means "reads on from the field name"; otherwise the caller
    separates it with a colon.
    """
    error_type = error["type"]
    value = error.get("input")
    written = document.text_of(path)
    _, info = _walk(model, loc)
    integer = error_type.startswith("int") or (info is not None and _integer(info.annotation))
    bounds = _range_phrase(_bounds(info), integer=integer)
    context = error.get("ctx") or {}

    if error_type in _RANGE_TYPES:
        if bounds.startswith("from ") and integer:
            bounds = f"an integer {bounds}"
        limit = bounds or error["msg"].removeprefix("Input should be ")
        message = f" must be {limit} (got {written or value})"
    elif error_type in _EXPECTED:
        expected = _EXPECTED[error_type]
        if bounds and error_type in _NUMERIC_TYPES:
            joiner = " of " if bounds.startswith("at ") else " "
            expected = f"{expected}{joiner}{bounds}"
        given = describe_value(value, written)
        message = f" must be {expected} (got {given}){_hint(error_type, value)}"
    elif error_type == "literal_error":
        message = f" must be {context.get('expected')} (got {describe_value(value, written)})"
    elif error_type == "finite_number":
        message = f" must be a finite number (got {written or value})"
    elif error_type == "string_too_short":
        message = " must not be empty"
    elif error_type == "too_short":
        message = f" must list at least {context.get('min_length', 1)} item(s)"
    elif error_type in ("value_error", "assertion_error"):
        reason = str(context.get("error", error["msg"]))
        message = f" {reason}" if reason.startswith("must ") else reason
    else:
        message = error["msg"]
    return message

"""Reading a rules test file: :func:`load_rule_tests`, or :class:`RuleTestFileError`.

The file is loaded safely with line marks (daemon.config.yamlsource), its
shape checked by pydantic (:mod:`.models`, worded by
daemon.config.error_messages), its rules loaded and validated as
``autocancel check`` validates them, and then everything that refers to
something else is checked: restaurants, rules, payment keys and foods named
in rows and expectations, clocks that would run backwards (:mod:`.resolve`).
Every problem is reported at once, as ``FILE:LINE: message``, like
``autocancel check``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from daemon.config.error_messages import describe_value, problems_from
from daemon.config.geocode_file import geocode_entries
from daemon.config.load import ConfigError, config_from_document, load_config
from daemon.config.models import Config
from daemon.config.ruletests import models
from daemon.config.ruletests.resolve import Resolver
from daemon.config.ruletests.spec import RuleTestFile
from daemon.config.yamlsource import YamlDocument, YamlSyntaxError, load_yaml
from daemon.domain.problems import REJECTED, Problem, YamlPath
from daemon.domain.windows import time_zone


class RuleTestFileError(Exception):
    """The test file is unusable; ``errors`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def load_rule_tests(path: Path, *, default_rules: Path | None = None) -> RuleTestFile:
    """Read and check the test file ``path``; ``default_rules`` when it names no rules."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RuleTestFileError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise RuleTestFileError([f"{path}: is a directory, not a test file"]) from None
    except OSError as exc:
        raise RuleTestFileError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RuleTestFileError(
            [f"{path}:{line}: not UTF-8 text; save the file as UTF-8"]
        ) from None
    return parse_rule_tests(text, source=path, default_rules=default_rules)


def parse_rule_tests(text: str, *, source: Path, default_rules: Path | None = None) -> RuleTestFile:
    """Check the test file ``text``; ``source`` names it and anchors a relative ``rules_file``."""
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        raise RuleTestFileError([f"{source}:{exc.line}: {exc.message}{_hint(text, exc)}"]) from None
    data = document.data
    if data is REJECTED:
        raise RuleTestFileError(_format(document.problems, document, source))
    if data is None:
        raise RuleTestFileError(
            [f"{source}:1: the file is empty; it needs tests: (see README, 'Testing rules')"]
        )
    if not isinstance(data, dict):
        raise RuleTestFileError(
            [
                f"{source}:{document.line_of(())}: the top level must be a mapping with "
                f"tests: and rules_file: or config: (got {describe_value(data)})"
            ]
        )
    problems = list(document.problems)
    model = _validated(models.RuleTestFileModel, data, (), document, problems)
    listed = data.get("tests")
    tests = [
        (index, test)
        for index, raw in enumerate(listed if isinstance(listed, list) else ())
        if isinstance(raw, dict)
        if (test := _validated(models.RuleTest, raw, ("tests", index), document, problems))
    ]
    problems += _duplicate_names(data.get("tests"))
    config, rules_name, errors = _rules(data, document, source, default_rules)
    geocode, geocode_errors = geocode_entries(
        data.get("geocode"), document=document, source=source, at=("geocode",), whole="geocode"
    )
    errors += geocode_errors
    if config is None:
        raise RuleTestFileError(errors + _format(problems, document, source))
    zone = config.zone
    if model is not None and model.timezone is not None:
        zone = time_zone(model.timezone)
    if data.get("geocode") is not None and config.geocoder is None:
        problems.append(
            Problem.error(
                ("geocode",),
                f"{rules_name} configures no geocoder, so no address is ever looked up: "
                "remove geocode, or test rules that have a geocoder",
                anchor="key",
            )
        )
    resolver = Resolver(document=document, config=config, zone=zone, rules_name=rules_name)
    specs = [resolver.test(index, test) for index, test in tests]
    problems += resolver.problems
    if model is None or errors or any(p.severity == "error" for p in problems):
        raise RuleTestFileError(errors + _format(problems, document, source))
    return RuleTestFile(
        source=source,
        config=config,
        zone=zone,
        tests=tuple(spec for spec in specs if spec is not None),
        geocode=geocode,
        warnings=config.warnings,
    )


def _duplicate_names(tests: Any) -> list[Problem]:
    """A later test named as an earlier one (failures name tests, so names must be unique)."""
    seen: dict[str, int] = {}
    found = []
    for index, test in enumerate(tests if isinstance(tests, list) else ()):
        name = test.get("name") if isinstance(test, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            found.append(
                Problem.error(
                    ("tests", index, "name"),
                    f"tests[{seen[name]}] is named {name!r} already; give each test its own name",
                )
            )
        seen.setdefault(name, index)
    return found


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(
    model: type[ModelT],
    value: Any,
    at: YamlPath,
    document: YamlDocument,
    problems: list[Problem],
) -> ModelT | None:
    """``value`` as ``model``, or None with its problems added to ``problems``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems += problems_from(exc, document=document, at=at, model=model)
        return None


def _hint(text: str, exc: YamlSyntaxError) -> str:
    """In a flow mapping (``{payment_key: busy-{n}}``) YAML reads ``{n}`` as a mapping."""
    lines = text.splitlines()
    line = lines[exc.line - 1] if 0 < exc.line <= len(lines) else ""
    if "{n}" in line and not re.search(r"""["'][^"']*\{n\}[^"']*["']""", line):
        return '; put a payment_key with {n} in quotes: "busy-{n}"'
    return ""


def _rules(
    data: dict[str, Any], document: YamlDocument, source: Path, default_rules: Path | None
) -> tuple[Config | None, str, list[str]]:
    """The configuration under test, how messages name it, and its own errors.

    A value of the wrong type, or both keys, is the model's to report: None, no error.
    """
    embedded, named = data.get("config"), data.get("rules_file")
    config: Config | None = None
    name = ""
    try:
        if embedded is not None and named is not None:
            pass
        elif isinstance(embedded, dict):
            name = f"the config at line {document.line_of(('config',), anchor='key')}"
            sub = document.subdocument(("config",), embedded)
            config = config_from_document(sub, source=source)
        elif isinstance(named, str) and named:
            name = str(source.parent / named)
            config = load_config(source.parent / named, environ={})
        elif embedded is None and named is None:
            if default_rules is None:
                return None, "", [f"{source}:1: {_NO_RULES}"]
            name = str(default_rules)
            try:
                config = load_config(default_rules, environ={})
            except ConfigError as exc:
                note = (
                    f"{source}: names no rules (rules_file: or config:), so it tests "
                    f"{default_rules} (-c, $AUTOCANCEL_CONFIG or ./rules.yaml):"
                )
                return None, name, [note, *exc.errors]
    except ConfigError as exc:
        return None, name, exc.errors
    return config, name, []


_NO_RULES = (
    "name the rules to test: rules_file: PATH (relative to this file) or config: "
    "(a rules.yaml written here)"
)


def _format(problems: Iterable[Problem], document: YamlDocument, source: Path) -> list[str]:
    located = []
    for order, problem in enumerate(problems):
        if problem.severity == "error":
            line = document.line_of(problem.path, anchor=problem.anchor)
            located.append((line, order, f"{source}:{line}: {problem.message}"))
    return [text for _, _, text in sorted(located)]

"""The ``rules:`` list of rules.yaml, validated one rule at a time.

One broken rule never hides another: each is checked on its own (a rule with
an unknown kind still for the fields every rule has), then the list as a
whole (duplicate names, load rules placed before the per-order rules).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from daemon.config.error_messages import describe_value, problems_from
from daemon.config.yamlsource import YamlDocument
from daemon.domain.problems import REJECTED, Problem, YamlPath
from rules.base import Rule, describe_rule
from rules.ordering import order_problems
from rules.registry import RuleRegistry


def build_rules(
    raw_rules: Any, *, document: YamlDocument, registry: RuleRegistry
) -> tuple[list[tuple[YamlPath, Rule]], list[Problem]]:
    """Validate every rule under ``rules:``; return the good ones with their paths.

    Each rule is checked on its own, so all problems are found in one go. A rule
    with an unknown kind is still checked for the fields every rule has.
    """
    if raw_rules is None or raw_rules is REJECTED:
        return [], []
    if not isinstance(raw_rules, list):
        return [], [
            Problem.error(
                ("rules",),
                f"rules must be a list of rules, each starting with '- name:' "
                f"(got {describe_value(raw_rules, document.text_of(('rules',)))})",
            )
        ]
    built: list[tuple[YamlPath, Rule]] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_rules):
        at: YamlPath = ("rules", index)
        rule, found = _build_rule(raw, at=at, document=document, registry=registry)
        problems += found
        if rule is not None:
            built.append((at, rule))
    problems += _duplicate_names(raw_rules)
    problems += order_problems(built)
    return built, problems


def _build_rule(
    raw: Any, *, at: YamlPath, document: YamlDocument, registry: RuleRegistry
) -> tuple[Rule | None, list[Problem]]:
    if raw is REJECTED:
        return None, []
    if not isinstance(raw, dict):
        given = describe_value(raw, document.text_of(at))
        return None, [
            Problem.error(
                at,
                f"{describe_rule(at, None)} must be a mapping with at least name, kind and "
                f"reason_id (got {given})",
            )
        ]
    subject = describe_rule(at, raw.get("name"))
    kinds = ", ".join(registry.kinds())
    kind = raw.get("kind")
    rule_class = registry.get(kind) if isinstance(kind, str) else None
    problems: list[Problem] = []
    if rule_class is None:
        if "kind" not in raw:
            problems.append(
                Problem.error(
                    at,
                    f"{subject}: missing required key 'kind'; valid kinds: {kinds}",
                    anchor="key",
                )
            )
        elif isinstance(kind, str):
            problems.append(
                Problem.error(
                    (*at, "kind"), f"{subject}: unknown kind '{kind}'; valid kinds: {kinds}"
                )
            )
        elif kind is not REJECTED:
            given = describe_value(kind, document.text_of((*at, "kind")))
            problems.append(
                Problem.error(
                    (*at, "kind"),
                    f"{subject}: kind must be text (got {given}); valid kinds: {kinds}",
                )
            )
        # Still check what every rule has, so one pass reports everything we can.
        common = {key: value for key, value in raw.items() if key in Rule.model_fields}
        common["kind"] = "unknown"
        try:
            Rule.model_validate(common)
        except ValidationError as exc:
            problems += problems_from(exc, document=document, at=at, model=Rule, subject=subject)
        return None, problems
    try:
        return rule_class.model_validate(raw), []
    except ValidationError as exc:
        return None, problems_from(exc, document=document, at=at, model=rule_class, subject=subject)


def _duplicate_names(raw_rules: list[Any]) -> list[Problem]:
    first_seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, raw in enumerate(raw_rules):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        if name in first_seen:
            problems.append(
                Problem.error(
                    ("rules", index, "name"),
                    f"rules[{index}]: duplicate rule name '{name}' (also rules"
                    f"[{first_seen[name]}]); names must be unique because the ledger and "
                    "audit record decisions by rule name",
                )
            )
        else:
            first_seen[name] = index
    return problems

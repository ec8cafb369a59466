"""Checks on the order of the rules in the file, where the first match decides an order.

A rule that judges a restaurant's whole load (congestion) belongs after the
per-order rules: their reasons (out of stock, too far, payment problem) say
more to a customer than "the restaurant is busy", and an operator reading the
file top to bottom should see the order in which reasons win.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.domain.problems import Problem, YamlPath
from rules.base import Rule, describe_rule


def order_problems(placed: Sequence[tuple[YamlPath, Rule]]) -> list[Problem]:
    """A warning on each enabled load rule that precedes enabled per-order rules."""
    problems: list[Problem] = []
    for position, (at, rule) in enumerate(placed):
        if not (rule.aggregate and rule.enabled):
            continue
        later = [
            f"{later_rule.name} ({describe_rule(later_at, None)})"
            for later_at, later_rule in placed[position + 1 :]
            if later_rule.enabled and not later_rule.aggregate
        ]
        if not later:
            continue
        problems.append(
            Problem.warning(
                at,
                f"{describe_rule(at, rule.name)}: this {rule.kind} rule comes before the "
                f"per-order rules {', '.join(later)}; the first matching rule decides an "
                f"order, and their reasons tell a customer more than reason {rule.reason_id} does: "
                "move it after them",
            )
        )
    return problems

"""Rule kinds, their registry, and safe loading of rules.yaml.

Importing this package registers every built-in kind, so ``registry`` is
complete. The public surface is small on purpose::

    from rules import Rule, registry, load_yaml, build_rules
"""

from __future__ import annotations

# The kind modules register themselves on import (see rules.registry).
from rules import address_not_found, congestion, max_distance, out_of_stock, payment_failed
from rules.base import CANCELABLE_STATUSES, REASONS, Rule
from rules.loader import build_rules, problems_from
from rules.registry import RuleRegistry, registry
from rules.yamlsource import (
    REJECTED,
    Problem,
    YamlDocument,
    YamlPath,
    YamlSyntaxError,
    describe_path,
    load_yaml,
)

AddressNotFoundRule = address_not_found.AddressNotFoundRule
CongestionRule = congestion.CongestionRule
MaxDistanceRule = max_distance.MaxDistanceRule
OutOfStockRule = out_of_stock.OutOfStockRule
PaymentFailedRule = payment_failed.PaymentFailedRule

__all__ = [
    "CANCELABLE_STATUSES",
    "REASONS",
    "REJECTED",
    "AddressNotFoundRule",
    "CongestionRule",
    "MaxDistanceRule",
    "OutOfStockRule",
    "PaymentFailedRule",
    "Problem",
    "Rule",
    "RuleRegistry",
    "YamlDocument",
    "YamlPath",
    "YamlSyntaxError",
    "build_rules",
    "describe_path",
    "load_yaml",
    "problems_from",
    "registry",
]

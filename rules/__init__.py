"""Rule kinds and their registry.

Importing this package registers every built-in kind, so ``registry`` is
complete. Rules depend on the domain vocabulary only (``daemon.domain``);
reading rules.yaml into rules is the configuration layer's job
(``daemon.config.rules_section``). The public surface is small on purpose::

    from rules import Rule, registry
"""

from __future__ import annotations

# The kind modules register themselves on import (see rules.registry).
from rules import address_not_found, congestion, max_distance, out_of_stock, payment_failed
from rules.base import CANCELABLE_STATUSES, REASONS, Rule
from rules.registry import RuleRegistry, registry

AddressNotFoundRule = address_not_found.AddressNotFoundRule
CongestionRule = congestion.CongestionRule
MaxDistanceRule = max_distance.MaxDistanceRule
OutOfStockRule = out_of_stock.OutOfStockRule
PaymentFailedRule = payment_failed.PaymentFailedRule

__all__ = [
    "CANCELABLE_STATUSES",
    "REASONS",
    "AddressNotFoundRule",
    "CongestionRule",
    "MaxDistanceRule",
    "OutOfStockRule",
    "PaymentFailedRule",
    "Rule",
    "RuleRegistry",
    "registry",
]

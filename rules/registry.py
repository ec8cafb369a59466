"""Which class handles which ``kind:`` in rules.yaml.

Modelled on Cloud Custodian's plugin registry: a rule module declares its
kind with a decorator, and the loader asks the registry, so adding a kind
never touches the loader::

    @registry.register("max_distance")
    class MaxDistanceRule(Rule):
        max_km: float = Field(gt=0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from rules.base import Rule

RuleClass = TypeVar("RuleClass", bound=type[Rule])


class RuleRegistry:
    """A mapping from ``kind`` names to :class:`Rule` subclasses."""

    def __init__(self, *, name: str) -> None:
        self.name = name
        self._classes: dict[str, type[Rule]] = {}

    def register(self, kind: str) -> Callable[[RuleClass], RuleClass]:
        """Class decorator: make ``kind:`` in rules.yaml build the decorated class."""

        def decorate(rule_class: RuleClass) -> RuleClass:
            if not kind.isidentifier():
                raise ValueError(f"rule kind {kind!r} must be a lower_case identifier")
            if not issubclass(rule_class, Rule):
                raise TypeError(f"{rule_class!r} must subclass rules.base.Rule")
            existing = self._classes.get(kind)
            if existing is not None and existing is not rule_class:
                raise ValueError(
                    f"rule kind {kind!r} is already registered to {existing.__qualname__}"
                )
            rule_class.KIND = kind
            self._classes[kind] = rule_class
            return rule_class

        return decorate

    def get(self, kind: str) -> type[Rule] | None:
        return self._classes.get(kind)

    def kinds(self) -> list[str]:
        """Every registered kind, sorted (error messages list them in this order)."""
        return sorted(self._classes)

    def __contains__(self, kind: object) -> bool:
        return kind in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds())

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"<RuleRegistry {self.name}: {', '.join(self.kinds())}>"


# The one registry rules.yaml is validated against; rules/__init__.py imports
# every built-in kind module, so it is complete once ``rules`` is imported.
registry = RuleRegistry(name="rules")

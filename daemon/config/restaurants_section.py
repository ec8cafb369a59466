"""The ``restaurants:`` list of rules.yaml, validated one entry at a time.

One broken entry hides nothing about the others, and keeps its place (as
None) so that indices still match the file: rule cross-checks name
restaurants by their index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from daemon.config.error_messages import describe_value, problems_from
from daemon.config.models import Restaurant
from daemon.config.restaurant_checks import restaurant_warnings
from daemon.config.yamlsource import YamlDocument
from daemon.domain.problems import REJECTED, Problem, YamlPath

_AT: YamlPath = ("restaurants",)


@dataclass(frozen=True)
class RestaurantsSection:
    """What validating ``restaurants:`` found.

    ``restaurants`` is in file order with None for a broken entry, or None
    when the list itself is unusable; ``broken`` holds the paths whose value
    failed (findings of later cross-checks there would only repeat them).
    """

    restaurants: tuple[Restaurant | None, ...] | None
    problems: tuple[Problem, ...] = ()
    broken: frozenset[YamlPath] = frozenset()


def build_restaurants(value: Any, *, document: YamlDocument) -> RestaurantsSection:
    if value is REJECTED:  # already reported by the YAML loader
        return RestaurantsSection(None, broken=frozenset({_AT}))
    if value is None or value == []:
        missing = Problem.error(
            _AT,
            "no restaurants configured; add at least one under 'restaurants:' "
            "(id, name, latitude, longitude)",
            anchor="key",
        )
        return RestaurantsSection(None, (missing,), frozenset({_AT}))
    if not isinstance(value, list):
        given = describe_value(value, document.text_of(_AT))
        not_a_list = Problem.error(_AT, f"restaurants must be a list (got {given})")
        return RestaurantsSection(None, (not_a_list,), frozenset({_AT}))

    restaurants: list[Restaurant | None] = []
    problems: list[Problem] = []
    broken: set[YamlPath] = set()
    for index, item in enumerate(value):
        at = (*_AT, index)
        try:
            restaurants.append(Restaurant.model_validate(item))
        except ValidationError as exc:
            restaurants.append(None)
            broken.add(at)
            problems += problems_from(exc, document=document, at=at, model=Restaurant)
    problems += _duplicate_ids(value)
    for index, restaurant in enumerate(restaurants):
        if restaurant is not None:
            problems += restaurant_warnings(
                index,
                restaurant_id=restaurant.id,
                name=restaurant.name,
                latitude=restaurant.latitude,
                longitude=restaurant.longitude,
            )
    return RestaurantsSection(tuple(restaurants), tuple(problems), frozenset(broken))


def _duplicate_ids(entries: list[Any]) -> list[Problem]:
    first_seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in enumerate(entries):
        restaurant_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(restaurant_id, str):
            continue
        if restaurant_id in first_seen:
            problems.append(
                Problem.error(
                    (*_AT, index, "id"),
                    f"restaurants[{index}]: duplicate restaurant id '{restaurant_id}' "
                    f"(also restaurants[{first_seen[restaurant_id]}]); list each "
                    "restaurant once",
                )
            )
        first_seen.setdefault(restaurant_id, index)
    return problems

"""The names an operator knows things by: restaurants from rules.yaml, foods from ``stock``.

Ids stay the identity everywhere (logs, ledger, API); a name is shown beside
an id, never instead of it, and only when one is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from daemon.store import schema

if TYPE_CHECKING:
    from daemon.config.models import Restaurant


@dataclass(frozen=True, kw_only=True)
class Names:
    restaurants: Mapping[str, str] = field(default_factory=dict)
    foods: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, restaurants: Iterable[Restaurant], *, foods: Mapping[int, str] | None = None
    ) -> Names:
        return cls(
            restaurants={r.id: r.name for r in restaurants if r.name}, foods=dict(foods or {})
        )

    def with_foods(self, foods: Mapping[int, str]) -> Names:
        return Names(restaurants=self.restaurants, foods={**self.foods, **foods})

    def restaurant_name(self, restaurant_id: str | None) -> str | None:
        return self.restaurants.get(restaurant_id) if restaurant_id else None

    def food_name(self, food_id: int) -> str | None:
        return self.foods.get(food_id)

    def restaurant(self, restaurant_id: str | None) -> str:
        """``Halaskargazi Şube (0ca1…)``, or the id alone when no name is configured."""
        if not restaurant_id:
            return "every restaurant"
        name = self.restaurant_name(restaurant_id)
        return f"{name} ({restaurant_id})" if name else restaurant_id

    def food(self, food_id: int) -> str:
        """``Ayran (food 7)``, or ``food 7``."""
        name = self.food_name(food_id)
        return f"{name} (food {food_id})" if name else f"food {food_id}"


def food_names(connection: sa.Connection, food_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Names from the ``stock`` table (all, or of ``food_ids``); foods without one are left out."""
    stock = schema.stock
    query = sa.select(stock.c.food_id, stock.c.name).where(stock.c.name.is_not(None))
    if food_ids is not None:
        wanted = sorted(set(food_ids))
        if not wanted:
            return {}
        query = query.where(stock.c.food_id.in_(wanted))
    names = {}
    for food_id, name in connection.execute(query):
        if isinstance(food_id, int) and isinstance(name, str) and name.strip():
            names[food_id] = name.strip()
    return names

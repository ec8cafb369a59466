"""The world the simulator serves unless told otherwise: two branches, a small menu, keys."""

from __future__ import annotations

from typing import Any, Final

HALASKARGAZI: Final = "0ca1d2b1-a199-4960-8617-83a659d890c8"
AKAT: Final = "8f2b9ce2-04de-4712-842d-a39f64596fdf"
DEFAULT_RESTAURANTS: Final = (
    {"id": HALASKARGAZI, "name": "Halaskargazi Şube"},
    {"id": AKAT, "name": "Akat Şube"},
)
DEFAULT_FOODS: Final[tuple[dict[str, Any], ...]] = tuple(
    {"food_id": i, "name": name, "category": {"id": 1, "name": "Burritos", "sort": 0},
     "desc": "", "image": "", "restaurant_id": rest, "sort": i, "price": price, "add_substract": []}
    for i, name, rest, price in (
        (1, "Beef Burrito", HALASKARGAZI, 675),
        (2, "Chicken Burrito", HALASKARGAZI, 590),
        (3, "Ayran", AKAT, 60),
    )
)  # fmt: skip

# Fake credentials, printed on purpose by `autocancel simulator`.
DEFAULT_APP_SECRET_KEY: Final = "sim-app-secret"  # noqa: S105
DEFAULT_REST_SECRET_KEY: Final = "sim-rest-secret"  # noqa: S105
DEFAULT_STATIC_TOKEN: Final = "sim-static-token"  # noqa: S105

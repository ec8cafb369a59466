"""Warnings about a restaurant entry that is valid but probably not what was meant.

Neither finding stops the daemon: an id that is not a UUID may still be what
the POS writes, and a restaurant may really be outside the box. But both are
typical copy-paste slips that make every order of the restaurant look
foreign, or every delivery look thousands of kilometres away.
"""

from __future__ import annotations

import re
from typing import Final

from daemon.domain.problems import Problem

# Dükkango restaurant ids are canonical UUIDs: 0ca1d2b1-a199-4960-8617-83a659d890c8.
EXAMPLE_ID: Final = "0ca1d2b1-a199-4960-8617-83a659d890c8"
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)

# Where Dükkango restaurants are: Türkiye (and Northern Cyprus), with a margin.
LATITUDES: Final = (34.5, 42.5)
LONGITUDES: Final = (25.5, 45.0)


def _inside(latitude: float, longitude: float) -> bool:
    return LATITUDES[0] <= latitude <= LATITUDES[1] and LONGITUDES[0] <= longitude <= LONGITUDES[1]


def _subject(index: int, name: str | None) -> str:
    return f"restaurants[{index}] ({name})" if name else f"restaurants[{index}]"


def restaurant_warnings(
    index: int,
    *,
    restaurant_id: str,
    name: str | None,
    latitude: float | None,
    longitude: float | None,
) -> list[Problem]:
    """What looks wrong about restaurant ``index`` (already valid on its own)."""
    problems: list[Problem] = []
    if not _UUID.fullmatch(restaurant_id):
        problems.append(
            Problem.warning(
                ("restaurants", index, "id"),
                f"restaurants[{index}].id '{restaurant_id}' is not a UUID; Dükkango restaurant "
                f"ids look like {EXAMPLE_ID} (see GET restaurants/get), and only orders whose "
                "restaurant_id is exactly this text belong to it",
            )
        )
    if latitude is not None and longitude is not None and not _inside(latitude, longitude):
        where = (
            f"{_subject(index, name)}: latitude {latitude}, longitude {longitude} is outside "
            f"Türkiye (latitude {LATITUDES[0]} to {LATITUDES[1]}, longitude {LONGITUDES[0]} to "
            f"{LONGITUDES[1]})"
        )
        hint = (
            f"; latitude and longitude look swapped (latitude {longitude}, longitude {latitude} "
            "is inside)"
            if _inside(longitude, latitude)
            else "; check the coordinates (decimal degrees, latitude first)"
        )
        problems.append(Problem.warning(("restaurants", index, "latitude"), where + hint))
    return problems

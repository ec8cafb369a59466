"""Bad data in a store row: a code the daemon decides on, and the sentence an operator reads.

The snapshot marks what it could not read; the engine acts on the code (an
unreadable position is no distance), the log shows the text. Nothing may
parse the text: it is worded for people and may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class RowProblemCode(StrEnum):
    BAD_LATITUDE = "bad_latitude"  # orders.latitude is not a number
    BAD_LONGITUDE = "bad_longitude"  # orders.longitude is not a number
    HALF_POSITION = "half_position"  # one of latitude and longitude, not both
    BAD_ORDER_NUMBER = "bad_order_number"
    BAD_TOTAL = "bad_total"
    BAD_CREATED_AT = "bad_created_at"  # missing or unreadable
    BAD_PAYMENT_KEY = "bad_payment_key"  # cannot be a path segment of an API call
    UNREADABLE_ITEM = "unreadable_item"  # food_id or quantity is not an integer
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    FOREIGN_STOCK = "foreign_stock"  # the item's stock row is another restaurant's
    UNREADABLE_STOCK = "unreadable_stock"


# Any of these makes an order's stored position unusable (not merely absent):
# it is unknown, neither a distance nor an address to geocode.
POSITION_PROBLEMS: Final = frozenset(
    {RowProblemCode.BAD_LATITUDE, RowProblemCode.BAD_LONGITUDE, RowProblemCode.HALF_POSITION}
)

# The orders columns read as numbers, and the code of each when it is not one.
_NOT_A_NUMBER: Final = {
    "latitude": RowProblemCode.BAD_LATITUDE,
    "longitude": RowProblemCode.BAD_LONGITUDE,
    "order_number": RowProblemCode.BAD_ORDER_NUMBER,
    "total": RowProblemCode.BAD_TOTAL,
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with a row; build it with the constructors, which word ``text``."""

    code: RowProblemCode
    text: str

    @classmethod
    def not_a_number(cls, column: str, stored: str | None) -> RowProblem:
        """``column`` of ``orders`` holds ``stored``, which is no number."""
        return cls(_NOT_A_NUMBER[column], f"{column} {stored!r} is not a number")

    @classmethod
    def half_position(cls) -> RowProblem:
        return cls(RowProblemCode.HALF_POSITION, "only one of latitude and longitude is set")

    @classmethod
    def bad_created_at(cls) -> RowProblem:
        return cls(RowProblemCode.BAD_CREATED_AT, "created_at is missing or unreadable")

    @classmethod
    def bad_payment_key(cls, why: str) -> RowProblem:
        """``why`` says what is wrong with it (see :func:`daemon.domain.ids.segment_problem`)."""
        return cls(
            RowProblemCode.BAD_PAYMENT_KEY, f"payment_key {why}: it cannot be sent to Dükkango"
        )

    @classmethod
    def unreadable_item(cls, food_id: str | None, quantity: str | None) -> RowProblem:
        return cls(
            RowProblemCode.UNREADABLE_ITEM,
            f"item food_id={food_id!r} quantity={quantity!r} is unreadable; ignored",
        )

    @classmethod
    def non_positive_quantity(cls, food_id: int, quantity: int) -> RowProblem:
        return cls(
            RowProblemCode.NON_POSITIVE_QUANTITY,
            f"item food_id={food_id} has quantity {quantity}; ignored",
        )

    @classmethod
    def foreign_stock(cls, food_id: int, owner: str | None, restaurant_id: str) -> RowProblem:
        return cls(
            RowProblemCode.FOREIGN_STOCK,
            f"item food_id={food_id}: its stock row is restaurant {owner}'s, not "
            f"{restaurant_id}'s; ignored",
        )


UNREADABLE_STOCK: Final = RowProblem(
    RowProblemCode.UNREADABLE_STOCK, "unreadable stock row; treated as in stock"
)

"""Orders and stock rows as the order history stores them: compact JSON, exact both ways.

An image is what the rules saw, not the row: the :class:`Order` a snapshot
built (its problems included, so a replay judges bad data as the pass did)
and the :class:`StockLevel`. ``decode(encode(x)) == x`` for every value a
snapshot can build; the history relies on it to tell a changed order from
an unchanged one after a restart.

Positional arrays, not objects: an order changes several times a day and
every change stores it whole, so the field names would be a third of the
bytes. The first element is the format's version. ``payment_key`` and
``restaurant_id`` are columns of the history row, not part of the image.
Times are integer microseconds since the epoch (UTC), exact; totals are
decimal strings. ``updated_at`` is not kept: no rule reads it, and sync
stamps it on every poll, so it would make every poll a change (decoded
orders have none; :func:`same_order` compares without it).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from daemon.domain.orders import Item, Order, StockLevel
from daemon.domain.row_problems import RowProblem, RowProblemCode

VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class BadImage(ValueError):
    """A history row this version cannot read (written by hand, or by a newer version)."""


def _micros(value: datetime | None) -> int | None:
    if value is None:
        return None
    return (value - _EPOCH) // timedelta(microseconds=1)


def _moment(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _dumps(value: list[Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def same_order(a: Order, b: Order) -> bool:
    """Whether two orders are the same to the history: equal but for ``updated_at``."""
    return a is b or a == b or replace(a, updated_at=None) == replace(b, updated_at=None)


def encode_order(order: Order) -> str:
    return _dumps(
        [
            VERSION,
            order.status_id,
            order.order_number,
            order.shipping_method,
            order.courier_type,
            order.payment_method,
            order.payment_status,
            None if order.total is None else str(order.total),
            _micros(order.created_at),
            order.customer_name,
            order.customer_phone,
            order.address,
            order.address_description,
            order.latitude,
            order.longitude,
            [[item.food_id, item.name, item.quantity] for item in order.items],
            [[problem.code.value, problem.text] for problem in order.problems],
        ]
    )


def decode_order(
    payment_key: str, restaurant_id: str | None, image: str, *, earlier: Order | None = None
) -> Order:
    """The order an image holds. ``earlier``: a version of the same order decoded before,
    whose items (the very tuple) are kept where the image holds the same ones: most new
    versions of an order change its status, and a replay decodes millions of them."""
    try:
        fields = _versioned(json.loads(image), "order")
        (
            status_id,
            order_number,
            shipping_method,
            courier_type,
            payment_method,
            payment_status,
            total,
            created_at,
            customer_name,
            customer_phone,
            address,
            address_description,
            latitude,
            longitude,
            items,
            problems,
        ) = fields
        return Order(
            payment_key=payment_key,
            restaurant_id=restaurant_id or "",
            status_id=status_id,
            order_number=order_number,
            shipping_method=shipping_method,
            courier_type=courier_type,
            payment_method=payment_method,
            payment_status=payment_status,
            total=None if total is None else Decimal(total),
            created_at=_moment(created_at),
            customer_name=customer_name,
            customer_phone=customer_phone,
            address=address,
            address_description=address_description,
            latitude=latitude,
            longitude=longitude,
            items=_items(items, () if earlier is None else earlier.items),
            problems=tuple(RowProblem(RowProblemCode(code), text) for code, text in problems),
        )
    except BadImage:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise BadImage(f"unreadable order image of {payment_key}: {exc}") from None


def _items(rows: list[list[Any]], earlier: tuple[Item, ...]) -> tuple[Item, ...]:
    if len(rows) == len(earlier) and all(
        [i.food_id, i.name, i.quantity] == row for i, row in zip(earlier, rows, strict=True)
    ):
        return earlier
    return tuple(Item(food_id=f, name=n, quantity=q) for f, n, q in rows)


def _versioned(value: Any, what: str) -> list[Any]:
    """The fields after the version, once the version is one this autocancel reads."""
    if not isinstance(value, list) or not value:
        raise TypeError(f"not a {what} image: {value!r:.40}")
    if value[0] != VERSION:
        raise BadImage(f"{what} image version {value[0]!r}, this autocancel reads {VERSION}")
    return value[1:]


def encode_stock(level: StockLevel) -> str:
    return _dumps([VERSION, level.name, level.available, level.quantity, level.restaurant_id])


def decode_stock(food_id: int, image: str) -> StockLevel:
    try:
        name, available, quantity, restaurant_id = _versioned(json.loads(image), "stock")
        return StockLevel(
            food_id=food_id,
            name=name,
            available=bool(available),
            quantity=quantity,
            restaurant_id=restaurant_id,
        )
    except BadImage:
        raise
    except (ValueError, TypeError) as exc:
        raise BadImage(f"unreadable stock image of food {food_id}: {exc}") from None

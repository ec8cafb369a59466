"""Reading a get-current order object into the contract's ``orders`` and ``order_items`` rows.

The payload is read tolerantly, since much of the order object is
undocumented (dukkango-api.md, section 7): known fields are mapped onto the
contract columns, unknown ones are kept verbatim in ``raw_payload``, and a
malformed order is reported and skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.domain.timeutil import ISTANBUL, as_utc

# The docs cut off before the items array; these are the plausible names.
ITEM_LISTS = ("items", "foods", "products")


class MalformedOrder(ValueError):
    """An order object without the fields the store cannot do without."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _coordinate(source: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = source.get(name)
        if value is None or value == "":
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None


def _platform_time(value: Any) -> datetime | None:
    """Dükkango's "YYYY-MM-DD HH:MM:SS" carries no zone; it is Istanbul local time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return as_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=ISTANBUL))


def order_row(payload: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The contract columns of one get-current order; raises MalformedOrder."""
    key, restaurant, status = (
        payload.get("payment_key"),
        payload.get("restaurant_id"),
        payload.get("status_id"),
    )
    if not isinstance(key, str) or not key.strip():
        raise MalformedOrder("no payment_key")
    if not isinstance(restaurant, str) or not restaurant.strip():
        raise MalformedOrder(f"order {key} has no restaurant_id")
    if not isinstance(status, int) or isinstance(status, bool):
        raise MalformedOrder(f"order {key} has no integer status_id")
    customer = _mapping(payload.get("customer"))
    address = _mapping(payload.get("address"))
    number = payload.get("id")
    latitude = _coordinate(address, "latitude", "lat") or _coordinate(payload, "latitude", "lat")
    longitude = _coordinate(address, "longitude", "lng", "lon") or _coordinate(
        payload, "longitude", "lng", "lon"
    )
    return {
        "payment_key": key,
        "order_number": number
        if isinstance(number, int) and not isinstance(number, bool)
        else None,
        "restaurant_id": restaurant,
        "status_id": status,
        "shipping_method": _text(payload.get("shipping_method")),
        "courier_type": _text(payload.get("courier_type")),
        "payment_method": _text(payload.get("payment_method")),
        "total": _number(payload.get("total")),
        "created_at": _platform_time(payload.get("date")),
        "customer_name": _text(customer.get("name")),
        "customer_phone": _text(customer.get("phone")),
        "address": _text(address.get("address")),
        "address_description": _text(address.get("description")),
        "latitude": latitude,
        "longitude": longitude,
        "updated_at": now,
        "raw_payload": dict(payload),
        "synced_at": now,
        "vanished_at": None,
    }


def item_rows(payload: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The order's items, or None when the payload carries no item list at all."""
    listed = next(
        (payload[name] for name in ITEM_LISTS if isinstance(payload.get(name), list)), None
    )
    if listed is None:
        return None
    rows = []
    for item in listed:
        if not isinstance(item, dict):
            continue
        food_id = item.get("food_id", item.get("id"))
        if not isinstance(food_id, int) or isinstance(food_id, bool):
            continue
        quantity = item.get("quantity", 1)
        rows.append(
            {
                "payment_key": payload["payment_key"],
                "food_id": food_id,
                "name": _text(item.get("name")),
                "quantity": quantity if isinstance(quantity, int) and quantity > 0 else 1,
            }
        )
    return rows

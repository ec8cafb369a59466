"""What the customer is told when autocancel cancels an order, and the number it goes to.

Templates are :class:`string.Template` text (``$item``, ``${order_number}``),
not Jinja2: an operator writes a sentence with a few blanks, and nothing in
rules.yaml should be able to run code, reach an attribute or loop; a
sandboxed Jinja2 would guard against what ``string.Template`` cannot do in
the first place. ``safe_substitute`` leaves an unknown blank as written
instead of failing a cancellation's transaction, and ``check`` rejects
unknown placeholders beforehand (:func:`unknown_placeholders`).

The defaults follow the original workflow's wording: out of stock names
the item, address not found asks for a correction, too far says the
address is outside the delivery area.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Template
from typing import Final

PLACEHOLDERS: Final = frozenset(
    {"item", "items", "order_number", "restaurant_name", "reason", "total", "customer_name"}
)

DEFAULT_TEMPLATES: Final[Mapping[str, Mapping[int, str]]] = {
    "tr": {
        1: "Üzgünüz, $item stokta kalmadı. #$order_number numaralı siparişiniz iptal edildi.",
        2: (
            "Adresinizi bulamadık; #$order_number numaralı siparişiniz iptal edildi. "
            "Lütfen adresinizi düzelterek yeniden sipariş verin."
        ),
        3: (
            "$restaurant_name şu anda çok yoğun; #$order_number numaralı siparişiniz "
            "iptal edildi. Anlayışınız için teşekkürler."
        ),
        6: (
            "Adresiniz $restaurant_name teslimat alanının dışında; #$order_number numaralı "
            "siparişiniz iptal edildi."
        ),
        7: "Ödemeniz alınamadı; #$order_number numaralı siparişiniz iptal edildi.",
    },
    "en": {
        1: "Sorry, $item is out of stock. Your order #$order_number was cancelled.",
        2: (
            "We could not find your address; order #$order_number was cancelled. "
            "Please correct your address and order again."
        ),
        3: (
            "$restaurant_name is very busy right now; your order #$order_number was "
            "cancelled. Thank you for your understanding."
        ),
        6: (
            "Your address is outside $restaurant_name's delivery area; order "
            "#$order_number was cancelled."
        ),
        7: "Your payment did not go through; order #$order_number was cancelled.",
    },
}
FALLBACK: Final[Mapping[str, str]] = {
    "tr": "#$order_number numaralı siparişiniz iptal edildi: $reason.",
    "en": "Your order #$order_number was cancelled: $reason.",
}


def unknown_placeholders(template: str) -> list[str]:
    """Blanks a template uses that no order fills (``$itme``): a check error, not a surprise."""
    return sorted(set(Template(template).get_identifiers()) - PLACEHOLDERS)


def render(template: str, values: Mapping[str, object]) -> str:
    filled = {key: "" if value is None else str(value) for key, value in values.items()}
    return Template(template).safe_substitute(filled)


def template_for(reason_id: int, language: str, custom: Mapping[int, str]) -> str:
    if reason_id in custom:
        return custom[reason_id]
    return DEFAULT_TEMPLATES[language].get(reason_id, FALLBACK[language])


def e164_turkey(phone: str | None) -> str | None:
    """A Turkish mobile or landline number as E.164 (``05xx…`` → ``+905xx…``); None if invalid."""
    if not phone:
        return None
    digits = re.sub(r"[\s().-]", "", phone)
    if digits.startswith("+"):
        rest = digits[1:]
        if not rest.isdigit():
            return None
        return f"+{rest}" if rest.startswith("90") and len(rest) == 12 else None
    if not digits.isdigit():
        return None
    if digits.startswith("0090"):
        digits = digits[4:]
    elif digits.startswith("90") and len(digits) == 12:
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits[1:]
    # Ten digits left: area or operator code (2xx, 3xx, 4xx, 5xx) and seven more.
    if len(digits) != 10 or digits[0] not in "2345":
        return None
    return f"+90{digits}"

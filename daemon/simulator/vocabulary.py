"""How the simulated platform says things: paths, status texts, fixed answers, times."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from daemon.domain.reasons import REASONS
from daemon.domain.statuses import CANCELED, CONFIRMED, DELIVERED, IN_DELIVERY, RECEIVED
from daemon.domain.timeutil import ISTANBUL

# --- where things are served ---------------------------------------------------------

BASE_PATH: Final = "/api/integrations/"
CONTROL_PATH: Final = "/_sim/"
GEOCODER_PATH: Final = "/search"  # Nominatim's; point geopy at 127.0.0.1:PORT, scheme http
# The same answers where geopy's OpenMapQuest asks (a Nominatim that takes an api_key).
GEOCODER_PATHS: Final = (GEOCODER_PATH, "/nominatim/v1/search")

# --- the platform's words --------------------------------------------------------------

#: ``status_text`` of an order, by ``status_id``.
STATUS_TEXT: Final = {
    RECEIVED: "Sipariş Geldi",
    CONFIRMED: "Hazırlanıyor",
    IN_DELIVERY: "Restoran Kuryeye Verildi",
    DELIVERED: "Teslim Edildi",
    CANCELED: "İptal Edildi",
}
CANCEL_REASONS: Final = REASONS  # what orders/cancel-reasons answers
VARIABLES: Final[dict[str, Any]] = {
    "paymentMethod": [
        {"key": "CASH", "name": "Nakit"},
        {"key": "CREDIT_CARD", "name": "Kredi Kartı"},
        {"key": "DEBIT_CARD", "name": "Banka Kartı"},
    ],
    "shippingMethod": [
        {"key": "delivery", "name": "Teslimat"},
        {"key": "pickup", "name": "Gel Al"},
    ],
}
TOO_MANY: Final = "Çok fazla istek. Lütfen 30 saniye bekleyin."  # the 429's message


def istanbul_text(moment: datetime) -> str:
    """The API's offset-less ``YYYY-MM-DD HH:MM:SS`` in Istanbul local time."""
    return moment.astimezone(ISTANBUL).strftime("%Y-%m-%d %H:%M:%S")

"""Dükkango's cancel reasons (orders/cancel-reasons), as the API names them."""

from __future__ import annotations

REASONS: dict[int, str] = {
    1: "Ürün tükendi",
    2: "Adres bulunamıyor",
    3: "Yoğunluk nedeniyle",
    4: "Müşteri iptal etti",
    5: "Teknik sorun",
    6: "Çok uzak teslimat adresi",
    7: "Ödeme problemi",
    8: "Diğer",
}

REASONS_EN: dict[int, str] = {
    1: "product out of stock",
    2: "address not found",
    3: "due to congestion",
    4: "customer canceled",
    5: "technical issue",
    6: "delivery address too far",
    7: "payment problem",
    8: "other",
}

# Reasons only staff can decide; no automatic rule knows a customer called.
MANUAL_REASONS = (4, 5, 8)


def reason_text(reason_id: int) -> str:
    return REASONS.get(reason_id, f"unknown reason {reason_id}")

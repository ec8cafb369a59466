"""Dükkango order statuses (``orders.status_id``): the one place their numbers live."""

from typing import Final

RECEIVED, CONFIRMED, IN_DELIVERY, DELIVERED, CANCELED = 1, 2, 16, 5, 6
ACTIVE_STATUSES = (RECEIVED, CONFIRMED, IN_DELIVERY)

# How messages name them.
STATUS_NAMES: Final = {
    RECEIVED: "received",
    CONFIRMED: "confirmed",
    IN_DELIVERY: "in delivery",
    DELIVERED: "delivered",
    CANCELED: "canceled",
}

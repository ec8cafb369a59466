"""Dükkango order statuses (status_id), without importing the store."""

RECEIVED, CONFIRMED, IN_DELIVERY, DELIVERED, CANCELED = 1, 2, 16, 5, 6
ACTIVE_STATUSES = (RECEIVED, CONFIRMED, IN_DELIVERY)

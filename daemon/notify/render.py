"""An event as people read it (a chat or e-mail message) and as machines do (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from daemon.domain.events import Event, summary_line

# Shown first, in this order; the rest follow as they come.
_FIRST = (
    "restaurant_name",
    "order_number",
    "reason_tr",
    "reason_en",
    "rule",
    "total",
    "payment_method",
    "customer_phone",
    "food_name",
    "error",
)


def message(event: Event) -> tuple[str, str]:
    """(title, body): the body one ``field: value`` line per known field."""
    if event.name == "customer_message":
        return "", str(event.fields.get("text", ""))
    fields = event.fields
    keys = [k for k in _FIRST if fields.get(k) is not None]
    keys += [k for k in fields if k not in _FIRST and fields[k] not in (None, {}, [])]
    lines = [f"{key}: {_show(fields[key])}" for key in keys]
    return f"autocancel: {summary_line(event)}", "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def webhook_body(event_id: str, event: Event, *, created_at: datetime) -> str:
    """The JSON a webhook receives (signed as sent: the exact bytes matter)."""
    return json.dumps(
        {
            "id": event_id,
            "type": event.name,
            "created_at": created_at.isoformat(),
            "data": dict(event.fields),
        },
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )

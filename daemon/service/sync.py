"""``autocancel sync``: pull orders/get-current into the order store.

Persist first, acknowledge second (only when configured): a crash between the
two only causes a harmless redelivery. The payload is read tolerantly, since
much of the order object is undocumented (dukkango-api.md, section 7): known
fields are mapped onto the contract columns, unknown ones are kept verbatim in
``raw_payload``, and a malformed order is reported and skipped, never guessed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config, SyncOwnership
from daemon.domain import exitcodes, statuses
from daemon.domain.timeutil import ISTANBUL, as_utc, utcnow
from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import DukkangoError
from daemon.service.runtime import ApiSession, open_store
from daemon.store import connect, rowcheck, schema, syncmerge

log = logging.getLogger(__name__)

COOLDOWN = timedelta(seconds=30)  # documented for get-current
CREATED_BY = "sync"  # orders.created_by of the orders sync created, and so owns
STATE_KEY = "get-current"
# The docs cut off before the items array; these are the plausible names.
ITEM_LISTS = ("items", "foods", "products")


class MalformedOrder(ValueError):
    """An order object without the fields the store cannot do without."""


@dataclass
class SyncReport:
    received: int = 0
    stored: int = 0
    acknowledged: int = 0
    vanished: int = 0
    malformed: list[str] = field(default_factory=list)
    conflicts: int = 0  # orders a POS wrote where Dükkango newly disagrees
    error: str | None = None


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


def _stored_orders(connection: sa.Connection, keys: Sequence[str]) -> dict[str, Any]:
    """The stored rows of these orders, their POS-written columns as raw as stored."""
    if not keys:
        return {}
    o = schema.orders
    columns = [c if c.key in ("raw_payload", "created_by") else rowcheck.raw(c) for c in o.columns]
    rows = connection.execute(sa.select(*columns).where(o.c.payment_key.in_(keys))).mappings()
    return {str(rowcheck.text(row["payment_key"])): row for row in rows}


def _stored_items(connection: sa.Connection, keys: Sequence[str]) -> dict[str, Counter[Any]]:
    """(food_id, quantity) counts of each order's stored items; unreadable ones count too."""
    i = schema.order_items
    counts: dict[str, Counter[Any]] = {}
    if not keys:
        return counts
    for key, food_id, quantity in connection.execute(
        sa.select(
            rowcheck.raw(i.c.payment_key), rowcheck.raw(i.c.food_id), rowcheck.raw(i.c.quantity)
        ).where(i.c.payment_key.in_(keys))
    ):
        food, amount = rowcheck.integer(food_id), rowcheck.integer(quantity)
        counts.setdefault(str(rowcheck.text(key)), Counter())[
            (food, amount) if food is not None and amount is not None else ("?", food_id)
        ] += 1
    return counts


class Syncer:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        client: DukkangoClient,
        acknowledge: bool = False,
        owns: SyncOwnership = "synced",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._client = client
        self._acknowledge = acknowledge
        self._owns = owns
        self._clock = clock

    def wait_needed(self) -> float:
        """Seconds until the get-current cooldown allows another call."""
        with self._engine.connect() as connection:
            last = connection.execute(
                sa.select(schema.sync_state.c.last_poll_at).where(
                    schema.sync_state.c.name == STATE_KEY
                )
            ).scalar()
        if last is None:
            return 0.0
        remaining: timedelta = last + COOLDOWN - self._clock()
        return max(0.0, remaining.total_seconds())

    def poll(self) -> SyncReport:
        """One get-current call, stored. Never raises for API or payload problems."""
        report = SyncReport()
        try:
            orders = self._client.current_orders()
        except DukkangoError as exc:
            report.error = str(exc)
            # The cooldown runs from the answer, which is after the API's own clock
            # started it: waiting from here can never be too short.
            self._remember(self._clock(), error=report.error)
            log.warning("sync: get-current failed: %s", exc)
            return report
        now = self._clock()
        report.received = len(orders)
        rows, items = [], {}
        for payload in orders:
            try:
                row = order_row(payload, now=now)
            except MalformedOrder as exc:
                report.malformed.append(str(exc))
                log.warning("sync: skipped a malformed order: %s", exc)
                continue
            rows.append(row)
            items[row["payment_key"]] = item_rows(payload)
        self._store(rows, items, report, now=now)
        self._remember(now, error=None, success=True)
        if self._acknowledge:
            for row in rows:
                try:
                    self._client.acknowledge_order(row["payment_key"])
                    report.acknowledged += 1
                except DukkangoError as exc:
                    log.warning("sync: could not acknowledge %s: %s", row["payment_key"], exc)
        return report

    def _store(
        self,
        rows: Sequence[dict[str, Any]],
        items: Mapping[str, Any],
        report: SyncReport,
        *,
        now: datetime,
    ) -> None:
        orders = schema.orders
        keys = [row["payment_key"] for row in rows]
        with connect.writer(self._engine) as connection, connection.begin():
            existing = _stored_orders(connection, keys)
            stored_items = _stored_items(connection, [k for k in keys if k in existing])
            for row in rows:
                key = row["payment_key"]
                listed = items.get(key)
                current = existing.get(key)
                if current is None:
                    connection.execute(sa.insert(orders).values(**row, created_by=CREATED_BY))
                    merge = syncmerge.Merge(values={}, write_items=listed is not None)
                elif self._owns == "all" or current["created_by"] == CREATED_BY:
                    merge = syncmerge.for_owned_order(row, items_sent=listed is not None)
                else:
                    merge = self._merge_into_pos_order(
                        row, listed, current, stored_items.get(key, Counter()), now=now
                    )
                    if merge.conflicts:
                        report.conflicts += 1
                        log.warning(
                            "sync: order=%s kept the POS's %s: Dükkango says otherwise (its "
                            "answer is in orders.raw_payload); sync.owns: all would let sync "
                            "overwrite",
                            key,
                            ", ".join(merge.conflicts),
                        )
                if merge.values:
                    connection.execute(
                        sa.update(orders).where(orders.c.payment_key == key).values(**merge.values)
                    )
                if merge.write_items:
                    connection.execute(
                        sa.delete(schema.order_items).where(schema.order_items.c.payment_key == key)
                    )
                    if listed:
                        connection.execute(sa.insert(schema.order_items), listed)
            report.stored = len(rows)
            if not self._acknowledge:
                # Without acknowledgement every active order is listed on each
                # call, so one we synced before and no longer see has finished.
                report.vanished = connection.execute(
                    sa.update(orders)
                    .where(
                        orders.c.synced_at.is_not(None),
                        orders.c.vanished_at.is_(None),
                        orders.c.status_id.in_(statuses.ACTIVE_STATUSES),
                        orders.c.payment_key.not_in(keys),
                    )
                    .values(vanished_at=now)
                ).rowcount

    @staticmethod
    def _merge_into_pos_order(
        row: Mapping[str, Any],
        listed: list[dict[str, Any]] | None,
        current: Mapping[str, Any],
        stored: syncmerge.ItemCounts,
        *,
        now: datetime,
    ) -> syncmerge.Merge:
        previous, previous_items = None, None
        payload = current["raw_payload"]
        if isinstance(payload, dict):
            try:
                previous = order_row(payload, now=now)
            except MalformedOrder:
                previous = None
            previous_items = syncmerge.item_counts(item_rows(payload)) if previous else None
        return syncmerge.for_pos_order(
            stored=current,
            stored_items=stored,
            sent=row,
            sent_items=syncmerge.item_counts(listed),
            previous=previous,
            previous_items=previous_items,
        )

    def _remember(self, now: datetime, *, error: str | None, success: bool = False) -> None:
        state = schema.sync_state
        values: dict[str, Any] = {"last_poll_at": now, "last_error": error}
        if success:
            values["last_success_at"] = now
        with connect.writer(self._engine) as connection, connection.begin():
            updated = connection.execute(
                sa.update(state).where(state.c.name == STATE_KEY).values(**values)
            ).rowcount
            if not updated:
                connection.execute(sa.insert(state).values(name=STATE_KEY, **values))


def run_command(config: Config, *, once: bool) -> int:
    """``autocancel sync [--once]``: poll now (after the cooldown), and again unless --once."""
    try:
        require_credentials()
        engine = open_store(config)
    except (MissingCredentials, connect.StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    result = exitcodes.OK
    try:
        with ApiSession(config) as api:
            syncer = Syncer(
                engine=engine,
                client=api.client(),
                acknowledge=config.sync.acknowledge,
                owns=config.sync.owns,
            )
            while not stop.is_set():
                wait = syncer.wait_needed()
                if wait > 0:
                    log.info("waiting %.0f s for the get-current cooldown", wait)
                    if stop.wait(wait):
                        break
                report = syncer.poll()
                print(
                    f"received {report.received}, stored {report.stored}, acknowledged "
                    f"{report.acknowledged}, vanished {report.vanished}, malformed "
                    f"{len(report.malformed)}, conflicts {report.conflicts}"
                    + (f"; error: {report.error}" if report.error else ""),
                    flush=True,
                )
                result = exitcodes.RUNTIME_FAILURE if report.error else exitcodes.OK
                if once or stop.wait(config.sync.interval_seconds):
                    break
    finally:
        engine.dispose()
    return result

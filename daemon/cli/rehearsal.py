"""What ``autocancel simulator --from-store`` serves: the operator's own world.

The store's active orders (with their items), the restaurants of rules.yaml
and the stock foods, turned into the API's shapes, so that a rehearsal against
the simulator cancels the orders it decides about instead of getting 404 for
each (a 404 is final: the order would be used up for any later rehearsal).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daemon.config.geocode_file import GeocodeEntries, GeocodeFileError, load_geocode_file
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.orders import Order
from daemon.service.runtime import open_store
from daemon.store import connect, rowcheck, schema
from daemon.store.snapshot import read_snapshot


@dataclass(frozen=True, kw_only=True)
class StoreWorld:
    restaurants: tuple[dict[str, str], ...]
    foods: tuple[dict[str, Any], ...]
    orders: tuple[dict[str, Any], ...]


def _without_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Unknown fields are left to the simulator's defaults rather than sent as null."""
    return {key: value for key, value in fields.items() if value is not None}


def _api_order(order: Order, restaurant_names: Mapping[str, str]) -> dict[str, Any]:
    from daemon.simulator.vocabulary import STATUS_TEXT, istanbul_text

    return _without_none(
        {
            "id": order.order_number,
            "payment_key": order.payment_key,
            "status_id": order.status_id,
            "status_text": STATUS_TEXT.get(order.status_id),
            "shipping_method": order.shipping_method,
            "courier_type": order.courier_type,
            "payment_method": order.payment_method,
            "total": None if order.total is None else float(order.total),
            "date": None if order.created_at is None else istanbul_text(order.created_at),
            "restaurant_id": order.restaurant_id,
            "restaurant_name": restaurant_names.get(order.restaurant_id),
            "customer": {"name": order.customer_name or "", "phone": order.customer_phone or ""},
            "address": {
                "address": order.address or "",
                "description": order.address_description or "",
                "apartment": "",
            },
            "items": [
                {
                    "food_id": item.food_id,
                    "name": item.name or "",
                    "quantity": item.quantity,
                    "price": 0,
                }
                for item in order.items
            ],
        }
    )


def _api_food(row: sa.RowMapping, sort: int) -> dict[str, Any] | None:
    food_id = rowcheck.integer(row["food_id"])
    if food_id is None:
        return None  # unreadable: the snapshot ignores the row too
    return {
        "food_id": food_id,
        "name": rowcheck.text(row["name"]) or f"food {food_id}",
        "category": {"id": 0, "name": "", "sort": 0},
        "desc": "",
        "image": "",
        "restaurant_id": rowcheck.text(row["restaurant_id"]),
        "sort": sort,
        "price": 0,
        "add_substract": [],
    }


def load_store_world(config: Config, engine: sa.Engine) -> StoreWorld:
    """Read the store once; raises sqlalchemy errors for the caller to report."""
    names = {r.id: r.display_name for r in config.restaurants}
    with connect.snapshot_reader(engine) as connection, connection.begin():
        snapshot = read_snapshot(connection)
        stock_rows = (
            connection.execute(
                sa.select(*(rowcheck.raw(c) for c in schema.stock.columns)).order_by(
                    schema.stock.c.food_id
                )
            )
            .mappings()
            .all()
        )
    foods = [_api_food(row, sort) for sort, row in enumerate(stock_rows)]
    return StoreWorld(
        restaurants=tuple({"id": r.id, "name": r.display_name} for r in config.restaurants),
        foods=tuple(food for food in foods if food is not None),
        orders=tuple(_api_order(order, names) for order in snapshot.orders),
    )


def _loaded_line(config: Config, world: StoreWorld) -> str:
    return (
        f"loaded from the store {connect.describe_url(config.store.url)}: "
        f"{len(world.orders)} active orders, {len(world.restaurants)} restaurants "
        f"(from {config.source}), {len(world.foods)} foods (stock)"
    )


def run_simulator(config: Config | None, *, host: str, port: int, geocode_file: Path | None) -> int:
    """``autocancel simulator [--from-store] [--geocode-file F]``: exit 2 on a bad file."""
    from daemon.simulator.foreground import run_foreground

    entries = GeocodeEntries()
    if geocode_file is not None:
        try:
            entries = load_geocode_file(geocode_file)
        except GeocodeFileError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return exitcodes.INVALID_CONFIG
    served: dict[str, Any] = {}
    loaded = None
    if config is not None:
        try:
            engine = open_store(config)
            try:
                world = load_store_world(config, engine)
            finally:
                engine.dispose()
        except (connect.StoreError, sa.exc.SQLAlchemyError) as exc:
            print(f"error: cannot read the store: {exc}", file=sys.stderr)
            return exitcodes.RUNTIME_FAILURE
        served = {"restaurants": world.restaurants, "foods": world.foods, "orders": world.orders}
        loaded = _loaded_line(config, world)
    return run_foreground(
        host=host,
        port=port,
        geocoder_addresses=entries.positions,
        geocoder_not_found=entries.not_found,
        loaded=loaded,
        **served,
    )

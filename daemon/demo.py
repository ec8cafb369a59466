"""``autocancel demo``: the whole product in one command, with nothing to set up.

A temporary folder gets a rules.yaml, a SQLite store seeded with orders that
exercise every rule (and some that must survive) and a pause staff made, and
a local Dükkango simulator on loopback. One live pass runs against it; the
decisions, the pause and the API calls the simulator received are printed.
Then the kitchen restocks the food that ran out, and a second pass puts it
back on sale.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daemon.cli import report
from daemon.cli.pause_view import pause_line
from daemon.config.credentials import ENV_ACCESS_TOKEN
from daemon.config.load import load_config
from daemon.domain import exitcodes
from daemon.domain.timeutil import utcnow
from daemon.engine.passes import PassRunner
from daemon.service.runtime import ApiSession, record_rules_load
from daemon.simulator.server import Simulator
from daemon.store import connect, migrate, pauses, schema
from daemon.store.names import Names

HALASKARGAZI = ("0ca1d2b1-a199-4960-8617-83a659d890c8", "Halaskargazi Şube", 41.0493, 28.9877)
AKAT = ("8f2b9ce2-04de-4712-842d-a39f64596fdf", "Akat Şube", 41.0789, 29.0231)
UNKNOWN_ADDRESS = "Olmayan Sokak 999, Hiçbiryer"

RULES_YAML = """\
# Demo configuration written by `autocancel demo`.
store:
  url: sqlite:///demo.db
api:
  base_url: {base_url}
  timeout_seconds: 5
dry_run: false
restaurants:
  - id: {halaskargazi_id}
    name: {halaskargazi_name}
    latitude: {halaskargazi_lat}
    longitude: {halaskargazi_lon}
  - id: {akat_id}
    name: {akat_name}
    latitude: {akat_lat}
    longitude: {akat_lon}
geocoder:
  provider: nominatim
  options: {{domain: "{geocoder_domain}", scheme: http, user_agent: autocancel-demo}}
  timeout_seconds: 5
safety:
  max_cancellations_per_hour: 30
  max_order_age_minutes: 180
  never_cancel: ["05550000000"]
rules:
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: overloaded
    kind: congestion
    max_active_orders: 9
    close_restaurant: true
    reopen_below: 6
    min_closed_minutes: 10
    reason_id: 3
"""


@dataclass
class DemoOrder:
    key: str
    story: str
    restaurant: tuple[str, str, float, float] = HALASKARGAZI
    minutes_ago: int = 5
    status_id: int = 1
    shipping_method: str = "delivery"
    payment_status: str | None = "ok"
    latitude: float | None = 41.0520
    longitude: float | None = 28.9900
    address: str = "Dershane Sokak 4, Şişli"
    phone: str = "05335587642"
    food_id: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    number: int = 0  # Dükkango's order number (`id`), one per order; set by _demo_orders


FAR_AWAY = (41.1700, 29.1000)


def _km_from(restaurant: tuple[str, str, float, float], position: tuple[float, float]) -> float:
    """The geodesic distance the too-far rule will measure (so the story cannot drift)."""
    from geopy.distance import geodesic

    return float(geodesic((restaurant[2], restaurant[3]), position).km)


def _demo_orders() -> list[DemoOrder]:
    far_km = _km_from(HALASKARGAZI, FAR_AWAY)
    orders = [
        DemoOrder("demo-out-of-stock", "an item that ran out", food_id=2),
        DemoOrder(
            "demo-unknown-address",
            "an address nobody can find",
            latitude=None,
            longitude=None,
            address=UNKNOWN_ADDRESS,
        ),
        DemoOrder(
            "demo-too-far",
            f"delivery {far_km:.0f} km away",
            latitude=FAR_AWAY[0],
            longitude=FAR_AWAY[1],
        ),
        DemoOrder(
            "demo-pickup-far",
            "far away, but picked up: survives",
            shipping_method="pickup",
            latitude=FAR_AWAY[0],
            longitude=FAR_AWAY[1],
        ),
        DemoOrder("demo-payment-failed", "payment failed", payment_status="failed"),
        DemoOrder(
            "demo-old-payment-failed",
            "payment failed 5 h ago: too old, skipped",
            payment_status="failed",
            minutes_ago=300,
        ),
        DemoOrder(
            "demo-protected",
            "payment failed, customer on never_cancel: skipped",
            payment_status="failed",
            phone="0555 000 00 00",
        ),
        DemoOrder(
            "demo-delivered",
            "payment failed but delivered: survives",
            payment_status="failed",
            status_id=5,
        ),
        DemoOrder("demo-fine", "a normal order: survives"),
    ]
    # Staff paused payment-failed at Akat (PAUSE): this order is skipped, not cancelled,
    # and, still cooking, it stays part of Akat's load.
    orders.append(
        DemoOrder(
            "demo-akat-paused",
            "payment failed at Akat, where staff paused payment-failed: skipped",
            restaurant=AKAT,
            minutes_ago=55,
            payment_status="failed",
            latitude=41.0800,
            longitude=29.0250,
            food_id=3,
        )
    )
    # Akat is overloaded: 11 active orders for a capacity of 9 -> close, cancel the 2 newest.
    orders += [
        DemoOrder(
            f"demo-akat-{n:02}",
            "Akat rush" + (" (newest: cancelled)" if n >= 9 else ""),
            restaurant=AKAT,
            minutes_ago=50 - 4 * n,
            latitude=41.0800,
            longitude=29.0250,
            food_id=3,
        )
        for n in range(1, 11)
    ]
    return [replace(order, number=number) for number, order in enumerate(orders, start=1031)]


# The pause staff made before the pass, as `autocancel pause --rule payment-failed
# --restaurant "Akat Şube" --for 30m --comment ... --by demo` stores it.
PAUSE_MINUTES = 30
PAUSE_COMMENT = "the card terminal at Akat is being replaced; staff check payments by hand"


def _seed_store(url: str, orders: list[DemoOrder]) -> None:
    migrate.upgrade(url)
    engine = connect.create_store_engine(url)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            sa.insert(schema.stock),
            [
                # The simulator's menu: food ids 1 and 2 at Halaskargazi, 3 at Akat.
                {
                    "food_id": 1,
                    "restaurant_id": HALASKARGAZI[0],
                    "name": "Beef Burrito",
                    "available": True,
                    "quantity": None,
                },
                {
                    "food_id": 2,
                    "restaurant_id": HALASKARGAZI[0],
                    "name": "Chicken Burrito",
                    "available": False,
                    "quantity": 0,
                },
                {
                    "food_id": 3,
                    "restaurant_id": AKAT[0],
                    "name": "Ayran",
                    "available": True,
                    "quantity": 500,
                },
            ],
        )
        pauses.create(
            connection,
            rule="payment-failed",
            restaurant_id=AKAT[0],
            until=now + timedelta(minutes=PAUSE_MINUTES),
            comment=PAUSE_COMMENT,
            created_by="demo",
            host=None,
            now=now,
        )
        for order in orders:
            connection.execute(
                sa.insert(schema.orders).values(
                    payment_key=order.key,
                    order_number=order.number,
                    restaurant_id=order.restaurant[0],
                    status_id=order.status_id,
                    shipping_method=order.shipping_method,
                    courier_type="restaurant",
                    payment_method="Kredi Kartı",
                    payment_status=order.payment_status,
                    total=250,
                    created_at=now - timedelta(minutes=order.minutes_ago),
                    customer_name="Demo Müşteri",
                    customer_phone=order.phone,
                    address=order.address,
                    address_description=order.story,
                    latitude=order.latitude,
                    longitude=order.longitude,
                    updated_at=now,
                )
            )
            connection.execute(
                sa.insert(schema.order_items).values(
                    payment_key=order.key, food_id=order.food_id, name="item", quantity=1
                )
            )
    engine.dispose()


# The food that ran out (demo-out-of-stock's); the kitchen restocks it between the passes.
RESTOCKED = (2, "Chicken Burrito", 12)


def _restock(engine: sa.Engine, food: tuple[int, str, int]) -> None:
    """The POS marks the food available again, as a kitchen does after a delivery."""
    food_id, _name, quantity = food
    with engine.begin() as connection:
        connection.execute(
            sa.update(schema.stock)
            .where(schema.stock.c.food_id == food_id)
            .values(available=True, quantity=quantity)
        )


def run(*, keep: bool = False, verbose: bool = False) -> int:
    if not verbose:
        # The report says it all, the closure it logs at WARNING included; per-decision
        # log lines are for the daemon.
        logging.getLogger("daemon").setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="autocancel-demo-"))
    orders = _demo_orders()
    try:
        with Simulator(
            geocoder_addresses={
                "Dershane Sokak 4, Şişli": (41.0520, 28.9900),
            }
        ) as simulator:
            for order in orders:
                simulator.add_order(
                    id=order.number,
                    payment_key=order.key,
                    restaurant_id=order.restaurant[0],
                    status_id=order.status_id,
                )
            rules = folder / "rules.yaml"
            rules.write_text(
                RULES_YAML.format(
                    base_url=simulator.url,
                    geocoder_domain=f"127.0.0.1:{simulator.port}",
                    halaskargazi_id=HALASKARGAZI[0],
                    halaskargazi_name=HALASKARGAZI[1],
                    halaskargazi_lat=HALASKARGAZI[2],
                    halaskargazi_lon=HALASKARGAZI[3],
                    akat_id=AKAT[0],
                    akat_name=AKAT[1],
                    akat_lat=AKAT[2],
                    akat_lon=AKAT[3],
                ),
                encoding="utf-8",
            )
            config = load_config(rules, environ={})
            _seed_store(config.store.url, orders)
            simulator.clear_requests()

            api = ApiSession(config, environ={ENV_ACCESS_TOKEN: simulator.static_token or ""})
            engine = connect.create_store_engine(config.store.url)
            try:
                record_rules_load(engine, config, event="once")  # as `once` does
                runner = PassRunner(config=config, engine=engine, executor_factory=api.executor)
                result = runner.run_once()
                names = Names.of(config.restaurants)
                in_force = () if result.plan is None else result.plan.pauses
                paused = [pause_line(pause, names, utcnow()) for pause in in_force]
                _print_report(
                    folder, orders, result.shown(), result.actions, simulator, paused=paused
                )
                simulator.clear_requests()
                _restock(engine, RESTOCKED)
                comeback = runner.run_once()
            finally:
                engine.dispose()
                api.close()
            _print_comeback(comeback.actions, simulator)
    finally:
        if keep:
            print(f"\nthe demo folder is kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return exitcodes.OK


def _print_report(
    folder: Path,
    orders: list[DemoOrder],
    decisions: Any,
    actions: Any,
    simulator: Simulator,
    *,
    paused: list[str],
) -> None:
    print("autocancel demo: a seeded store, the local Dükkango simulator, one live pass\n")
    print(f"{len(orders)} orders in {folder / 'demo.db'}:")
    decided = {d.payment_key for d in decisions}
    for order in orders:
        mark = "*" if order.key in decided else " "
        print(f" {mark} {order.key:<26} {order.story}")
    print("\ndecisions (one per order; orders no rule matched are not listed):")
    print(report.decisions_table(decisions))
    if actions:
        print("\nother actions:")
        for action in actions:
            print(
                f"  {action.action} {action.shown_target}: {action.outcome}"
                + (f" ({action.detail})" if action.detail else "")
            )
    print(
        "\npauses in force (made with `autocancel pause`; `pauses`, `status`, `audit` list them):"
    )
    for line in paused:
        print(f"  {line}")
    print("\nrequests the Dükkango simulator received:")
    for request in simulator.requests():
        body = "" if request.body in (None, "") else f" {request.body}"
        what = " (the geocoder)" if request.path == "/search" else ""
        print(f"  {request.method} {request.path}{body} -> {request.status}{what}")


def _print_comeback(actions: Any, simulator: Simulator) -> None:
    _food_id, name, quantity = RESTOCKED
    print(
        f"\nthen the kitchen restocks {name} (stock row: available, {quantity} left); "
        "a second pass puts it back on sale:"
    )
    for action in actions:
        print(
            f"  {action.action} {action.shown_target}: {action.outcome}"
            + (f" ({action.trigger})" if action.trigger else "")
        )
    for request in simulator.requests():
        print(f"  {request.method} {request.path} -> {request.status}")
    print(
        "\nTry `autocancel explain KEY` on a kept store (--keep) to see every rule's verdict, "
        "and `autocancel foods` for the foods autocancel has off."
    )

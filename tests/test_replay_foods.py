"""``autocancel replay`` switches foods off and back on as the live daemon does.

Live, a cancellation for out of stock deactivates the food on Dükkango
(``deactivate_food``), the next pass that finds its stock row sellable again
reactivates it, and the next shortage deactivates it anew. A replay of the
store's history must do the same, and report both. Each test writes a store's
past with the store's own API (the history as passes record it, the
daemon's deactivations as the food side effect writes them), then runs
``autocancel replay --json`` on that store, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from daemon.domain import images
from daemon.domain.orders import Item, Order, StockLevel
from daemon.domain.timeutil import isoformat_z
from daemon.store import history, schema
from tests.test_daemon import fast
from tests.test_replay_people import RECEIVED, Past, _past
from tests.world import HALASKARGAZI, NEAR, World

OUT_OF_STOCK_OFF = (
    "  - {name: out-of-stock, kind: out_of_stock, reason_id: 1, deactivate_food: true}\n"
)
LAHMACUN = 42


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> World:
    found: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return found


def _stock(past: Past, minutes: float, *, available: bool, quantity: int | None = None) -> None:
    """The lahmacun's stock row, as the pass at ``minutes`` saw it change."""
    level = StockLevel(LAHMACUN, "Lahmacun", available=available, quantity=quantity)
    with past.world.engine.begin() as connection:
        history.write(
            connection,
            [history.Entry("stock", str(LAHMACUN), None, images.encode_stock(level))],
            seen_at=past.at(minutes),
        )


def _lahmacun_order(past: Past, minutes: float, key: str) -> None:
    """A new order of one lahmacun, placed half a minute before the pass at ``minutes`` saw it."""
    order = Order(
        payment_key=key,
        restaurant_id=HALASKARGAZI,
        status_id=RECEIVED,
        shipping_method="delivery",
        payment_status="ok",
        total=Decimal(100),
        created_at=past.at(minutes - 0.5),
        latitude=NEAR[0],
        longitude=NEAR[1],
        items=(Item(food_id=LAHMACUN, name="Lahmacun", quantity=1),),
    )
    with past.world.engine.begin() as connection:
        history.write(
            connection,
            [history.Entry("order", key, HALASKARGAZI, images.encode_order(order))],
            seen_at=past.at(minutes),
        )


def _deactivated(report: dict[str, object]) -> list[tuple[int, str, str]]:
    found = report["foods_deactivated"]
    assert isinstance(found, list)
    return [(f["food_id"], f["rule"], f["at"]) for f in found]


def _reactivated(report: dict[str, object]) -> list[tuple[int, str, str, str]]:
    found = report["foods_reactivated"]
    assert isinstance(found, list)
    return [(f["food_id"], f["rule"], f["trigger"], f["at"]) for f in found]


def test_a_food_comes_back_with_its_stock_and_the_next_shortage_switches_it_off_again(
    store: World,
) -> None:
    fast(store, OUT_OF_STOCK_OFF, interval=60)
    past = _past(store)
    z = isoformat_z
    _stock(past, 5, available=False)  # sold out ...
    _lahmacun_order(past, 6, "first")  # ... an order of it: cancelled, the food switched off
    _stock(past, 10.5, available=True, quantity=8)  # the kitchen made more: back on sale
    _stock(past, 20.5, available=False, quantity=0)  # sold out again ...
    _lahmacun_order(past, 21, "second")  # ... and switched off again by the next order

    report = past.replay(until=40)

    assert [(o["payment_key"], o["outcome"]) for o in report["orders"]] == [
        ("first", "cancelled"),
        ("second", "cancelled"),
    ]
    assert _deactivated(report) == [
        (LAHMACUN, "out-of-stock", z(past.at(6))),
        (LAHMACUN, "out-of-stock", z(past.at(21))),
    ]
    assert _reactivated(report) == [(LAHMACUN, "out-of-stock", "back_in_stock", z(past.at(10.5)))]


def _deactivation(past: Past, minutes: float, *, in_force: bool = True) -> int:
    """A deactivation of ours, as the food side effect writes it once Dükkango confirmed it.

    Not ``in_force``: ended since (its reactivation, :func:`_reactivation`, is stored apart).
    """
    with past.world.engine.begin() as connection:
        deactivation_id: int = connection.execute(
            sa.insert(schema.food_deactivations)
            .values(
                food_id=LAHMACUN,
                restaurant_id=HALASKARGAZI,
                rule="out-of-stock",
                payment_key="earlier",
                at=past.at(minutes),
                outcome="done",
                active_key=LAHMACUN if in_force else None,
            )
            .returning(schema.food_deactivations.c.id)
        ).scalar_one()
    return deactivation_id


def _reactivation(past: Past, deactivation_id: int, minutes: float) -> None:
    """Its reactivation, as recorded once Dükkango confirmed it."""
    with past.world.engine.begin() as connection:
        connection.execute(
            sa.insert(schema.food_reactivations).values(
                deactivation_id=deactivation_id,
                food_id=LAHMACUN,
                trigger="back_in_stock",
                outcome="reactivated",
                claimed_at=past.at(minutes),
                updated_at=past.at(minutes),
                finished_at=past.at(minutes),
            )
        )


def test_a_food_put_back_on_sale_before_the_start_is_deactivated_again(store: World) -> None:
    """The start state has only the deactivations still in force at ``--from``."""
    fast(store, OUT_OF_STOCK_OFF, interval=60)
    past = _past(store)
    ended = _deactivation(past, 5, in_force=False)  # off at 5 min, back on sale at 10 min
    _reactivation(past, ended, 10)
    _stock(past, 20, available=False)
    _lahmacun_order(past, 21, "lahmacun")

    report = past.replay(since=15, until=40)

    assert [o["payment_key"] for o in report["orders"] if o["outcome"] == "cancelled"] == [
        "lahmacun"
    ]
    assert _deactivated(report) == [(LAHMACUN, "out-of-stock", isoformat_z(past.at(21)))]


def test_a_food_off_at_the_start_comes_back_when_its_stock_does(store: World) -> None:
    fast(store, OUT_OF_STOCK_OFF, interval=60)
    past = _past(store)
    z = isoformat_z
    _stock(past, 4, available=False)
    _deactivation(past, 5)
    _stock(past, 20.5, available=True, quantity=None)  # available again, not counted
    _stock(past, 30.5, available=False)
    _lahmacun_order(past, 31, "after")

    report = past.replay(since=15, until=40)

    # Off at --from, as the store had it then: nothing to deactivate until it came back.
    assert _deactivated(report) == [(LAHMACUN, "out-of-stock", z(past.at(31)))]
    assert _reactivated(report) == [(LAHMACUN, "out-of-stock", "back_in_stock", z(past.at(20.5)))]


def test_a_snooze_counts_from_the_deactivation_made_before_the_start(store: World) -> None:
    fast(store, OUT_OF_STOCK_OFF.replace("}", ", reactivate_after_minutes: 20}"), interval=60)
    past = _past(store)
    _stock(past, 4, available=False)  # and never updated again: the snooze brings it back
    _deactivation(past, 5)

    report = past.replay(since=15, until=40)

    # 20 minutes after the deactivation at 5 (the pass of minute 25), not after --from.
    assert _reactivated(report) == [(LAHMACUN, "out-of-stock", "snooze", isoformat_z(past.at(25)))]
    assert _deactivated(report) == []

"""What a pass writes to the order history, from hand-built snapshots (daemon.engine.recorder).

Real stores, POS and sync writes: tests/test_history.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from daemon.domain import images
from daemon.domain.orders import Item, Order, Snapshot, StockLevel
from daemon.domain.row_problems import RowProblem
from daemon.engine.active import FULL, PassScope
from daemon.engine.recorder import HistoryRecorder
from daemon.store.history import Entry
from tests.unit.builders import AKAT, HAL, NOW, order


def snapshot(*orders: Order, stock: dict[int, StockLevel] | None = None) -> Snapshot:
    return Snapshot(
        taken_at=NOW,
        orders=orders,
        stock=stock or {},
        live_intents={},
        closures={},
        deactivated_foods=frozenset(),
    )


def of(*restaurants: str) -> PassScope:
    return PassScope(full=False, restaurants=frozenset(restaurants))


def told(entries: list[Entry]) -> list[tuple[str, str, str]]:
    """(kind, subject, new|gone) of each entry."""
    return [(e.kind, e.subject, "gone" if e.image is None else "new") for e in entries]


def test_images_give_back_exactly_the_order_and_stock_level() -> None:
    full = order(
        "k1",
        total=Decimal("1417.50"),
        latitude=41.0521,
        longitude=28.9903,
        customer_name="Kerim Çelik",
        customer_phone="0533",
        address="Dershane Sokak",
        address_description="kat 2",
        courier_type="restaurant",
        payment_method="Kredi Kartı",
        items=(Item(1, "ayran", 2), Item(7, None, 1)),
        problems=(RowProblem.half_position(),),
    )
    decoded = images.decode_order("k1", HAL, images.encode_order(full))
    assert decoded == full
    level = StockLevel(3, "pide", available=False, quantity=0, restaurant_id=HAL)
    assert images.decode_stock(3, images.encode_stock(level)) == level
    # updated_at is not kept: sync stamps it on every poll and no rule reads it.
    stamped = replace(full, updated_at=NOW)
    assert images.decode_order("k1", HAL, images.encode_order(stamped)).updated_at is None
    assert images.same_order(full, stamped)


def test_a_new_version_decoded_after_an_earlier_one_shares_its_items_only_when_the_same() -> None:
    ayran, pide = Item(1, "ayran", 2), Item(7, "pide", 1)
    earlier = images.decode_order("k1", HAL, images.encode_order(order("k1", items=(ayran, pide))))
    moved_on = order("k1", status=2, items=(ayran, pide))
    decoded = images.decode_order("k1", HAL, images.encode_order(moved_on), earlier=earlier)
    assert decoded == moved_on
    assert decoded.items is earlier.items  # the very tuple: compared at a glance
    for items in ((ayran,), (ayran, replace(pide, quantity=2)), (pide, ayran), ()):
        changed = order("k1", items=items)
        again = images.decode_order("k1", HAL, images.encode_order(changed), earlier=earlier)
        assert again == changed
        assert again.items is not earlier.items or not items


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("[2]", "version 2"),
        ("{}", "unreadable order image"),
        ('[1, "x"]', "unreadable order image"),
        ("not json", "unreadable order image"),
    ],
)
def test_an_image_this_version_cannot_read_says_so(image: str, why: str) -> None:
    with pytest.raises(images.BadImage, match=why):
        images.decode_order("k1", HAL, image)


@pytest.mark.parametrize("image", ["[2, null, true, null, null]", "[1]", "nope"])
def test_a_stock_image_this_version_cannot_read_says_so(image: str) -> None:
    with pytest.raises(images.BadImage):
        images.decode_stock(1, image)


def test_only_what_changed_is_recorded() -> None:
    recorder = HistoryRecorder()
    recorder.prime([], [])
    first = order("k1")
    ayran = StockLevel(1, "ayran", available=True, quantity=4)
    entries = recorder.changes(snapshot(first, stock={1: ayran}), FULL)
    assert told(entries) == [("order", "k1", "new"), ("stock", "1", "new")]
    assert [e.replaces for e in entries] == [False, False]
    # The same rows read again (the same objects, or equal ones): nothing.
    assert recorder.changes(snapshot(first, stock={1: ayran}), FULL) == []
    assert recorder.changes(snapshot(replace(first), stock={1: replace(ayran)}), of(HAL)) == []
    assert (
        recorder.changes(snapshot(replace(first, updated_at=NOW), stock={1: ayran}), of(HAL)) == []
    )
    # A status change, then the stock running short, then the order leaving.
    confirmed = replace(first, status_id=2)
    (entry,) = recorder.changes(snapshot(confirmed, stock={1: ayran}), of(HAL))
    assert entry.image is not None
    assert entry.replaces  # the order's earlier row is closed; a new order's has none
    assert images.decode_order("k1", HAL, entry.image).status_id == 2
    short = replace(ayran, quantity=0)
    assert told(recorder.changes(snapshot(confirmed, stock={1: short}), of(HAL))) == [
        ("stock", "1", "new")
    ]
    assert told(recorder.changes(snapshot(stock={1: short}), of(HAL))) == [("order", "k1", "gone")]


def test_an_incremental_read_speaks_only_for_the_restaurants_it_read() -> None:
    recorder = HistoryRecorder()
    recorder.prime([order("hal-1"), order("akat-1", restaurant=AKAT)], [])
    # A read of Akat alone, which no longer has its order: Halaskargazi's stays.
    assert told(recorder.changes(snapshot(), of(AKAT))) == [("order", "akat-1", "gone")]
    assert recorder.changes(snapshot(order("hal-1")), FULL) == []


def test_an_order_moving_to_another_restaurant_is_one_change() -> None:
    recorder = HistoryRecorder()
    recorder.prime([order("k1")], [])
    moved = order("k1", restaurant=AKAT)
    (entry,) = recorder.changes(snapshot(moved), of(HAL, AKAT))
    assert (entry.subject, entry.restaurant_id, entry.image is not None) == ("k1", AKAT, True)
    assert told(recorder.changes(snapshot(), of(HAL))) == []
    assert told(recorder.changes(snapshot(), of(AKAT))) == [("order", "k1", "gone")]


def test_a_stock_row_that_disappears_is_recorded_gone_while_an_order_needs_it() -> None:
    recorder = HistoryRecorder()
    level = StockLevel(1, "ayran", available=False, quantity=None, restaurant_id=HAL)
    recorder.prime([], [level])
    needing = order("k1")
    assert told(recorder.changes(snapshot(needing), FULL)) == [
        ("order", "k1", "new"),
        ("stock", "1", "gone"),
    ]
    assert recorder.changes(snapshot(needing), FULL) == []


def test_a_primed_recorder_writes_only_what_changed_while_nobody_watched() -> None:
    recorder = HistoryRecorder()
    stays, leaves = order("stays"), order("leaves", minutes_ago=20)
    recorder.prime([stays, leaves], [])
    assert recorder.primed
    arrives = order("arrives", created_at=NOW - timedelta(minutes=1))
    assert sorted(told(recorder.changes(snapshot(stays, arrives), FULL))) == [
        ("order", "arrives", "new"),
        ("order", "leaves", "gone"),
    ]
    recorder.forget()
    assert not recorder.primed


def test_orders_read_only_by_key_are_not_part_of_the_history() -> None:
    recorder = HistoryRecorder()
    recorder.prime([], [])
    looked = replace(snapshot(order("k1", status=5)), looked_up=frozenset({"k1"}))
    assert recorder.changes(looked, FULL) == []

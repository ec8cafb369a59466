"""The scope of an incremental pass: which restaurants a batch of changes touches.

In-process, on hand-built snapshots (tests/unit/builders.py). The end-to-end
equivalence with full passes, on random change sequences against real
stores, is tests/test_incremental.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from daemon.domain.orders import Closure, Item, Order, Snapshot
from daemon.engine.active import CLOSED_EVERY, FULL, ActiveOrders, PassScope
from daemon.store.changelog import Change
from tests.unit.builders import AKAT, HAL, NOW, closed, order

SHARED_FOOD = 40  # on both branches' menus
HAL_ONLY_FOOD = 41


def snapshot(
    orders: Iterable[Order],
    *,
    closures: Mapping[str, Closure] | None = None,
    looked_up: Iterable[str] = (),
) -> Snapshot:
    return Snapshot(
        taken_at=NOW,
        orders=tuple(orders),
        stock={},
        live_intents={},
        closures=dict(closures or {}),
        deactivated_foods=frozenset(),
        looked_up=frozenset(looked_up),
    )


def eating(key: str, *foods: int, restaurant: str = HAL) -> Order:
    items = tuple(Item(food_id=food, name=None, quantity=1) for food in foods)
    return order(key, restaurant=restaurant, items=items)


def of_order(key: str | None, restaurant: str | None) -> Change:
    return Change(source="orders", payment_key=key, restaurant_id=restaurant, food_id=None)


def of_item(key: str, food: object = 1) -> Change:
    return Change(source="order_items", payment_key=key, restaurant_id=None, food_id=food)


def of_stock(food: object) -> Change:
    return Change(source="stock", payment_key=None, restaurant_id=None, food_id=food)


def chain() -> ActiveOrders:
    active = ActiveOrders()
    active.reset(
        snapshot(
            [
                eating("h1", SHARED_FOOD, HAL_ONLY_FOOD),
                eating("h2", HAL_ONLY_FOOD),
                eating("a1", SHARED_FOOD, restaurant=AKAT),
            ]
        )
    )
    return active


def test_an_order_change_touches_its_restaurant_before_and_after_a_move() -> None:
    active = chain()
    # A move logs both sides (migration 0009's triggers).
    assert active.touched([of_order("h1", HAL), of_order("h1", AKAT)]) == {HAL, AKAT}
    assert active.touched([of_order("new", "elsewhere")]) == {"elsewhere"}


def test_an_order_without_a_restaurant_is_judged_under_the_empty_id() -> None:
    # snapshot.read_snapshot reads restaurant "" as the rows with none.
    assert chain().touched([of_order("orphan", None)]) == {""}


def test_an_item_change_touches_the_restaurant_of_its_active_order_only() -> None:
    active = chain()
    assert active.touched([of_item("a1")]) == {AKAT}
    # Not an active order here: inactive (nothing to judge), or new, and then
    # its own row's change names the restaurant.
    assert active.touched([of_item("delivered-last-week")]) == frozenset()


def test_a_stock_change_touches_every_restaurant_with_an_active_order_of_the_food() -> None:
    active = chain()
    assert active.touched([of_stock(SHARED_FOOD)]) == {HAL, AKAT}
    assert active.touched([of_stock(HAL_ONLY_FOOD)]) == {HAL}
    assert active.touched([of_stock(999)]) == frozenset()
    assert active.touched([of_stock("not-a-number")]) == frozenset()  # no item can name it


def test_a_closed_restaurant_is_judged_again_every_few_seconds_changed_or_not() -> None:
    """Only time may reopen it (min_closed_minutes, orders growing stale), and time logs nothing."""
    active = ActiveOrders()
    active.reset(snapshot([eating("h1", 1)], closures=closed(20, at=AKAT)), now=100.0)
    assert active.closed == {AKAT}
    assert active.touched([]) == frozenset()  # a change names its own restaurants only
    assert active.closed_due(100.0 + CLOSED_EVERY - 1) == frozenset()  # the full read judged it
    assert active.closed_due(100.0 + CLOSED_EVERY) == {AKAT}
    assert active.closed_due(100.0 + CLOSED_EVERY + 1) == frozenset()
    assert active.closed_due(100.0 + 2 * CLOSED_EVERY) == {AKAT}


def test_an_update_replaces_the_restaurants_it_read_and_their_foods() -> None:
    active = chain()
    # Hal's orders are re-read: h1 left (delivered), h2 now eats the shared food only.
    active.update([HAL], snapshot([eating("h2", SHARED_FOOD)]))

    assert active.touched([of_stock(HAL_ONLY_FOOD)]) == frozenset()
    assert active.touched([of_stock(SHARED_FOOD)]) == {HAL, AKAT}
    assert active.touched([of_item("h1")]) == frozenset()
    assert active.touched([of_item("h2")]) == {HAL}


def test_a_restaurant_read_empty_keeps_nothing() -> None:
    active = chain()
    active.update([AKAT], snapshot([]))
    assert active.touched([of_stock(SHARED_FOOD)]) == {HAL}
    assert active.disagreements(snapshot([eating("h1", SHARED_FOOD, HAL_ONLY_FOOD)])) == {HAL}


def test_disagreements_name_the_restaurants_a_full_read_sees_otherwise() -> None:
    active = chain()
    same = [
        eating("h1", SHARED_FOOD, HAL_ONLY_FOOD),
        eating("h2", HAL_ONLY_FOOD),
        eating("a1", SHARED_FOOD, restaurant=AKAT),
    ]
    assert active.disagreements(snapshot(same)) == frozenset()

    paid_differently = [same[0], same[1], eating("a1", HAL_ONLY_FOOD, restaurant=AKAT)]
    assert active.disagreements(snapshot(paid_differently)) == {AKAT}
    one_more = [*same, eating("x1", 1, restaurant="elsewhere")]
    assert active.disagreements(snapshot(one_more)) == {"elsewhere"}
    assert active.disagreements(snapshot(same[:1] + same[2:])) == {HAL}


def test_orders_a_command_looked_up_are_not_part_of_the_picture() -> None:
    active = ActiveOrders()
    active.reset(snapshot([eating("h1", 1)], looked_up={"h1"}))
    assert active.touched([of_item("h1")]) == frozenset()


def test_a_scope_says_what_the_pass_re_judged() -> None:
    assert FULL.name == "full"
    assert FULL.to_json() == {"scope": "full"}
    scope = PassScope(full=False, restaurants=frozenset({HAL, AKAT}), changes=7)
    assert scope.name == "incremental"
    assert scope.to_json() == {"scope": "incremental", "restaurants": 2, "changes": 7}

"""out_of_stock on hand-built stock: which items are out, and which foods leave the menu."""

from __future__ import annotations

from daemon.domain.actions import DeactivateFood
from daemon.domain.orders import Item, Order, StockLevel
from rules.out_of_stock import OutOfStockRule
from rules.verdict import Verdict, VerdictKind
from tests.unit.builders import AKAT, HAL, context, order

RULE = OutOfStockRule(name="out-of-stock", reason_id=1, deactivate_food=True)
AYRAN, PIDE, KEBAP, SALATA = 11, 12, 13, 14
STOCK = {
    AYRAN: StockLevel(AYRAN, "ayran", available=False, quantity=None),
    PIDE: StockLevel(PIDE, "pide", available=True, quantity=2),
    KEBAP: StockLevel(KEBAP, "kebap", available=True, quantity=0),
    # Akat's kitchen only: says nothing about Halaskargazi's stock.
    SALATA: StockLevel(SALATA, "salata", available=False, quantity=None, restaurant_id=AKAT),
}


def ordering(*lines: tuple[int, int], restaurant: str = HAL) -> Order:
    return order(
        "x",
        restaurant=restaurant,
        items=tuple(Item(food, None, quantity) for food, quantity in lines),
    )


def verdict_on(*lines: tuple[int, int], restaurant: str = HAL) -> Verdict:
    wanted = ordering(*lines, restaurant=restaurant)
    return RULE.evaluate(wanted, context([wanted], stock=STOCK))


def test_an_unavailable_food_is_out_of_stock_with_its_food_id_as_evidence() -> None:
    verdict = verdict_on((AYRAN, 1), (99, 1))

    assert verdict.kind is VerdictKind.MATCH
    assert verdict.why == "1 item(s) out of stock"
    assert verdict.evidence == {
        "food_ids": [AYRAN],
        "foods": [
            {"food_id": AYRAN, "name": "ayran", "ordered": 1, "available": False, "in_stock": None}
        ],
    }


def test_a_counted_food_is_short_only_when_fewer_are_left_than_ordered() -> None:
    assert not verdict_on((PIDE, 2)).matched
    assert verdict_on((PIDE, 3)).evidence["food_ids"] == [PIDE]


def test_two_lines_of_one_food_draw_on_one_count() -> None:
    assert not verdict_on((PIDE, 1)).matched
    together = verdict_on((PIDE, 2), (PIDE, 1))

    assert together.evidence["foods"][0]["ordered"] == 3


def test_zero_and_negative_lines_are_bad_data_never_a_shortage() -> None:
    verdict = verdict_on((KEBAP, 0), (AYRAN, -1))

    assert verdict.kind is VerdictKind.NO_MATCH
    assert verdict.why.startswith("every item is in stock")


def test_a_food_without_a_stock_row_is_in_stock() -> None:
    verdict = verdict_on((99, 5))

    assert verdict.kind is VerdictKind.NO_MATCH
    assert verdict.evidence == {}


def test_another_restaurants_stock_row_is_ignored_and_named() -> None:
    at_hal = verdict_on((SALATA, 1))
    at_akat = verdict_on((SALATA, 1), restaurant=AKAT)

    assert at_hal.kind is VerdictKind.NO_MATCH
    assert at_hal.evidence == {"ignored_food_ids": [SALATA]}
    assert "the stock rows of foods [14] are another restaurant's, ignored" in at_hal.why
    assert at_akat.evidence["food_ids"] == [SALATA]


def test_an_ignored_row_is_named_beside_a_real_shortage() -> None:
    verdict = verdict_on((SALATA, 1), (AYRAN, 1))

    assert verdict.evidence["food_ids"] == [AYRAN]
    assert verdict.evidence["ignored_food_ids"] == [SALATA]


def test_an_order_without_items_is_not_out_of_stock() -> None:
    empty = order("x", items=())

    verdict = RULE.evaluate(empty, context([empty], stock=STOCK))

    assert (verdict.kind, verdict.why) == (
        VerdictKind.NO_MATCH,
        "the order has no items in the store",
    )


def test_only_foods_that_are_gone_are_deactivated_not_ones_merely_short() -> None:
    wanted = ordering((AYRAN, 1), (PIDE, 5), (KEBAP, 1))
    verdict = RULE.evaluate(wanted, context([wanted], stock=STOCK))

    assert verdict.evidence["food_ids"] == [AYRAN, PIDE, KEBAP]
    assert list(RULE.side_effects(wanted, verdict)) == [
        DeactivateFood(food_id=AYRAN, restaurant_id=HAL, rule="out-of-stock", payment_key="x"),
        DeactivateFood(food_id=KEBAP, restaurant_id=HAL, rule="out-of-stock", payment_key="x"),
    ]
    menu_stays = RULE.model_copy(update={"deactivate_food": False})
    assert list(menu_stays.side_effects(wanted, verdict)) == []

"""out_of_stock, end to end: the store as a POS writes it, `autocancel once`, the simulator."""

from __future__ import annotations

from tests.world import (
    AKAT,
    HALASKARGAZI,
    DecidingRule,
    World,
    assert_cancelled,
    assert_untouched,
    once_json,
    requests_to,
)

OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""


def _passive_calls(world: World) -> list[str]:
    return [r.path for r in world.simulator.requests("PUT", "foods/status-passive/")]


def test_cancels_only_orders_short_of_stock_and_leaves_the_menu_alone(world: World) -> None:
    world.configure(OUT_OF_STOCK)  # deactivate_food left at its default: false
    world.set_stock(1, available=False)
    world.set_stock(2, quantity=2)
    world.set_stock(4, quantity=2)
    world.set_stock(6, quantity=3)
    world.set_stock(8, quantity=10)
    world.add_order("unavailable", items=[(8, 1), (1, 1)])
    world.add_order("short", items=[(2, 3)])
    world.add_order("exactly-enough", items=[(4, 2)])
    world.add_order("no-stock-row", items=[(5, 50)])
    # Each line alone fits in the stock of 3; together they need 4.
    world.add_order("two-lines", items=[(6, 2), (6, 2)])
    world.add_order("confirmed", status_id=2, items=[(1, 1)])
    world.add_order("in-delivery", status_id=16, items=[(1, 1)])
    world.add_order("delivered", status_id=5, items=[(1, 1)])
    world.add_order("canceled", status_id=6, items=[(1, 1)])

    decisions = world.once()

    rule: DecidingRule = {"rule": "out-of-stock", "kind": "out_of_stock", "reason_id": 1}
    assert_cancelled(world, decisions, "unavailable", **rule, evidence={"food_ids": [1]})
    assert_cancelled(world, decisions, "short", **rule, evidence={"food_ids": [2]})
    assert_cancelled(world, decisions, "two-lines", **rule, evidence={"food_ids": [6]})
    assert_cancelled(world, decisions, "confirmed", **rule, evidence={"food_ids": [1]})
    assert_untouched(world, decisions, "exactly-enough")
    assert_untouched(world, decisions, "no-stock-row")
    assert_untouched(world, decisions, "in-delivery", status_id=16)
    assert_untouched(world, decisions, "delivered", status_id=5)
    assert_untouched(world, decisions, "canceled", status_id=6)
    assert sorted(d["payment_key"] for d in decisions) == [
        "confirmed",
        "short",
        "two-lines",
        "unavailable",
    ]
    assert _passive_calls(world) == []
    assert world.simulator.food_active(1)

    # A second pass sends nothing new: every cancellation is in the ledger already.
    seen = len(world.simulator.requests())
    assert world.once() == []
    assert len(world.simulator.requests()) == seen


def test_status_16_is_cancelled_only_when_listed_and_5_6_never(world: World) -> None:
    world.configure(OUT_OF_STOCK + "    statuses: [1, 2, 16]\n")
    world.set_stock(1, available=False)
    world.add_order("in-delivery", status_id=16, items=[(1, 1)])
    world.add_order("received", status_id=1, items=[(1, 1)])
    world.add_order("delivered", status_id=5, items=[(1, 1)])
    world.add_order("canceled", status_id=6, items=[(1, 1)])

    decisions = world.once()

    rule: DecidingRule = {"rule": "out-of-stock", "kind": "out_of_stock", "reason_id": 1}
    assert_cancelled(world, decisions, "in-delivery", **rule, evidence={"food_ids": [1]})
    assert_cancelled(world, decisions, "received", **rule, evidence={"food_ids": [1]})
    assert_untouched(world, decisions, "delivered", status_id=5)
    assert_untouched(world, decisions, "canceled", status_id=6)


def test_listing_status_5_is_a_configuration_error(world: World) -> None:
    world.configure(OUT_OF_STOCK + "    statuses: [5]\n")
    world.set_stock(1, available=False)
    world.add_order("delivered", status_id=5, items=[(1, 1)])

    result = world.cli("once", "--json")

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = world.rules_path.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "statuses: [5]" in text)
    problem = next(t for t in result.stderr.splitlines() if "statuses" in t)
    assert problem.startswith(f"{world.rules_path}:{line}: ")
    assert "5" in problem.split(": ", 1)[1]
    assert world.simulator.requests() == []
    assert world.ledger() == []
    assert world.status_of("delivered") == 5


def test_deactivate_food_sends_passive_once_per_unavailable_food(world: World) -> None:
    world.configure(OUT_OF_STOCK + "    deactivate_food: true\n")
    world.set_stock(1, available=False)
    world.set_stock(2, quantity=1)  # merely short for an order of 2: not deactivated
    world.set_stock(3, quantity=0, restaurant_id=AKAT)  # counted and gone: deactivated
    world.add_order("first", items=[(1, 1)])
    world.add_order("second", items=[(1, 2)])
    world.add_order("short", items=[(2, 2)])
    world.add_order("akat", restaurant_id=AKAT, items=[(3, 1)])

    decisions = world.once()

    rule: DecidingRule = {"rule": "out-of-stock", "kind": "out_of_stock", "reason_id": 1}
    assert_cancelled(world, decisions, "first", **rule, evidence={"food_ids": [1]})
    assert_cancelled(world, decisions, "second", **rule, evidence={"food_ids": [1]})
    assert_cancelled(world, decisions, "short", **rule, evidence={"food_ids": [2]})
    assert_cancelled(world, decisions, "akat", **rule, evidence={"food_ids": [3]})
    assert sorted(_passive_calls(world)) == ["foods/status-passive/1", "foods/status-passive/3"]
    for request in world.simulator.requests("PUT", "foods/status-passive/"):
        assert request.headers.get("access-token") == world.simulator.static_token
        assert request.status == 200
    assert (
        world.simulator.food_active(1),
        world.simulator.food_active(2),
        world.simulator.food_active(3),
    ) == (False, True, False)

    # A new order for the same food next pass is cancelled, but the food is not sent again.
    world.add_order("third", items=[(1, 1)])
    decisions = world.once()

    assert_cancelled(world, decisions, "third", **rule, evidence={"food_ids": [1]})
    assert len(requests_to(world, "PUT", "foods/status-passive/1")) == 1
    assert sorted(_passive_calls(world)) == ["foods/status-passive/1", "foods/status-passive/3"]


def test_a_skipped_order_does_not_keep_a_food_on_the_menu(world: World) -> None:
    world.configure(OUT_OF_STOCK + "    deactivate_food: true\n")
    world.set_stock(1, available=False)
    # Too old to cancel (max_order_age_minutes: 180), and first in the store.
    world.add_order("old", minutes_ago=300, items=[(1, 1)])
    world.add_order("new", items=[(1, 1)])

    decisions = world.once()

    assert_cancelled(
        world,
        decisions,
        "new",
        rule="out-of-stock",
        kind="out_of_stock",
        reason_id=1,
        evidence={"food_ids": [1]},
    )
    assert [d["outcome"] for d in decisions if d["payment_key"] == "old"] == ["skipped"]
    assert _passive_calls(world) == ["foods/status-passive/1"]


def test_a_stock_row_speaks_only_for_its_own_restaurant(world: World) -> None:
    world.configure(OUT_OF_STOCK + "    deactivate_food: true\n")
    world.set_stock(3, available=False, restaurant_id=AKAT)  # Akat's Ayran is gone
    world.set_stock(2, quantity=0, restaurant_id=None)  # no restaurant: speaks for all
    world.add_order("akat", restaurant_id=AKAT, items=[(3, 1)])
    # A Halaskargazi order naming food 3 (a POS bug, or a food both sell): Akat's
    # stock says nothing about Halaskargazi's kitchen.
    world.add_order("halaskargazi", restaurant_id=HALASKARGAZI, items=[(3, 1)])
    world.add_order("any-h", restaurant_id=HALASKARGAZI, items=[(2, 1)])
    world.add_order("any-a", restaurant_id=AKAT, items=[(2, 1)])

    decisions, stderr = once_json(world)

    rule: DecidingRule = {"rule": "out-of-stock", "kind": "out_of_stock", "reason_id": 1}
    assert_cancelled(world, decisions, "akat", **rule, evidence={"food_ids": [3]})
    assert_cancelled(world, decisions, "any-h", **rule, evidence={"food_ids": [2]})
    assert_cancelled(world, decisions, "any-a", **rule, evidence={"food_ids": [2]})
    assert_untouched(world, decisions, "halaskargazi")
    assert sorted(_passive_calls(world)) == ["foods/status-passive/2", "foods/status-passive/3"]
    # The mismatch is bad data: logged once, with the order and both restaurants.
    logged = [line for line in stderr.splitlines() if "order=halaskargazi " in line]
    assert len(logged) == 1, stderr
    assert "food_id=3" in logged[0] and AKAT in logged[0] and HALASKARGAZI in logged[0]

    explained = world.cli("explain", "halaskargazi")
    assert explained.returncode == 0, explained.stderr
    verdict = next(line for line in explained.stdout.splitlines() if "out-of-stock [" in line)
    assert "no match" in verdict and "another restaurant" in verdict
    assert "decision: no rule matches" in explained.stdout

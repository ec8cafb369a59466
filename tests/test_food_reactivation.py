"""Foods come back: a food autocancel deactivated goes back on sale, once per deactivation.

Through the CLI and real processes against the simulator, on SQLite and
PostgreSQL: back in stock, the snooze (``reactivate_after_minutes``), a food
someone else switched off (never touched), ``autocancel foods`` and
``food-reactivate`` (audited; bad input is one line and exit 2; a lost
answer counts as sent and is resent, a bounded number of times).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import time_machine

from daemon.config.load import load_config
from daemon.engine.passes import PassRunner
from daemon.service.runtime import ApiSession
from daemon.store import schema
from tests.test_daemon import Daemon, eventually, fast, passes_from_now
from tests.world import World, once_json, requests_to, run_sql

OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
"""
SNOOZE_30 = OUT_OF_STOCK + "    reactivate_after_minutes: 30\n"
PASSIVE, ACTIVE = "foods/status-passive/2", "foods/status-active/2"


@pytest.fixture(params=["world", "pg_world"])
def store(request: pytest.FixtureRequest) -> World:
    world: World = request.getfixturevalue(request.param)
    return world


def put_paths(world: World) -> list[str]:
    """The foods/status-* requests the platform received, in order."""
    return [r.path for r in world.simulator.requests("PUT", "foods/")]


def foods_json(world: World) -> list[dict[str, Any]]:
    result = world.cli("foods", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def deactivate_food_2(world: World, key: str = "a") -> None:
    """An order for food 2, which is out: the order is cancelled and the food switched off.

    Preparation, in process (World.set_up_with): the tests here are about what comes after.
    """
    world.set_stock(2, available=False, quantity=0)
    world.add_order(key, items=[(2, 1)])
    decisions = world.set_up_with("once", "--json")
    assert [(d["payment_key"], d["outcome"]) for d in decisions] == [(key, "cancelled")]
    assert world.simulator.food_active(2) is False


def audit_lines(world: World, action: str, *more: str) -> list[str]:
    """The ``audit`` lines of ``action`` (or of any of ``action`` and ``more``)."""
    result = world.cli("audit")
    assert result.returncode == 0, result.stderr
    actions = (action, *more)
    return [line for line in result.stdout.splitlines() if any(f" {a} " in line for a in actions)]


def a_pass(world: World) -> None:
    """``once --json`` in this process (World.set_up_with): a pass between the ones a test
    checks, whose output it does not read; the store and the platform show what it did."""
    world.set_up_with("once", "--json")


def backdate_deactivations(world: World, minutes: float) -> None:
    """As if every deactivation had been made ``minutes`` earlier."""
    table = schema.food_deactivations
    with world.engine.begin() as conn:
        for row_id, at in conn.execute(sa.select(table.c.id, table.c.at)).all():
            conn.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(at=at - timedelta(minutes=minutes))
            )


# --- back in stock ---------------------------------------------------------------------


def test_a_food_back_in_stock_is_reactivated_once_per_deactivation(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)
    a_pass(store)  # still out: it stays off
    store.set_stock(2, available=True, quantity=0)  # counted at zero: still out
    a_pass(store)
    assert put_paths(store) == [PASSIVE]

    store.set_stock(2, available=True, quantity=5)
    once_json(store)
    once_json(store)
    assert put_paths(store) == [PASSIVE, ACTIVE]
    assert [r.status for r in requests_to(store, "PUT", ACTIVE)] == [200]
    assert store.simulator.food_active(2) is True
    assert foods_json(store) == []
    (line,) = audit_lines(store, "reactivate_food")
    assert "food 2 (food 2) at Halaskargazi Şube" in line and "reactivated" in line
    assert "autocancel" in line and "back in stock (stock row: available, 5 left)" in line

    # Out again: a new order deactivates it anew, and the next restock brings it back again.
    store.set_stock(2, available=False)
    store.add_order("b", items=[(2, 1)])
    a_pass(store)
    assert store.simulator.food_active(2) is False
    store.set_stock(2, available=True)
    once_json(store)
    assert put_paths(store) == [PASSIVE, ACTIVE, PASSIVE, ACTIVE]
    both = audit_lines(store, "deactivate_food", "reactivate_food")
    assert len([line for line in both if " deactivate_food " in line]) == 2
    assert len([line for line in both if " reactivate_food " in line]) == 2


def test_status_lists_only_the_foods_still_off(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)
    before = json.loads(store.cli("status", "--json").stdout)["food_deactivations"]
    store.set_stock(2, available=True)
    a_pass(store)
    after = json.loads(store.cli("status", "--json").stdout)["food_deactivations"]

    assert [(f["food_id"], f["outcome"]) for f in before] == [(2, "done")]
    assert after == []


# --- someone else's foods ----------------------------------------------------------------


def test_a_food_switched_off_by_someone_else_is_never_reactivated(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    control = httpx.post(
        f"{store.simulator.control_url}/foods", json={"food_id": 3, "active": False}
    )
    assert control.status_code == 200, control.text
    # Staff also mark it out, then back, in the POS: none of it is autocancel's doing.
    store.set_stock(3, available=False)
    a_pass(store)
    store.set_stock(3, available=True, quantity=10)
    once_json(store)
    a_pass(store)

    assert put_paths(store) == []
    assert store.simulator.food_active(3) is False
    assert foods_json(store) == []
    refused = store.cli("food-reactivate", "3")
    assert refused.returncode == 2
    assert "(food 3) was never deactivated by autocancel" in refused.stderr
    assert "someone else switched it off" in refused.stderr
    assert put_paths(store) == []


def test_a_deactivation_the_platform_refused_is_never_undone(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    store.simulator.inject_fault("status", status=403, method="PUT", path_prefix=PASSIVE)
    store.set_stock(2, available=False)
    store.add_order("a", items=[(2, 1)])
    a_pass(store)
    store.set_stock(2, available=True)
    once_json(store)

    assert put_paths(store) == [PASSIVE]  # refused, and never followed by status-active
    assert foods_json(store) == []
    refused = store.cli("food-reactivate", "2")
    assert refused.returncode == 2
    assert "never went through" in refused.stderr and "403" in refused.stderr


# --- the snooze: reactivate_after_minutes ---------------------------------------------------


def test_a_snooze_brings_a_food_back_even_if_the_stock_row_was_not_updated(
    store: World,
) -> None:
    store.configure(SNOOZE_30)
    deactivate_food_2(store)
    listed = foods_json(store)
    assert [(f["food_id"], f["state"], f["sellable"]) for f in listed] == [(2, "off", False)]
    since = datetime.fromisoformat(listed[0]["since"])
    comes_back = datetime.fromisoformat(listed[0]["comes_back_at"])
    assert comes_back - since == timedelta(minutes=30)

    backdate_deactivations(store, 29)
    a_pass(store)
    assert put_paths(store) == [PASSIVE]
    backdate_deactivations(store, 1.5)  # now 30.5 minutes ago
    once_json(store)

    assert put_paths(store) == [PASSIVE, ACTIVE]
    assert store.simulator.food_active(2) is True
    (line,) = audit_lines(store, "reactivate_food")
    assert "snooze: reactivate_after_minutes 30 was up" in line
    assert "stock row: unavailable, 0 left" in line


def test_the_snooze_is_judged_by_every_pass_on_the_pass_clock(world: World) -> None:
    """In process, with the clock moved by time-machine: the incremental passes between
    full ones, which re-read nothing (no row changed), still bring the food back."""
    start = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        world.configure(SNOOZE_30)
        world.set_stock(2, available=False)
        world.add_order("a", items=[(2, 1)])
        config = load_config(world.rules_path, environ={})
        api = ApiSession(config, environ=world.env)
        runner = PassRunner(config=config, engine=world.engine, executor_factory=api.executor)
        try:
            runner.run_once()
            runner.run_once(incremental=True)  # the pass's own writes (the cancellation)
            assert put_paths(world) == [PASSIVE]
            clock.shift(timedelta(minutes=29, seconds=59))
            quiet = runner.run_once(incremental=True)
            assert quiet.scope.full is False and quiet.scope.restaurants == frozenset()
            assert put_paths(world) == [PASSIVE]
            clock.shift(timedelta(seconds=1))
            due = runner.run_once(incremental=True)
        finally:
            api.close()

    assert due.scope.full is False
    assert [(a.action, a.outcome, a.trigger) for a in due.actions] == [
        ("reactivate_food", "done", "snooze")
    ]
    assert put_paths(world) == [PASSIVE, ACTIVE]


# --- autocancel foods ------------------------------------------------------------------------


def test_foods_lists_what_is_off_since_when_why_and_when_it_comes_back(store: World) -> None:
    store.configure(SNOOZE_30)
    deactivate_food_2(store)

    (food,) = foods_json(store)
    assert {k: food[k] for k in ("food_id", "restaurant_name", "rule", "payment_key")} == {
        "food_id": 2,
        "restaurant_name": "Halaskargazi Şube",
        "rule": "out-of-stock",
        "payment_key": "a",
    }
    assert (food["stock"], food["reactivation"]) == ({"available": False, "quantity": 0}, None)
    text = store.cli("foods")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "foods autocancel has off: 1"
    assert lines[1].startswith("  food 2 (food 2) at Halaskargazi Şube (0ca1d2b1-")
    assert f"off since {food['since']} by out-of-stock, order a" in lines[1]
    assert lines[2] == "    stock row now: unavailable, 0 left"
    assert "when its stock row says it can be sold again" in lines[3]
    assert f"or at {food['comes_back_at']} (reactivate_after_minutes)" in lines[3]


def test_foods_with_nothing_off(store: World) -> None:
    result = store.cli("foods")
    assert (result.returncode, result.stdout) == (0, "foods autocancel has off: 0\n")
    assert store.cli("foods", "--json").stdout == ""


# --- autocancel food-reactivate ----------------------------------------------------------------


def test_food_reactivate_puts_a_food_back_and_is_audited(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)

    done = store.cli("food-reactivate", "2", "--by", "Ayşe", "--note", "restocked by hand")
    assert done.returncode == 0, done.stderr
    assert "reactivated food 2 (food 2) at Halaskargazi Şube" in done.stdout
    assert "by Ayşe" in done.stdout
    assert "the next order for it is cancelled as out of stock" in done.stderr  # stock still 0
    assert put_paths(store) == [PASSIVE, ACTIVE]
    assert store.simulator.food_active(2) is True
    (line,) = audit_lines(store, "reactivate_food")
    assert "Ayşe" in line
    assert "by hand (autocancel food-reactivate); note: restocked by hand" in line
    assert foods_json(store) == []

    again = store.cli("food-reactivate", "2")
    assert again.returncode == 2
    assert "is not off by autocancel" in again.stderr and "reactivated" in again.stderr
    a_pass(store)
    assert put_paths(store) == [PASSIVE, ACTIVE]


@pytest.mark.parametrize(
    "food_id",
    ["abc", "-1", "2.0", "0x2", "２", "2; DROP TABLE stock", "../2", "", " 2", "99999999999",
     "\x1b[31m2", "2" * 5000],
)  # fmt: skip
def test_food_reactivate_refuses_what_is_not_a_food_id(world: World, food_id: str) -> None:
    world.configure(OUT_OF_STOCK)
    deactivate_food_2(world)

    result = world.cli("food-reactivate", food_id)

    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("autocancel food-reactivate: error: FOOD_ID ")
    assert "is not a food id" in line and "\x1b" not in line and len(line) < 300
    assert put_paths(world) == [PASSIVE]


def test_food_reactivate_refuses_an_unknown_food_and_a_blank_name(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)

    unknown = store.cli("food-reactivate", "99")
    blank = store.cli("food-reactivate", "2", "--by", "  ")

    assert (unknown.returncode, blank.returncode) == (2, 2)
    assert unknown.stderr.splitlines() == [
        "autocancel food-reactivate: error: no food 99 is known: autocancel never "
        "deactivated it, and the stock table has no such food"
    ]
    assert "--by needs the name" in blank.stderr
    assert put_paths(store) == [PASSIVE]


def test_food_reactivate_in_dry_run_sends_nothing(world: World) -> None:
    world.configure(OUT_OF_STOCK)
    deactivate_food_2(world)

    result = world.cli("food-reactivate", "2", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "would reactivate food 2 (food 2) at Halaskargazi Şube" in result.stdout
    assert "nothing was sent" in result.stdout
    assert put_paths(world) == [PASSIVE]
    assert [f["food_id"] for f in foods_json(world)] == [2]


def test_a_lost_answer_counts_as_sent_and_is_resent_after_a_recheck(store: World) -> None:
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)
    # The platform switches the food on, but the answer never arrives.
    store.simulator.inject_fault("drop", method="PUT", path_prefix=ACTIVE, after_effect=True)

    lost = store.cli("food-reactivate", "2", "--by", "ops")

    assert lost.returncode == 1
    assert "was lost" in lost.stderr and "counts as sent" in lost.stderr
    assert "at most 3 more time(s)" in lost.stderr
    (food,) = foods_json(store)
    assert food["reactivation"]["outcome"] == "uncertain"
    assert food["reactivation"]["uncertain_sends"] == 1
    assert "counted as sent" in store.cli("foods").stdout

    once_json(store)  # the next pass re-checks and resends it: now it is known
    a_pass(store)
    assert put_paths(store) == [PASSIVE, ACTIVE, ACTIVE]
    assert foods_json(store) == []
    (line,) = audit_lines(store, "reactivate_food")
    assert "reactivated" in line and "ops" in line and "resend after a lost answer" in line


def test_a_reactivation_that_never_gets_an_answer_fails_for_good_at_critical(
    store: World,
) -> None:
    store.configure(OUT_OF_STOCK, max_attempts=1)
    deactivate_food_2(store)
    store.set_stock(2, available=True)
    store.simulator.inject_fault("status", status=503, count=100, method="PUT", path_prefix=ACTIVE)

    for _ in range(3):
        a_pass(store)
    _decisions, stderr = once_json(store)  # the fourth call: its answer lost too
    a_pass(store)

    # The first call and api.lost_answer_retries (3) resends, one a pass, then no more.
    assert len(requests_to(store, "PUT", ACTIVE)) == 4
    assert "CRITICAL" in stderr and "failed for good" in stderr and "food=2" in stderr
    (food,) = foods_json(store)
    assert food["reactivation"]["outcome"] == "failed"
    assert "failed for good" in store.cli("foods").stdout
    assert store.cli("status").stdout.count("reactivation failed") == 1


def test_out_of_stock_again_before_the_call_sends_nothing(world: World) -> None:
    """The stock row is read again right before the call: a kitchen that flips it back
    between the pass's read and the call gets no reactivation."""
    world.configure(OUT_OF_STOCK)
    deactivate_food_2(world)
    world.set_stock(2, available=True)
    config = load_config(world.rules_path, environ={})
    api = ApiSession(config, environ=world.env)
    runner = PassRunner(config=config, engine=world.engine, executor_factory=api.executor)
    judge = runner.judge
    checked = judge.recheck_reactivation

    def flip_then_check(food: Any) -> Any:
        world.set_stock(2, available=False)
        return checked(food)

    judge.recheck_reactivation = flip_then_check  # type: ignore[method-assign]
    try:
        report = runner.run_once()
    finally:
        api.close()

    assert [(a.action, a.outcome) for a in report.actions] == [("reactivate_food", "skipped")]
    assert "out of stock again" in report.actions[0].detail
    assert put_paths(world) == [PASSIVE]
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(schema.food_reactivations)).all() == []  # nothing kept
    run_sql(world, "UPDATE stock SET available = :yes WHERE food_id = 2", yes=True)
    once_json(world)
    assert put_paths(world) == [PASSIVE, ACTIVE]


# --- replicas --------------------------------------------------------------------------------


def test_two_replicas_reactivate_a_food_once(store: World) -> None:
    """Two daemons on one store, both woken by the restock at once; the platform takes a
    second to answer, so both have time to decide on it. Only the claim keeps it single."""
    fast(store, OUT_OF_STOCK)
    deactivate_food_2(store)
    daemons = [Daemon(store, log_name=f"replica-{n}.log") for n in range(2)]
    try:
        for daemon in daemons:
            eventually(partial(_is_running, daemon), within=30, what="replica up")
        store.simulator.inject_fault("hang", count=2, seconds=1, method="PUT", path_prefix=ACTIVE)
        store.set_stock(2, available=True, quantity=3)
        eventually(lambda: store.simulator.food_active(2), what="the food back on sale")
        eventually(passes_from_now(store, 4), what="four more passes")

        assert [r.status for r in requests_to(store, "PUT", ACTIVE)] == [200]
        assert put_paths(store) == [PASSIVE, ACTIVE]
        assert [d.stop() for d in daemons] == [0, 0]
    finally:
        for daemon in daemons:
            daemon.kill()
    assert foods_json(store) == []


def test_the_daemon_counts_the_foods_it_brings_back(world: World) -> None:
    from tests.test_metrics import Scraper, _free_port

    fast(world, OUT_OF_STOCK)
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    deactivate_food_2(world)
    daemon = Daemon(world)
    try:
        scraper = Scraper(port)
        eventually(scraper.up, what="the metrics endpoint")
        world.set_stock(2, available=True)
        counter = 'autocancel_foods_reactivated_total{trigger="back_in_stock"}'
        eventually(lambda: scraper.samples().get(counter) == 1.0, what="the comeback counted")
        eventually(passes_from_now(world, 2), what="two more passes")
        assert scraper.samples().get(counter) == 1.0
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert put_paths(world) == [PASSIVE, ACTIVE]


def test_the_demo_shows_a_food_coming_back() -> None:
    from tests.conftest import run_cli

    result = run_cli("demo")

    assert result.returncode == 0, result.stderr
    first, comeback = result.stdout.split("then the kitchen restocks Chicken Burrito", 1)
    assert "PUT foods/status-passive/2 -> 200" in first
    assert "status-active" not in first
    assert "reactivate_food Chicken Burrito (food 2) at Halaskargazi Şube" in comeback
    assert "done (back_in_stock)" in comeback
    assert comeback.count("PUT ") == 1 and "PUT foods/status-active/2 -> 200" in comeback


def _is_running(daemon: Daemon) -> bool:
    return "running" in daemon.log()


def test_a_reactivation_whose_sender_died_is_resent_once_presumed_gone(store: World) -> None:
    """A claim left ``pending`` by a process that stopped between claim and outcome: its
    call may have left, so taking it over counts one send that may have acted."""
    store.configure(OUT_OF_STOCK)
    deactivate_food_2(store)
    store.set_stock(2, available=True)
    table = schema.food_reactivations
    with store.engine.begin() as conn:
        (deactivation_id,) = conn.execute(sa.select(schema.food_deactivations.c.id)).one()
        claimed = datetime.now(UTC) - timedelta(minutes=1)
        conn.execute(
            sa.insert(table).values(
                deactivation_id=deactivation_id,
                food_id=2,
                trigger="back_in_stock",
                outcome="pending",
                owner="elsewhere:1",
                claimed_at=claimed,
                updated_at=claimed,
            )
        )
    a_pass(store)  # a minute old: its sender may still be at it
    assert put_paths(store) == [PASSIVE]

    with store.engine.begin() as conn:
        conn.execute(sa.update(table).values(updated_at=claimed - timedelta(minutes=10)))
    once_json(store)

    assert put_paths(store) == [PASSIVE, ACTIVE]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(table)).mappings().one()
    assert (row["outcome"], row["uncertain_sends"], row["attempts"]) == ("reactivated", 1, 1)
    assert foods_json(store) == []


def test_a_dry_run_pass_says_which_food_would_come_back_and_sends_nothing(world: World) -> None:
    world.configure(OUT_OF_STOCK)
    deactivate_food_2(world)
    world.set_stock(2, available=True)

    result = world.cli("once", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "reactivate_food food 2 (food 2) at Halaskargazi Şube" in result.stdout
    assert "would_do (dry_run)" in result.stdout
    assert put_paths(world) == [PASSIVE]
    assert [f["food_id"] for f in foods_json(world)] == [2]  # nothing recorded either
    once_json(world)
    assert put_paths(world) == [PASSIVE, ACTIVE]

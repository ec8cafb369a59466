"""Pauses end to end: the installed CLI, real processes, the simulator, SQLite and PostgreSQL.

``autocancel pause`` stores a pause; every ``once`` (and daemon, see
tests/test_pauses_daemon.py) on the store skips what it covers, with who,
why and until when in the evidence, and sends nothing for it: no
cancellation, no closure, no food deactivation. ``resume`` ends it; the next
pass decides afresh. ``status``, ``pauses`` and ``audit`` show it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.world import (
    AKAT,
    DEFAULT_RULES,
    HALASKARGAZI,
    PAYMENT_AND_CLOSE_AT_TWO,
    World,
    ledger_rows,
    requests_to,
)

BACKENDS = ["world", "pg_world"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> World:
    """The world on SQLite, then on the real PostgreSQL (skipped without a server)."""
    world: World = request.getfixturevalue(request.param)
    return world


def pause(world: World, *args: str) -> int:
    """``autocancel pause ARGS``, in this process (World.set_up_output): the new pause's id.

    What ``pause`` itself prints is checked from a real process (the first test here,
    tests/test_pauses_cli.py); for the tests below a pause is a preparation.
    """
    stdout = world.set_up_output("pause", *args)
    found = re.search(r": pause (\d+), by ", stdout)
    assert found, stdout
    return int(found[1])


def resume(world: World, *args: str) -> str:
    """``autocancel resume ARGS`` as a real process: its stdout. Fails on a non-zero exit."""
    result = world.cli("resume", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def set_up_resume(world: World, *args: str) -> None:
    """``autocancel resume ARGS`` in this process, where a test does not read what it says."""
    world.set_up_output("resume", *args)


def by_key(decisions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["payment_key"]: d for d in decisions}


def status_json(world: World) -> dict[str, Any]:
    result = world.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


def test_a_paused_rule_cancels_nothing_until_resumed_and_says_who_and_why(store: World) -> None:
    store.configure(PAYMENT_AND_CLOSE_AT_TWO)
    store.add_order("failed", payment_status="failed")
    store.add_order("akat-failed", restaurant_id=AKAT, payment_status="failed")

    made = store.cli(
        "pause", "--rule", "payment-failed", "--for", "2h", "--comment", "POS ödeme hatası",
        "--by", "ayse",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    pause_id = int(re.findall(r": pause (\d+), by ayse", made.stdout)[0])
    assert "paused rule payment-failed at every restaurant until " in made.stdout
    assert f"autocancel resume {pause_id}" in made.stdout

    paused = by_key(store.once())
    dry = by_key(store.once("--dry-run"))

    assert sorted(paused) == ["akat-failed", "failed"]
    for key, decision in paused.items():
        assert (decision["rule"], decision["mode"], decision["outcome"]) == (
            "payment-failed",
            "live",
            "skipped",
        )
        evidence = decision["evidence"]
        assert evidence["skipped_because"] == "paused"
        assert (evidence["pause_id"], evidence["paused_by"], evidence["comment"]) == (
            pause_id,
            "ayse",
            "POS ödeme hatası",
        )
        assert evidence["paused_until"].endswith("Z")
        assert dry[key]["outcome"] == "skipped"  # a dry run tells the same story
    assert store.cancel_calls() == []
    assert [store.status_of(key) for key in paused] == [1, 1]
    assert [(r["mode"], r["outcome"]) for r in ledger_rows(store, "failed")] == [
        ("live", "skipped"),
        ("dry_run", "skipped"),
    ]
    assert ledger_rows(store, "failed")[0]["evidence"]["pause_id"] == pause_id

    explained = store.cli("explain", "failed")
    assert explained.returncode == 0, explained.stderr
    assert f"suspended (payment-failed): pause {pause_id} by ayse until " in explained.stdout
    assert "payment-failed -> reason 7 (Ödeme problemi), live, skipped" in explained.stdout

    status = store.cli("status")
    assert "pauses in force: 1" in status.stdout
    line = next(x for x in status.stdout.splitlines() if x.startswith(f"  pause {pause_id}:"))
    assert "rule payment-failed at every restaurant until " in line
    assert re.search(r"\((1 h 59 min|2 h 00 min) left\), by ayse: \"POS ödeme hatası\"", line)
    (shown,) = status_json(store)["pauses"]
    assert (shown["id"], shown["rule"], shown["restaurant_id"], shown["state"]) == (
        pause_id,
        "payment-failed",
        None,
        "in_force",
    )
    assert 7000 < shown["seconds_left"] <= 7200

    resumed = resume(store, str(pause_id), "--by", "mehmet")
    assert f"resumed pause {pause_id} (rule payment-failed at every restaurant" in resumed
    after = store.once()

    assert {key: d["outcome"] for key, d in by_key(after).items()} == {
        "failed": "cancelled",
        "akat-failed": "cancelled",
    }
    assert sorted(store.cancel_calls()) == [
        ("akat-failed", {"reason_id": 7}),
        ("failed", {"reason_id": 7}),
    ]
    assert [(r["mode"], r["outcome"]) for r in ledger_rows(store, "failed")] == [
        ("live", "skipped"),  # what the pause held, kept for the audit
        ("dry_run", "skipped"),
        ("live", "cancelled"),
    ]
    assert store.status_of("failed") == 6
    assert status_json(store)["pauses"] == []
    audit = store.cli("audit")
    assert audit.returncode == 0, audit.stderr
    trail = audit.stdout.split("pauses (made, resumed, expired):")[1].splitlines()
    assert [(row.split()[1], row.split()[2]) for row in trail[2:]] == [
        ("paused", str(pause_id)),
        ("resumed", str(pause_id)),
    ]
    assert "ayse" in trail[2] and "mehmet" in trail[3] and "POS ödeme hatası" in trail[3]


def test_a_paused_restaurant_is_neither_closed_nor_cancelled_while_others_are(
    store: World,
) -> None:
    store.configure(PAYMENT_AND_CLOSE_AT_TWO)
    store.add_order("failed", payment_status="failed")
    rush = [store.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=10 - n) for n in range(4)]

    pause_id = pause(store, "--restaurant", "akat şube", "--for", "90m", "--comment", "kurye yok")
    paused = {key: d["outcome"] for key, d in by_key(store.once()).items()}

    # The newest two at Akat would be cancelled for congestion, and Akat closed: held.
    assert paused == {"failed": "cancelled", "rush-2": "skipped", "rush-3": "skipped"}
    assert [key for key, _body in store.cancel_calls()] == ["failed"]
    assert requests_to(store, "PUT", f"restaurants/status/close/{AKAT}") == []
    assert store.simulator.restaurant_status(AKAT) == "Open"
    pauses = store.cli("pauses", "--json")
    (listed,) = [json.loads(line) for line in pauses.stdout.splitlines()]
    assert (listed["id"], listed["restaurant_id"], listed["restaurant_name"]) == (
        pause_id,
        AKAT,
        "Akat Şube",
    )
    assert listed["scope"] == f"every rule at Akat Şube ({AKAT})"

    set_up_resume(store)  # the only pause in force: no id needed
    after = {key: d["outcome"] for key, d in by_key(store.once()).items()}

    assert after == {"rush-2": "cancelled", "rush-3": "cancelled"}
    assert store.simulator.restaurant_status(AKAT) == "Closed"
    assert [store.status_of(key) for key in rush] == [1, 1, 6, 6]


def test_a_pause_of_everything_holds_food_changes_too_but_not_staff(store: World) -> None:
    store.configure(DEFAULT_RULES)  # out-of-stock deactivates the food it cancels for
    store.set_stock(2, available=False)
    store.add_order("no-food", items=[(2, 1)])
    store.add_order("by-staff")

    pause_id = pause(store, "--until", "end-of-day", "--comment", "bayram", "--by", "ayse")
    paused = by_key(store.once())

    assert paused["no-food"]["outcome"] == "skipped"
    assert paused["no-food"]["evidence"]["pause_scope"] == {"rule": None, "restaurant_id": None}
    assert requests_to(store, "PUT", "foods/status-passive/2") == []
    assert store.simulator.food_active(2)
    manual = store.cli("cancel", "by-staff", "--reason", "5", "--yes", "--by", "ayse")
    assert manual.returncode == 0, manual.stderr  # a person's decision is not automatic
    assert store.platform_order("by-staff")["status_id"] == 6

    assert f"resumed pause {pause_id}" in resume(store, f"#{pause_id}")
    after = by_key(store.once())

    assert after["no-food"]["outcome"] == "cancelled"
    assert len(requests_to(store, "PUT", "foods/status-passive/2")) == 1
    assert not store.simulator.food_active(2)


def test_a_pause_made_while_a_pass_is_sending_stops_the_calls_it_has_left(store: World) -> None:
    store.configure(
        PAYMENT_AND_CLOSE_AT_TWO, timeout=15, api_extra={"concurrency": 1}
    )  # one call at a time
    for n in range(4):
        store.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=10 - n)
    # The first cancel call is held by the platform until the pause is made.
    store.simulator.inject_fault("hang", seconds=10, method="PUT", path_prefix="orders/cancel/")
    running = store.start_cli("once", "--json")
    try:
        from tests.test_daemon import eventually

        eventually(lambda: store.simulator.in_flight() == 1, what="the first cancel call held")
        pause_id = pause(store, "--restaurant", AKAT, "--for", "1h", "--comment", "dur")
        store.simulator.end_hangs()  # the held call goes through now
        stdout, stderr = running.communicate(timeout=60)
    finally:
        running.kill()
    assert running.returncode == 0, stderr
    shown = by_key([json.loads(line) for line in stdout.splitlines()])

    # The call already out went through; the one left and the closure did not go out.
    assert sorted(d["outcome"] for d in shown.values()) == ["cancelled", "skipped"]
    (stopped,) = [d for d in shown.values() if d["outcome"] == "skipped"]
    assert stopped["evidence"]["skipped_because"] == "no_longer_qualifies"
    assert stopped["evidence"]["change"].startswith(f"pause {pause_id} by ")
    assert stopped["evidence"]["suspended"]["pause_id"] == pause_id
    assert len(store.cancel_calls()) == 1
    assert requests_to(store, "PUT", f"restaurants/status/close/{AKAT}") == []
    assert store.simulator.restaurant_status(AKAT) == "Open"
    assert f"action=close_restaurant target={AKAT}" in stderr and "outcome=skipped" in stderr
    assert HALASKARGAZI not in {d["restaurant_id"] for d in shown.values()}


def test_the_ledger_keeps_each_pause_that_held_an_order_once(store: World) -> None:
    store.configure(PAYMENT_AND_CLOSE_AT_TWO)
    store.add_order("failed", payment_status="failed")
    first = pause(store, "--rule", "payment-failed", "--for", "1h", "--comment", "one")
    store.once()
    store.once()  # the same pause again: the same row
    set_up_resume(store, str(first))
    second = pause(store, "--restaurant", HALASKARGAZI, "--for", "1h", "--comment", "two")
    store.once()
    store.once()

    rows = [(r["outcome"], r["evidence"].get("pause_id")) for r in ledger_rows(store, "failed")]

    assert rows == [("skipped", first), ("skipped", second)]
    assert store.cancel_calls() == []


def test_a_food_change_a_pause_stopped_mid_pass_goes_out_once_the_pause_ends(
    store: World,
) -> None:
    from tests.test_daemon import eventually

    store.configure(DEFAULT_RULES, timeout=15)
    store.set_stock(2, available=False)
    store.add_order("no-food", items=[(2, 1)])
    store.simulator.inject_fault("hang", seconds=10, method="PUT", path_prefix="orders/cancel/")
    running = store.start_cli("once", "--json")
    try:
        eventually(lambda: store.simulator.in_flight() == 1, what="the cancel call held")
        pause_id = pause(store, "--rule", "out-of-stock", "--for", "1h", "--comment", "menü")
        store.simulator.end_hangs()  # the held call goes through now
        _stdout, stderr = running.communicate(timeout=60)
    finally:
        running.kill()
    assert running.returncode == 0, stderr

    assert store.cancel_calls() == [("no-food", {"reason_id": 1})]  # it was already out
    assert requests_to(store, "PUT", "foods/status-passive/2") == []
    (held,) = status_json(store)["food_deactivations"]
    assert (held["food_id"], held["outcome"]) == (2, "retry")
    store.once()  # still paused: still held
    assert requests_to(store, "PUT", "foods/status-passive/2") == []

    set_up_resume(store, str(pause_id))
    store.once()

    assert len(requests_to(store, "PUT", "foods/status-passive/2")) == 1
    assert not store.simulator.food_active(2)
    assert [f["outcome"] for f in status_json(store)["food_deactivations"]] == ["done"]

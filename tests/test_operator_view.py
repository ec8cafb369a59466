"""What an operator reads: ``status`` (and ``--json``), ``audit``, ``explain`` and the logs.

Issue 10, "The operator's view tells the truth": a pass whose calls all failed
is not "ok", a crashed pass is on record, the API's circuit and last success
are visible, names stand beside ids, and a broken rules.yaml does not blind
the read-only commands.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.domain.timeutil import isoformat_z
from daemon.store import schema
from tests.conftest import StartDaemon, run_cli
from tests.test_daemon import cancelled, eventually, fast, passes_from_now
from tests.world import AKAT, HALASKARGAZI, PAYMENT_AND_CLOSE_AT_TWO, PAYMENT_FAILED, World, run_sql

CLOSE_AT_TWO = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: overloaded
    kind: congestion
    max_active_orders: 2
    close_restaurant: true
    reopen_below: 1
    min_closed_minutes: 10
    reason_id: 3
"""
WRONG_TOKEN = {"DUKKANGO_ACCESS_TOKEN": "not-the-token-at-all"}


def status_json(world: World) -> dict[str, Any]:
    result = world.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout)  # one object, nothing else on stdout
    assert isinstance(decoded, dict)
    return decoded


def line_with(text: str, needle: str) -> str:
    found = [line for line in text.splitlines() if needle in line]
    assert found, f"no line with {needle!r} in:\n{text}"
    return found[0]


# --- 1. status is honest ------------------------------------------------------------


def test_a_pass_whose_every_call_got_401_is_not_ok_and_says_why(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    world.add_order("b", payment_status="failed")

    ran = world.cli("once", env=WRONG_TOKEN)

    assert ran.returncode == 0, ran.stderr  # the pass ran (contract), but it did nothing
    assert "DUKKANGO_ACCESS_TOKEN" in ran.stderr  # the hint, where the operator looks
    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    last = line_with(status.stdout, "last pass:")
    assert "result ok" not in last
    assert "result failed" in last
    assert "failed 2" in status.stdout
    assert "401" in line_with(status.stdout, "most common error")
    hint = line_with(status.stdout, "hint:")
    assert "check DUKKANGO_ACCESS_TOKEN / the secret keys" in hint

    report = status_json(world)
    assert report["last_pass"]["result"] == "failed"
    assert report["last_pass"]["outcomes"] == {"failed": 2}
    assert report["last_pass"]["top_error"]["code"] == "http_401"
    assert report["last_pass"]["top_error"]["count"] >= 2
    assert any("DUKKANGO_ACCESS_TOKEN" in h for h in report["hints"])
    assert report["api"]["last_success_at"] is None

    # With the right token the next pass cancels both: ok again, and the hint is gone.
    world.set_up_with("once", "--json")  # in process: status is the subject
    healthy = world.cli("status")
    assert "result ok" in line_with(healthy.stdout, "last pass:")
    assert "cancelled 2" in healthy.stdout
    assert "hint:" not in healthy.stdout
    assert status_json(world)["api"]["last_success_at"] is not None


def test_a_pass_that_crashed_is_recorded_and_status_no_longer_shows_the_good_one(
    world: World,
) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    world.set_up_with("once", "--json")  # preparation: the subject comes next
    # The POS's migration went wrong: the stock table is gone.
    run_sql(world, "DROP TABLE stock")

    broken = world.cli("once")

    assert broken.returncode == 1
    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    last = line_with(status.stdout, "last pass:")
    assert "result crashed" in last
    assert "stock" in last  # the error says what went wrong
    report = status_json(world)
    assert report["last_pass"]["result"] == "crashed"
    assert "stock" in report["last_pass"]["error"]
    assert report["last_pass"]["finished_at"] is not None


def test_status_shows_the_open_circuit_and_the_last_successful_call(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, PAYMENT_FAILED)
    text = world.rules_path.read_text().replace("max_attempts: 3", "max_attempts: 1")
    world.rules_path.write_text(text)
    world.add_order("first", payment_status="failed")
    daemon = start_daemon()
    eventually(cancelled(world, "first"), what="a first, successful cancel")
    eventually(
        lambda: status_json(world)["api"]["last_success_at"] is not None,
        what="the success on record",
    )
    success = status_json(world)["api"]["last_success_at"]
    world.simulator.inject_fault("status", status=503, count=1000, path_prefix="orders/cancel/")
    for n in range(6):
        world.add_order(f"outage-{n}", payment_status="failed")

    eventually(lambda: status_json(world)["api"]["circuit"] == "open", what="the open circuit")
    eventually(passes_from_now(world, 1), what="a pass while the circuit is open")

    report = status_json(world)
    assert report["api"]["circuit_open_since"] is not None
    assert report["api"]["last_success_at"] == success
    # While it is open, nothing is sent: the cancellations are kept back.
    assert report["last_pass"]["result"] == "degraded"
    text_status = world.cli("status").stdout
    circuit = line_with(text_status, "API circuit:")
    assert "open since" in circuit
    assert success in line_with(text_status, "last successful API call")
    assert daemon.stop() == 0


def test_status_json_is_one_object_for_scripts(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    world.add_order("old", payment_status="ok", minutes_ago=300)
    world.set_up_with("once", "--json")  # preparation: the subject comes next

    report = status_json(world)

    assert report["last_pass"]["result"] == "ok"
    assert report["last_pass"]["mode"] == "live"
    assert report["last_pass"]["outcomes"] == {"cancelled": 1}
    assert report["pending_intents"] == []
    assert report["closures"] == []
    assert report["safety_budget"] == {"limit": 30, "used": 1, "left": 29}
    by_id = {r["id"]: r for r in report["restaurants"]}
    assert by_id[HALASKARGAZI] == {
        "id": HALASKARGAZI,
        "name": "Halaskargazi Şube",
        "active": 1,
        "stale": 1,
    }
    assert by_id[AKAT]["stale"] == 0
    assert report["max_order_age_minutes"] == 180
    digest = hashlib.sha256(world.rules_path.read_bytes()).hexdigest()
    loaded = report["rules_file"].pop("loaded")
    assert report["rules_file"] == {
        "path": str(world.rules_path),
        "valid": True,
        "problems": [],
        "digest": digest,  # the file on disk, and the one `once` loaded:
    }
    assert (loaded["digest"], loaded["path"], loaded["event"]) == (
        digest,
        str(world.rules_path),
        "once",
    )


def test_status_lists_pending_intents_and_closures_with_names(world: World) -> None:
    world.configure(PAYMENT_AND_CLOSE_AT_TWO, max_attempts=1)
    world.add_order("lost", payment_status="failed")
    # The answer to its cancel is lost: the intent stays pending, counted as sent.
    world.simulator.inject_fault("status", status=503, path_prefix="orders/cancel/lost")
    for n in range(3):  # one order more than Akat can cook: it closes
        world.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=20 - n)

    world.once()

    [intent] = [row for row in world.ledger() if row["payment_key"] == "lost"]
    assert (intent["outcome"], intent["intent_key"]) == ("pending", "lost")
    since = isoformat_z(intent["at"])
    with world.engine.connect() as conn:
        [closed_at] = conn.execute(sa.select(schema.restaurant_closures.c.closed_at)).scalars()
    report = status_json(world)
    assert report["pending_intents"] == [
        {
            "payment_key": "lost",
            "rule": "payment-failed",
            "since": since,
            "restaurant_id": HALASKARGAZI,
            "restaurant_name": "Halaskargazi Şube",
        }
    ]
    assert report["closures"] == [
        {
            "restaurant_id": AKAT,
            "restaurant_name": "Akat Şube",
            "closed_at": isoformat_z(closed_at),
            "rule": "overloaded",
            "outcome": "closed",
            "state": "in force",
            # The close read the status itself: the watch's first read is one pace later.
            "status_checked_at": isoformat_z(closed_at),
        }
    ]
    text = world.cli("status").stdout
    lines = text.splitlines()
    pending_at = lines.index("pending intents: 1")
    assert lines[pending_at + 1] == (
        f"  lost rule=payment-failed since {since} at Halaskargazi Şube ({HALASKARGAZI})"
    )
    assert lines[pending_at + 2] == "closures in force: 1"
    assert lines[pending_at + 3] == (
        f"  Akat Şube ({AKAT}): closed {isoformat_z(closed_at)} by overloaded (closed)"
    )


# --- 8. names, not only ids -----------------------------------------------------------


def _overload_with_a_sold_out_food(world: World) -> None:
    world.configure(CLOSE_AT_TWO)
    world.set_stock(2, available=False, quantity=0)
    run_sql(world, "UPDATE stock SET name = 'Chicken Burrito' WHERE food_id = 2")
    world.add_order("sold-out", items=[(2, 1)], minutes_ago=30)
    for n in range(3):
        world.add_order(f"rush-{n}", minutes_ago=20 - n)


def test_closures_and_deactivations_carry_names_in_logs_status_and_audit(world: World) -> None:
    _overload_with_a_sold_out_food(world)

    ran = world.cli("once")

    assert ran.returncode == 0, ran.stderr
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    closing = line_with(ran.stderr, "action=close_restaurant")
    assert "WARNING" in closing  # it stops all sales
    assert "Halaskargazi Şube" in closing and HALASKARGAZI in closing
    food = line_with(ran.stderr, "action=deactivate_food")
    assert "Chicken Burrito" in food and "Halaskargazi Şube" in food
    assert "Halaskargazi Şube" in line_with(ran.stdout, "close_restaurant")
    assert "Chicken Burrito" in line_with(ran.stdout, "deactivate_food")

    status = world.cli("status")
    closure = line_with(status.stdout, f"({HALASKARGAZI}): closed")
    assert "Halaskargazi Şube" in closure
    assert "Chicken Burrito" in line_with(status.stdout, "food 2")
    report = status_json(world)
    assert [(c["restaurant_id"], c["restaurant_name"]) for c in report["closures"]] == [
        (HALASKARGAZI, "Halaskargazi Şube")
    ]
    [deactivated] = report["food_deactivations"]
    assert (
        deactivated["food_id"],
        deactivated["food_name"],
        deactivated["restaurant_name"],
        deactivated["outcome"],
    ) == (2, "Chicken Burrito", "Halaskargazi Şube", "done")

    audit = world.cli("audit")
    assert audit.returncode == 0, audit.stderr
    assert "Halaskargazi Şube" in line_with(audit.stdout, "close_restaurant")
    assert "Chicken Burrito" in line_with(audit.stdout, "deactivate_food")
    records = [
        json.loads(line) for line in world.cli("audit", "--format", "json").stdout.splitlines()
    ]
    assert {r["restaurant_name"] for r in records} == {"Halaskargazi Şube"}


def test_a_reopening_is_logged_and_audited_with_the_name(world: World) -> None:
    _overload_with_a_sold_out_food(world)
    world.set_up_with("once")  # preparation: the subject comes next
    run_sql(world, "UPDATE orders SET status_id = 5")  # the rush is over
    run_sql(world, "UPDATE restaurant_closures SET closed_at = '2020-01-01 00:00:00'")

    ran = world.cli("once")

    assert ran.returncode == 0, ran.stderr
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
    reopening = line_with(ran.stderr, "action=reopen_restaurant")
    assert "Halaskargazi Şube" in reopening
    audit = world.cli("audit").stdout
    assert "Halaskargazi Şube" in line_with(audit, "reopen_restaurant")


# --- 2. read-only commands survive a broken rules file -----------------------------------


def _break_the_rules_file(world: World) -> str:
    """An invalid edit on disk (a reason id out of range); returns the expected message."""
    text = world.rules_path.read_text(encoding="utf-8")
    world.rules_path.write_text(text.replace("reason_id: 7", "reason_id: 77"), encoding="utf-8")
    line = next(
        n
        for n, row in enumerate(world.rules_path.read_text().splitlines(), 1)
        if "reason_id: 77" in row
    )
    return f"{world.rules_path}:{line}:"


def test_read_only_commands_work_with_a_broken_rules_file(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    world.set_up_with("once", "--json")  # preparation: the subject comes next
    problem = _break_the_rules_file(world)

    status = world.cli("status")
    audit = world.cli("audit")
    explained = world.cli("explain", "a")
    as_json = world.cli("status", "--json")

    for result in (status, audit, explained, as_json):
        assert result.returncode == 0, result.stderr
        assert "warning" in result.stderr and problem in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert "result ok" in line_with(status.stdout, "last pass:")
    assert "rules.yaml" in line_with(status.stdout, "rules file:")
    assert "invalid" in line_with(status.stdout, "rules file:")
    assert "payment-failed" in line_with(audit.stdout, " a ")
    assert "cancelled" in explained.stdout
    report = json.loads(as_json.stdout)
    assert report["rules_file"]["valid"] is False
    assert any(problem in p for p in report["rules_file"]["problems"])
    assert report["last_pass"]["outcomes"] == {"cancelled": 1}


@pytest.mark.parametrize(
    "command",
    [
        ["once"],
        ["once", "--dry-run"],
        ["run", "--dry-run"],
        ["cancel", "a", "--reason", "4", "--yes"],
        ["sync", "--once"],
    ],
    ids=" ".join,
)
def test_commands_that_act_refuse_a_broken_rules_file(world: World, command: list[str]) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    problem = _break_the_rules_file(world)
    world.simulator.clear_requests()

    result = world.cli(*command)

    assert result.returncode == 2, result.stderr
    assert problem in result.stderr
    assert world.simulator.requests() == []
    assert world.ledger() == []


def test_the_daemon_keeps_its_rules_and_status_still_reads_the_store(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, PAYMENT_FAILED)
    daemon = start_daemon()
    world.add_order("before", payment_status="failed")
    eventually(cancelled(world, "before"), what="a first cancel")
    problem = _break_the_rules_file(world)
    eventually(lambda: "last good rules" in daemon.log(), what="the rejected reload")
    world.add_order("after", payment_status="failed")
    eventually(cancelled(world, "after"), what="a cancel under the last good rules")

    status = world.cli("status")

    assert status.returncode == 0, status.stderr
    assert problem in status.stderr
    assert "result ok" in line_with(status.stdout, "last pass:")
    assert daemon.stop() == 0


def test_the_demo_shows_names_beside_ids() -> None:
    result = run_cli("demo")

    assert result.returncode == 0, result.stderr
    actions = result.stdout.split("other actions:", 1)[1].split("requests the", 1)[0]
    closing = line_with(actions, "close_restaurant")
    assert "Akat Şube" in closing and AKAT in closing
    food = line_with(actions, "deactivate_food")
    assert "Chicken Burrito" in food and "Halaskargazi Şube" in food


@pytest.mark.postgres
def test_status_on_postgresql_has_the_failed_and_the_crashed_pass(pg_world: World) -> None:
    pg_world.configure(PAYMENT_FAILED)
    pg_world.add_order("a", payment_status="failed")

    assert pg_world.cli("once", env=WRONG_TOKEN).returncode == 0
    failed = status_json(pg_world)
    run_sql(pg_world, "DROP TABLE stock CASCADE")
    assert pg_world.cli("once").returncode == 1
    crashed = status_json(pg_world)

    assert failed["last_pass"]["result"] == "failed"
    assert failed["last_pass"]["top_error"]["code"] == "http_401"
    assert any("DUKKANGO_ACCESS_TOKEN" in hint for hint in failed["hints"])
    assert crashed["last_pass"]["result"] == "crashed"
    assert "stock" in crashed["last_pass"]["error"]
    assert crashed["restaurants"] is None and "stock" in crashed["orders_error"]


def test_a_rules_file_that_is_not_even_yaml_needs_the_store_url_from_the_environment(
    world: World,
) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("a", payment_status="failed")
    world.set_up_with("once", "--json")  # preparation: the subject comes next
    world.rules_path.write_text("store: [unclosed\n", encoding="utf-8")

    blind = world.cli("status")
    told = world.cli("status", env={"AUTOCANCEL_STORE_URL": world.store_url})

    assert blind.returncode == 2
    assert "AUTOCANCEL_STORE_URL" in blind.stderr
    assert "Traceback" not in blind.stderr
    assert told.returncode == 0, told.stderr
    assert f"warning: {world.rules_path}:" in told.stderr
    assert "result ok" in line_with(told.stdout, "last pass:")
    assert "safety budget: unknown" in told.stdout

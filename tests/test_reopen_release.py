"""People taking a restaurant back from the daemon (issue 13, item 4), end to end.

``autocancel reopen`` sends one ``PUT restaurants/status/open`` through the
congestion rule's own claim (two operators, or an operator and the daemon:
one call), ``autocancel release`` sends nothing and the daemon never reopens
the restaurant, and a restaurant staff open on Dükkango while the daemon
holds it closed is noticed on the next paced status read and not closed
again until the overload ends. Real CLI processes, the simulator over HTTP,
SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from daemon.simulator.recording import RecordedRequest
from daemon.store import schema
from tests.test_daemon import Daemon, eventually, passes_from_now
from tests.world import AKAT, HALASKARGAZI, World, once_json, requests_to, run_sql

# Closes Halaskargazi at three active orders; reopens at none. The orders the
# tests add are accepted (status 2) unless a test says otherwise, so closing is
# all the rule does with them.
CLOSE_AT_THREE = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 2
    reopen_below: 1
    min_closed_minutes: 10
    reason_id: 3
"""
OPEN = f"restaurants/status/open/{HALASKARGAZI}"
CLOSE = f"restaurants/status/close/{HALASKARGAZI}"
STATUS = f"restaurants/status/get/{HALASKARGAZI}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest) -> World:
    """The test's world on a SQLite file, then on PostgreSQL (skipped without a server)."""
    world: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return world


def configure(world: World, *, rules: str = CLOSE_AT_THREE, **schedule: float) -> None:
    world.configure(rules)
    if schedule:
        lines = "".join(f"  {key}: {value}\n" for key, value in schedule.items())
        text = world.rules_path.read_text(encoding="utf-8")
        world.rules_path.write_text(text + f"schedule:\n{lines}", encoding="utf-8")


def overload(world: World, count: int = 3, *, prefix: str = "busy", status_id: int = 2) -> None:
    for number in range(count):
        world.add_order(f"{prefix}{number}", status_id=status_id)


def closed_by_the_daemon(world: World) -> None:
    """Three accepted orders, one pass: Halaskargazi closed by the daemon; the log cleared.

    Preparation, in process (World.set_up_with): the tests here are about what comes after.
    """
    overload(world)
    world.set_up_with("once", "--json")
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    assert len(requests_to(world, "PUT", CLOSE)) == 1
    world.simulator.clear_requests()


def closures(world: World) -> list[dict[str, Any]]:
    table = schema.restaurant_closures
    with world.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def the_closure(world: World) -> dict[str, Any]:
    [row] = closures(world)
    return row


def delivered(world: World, *keys: str) -> None:
    for key in keys:
        run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = :key", key=key)


def move_back(world: World, column: str, minutes: float) -> None:
    """Move a time of every closure back, as if the clock had run on."""
    table = schema.restaurant_closures
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c[column].is_not(None))
            .values({column: datetime.now(UTC) - timedelta(minutes=minutes)})
        )


def status_json(world: World) -> dict[str, Any]:
    result = world.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


def audit_lines(world: World, action: str) -> list[str]:
    result = world.cli("audit")
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if f" {action} " in line]


def one_error_line(result: Any, command: str) -> str:
    """The command failed with one clear line on stderr and nothing else."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"autocancel {command}: error: "), lines[0]
    line: str = lines[0]
    return line


def staff_set(world: World, status: str) -> None:
    """Staff open or close Halaskargazi in the restaurant panel (the simulator's control)."""
    answer = httpx.post(
        f"{world.simulator.control_url}/restaurants",
        json={"id": HALASKARGAZI, "status": status},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


# --- reopen -----------------------------------------------------------------------------------


def test_reopen_sends_one_open_records_who_and_is_respected(any_world: World) -> None:
    world = any_world
    configure(world)
    closed_by_the_daemon(world)

    result = world.cli("reopen", "  halaskargazi şube ", "--by", "Ayşe")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("reopened Halaskargazi Şube"), result.stdout
    assert "by Ayşe" in result.stdout
    assert "at the latest until" in result.stdout
    # Read first (it is still closed), then exactly one open.
    assert [(r.method, r.path) for r in world.simulator.requests()] == [
        ("GET", STATUS),
        ("PUT", OPEN),
    ]
    assert requests_to(world, "PUT", OPEN)[0].headers.get("access-token") == world.access_token
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"], row["override_kind"]) == (
        None,
        "reopened",
        "reopen",
    )
    assert row["override_by"] == "Ayşe"
    assert row["reopened_at"] is not None

    shown = status_json(world)
    assert shown["closures"] == []
    [override] = shown["closure_overrides"]
    assert (override["kind"], override["by"], override["state"]) == ("reopen", "Ayşe", "respected")
    assert override["restaurant_name"] == "Halaskargazi Şube"
    [line] = audit_lines(world, "reopen_restaurant")
    assert "Ayşe (autocancel reopen)" in line and "reopened" in line

    # Still overloaded, and a new order arrives: the operator's decision stands
    # (no close, no cancellation for capacity).
    world.add_order("newest", status_id=1)
    world.simulator.clear_requests()
    decisions, _ = once_json(world)
    assert decisions == []
    assert world.simulator.requests() == []

    # Nothing of ours to reopen any more: a second reopen says so.
    again = world.cli("reopen", HALASKARGAZI)
    assert again.returncode == 2
    line = one_error_line(again, "reopen")
    assert "is not closed by autocancel" in line
    assert "reopened by Ayşe" in line
    assert world.simulator.requests() == []


def test_two_operators_reopening_at_once_send_one_open(any_world: World) -> None:
    world = any_world
    configure(world)
    closed_by_the_daemon(world)
    # The open is slow to answer: the second operator arrives while the first waits.
    world.simulator.inject_fault("hang", seconds=1.5, method="PUT", path_prefix=OPEN)

    first = world.start_cli("reopen", "Halaskargazi Şube", "--by", "Ayşe")
    second = world.start_cli("reopen", HALASKARGAZI, "--by", "Mehmet")
    outputs = [process.communicate(timeout=60) for process in (first, second)]
    codes = [first.returncode, second.returncode]

    assert len(requests_to(world, "PUT", OPEN)) == 1
    assert sorted(codes) in ([0, 1], [0, 2]), outputs
    loser = outputs[codes.index(max(codes))][1]
    assert "Traceback" not in loser
    assert "being reopened right now" in loser or "is not closed by autocancel" in loser
    winner = ["Ayşe", "Mehmet"][codes.index(0)]
    row = the_closure(world)
    assert (row["reopen_outcome"], row["override_kind"], row["override_by"]) == (
        "reopened",
        "reopen",
        winner,
    )


def test_an_operator_racing_the_daemons_own_reopen_sends_one_open(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)
    delivered(world, "busy0", "busy1", "busy2")
    move_back(world, "closed_at", 11)  # the rule would reopen now
    world.simulator.inject_fault("hang", seconds=1.5, method="PUT", path_prefix=OPEN)

    daemon_pass = world.start_cli("once")
    operator = world.start_cli("reopen", HALASKARGAZI, "--by", "Ayşe")
    for process in (daemon_pass, operator):
        process.communicate(timeout=60)

    assert daemon_pass.returncode == 0
    assert operator.returncode in (0, 1, 2)
    assert len(requests_to(world, "PUT", OPEN)) == 1
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
    row = the_closure(world)
    assert row["active_key"] is None
    assert row["reopen_outcome"] == "reopened"
    # Whoever won is on record: the rule (no override) or the operator.
    assert (row["override_kind"], row["override_by"]) in ((None, None), ("reopen", "Ayşe"))
    assert (operator.returncode == 0) == (row["override_kind"] == "reopen")


def test_reopen_in_dry_run_sends_nothing(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)
    world.configure(CLOSE_AT_THREE, dry_run=True)

    result = world.cli("reopen", HALASKARGAZI)

    assert result.returncode == 0, result.stderr
    assert "would reopen Halaskargazi Şube" in result.stdout
    assert "nothing was sent" in result.stdout
    assert world.simulator.requests() == []
    assert the_closure(world)["active_key"] == HALASKARGAZI


@pytest.mark.parametrize("command", ["reopen", "release"])
def test_a_closure_whose_close_has_not_answered_yet_is_not_taken(
    world: World, command: str
) -> None:
    configure(world)
    closed_by_the_daemon(world)
    # A replica's close call still in flight: reopening now would be undone by it.
    run_sql(world, "UPDATE restaurant_closures SET close_outcome = 'pending'")

    result = world.cli(command, HALASKARGAZI)

    assert result.returncode == 1
    assert "is being closed right now" in one_error_line(result, command)
    assert world.simulator.requests() == []
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"]) == (HALASKARGAZI, None)


# --- a lost answer on the manual open ---------------------------------------------------------


def _lose_the_open(world: World, *, acted: bool) -> None:
    """The first status read answers; the open's answer is lost; every read back fails."""
    world.simulator.inject_fault("echo", method="GET", path_prefix=STATUS)
    world.simulator.inject_fault("status", count=50, status=503, method="GET", path_prefix=STATUS)
    world.simulator.inject_fault("drop", after_effect=acted, method="PUT", path_prefix=OPEN)


def test_a_lost_answer_is_never_reported_as_done_and_the_next_read_settles_it(
    any_world: World,
) -> None:
    world = any_world
    configure(world)
    closed_by_the_daemon(world)
    _lose_the_open(world, acted=True)

    result = world.cli("reopen", HALASKARGAZI, "--by", "Ayşe")

    assert result.returncode == 1
    assert "reopened" not in result.stdout
    assert "was lost" in result.stderr and "may have gone through" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(requests_to(world, "PUT", OPEN)) == 1  # counted as sent: never sent again
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"]) == (HALASKARGAZI, "unknown")
    assert (row["override_kind"], row["override_by"]) == ("reopen", "Ayşe")
    assert row["status_checked_at"] is None  # the next pass reads the platform at once
    [in_force] = status_json(world)["closures"]
    assert in_force["state"] == "reopen unsettled"

    # Another operator is told, and sends nothing.
    again = world.cli("reopen", HALASKARGAZI)
    assert again.returncode == 1
    assert "unsettled" in one_error_line(again, "reopen")
    assert len(requests_to(world, "PUT", OPEN)) == 1

    # The platform answers again: the next pass reads it open and settles it as Ayşe's.
    world.simulator.clear_faults()
    once_json(world)
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"]) == (None, "reopened")
    assert (row["override_kind"], row["override_by"]) == ("reopen", "Ayşe")
    assert len(requests_to(world, "PUT", OPEN)) == 1
    [line] = audit_lines(world, "reopen_restaurant")
    assert "Ayşe (autocancel reopen)" in line


def test_a_lost_open_that_did_not_act_is_settled_as_still_closed(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)
    _lose_the_open(world, acted=False)

    result = world.cli("reopen", HALASKARGAZI, "--by", "Ayşe")
    assert result.returncode == 1
    assert "may have gone through" in result.stderr

    world.simulator.clear_faults()
    result_once = world.cli("once")
    assert result_once.returncode == 0, result_once.stderr
    row = the_closure(world)
    # Still ours, claimable again: the rule (or a person) may reopen it later.
    assert (row["active_key"], row["reopen_outcome"], row["override_kind"]) == (
        HALASKARGAZI,
        None,
        None,
    )
    assert "did not go through" in result_once.stderr
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"

    retried = world.cli("reopen", HALASKARGAZI, "--by", "Ayşe")
    assert retried.returncode == 0, retried.stderr
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
    assert len(requests_to(world, "PUT", OPEN)) == 2


def test_a_refused_open_keeps_the_closure_in_force(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)
    world.simulator.inject_fault("status", status=403, method="PUT", path_prefix=OPEN)

    result = world.cli("reopen", HALASKARGAZI)

    assert result.returncode == 1
    assert "failed to reopen Halaskargazi Şube" in result.stderr
    assert "stays in force" in result.stderr
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"]) == (HALASKARGAZI, None)


def test_a_status_read_that_fails_first_sends_no_open_and_is_not_a_lost_answer(
    world: World,
) -> None:
    configure(world)
    closed_by_the_daemon(world)
    world.simulator.inject_fault("status", count=50, status=503, method="GET", path_prefix=STATUS)

    result = world.cli("reopen", HALASKARGAZI)

    assert result.returncode == 1
    assert "failed to reopen Halaskargazi Şube" in result.stderr
    assert "may have gone through" not in result.stderr
    assert requests_to(world, "PUT", OPEN) == []
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"]) == (HALASKARGAZI, None)


# --- release ---------------------------------------------------------------------------------


def test_release_sends_nothing_and_the_daemon_never_reopens_it(any_world: World) -> None:
    world = any_world
    configure(world)
    closed_by_the_daemon(world)

    result = world.cli("release", "Halaskargazi Şube", "--by", "Mehmet")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("released Halaskargazi Şube"), result.stdout
    assert "never reopens it" in result.stdout
    assert world.simulator.requests() == []  # not even a login
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    row = the_closure(world)
    assert (row["active_key"], row["reopen_outcome"], row["override_kind"]) == (
        None,
        "released",
        "release",
    )
    assert row["override_by"] == "Mehmet"
    [override] = status_json(world)["closure_overrides"]
    assert (override["kind"], override["by"], override["state"]) == (
        "release",
        "Mehmet",
        "respected",
    )
    text = world.cli("status").stdout
    assert "released by Mehmet" in text
    [line] = audit_lines(world, "release_restaurant")
    assert "Mehmet (autocancel release)" in line

    # Still overloaded: the daemon leaves it alone (not even a status read).
    once_json(world)
    assert world.simulator.requests() == []

    # The load falls and a long time passes: the rule would have reopened its
    # own closure by now; this one it gave up.
    delivered(world, "busy0", "busy1", "busy2")
    move_back(world, "closed_at", 120)
    world.set_up_with("once", "--json")  # in process, as the next one: what they send is checked
    assert world.simulator.requests() == []
    assert the_closure(world)["respect_ended_at"] is not None  # the overload is over
    assert len(audit_lines(world, "override_spent")) == 1

    # A new rush: closed by staff already, so not ours; and never reopened.
    overload(world, prefix="rush")
    world.set_up_with("once", "--json")
    assert requests_to(world, "PUT", CLOSE) == []
    delivered(world, "rush0", "rush1", "rush2")
    once_json(world)
    assert requests_to(world, "PUT", OPEN) == []
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    assert len(closures(world)) == 1


# --- a staff reopen noticed by the running daemon ---------------------------------------------


def test_a_staff_reopen_is_noticed_on_the_next_status_read_and_not_fought(
    any_world: World,
) -> None:
    world = any_world
    # Incremental passes only after the first (a full pass is an hour away).
    configure(world, interval_seconds=0.3, full_pass_seconds=3600, status_check_seconds=1)
    overload(world)
    daemon = Daemon(world, log_name="staff.log")
    try:
        eventually(lambda: len(requests_to(world, "PUT", CLOSE)) == 1, what="the close")
        closed_at = the_closure(world)["closed_at"]

        staff_set(world, "Open")
        eventually(
            lambda: the_closure(world)["override_kind"] == "staff", what="the staff reopen noticed"
        )
        row = the_closure(world)
        assert (row["active_key"], row["reopen_outcome"], row["override_by"]) == (
            None,
            "already_open",
            None,
        )
        noticed = row["reopened_at"]
        eventually(passes_from_now(world, 5), what="five passes after it")
        assert len(requests_to(world, "PUT", CLOSE)) == 1  # not fought
        assert requests_to(world, "PUT", OPEN) == []  # never ours to open
        assert world.simulator.restaurant_status(HALASKARGAZI) == "Open"
        assert "opened by staff on Dükkango" in daemon.log()

        # Paced: while it held the closure, at most one read per second (plus the close's own).
        reads = [r for r in requests_to(world, "GET", STATUS) if r.timestamp <= noticed]
        seconds = (noticed - closed_at).total_seconds()
        assert 2 <= len(reads) <= seconds / 1 + 2, (len(reads), seconds)
        # And none once the closure is not ours.
        eventually(passes_from_now(world, 3), what="three more passes")
        assert [r for r in requests_to(world, "GET", STATUS) if r.timestamp > noticed] == []

        shown = status_json(world)
        assert shown["closures"] == []
        [override] = shown["closure_overrides"]
        assert (override["kind"], override["state"]) == ("staff", "respected")
        [line] = audit_lines(world, "reopen_restaurant")
        assert "staff on Dükkango" in line

        # The overload ends: the staff's decision is spent ...
        delivered(world, "busy0", "busy1", "busy2")
        eventually(
            lambda: the_closure(world)["respect_ended_at"] is not None, what="the override spent"
        )
        # ... and a new rush closes the restaurant again: every override expires.
        overload(world, prefix="rush")
        eventually(lambda: len(requests_to(world, "PUT", CLOSE)) == 2, what="a second close")
        assert len(closures(world)) == 2
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_incremental_passes_see_a_release_and_an_override_running_out_by_the_clock(
    world: World,
) -> None:
    # No full pass for an hour: only the incremental scope can see these.
    configure(world, interval_seconds=0.3, full_pass_seconds=3600, status_check_seconds=3600)
    overload(world)
    daemon = Daemon(world, log_name="incremental.log")
    try:
        eventually(lambda: len(requests_to(world, "PUT", CLOSE)) == 1, what="the close")
        assert world.cli("release", HALASKARGAZI, "--by", "Mehmet").returncode == 0
        eventually(passes_from_now(world, 3), what="three passes after the release")
        staff_set(world, "Open")  # and later staff open it again themselves
        assert requests_to(world, "PUT", OPEN) == []
        assert len(requests_to(world, "PUT", CLOSE)) == 1

        # Still overloaded when the respect runs out by the clock alone (no row
        # the change log records): the next incremental pass closes it again.
        move_back(world, "reopened_at", 61)
        # Judged again with the closed restaurants, every CLOSED_EVERY (10 s) at most.
        eventually(
            lambda: len(requests_to(world, "PUT", CLOSE)) == 2, within=30, what="closed again"
        )
        assert [r["active_key"] for r in closures(world)] == [None, HALASKARGAZI]
        assert {r["summary"]["scope"]["scope"] for r in world.passes()[1:] if r["summary"]} == {
            "incremental"
        }
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_failing_status_read_changes_nothing_and_is_said_once(world: World) -> None:
    configure(world, interval_seconds=0.3, status_check_seconds=1)
    overload(world)
    daemon = Daemon(world, log_name="unreadable.log")
    try:
        eventually(lambda: len(requests_to(world, "PUT", CLOSE)) == 1, what="the close")
        # Two reads fail (3 attempts each), fewer than open the API circuit.
        world.simulator.inject_fault(
            "status", count=6, status=503, method="GET", path_prefix=STATUS
        )
        eventually(lambda: world.simulator.faults() == [], what="both failing reads")
        eventually(lambda: "can be read again" in daemon.log(), what="a read that works again")
        log = daemon.log()
        assert log.count("cannot read its status on Dükkango") == 1
        assert the_closure(world)["active_key"] == HALASKARGAZI  # nothing changed

        staff_set(world, "Open")
        eventually(lambda: the_closure(world)["override_kind"] == "staff", what="noticed")
        assert len(requests_to(world, "PUT", CLOSE)) == 1
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_dry_run_daemon_never_reads_the_status(world: World) -> None:
    configure(world, status_check_seconds=1)
    closed_by_the_daemon(world)
    move_back(world, "status_checked_at", 10)

    once_json(world, "--dry-run")

    assert world.simulator.requests() == []
    assert the_closure(world)["active_key"] == HALASKARGAZI


# --- bad input --------------------------------------------------------------------------------

HOSTILE = [
    "nowhere",
    "3b7e0f52-9d1c-4a8e-b6f0-2c4d5e6f7a81",  # a UUID rules.yaml does not list
    "\x1b[2J\x1b[31mHalaskargazi",
    "Halaskargazi Şube\nAkat Şube",
    "x" * 5000,
    "",
    "'; DROP TABLE restaurant_closures; --",
]


@pytest.fixture
def closed_world(world: World) -> Iterator[World]:
    configure(world)
    closed_by_the_daemon(world)
    yield world
    # Whatever was refused, the closure is as it was and nothing went to the platform.
    assert the_closure(world)["active_key"] == HALASKARGAZI
    assert world.simulator.requests() == []


@pytest.mark.parametrize("command", ["reopen", "release"])
@pytest.mark.parametrize("given", HOSTILE)
def test_an_unknown_or_hostile_restaurant_gets_one_line_and_exit_2(
    closed_world: World, command: str, given: str
) -> None:
    result = closed_world.cli(command, given)

    assert result.returncode == 2
    line = one_error_line(result, command)
    assert "\x1b" not in line
    assert "in " in line and "rules.yaml" in line
    assert "Halaskargazi Şube (" in line  # the restaurants it could have meant
    assert len(line) < 600


@pytest.mark.parametrize("command", ["reopen", "release"])
def test_a_restaurant_the_daemon_did_not_close_is_refused(
    closed_world: World, command: str
) -> None:
    result = closed_world.cli(command, "Akat Şube")

    assert result.returncode == 2
    line = one_error_line(result, command)
    assert f"Akat Şube ({AKAT}) is not closed by autocancel" in line
    assert "autocancel never closed it" in line


@pytest.mark.parametrize("command", ["reopen", "release"])
@pytest.mark.parametrize("by", ["", "   ", "Ayşe\nroot", "\x1b[31mroot", "y" * 101])
def test_a_bad_name_for_by_is_refused(closed_world: World, command: str, by: str) -> None:
    result = closed_world.cli(command, HALASKARGAZI, "--by", by)

    assert result.returncode == 2
    line = one_error_line(result, command)
    assert "--by" in line
    assert "\x1b" not in line


def test_the_os_user_is_recorded_without_by(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)

    result = world.cli("release", HALASKARGAZI, env={"LOGNAME": "kasa1", "USER": "kasa1"})

    assert result.returncode == 0, result.stderr
    assert the_closure(world)["override_by"] == "kasa1"


def test_an_ended_closure_cannot_be_released_or_reopened_again(world: World) -> None:
    configure(world)
    closed_by_the_daemon(world)
    world.set_up_output("release", HALASKARGAZI, "--by", "Mehmet")  # checked in the tests above

    for command in ("reopen", "release"):
        result = world.cli(command, HALASKARGAZI)
        assert result.returncode == 2
        assert "released by Mehmet" in one_error_line(result, command)
    assert world.simulator.requests() == []


# --- the simulator's staff control ----------------------------------------------------------


def test_the_simulator_lets_staff_open_and_close_without_an_api_request(world: World) -> None:
    url = f"{world.simulator.control_url}/restaurants"

    closed = httpx.post(url, json=[{"id": HALASKARGAZI, "status": "Closed"}], timeout=5)
    assert closed.status_code == 200
    assert world.simulator.restaurant_status(HALASKARGAZI) == "Closed"
    assert {"id": HALASKARGAZI, "name": "Halaskargazi Şube", "status": "Closed"} in closed.json()[
        "restaurants"
    ]
    assert (
        httpx.post(url, json={"id": HALASKARGAZI, "status": "busy"}, timeout=5).status_code == 400
    )
    assert httpx.post(url, json={"id": "nope", "status": "Open"}, timeout=5).status_code == 404
    assert httpx.post(url, json={"status": "Open"}, timeout=5).status_code == 400
    seen: list[RecordedRequest] = world.simulator.requests()
    assert seen == []

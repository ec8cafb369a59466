"""The operator commands as real subprocesses: once, audit, explain, cancel, status, demo."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

from tests.conftest import run_cli
from tests.world import (
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    ledger_rows,
    once_json,
    run_sql,
)

ONCE_FIELDS = {"payment_key", "rule", "kind", "reason_id", "mode", "outcome", "evidence"}
AUDIT_FIELDS = ONCE_FIELDS | {"at", "reason_text", "attempts", "last_error"}
# A local time zone far from UTC: audit times must still be UTC.
# The machine's zone (TZ), far from both UTC and the restaurants' zone (rules.yaml timezone).
NEW_YORK = {"TZ": "America/New_York"}


def _utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


def test_once_prints_a_table_by_default(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    world.add_order("fine")

    result = world.cli("once")

    assert result.returncode == 0, result.stderr
    header, *rows = [line for line in result.stdout.splitlines() if line.strip()]
    assert header.split() == ["ORDER", "RULE", "REASON", "MODE", "OUTCOME", "EVIDENCE"]
    assert len(rows) == 1
    cells = rows[0].split()
    assert cells[:3] == ["failed", "payment-failed", "7"]
    assert {"live", "cancelled"} <= set(cells)
    assert "fine" not in result.stdout
    assert world.status_of("failed") == 6


def test_audit_in_table_json_and_csv_with_since(world: World) -> None:
    world.configure(PAYMENT_FAILED)
    world.add_order("failed", payment_status="failed")
    world.add_order("unknown", payment_status="failed", on_platform=False)
    before = datetime.now(UTC)
    once_json(world, env=NEW_YORK)
    boundary = datetime.now(UTC)
    world.add_order("later", payment_status="failed")
    world.set_up_with("once", "--json", "--dry-run")  # in process: the audit is the subject

    table = world.cli("audit")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    for column in ("AT", "ORDER", "RULE", "REASON", "MODE", "OUTCOME", "ATTEMPTS", "LAST ERROR"):
        assert column in header
    assert len(rows) == 3
    assert any("unknown" in row and "failed" in row and "sipariş bulunamadı" in row for row in rows)

    as_json = world.cli("audit", "--format", "json", env=NEW_YORK)
    assert as_json.returncode == 0, as_json.stderr
    records = {}
    for line in as_json.stdout.splitlines():
        record = json.loads(line)
        assert record.keys() >= AUDIT_FIELDS, record
        assert type(record["reason_id"]) is int
        assert type(record["attempts"]) is int
        assert before - timedelta(minutes=1) <= _utc(record["at"]) <= datetime.now(UTC)
        records[record["payment_key"]] = record
    assert sorted(records) == ["failed", "later", "unknown"]
    assert (
        records["failed"]["rule"],
        records["failed"]["mode"],
        records["failed"]["outcome"],
        records["failed"]["attempts"],
        records["failed"]["last_error"],
    ) == ("payment-failed", "live", "cancelled", 1, None)
    assert records["failed"]["reason_text"] == "Ödeme problemi"
    assert records["failed"]["evidence"] == {"payment_status": "failed"}
    assert records["unknown"]["outcome"] == "failed"
    assert "sipariş bulunamadı" in records["unknown"]["last_error"]
    assert (records["later"]["mode"], records["later"]["outcome"]) == ("dry_run", "would_cancel")

    # --since: the boundary between the two passes keeps only the second pass's row.
    as_csv = world.cli("audit", "--format", "csv", "--since", boundary.isoformat())
    assert as_csv.returncode == 0, as_csv.stderr
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    assert set(reader.fieldnames or ()) >= AUDIT_FIELDS
    [row] = list(reader)
    assert (row["payment_key"], row["reason_id"], row["mode"], row["outcome"]) == (
        "later",
        "7",
        "dry_run",
        "would_cancel",
    )
    assert json.loads(row["evidence"])["payment_status"] == "failed"

    future = world.cli("audit", "--format", "json", "--since", "2999-01-01T00:00:00Z")
    assert future.returncode == 0, future.stderr
    assert future.stdout.strip() == ""

    unreadable = world.cli("audit", "--since", "yesterday")
    assert unreadable.returncode == 2  # a usage error
    assert "yesterday" in unreadable.stderr
    assert unreadable.stdout == ""

    status = world.cli("status")
    assert status.returncode == 0, status.stderr
    last_pass = next(line for line in status.stdout.splitlines() if line.startswith("last pass"))
    assert "dry_run" in last_pass  # the latest pass, not the first
    # Exactly one cancellation used the budget: "failed" went through; "unknown" was
    # refused (404), which cancelled nothing and is final, so it is not counted (a
    # refusal is no send that may have acted: daemon/store/ledger.py, _sent_since).
    assert "safety budget: 29 of 30 cancellations left this hour" in status.stdout


def test_status_before_any_pass(world: World) -> None:
    result = world.cli("status")

    assert result.returncode == 0, result.stderr
    assert "last pass: none yet" in result.stdout
    assert "safety budget: 30 of 30" in result.stdout


def test_explain_lists_every_verdict_the_decision_and_the_history(world: World) -> None:
    # Default rules: out-of-stock, too-far, payment-failed, overloaded; no geocoder.
    world.add_order("x", payment_status="failed", coordinates=None)

    before = world.cli("explain", "x")

    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()

    def verdict(rule: str) -> str:
        return next(line for line in lines if line.strip().startswith(f"{rule} ["))

    assert ": no match" in verdict("out-of-stock")
    assert ": skipped" in verdict("too-far")
    assert "geocoder" in verdict("too-far")
    assert ": no match" in verdict("overloaded")
    assert ": matched" in verdict("payment-failed")
    assert '"payment_status": "failed"' in before.stdout
    decision = next(line for line in lines if line.startswith("decision:"))
    assert "payment-failed" in decision
    assert "reason 7" in decision
    assert "ledger:" not in before.stdout
    assert world.simulator.requests() == []  # explain only looks

    world.set_up_with("once", "--json")  # preparation: the subject comes next
    after = world.cli("explain", "x")

    assert after.returncode == 0, after.stderr
    history = after.stdout.split("ledger:", 1)[1]
    assert "payment-failed" in history
    assert "live" in history
    assert "cancelled" in history
    decision = next(line for line in after.stdout.splitlines() if line.startswith("decision:"))
    assert "cancelled" in decision

    unknown = world.cli("explain", "no-such-order")
    assert unknown.returncode == 1
    assert "no-such-order" in unknown.stderr


def test_explain_judges_several_orders_on_one_plan_and_names_the_unknown_key(
    world: World,
) -> None:
    world.add_order("x", payment_status="failed")
    world.set_up_with("once", "--json")  # x: cancelled live (preparation)
    world.add_order("y")

    result = world.cli("explain", "x", "no-such-order", "y", "x")

    assert result.returncode == 1  # one key is unknown: said, and the others still explained
    assert result.stderr.splitlines() == [
        line for line in result.stderr.splitlines() if "no-such-order" in line
    ]
    assert len(result.stderr.splitlines()) == 1
    x, y = result.stdout.split("\n\n")  # each order once, in the order asked
    assert x.startswith("order x ") and y.startswith("order y ")
    assert "decision: already decided live (outcome cancelled)" in x
    assert "ledger:" in x and "payment-failed" in x.split("ledger:", 1)[1]
    assert "decision: no rule matches; the order is left alone" in y
    assert "ledger:" not in y


def test_manual_cancel_with_yes_is_audited_and_never_doubled(world: World) -> None:
    world.add_order("m1")

    result = world.cli("cancel", "m1", "--reason", "4", "--note", "müşteri aradı", "--yes")

    assert result.returncode == 0, result.stderr
    [request] = cancel_requests_for(world, "m1")
    assert request.body == {"reason_id": 4}
    assert request.status == 200
    [row] = ledger_rows(world, "m1")
    assert (row["rule"], row["reason_id"], row["mode"], row["outcome"], row["note"]) == (
        "manual",
        4,
        "live",
        "cancelled",
        "müşteri aradı",
    )
    assert world.status_of("m1") == 6
    assert world.platform_order("m1")["cancel_reason_id"] == 4

    # Even if the store forgets (a POS rewrote the status), the ledger remembers.
    run_sql(world, "UPDATE orders SET status_id = 2 WHERE payment_key = 'm1'")
    again = world.cli("cancel", "m1", "--reason", "8", "--yes")

    assert again.returncode != 0
    assert "m1" in again.stderr
    assert "ledger" in again.stderr
    assert len(cancel_requests_for(world, "m1")) == 1
    assert len(ledger_rows(world, "m1")) == 1


def test_manual_cancel_asks_for_confirmation(world: World) -> None:
    world.add_order("m1")

    refused = world.cli("cancel", "m1", "--reason", "5", input_text="n\n")

    assert refused.returncode != 0
    assert "m1" in refused.stderr  # the question names the order
    assert world.simulator.requests() == []
    assert world.ledger() == []
    assert world.status_of("m1") == 1

    confirmed = world.cli("cancel", "m1", "--reason", "5", input_text="y\n")

    assert confirmed.returncode == 0, confirmed.stderr
    [request] = cancel_requests_for(world, "m1")
    assert request.body == {"reason_id": 5}
    assert [row["outcome"] for row in ledger_rows(world, "m1")] == ["cancelled"]
    assert world.status_of("m1") == 6


def test_manual_cancel_refusals(world: World) -> None:
    world.add_order("active")
    world.add_order("delivered", status_id=5)
    world.add_order("canceled", status_id=6)

    automatic_reason = world.cli("cancel", "active", "--reason", "1", "--yes")
    delivered = world.cli("cancel", "delivered", "--reason", "4", "--yes")
    canceled = world.cli("cancel", "canceled", "--reason", "4", "--yes")

    assert automatic_reason.returncode == 2
    for allowed in ("4", "5", "8"):
        assert allowed in automatic_reason.stderr
    assert delivered.returncode != 0
    assert "delivered" in delivered.stderr.split("error:", 1)[1]
    assert canceled.returncode != 0
    assert "already canceled" in canceled.stderr
    assert world.simulator.requests() == []
    assert world.ledger() == []
    assert (
        world.status_of("active"),
        world.status_of("delivered"),
        world.status_of("canceled"),
    ) == (1, 5, 6)


def test_demo_shows_the_cancellations_and_the_requests() -> None:
    result = run_cli("demo")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    decisions, requests = out.split("decisions", 1)[1], out.split("requests the", 1)[1]
    cancelled = [
        line.split()[0]
        for line in decisions.splitlines()
        if len(line.split()) > 4 and "cancelled" in line.split()
    ]
    assert "demo-payment-failed" in cancelled
    assert "demo-out-of-stock" in cancelled
    assert "PUT orders/cancel/demo-payment-failed {'reason_id': 7} -> 200" in requests
    sent = [line.split()[1] for line in requests.splitlines() if "PUT orders/cancel/" in line]
    assert sorted(sent) == sorted(f"orders/cancel/{key}" for key in cancelled)
    for survivor in ("demo-fine", "demo-pickup-far", "demo-protected", "demo-delivered"):
        assert f"orders/cancel/{survivor}" not in requests
    # Staff paused payment-failed at Akat: that order is skipped, and the pause is shown.
    paused = next(line for line in decisions.splitlines() if line.startswith("demo-akat-paused"))
    assert '"skipped_because": "paused"' in paused and '"paused_by": "demo"' in paused
    assert "orders/cancel/demo-akat-paused" not in requests
    assert "pause 1: rule payment-failed at Akat Şube (" in out.split("pauses in force", 1)[1]


def _ledger_at(world: World, key: str, moment: datetime) -> None:
    """Move ``key``'s ledger rows to ``moment``, as if they had been written then."""
    import sqlalchemy as sa

    from daemon.store import schema

    with world.engine.begin() as conn:
        conn.execute(
            sa.update(schema.ledger)
            .where(schema.ledger.c.payment_key == key)
            .values(at=moment, updated_at=moment)
        )


def _audited(world: World, *flags: str, env: dict[str, str] | None = None) -> list[str]:
    result = world.cli("audit", "--format", "json", *flags, env=env)
    assert result.returncode == 0, result.stderr
    return sorted(json.loads(line)["payment_key"] for line in result.stdout.splitlines())


def test_audit_shows_the_restaurant_in_table_and_csv(world: World) -> None:
    from tests.world import AKAT, HALASKARGAZI

    world.configure(PAYMENT_FAILED)
    world.add_order("hal", payment_status="failed")
    world.add_order("akat", payment_status="failed", restaurant_id=AKAT)
    world.set_up_with("once", "--json")  # preparation: the subject comes next

    table = world.cli("audit")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert "RESTAURANT" in header.split()
    assert any("hal" in row.split() and HALASKARGAZI in row.split() for row in rows), rows
    assert any("akat" in row.split() and AKAT in row.split() for row in rows), rows

    as_csv = world.cli("audit", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    by_key = {row["payment_key"]: row for row in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert (by_key["hal"]["restaurant_id"], by_key["akat"]["restaurant_id"]) == (HALASKARGAZI, AKAT)


def test_audit_since_and_until_take_today_durations_and_clock_times(world: World) -> None:
    from zoneinfo import ZoneInfo

    # The restaurants' wall clock is rules.yaml's timezone, whatever the machine's TZ says.
    tokyo = ZoneInfo("Asia/Tokyo")
    world.configure(PAYMENT_FAILED, top_level="timezone: Asia/Tokyo\n")
    keys = (
        "before-midnight",
        "after-midnight",
        "before-noon",
        "after-noon",
        "two-hours-ago",
        "half-an-hour-ago",
    )
    for key in keys:
        world.add_order(key, payment_status="failed")
    world.set_up_with("once", "--json")  # preparation: the subject comes next
    now = datetime.now(tokyo)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    moments = dict(
        zip(
            keys,
            (
                midnight - timedelta(minutes=1),
                midnight + timedelta(minutes=1),
                noon - timedelta(minutes=1),
                noon + timedelta(minutes=1),
                now - timedelta(hours=2),
                now - timedelta(minutes=30),
            ),
            strict=True,
        )
    )
    for key, moment in moments.items():
        _ledger_at(world, key, moment.astimezone(UTC))

    def between(since: datetime | None = None, until: datetime | None = None) -> list[str]:
        return sorted(
            k
            for k, m in moments.items()
            if (since is None or m >= since) and (until is None or m < until)
        )

    hour_ago = now - timedelta(hours=1)
    assert _audited(world, "--since", "today", env=NEW_YORK) == between(since=midnight)
    assert _audited(world, "--until", "today", env=NEW_YORK) == between(until=midnight)
    assert _audited(world, "--since", "1h", env=NEW_YORK) == between(since=hour_ago)
    assert _audited(world, "--until", "1h", env=NEW_YORK) == between(until=hour_ago)
    assert _audited(world, "--since", "00:00", "--until", "12:00", env=NEW_YORK) == between(
        since=midnight, until=noon
    )
    assert "before-midnight" not in between(since=midnight)  # the boundaries do cut
    assert "after-noon" not in between(since=midnight, until=noon)

    for bad in (["--since", "25:00"], ["--until", "1 hour"], ["--since", "1h", "--until", "2h"]):
        refused = world.cli("audit", *bad)
        assert refused.returncode == 2, (bad, refused.stderr)
        [line] = refused.stderr.splitlines()
        assert bad[1] in line, line
        assert refused.stdout == ""


def test_demo_orders_have_their_own_numbers_and_the_true_distance() -> None:
    import shutil
    import sqlite3
    from pathlib import Path

    result = run_cli("demo", "--keep")

    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.rsplit("the demo folder is kept: ", 1)[1].strip())
    try:
        with sqlite3.connect(folder / "demo.db") as db:
            numbers = [n for (n,) in db.execute("SELECT order_number FROM orders")]
    finally:
        shutil.rmtree(folder)
    assert len(numbers) == 20
    assert len(set(numbers)) == len(numbers), sorted(numbers)

    story = next(line for line in result.stdout.splitlines() if "demo-too-far " in line)
    label = re.search(r"delivery (\d+) km away", story)
    assert label is not None, story
    decision = next(
        line
        for line in result.stdout.splitlines()
        if line.startswith("demo-too-far ") and "too-far" in line.split()
    )
    measured = re.search(r'"distance_km": ([\d.]+)', decision)
    assert measured is not None, decision
    assert int(label.group(1)) == round(float(measured.group(1))), (story, decision)

"""``autocancel cancel`` follows the rules everything else follows (issue 10, item 6).

Dry-run sends nothing, an order the daemon would never touch needs ``--force``
(and the ledger says so), who confirmed it is recorded, its budget is shown,
and a lost answer is counted and resent after a re-check like any other.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.world import (
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
    run_sql,
)

ELSEWHERE = "3b7e0f52-9d1c-4a8e-b6f0-2c4d5e6f7a81"  # a restaurant rules.yaml does not list


def test_dry_run_sends_nothing_and_says_what_it_would_do(world: World) -> None:
    world.configure(dry_run=True)
    world.add_order("m1")

    result = world.cli("cancel", "m1", "--reason", "4", "--yes", "--by", "Ayşe")

    assert result.returncode == 0, result.stderr
    assert "would cancel m1" in result.stdout
    assert "reason 4" in result.stdout
    assert "nothing was sent" in result.stdout
    assert world.simulator.requests() == []  # not even a login
    [row] = ledger_rows(world, "m1")
    assert (row["rule"], row["mode"], row["outcome"], row["intent_key"]) == (
        "manual",
        "dry_run",
        "would_cancel",
        None,
    )
    assert row["evidence"]["confirmed_by"] == "Ayşe"
    assert world.status_of("m1") == 1

    # The dry-run row stops nothing: live, the same order is cancelled once.
    world.configure()
    live = world.cli("cancel", "m1", "--reason", "4", "--yes")
    assert live.returncode == 0, live.stderr
    assert len(cancel_requests_for(world, "m1")) == 1
    assert world.status_of("m1") == 6

    # --dry-run on a live file does the same as dry_run: true.
    world.add_order("m2")
    flagged = world.cli("cancel", "m2", "--reason", "5", "--yes", "--dry-run")
    assert flagged.returncode == 0, flagged.stderr
    assert "would cancel m2" in flagged.stdout
    assert cancel_requests_for(world, "m2") == []


def test_an_unlisted_restaurant_needs_force_and_the_ledger_says_it_was_forced(
    world: World,
) -> None:
    world.add_order("foreign", restaurant_id=ELSEWHERE)

    refused = world.cli("cancel", "foreign", "--reason", "4", "--yes")

    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert ELSEWHERE in line
    assert "not in rules.yaml" in line
    assert "--force" in line
    assert world.simulator.requests() == []
    assert world.ledger() == []

    forced = world.cli("cancel", "foreign", "--reason", "4", "--yes", "--force")

    assert forced.returncode == 0, forced.stderr
    assert [r.body for r in cancel_requests_for(world, "foreign")] == [{"reason_id": 4}]
    [row] = ledger_rows(world, "foreign")
    assert (row["outcome"], row["restaurant_id"]) == ("cancelled", ELSEWHERE)
    assert row["evidence"]["forced"] == ["restaurant_not_in_rules"]


def test_a_never_cancel_customer_needs_force(world: World) -> None:
    world.configure(never_cancel=["+90 533 558 76 42"])
    world.add_order("vip", phone="05335587642")

    refused = world.cli("cancel", "vip", "--reason", "4", "--yes")

    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "never_cancel" in line
    assert "--force" in line
    assert world.simulator.requests() == []
    assert world.ledger() == []

    # The question says what is being overridden.
    asked = world.cli("cancel", "vip", "--reason", "4", "--force", input_text="n\n")
    assert asked.returncode == 1
    assert "never_cancel" in asked.stderr
    assert world.simulator.requests() == []

    forced = world.cli(
        "cancel", "vip", "--reason", "4", "--force", "--by", "Mehmet", input_text="evet\n"
    )
    assert forced.returncode == 0, forced.stderr
    [row] = ledger_rows(world, "vip")
    assert row["outcome"] == "cancelled"
    assert row["evidence"]["forced"] == ["never_cancel"]
    assert row["evidence"]["confirmed_by"] == "Mehmet"


def test_who_confirmed_is_recorded_and_defaults_to_the_os_user(world: World) -> None:
    world.add_order("m1")

    result = world.cli(
        "cancel",
        "m1",
        "--reason",
        "8",
        "--note",
        "yanlış adres",
        "--yes",
        env={"LOGNAME": "kasiyer1"},
    )

    assert result.returncode == 0, result.stderr
    audit = world.cli("audit", "--format", "json")
    [record] = [json.loads(line) for line in audit.stdout.splitlines()]
    assert record["evidence"]["confirmed_by"] == "kasiyer1"
    assert record["note"] == "yanlış adres"

    blank = world.cli("cancel", "m1", "--reason", "8", "--yes", "--by", " ")
    assert blank.returncode == 2
    assert "--by" in blank.stderr


def test_reason_outside_1_to_8_is_not_a_dukkango_reason(world: World) -> None:
    world.add_order("m1")

    for reason in ("9", "0"):
        result = world.cli("cancel", "m1", "--reason", reason, "--yes")
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        assert f"--reason {reason} is not a Dükkango cancel reason (valid 1-8);" in line
        assert "automatic" not in line
    assert world.simulator.requests() == []
    assert world.ledger() == []


@pytest.mark.parametrize("store_kind", ["world", "pg_world"])
def test_manual_cancels_do_not_use_the_automatic_budget_and_status_shows_them(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    world: World = request.getfixturevalue(store_kind)  # SQLite, and the real PostgreSQL
    world.configure(PAYMENT_FAILED, max_per_hour=1)
    world.add_order("m1")
    world.add_order("m2")
    for key in ("m1", "m2"):  # in process: what cancel says is checked in the tests above
        world.set_up_output("cancel", key, "--reason", "4", "--yes")

    status = world.cli("status")

    assert status.returncode == 0, status.stderr
    assert "safety budget: 1 of 1 cancellations left this hour" in status.stdout
    manual = re.search(
        r"^manual cancellations: (\d+) in the last hour \(not counted against "
        r"max_cancellations_per_hour\)$",
        status.stdout,
        re.M,
    )
    assert manual is not None, status.stdout
    assert manual.group(1) == "2"

    # The automatic rules still have their whole budget.
    world.add_order("failed", payment_status="failed")
    decisions, _ = once_json(world)
    assert decision_for(decisions, "failed")["outcome"] == "cancelled"


def test_a_lost_answer_counts_as_sent_and_a_later_pass_resends_it_after_a_recheck(
    world: World,
) -> None:
    world.configure(PAYMENT_FAILED, api_extra={"lost_answer_retries": 2})
    world.add_order("lost")
    world.add_order("delivered-meanwhile")
    # The platform cancels, and the answer never arrives.
    world.simulator.inject_fault(
        "drop", count=2, after_effect=True, method="PUT", path_prefix="orders/cancel/"
    )

    lost = world.cli("cancel", "lost", "--reason", "4", "--yes")
    gone = world.cli("cancel", "delivered-meanwhile", "--reason", "5", "--yes")

    for result, key in ((lost, "lost"), (gone, "delivered-meanwhile")):
        assert result.returncode == 1
        assert "answer" in result.stderr and "lost" in result.stderr
        assert "counts as sent" in result.stderr
        assert "Traceback" not in result.stderr
        [row] = ledger_rows(world, key)
        assert (row["outcome"], row["uncertain_sends"]) == ("pending", 1)
        assert world.platform_order(key)["status_id"] == 6  # it did go through
    # Sending again by hand is refused: the order has its cancellation.
    again = world.cli("cancel", "lost", "--reason", "4", "--yes")
    assert again.returncode == 1
    assert "ledger" in again.stderr
    assert len(cancel_requests_for(world, "lost")) == 1
    status = world.cli("status")
    assert re.search(r"^manual cancellations: 2 in the last hour", status.stdout, re.M)

    # Meanwhile the POS marks one order delivered; the next pass re-judges both.
    run_sql(world, "UPDATE orders SET status_id = 5 WHERE payment_key = 'delivered-meanwhile'")
    decisions, _ = once_json(world)

    resent = decision_for(decisions, "lost")
    assert (resent["rule"], resent["outcome"]) == ("manual", "cancelled")
    assert len(cancel_requests_for(world, "lost")) == 2  # "already canceled" counts as done
    assert world.status_of("lost") == 6
    skipped = decision_for(decisions, "delivered-meanwhile")
    assert skipped["outcome"] == "skipped"
    assert skipped["evidence"]["skipped_because"] == "no_longer_qualifies"
    assert skipped["evidence"]["may_have_reached_platform"] is True
    assert "5" in skipped["evidence"]["change"]
    assert len(cancel_requests_for(world, "delivered-meanwhile")) == 1

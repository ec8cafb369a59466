"""Intents another host left pending: taken over once its heartbeat is stale, never before.

A daemon on another host shares the store (PostgreSQL, in a chain) and
recorded intents, then went silent: its process cannot be asked, so only its
heartbeat (the intent's ``updated_at``) tells whether it still sends them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from daemon.config.load import load_config
from daemon.domain.timeutil import utcnow
from daemon.engine.passes import Judge
from daemon.engine.side_effects import TAKEOVER_AFTER
from daemon.store import connect, ledger, schema
from tests.world import (
    PAYMENT_FAILED,
    World,
    cancel_requests_for,
    decision_for,
    ledger_rows,
    once_json,
    run_sql,
)

OTHER_HOST = "otherhost:1234"


def intents_of_another_host(world: World, heartbeats: dict[str, timedelta]) -> None:
    """Record the intents a pass decides now, as ``OTHER_HOST`` would, each heartbeat that old.

    The rows are the planner's own decisions written by the ledger's own code;
    only the owner and the time of the last heartbeat are the other host's.
    """
    config = load_config(world.rules_path, environ={})
    judge = Judge(config=config, engine=world.engine)
    plan = judge.plan(judge.read())
    now = utcnow()
    table = schema.ledger
    with connect.writer(world.engine) as conn, conn.begin():
        recorded = ledger.record_decisions(
            conn, plan.decisions, pass_id="a pass on otherhost", now=now
        )
        assert sorted(d.payment_key for d in recorded if ledger.is_intent(d)) == sorted(heartbeats)
        for key, age in heartbeats.items():
            conn.execute(
                sa.update(table)
                .where(table.c.payment_key == key)
                .values(owner=OTHER_HOST, updated_at=now - age)
            )


@pytest.mark.parametrize("store_kind", ["world", "pg_world"])
def test_a_stale_intent_of_another_host_is_rejudged_and_resent_once_a_fresh_one_left_alone(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    world: World = request.getfixturevalue(store_kind)
    world.configure(PAYMENT_FAILED)
    for key in ("stale", "stale-paid-since", "fresh"):
        world.add_order(key, payment_status="failed")
    stale, fresh = TAKEOVER_AFTER + timedelta(seconds=30), TAKEOVER_AFTER - timedelta(seconds=30)
    intents_of_another_host(world, {"stale": stale, "stale-paid-since": stale, "fresh": fresh})
    [fresh_before] = ledger_rows(world, "fresh")
    # While the other host was silent, the customer's payment went through after all.
    run_sql(world, "UPDATE orders SET payment_status = 'ok' WHERE payment_key = 'stale-paid-since'")

    decisions, stderr = once_json(world)

    assert "re-checking 2 cancellation(s)" in stderr
    # Still a failed payment: resent once, and counted as a send that may have
    # reached the platform before the other host went silent.
    assert decision_for(decisions, "stale")["outcome"] == "cancelled"
    assert [r.status for r in cancel_requests_for(world, "stale")] == [200]
    [row] = ledger_rows(world, "stale")
    assert (row["outcome"], row["owner"] != OTHER_HOST, row["uncertain_sends"]) == (
        "cancelled",
        True,
        1,
    )
    assert world.status_of("stale") == 6
    # Paid since: judged on current data, not sent.
    assert cancel_requests_for(world, "stale-paid-since") == []
    [row] = ledger_rows(world, "stale-paid-since")
    assert row["outcome"] == "skipped"
    assert row["evidence"]["skipped_because"] == "no_longer_qualifies"
    assert row["evidence"]["now"] == {"status_id": 1, "payment_status": "ok"}
    assert row["evidence"]["may_have_reached_platform"] is True
    assert world.status_of("stale-paid-since") == 1
    # A heartbeat younger than the limit: the other host is sending it; untouched.
    assert [d for d in decisions if d["payment_key"] == "fresh"] == []
    assert cancel_requests_for(world, "fresh") == []
    assert ledger_rows(world, "fresh") == [fresh_before]

    again, _ = once_json(world)  # a later pass resends nothing

    assert again == []
    assert world.cancel_calls() == [("stale", {"reason_id": 7})]

"""A window that opens or closes is a change by time alone: the next pass judges everything.

Incremental passes re-judge only the restaurants the change log names
(daemon.engine.active); no row changes when 11:00 comes. On real stores,
in process, with the clock moved by time-machine (no sleeping).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from daemon.config.load import load_config
from daemon.engine.active import PassScope
from daemon.engine.passes import Judge
from daemon.engine.plan import Plan
from tests.world import World

# Saturday 2031-05-17, 10:59 in Istanbul (UTC+3).
BEFORE_ELEVEN = datetime(2031, 5, 17, 7, 59, tzinfo=UTC)
LUNCH_ONLY = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
    active_hours: ["11:00-12:00"]
"""


@pytest.fixture(params=["world", "pg_world"])
def store(request: pytest.FixtureRequest) -> World:
    world: World = request.getfixturevalue(request.param)
    return world


def judged(judge: Judge) -> tuple[dict[str, str], PassScope]:
    snapshot, scope = judge.read_pass(incremental=True)
    plan: Plan = judge.plan_for(judge.context(snapshot, scope=scope), hourly_used=0)
    return {d.payment_key: d.outcome for d in plan.primary}, scope


def test_the_pass_after_a_rule_window_opens_or_closes_judges_every_restaurant(
    store: World,
) -> None:
    with time_machine.travel(BEFORE_ELEVEN, tick=False) as clock:
        store.configure(LUNCH_ONLY)
        store.add_order("failed", payment_status="failed")
        judge = Judge(config=load_config(store.rules_path, environ={}), engine=store.engine)

        assert judged(judge)[0] == {}  # the first pass reads everything: 10:59, not yet
        clock.shift(timedelta(minutes=1))  # 11:00, and not one row changed
        decisions, scope = judged(judge)
        assert (decisions, scope.full) == ({"failed": "pending"}, True)

        decisions, scope = judged(judge)  # nothing moved since: only what changed
        assert (decisions, scope.full, scope.restaurants) == ({}, False, frozenset())

        clock.shift(timedelta(hours=1))  # 12:00: the window closed
        decisions, scope = judged(judge)
        assert (decisions, scope.full) == ({}, True)


def test_the_pass_after_a_quiet_window_ends_judges_every_restaurant(store: World) -> None:
    quiet = 'quiet_windows:\n  - name: prayer\n    hours: ["10:00-11:00"]\n'
    with time_machine.travel(BEFORE_ELEVEN, tick=False) as clock:
        store.configure(LUNCH_ONLY.replace('["11:00-12:00"]', '["09:00-12:00"]'), top_level=quiet)
        store.add_order("failed", payment_status="failed")
        judge = Judge(config=load_config(store.rules_path, environ={}), engine=store.engine)

        assert judged(judge)[0] == {"failed": "skipped"}
        clock.shift(timedelta(minutes=1))  # 11:00: the quiet is over
        decisions, scope = judged(judge)
        assert (decisions, scope.full) == ({"failed": "pending"}, True)

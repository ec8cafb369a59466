"""Property-based: random store rows, random API faults (lost answers included) and
random changes between snapshot and send never break the invariants.

- at most one cancellation per order succeeds towards the API;
- the platform never cancels more of them than ``max_cancellations_per_hour``,
  however the answers are lost;
- no cancel request ever goes out for an order that, at send time, is
  delivered/canceled, protected (never_cancel), too old, or matched by no rule;
- once the API is healthy again, every order the API canceled is cancelled
  in the ledger, or the ledger says the platform may have acted on it.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config.load import load_config
from daemon.config.models import Config
from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.executor import Executor, RetryPolicy
from daemon.engine.passes import Judge, PassRunner
from daemon.engine.plan import Plan
from daemon.simulator.server import Simulator
from rules.context import PassContext
from tests.world import World, run_sql

PROTECTED_PHONE = "05550000000"
RULES = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""

orders = st.lists(
    st.fixed_dictionaries(
        {
            "status_id": st.sampled_from([1, 2, 16, 5, 6]),
            "payment_status": st.sampled_from(["ok", "failed", "pending", None]),
            "minutes_ago": st.sampled_from([1, 60, 500]),  # 500 > max_order_age_minutes
            "protected": st.booleans(),
            "food": st.sampled_from([1, 2]),  # food 2 is out of stock
            "on_platform": st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
)
faults = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(
                ["status", "hang", "unauthorized", "body", "drop", "rate_limit"]
            ),
            "count": st.integers(min_value=1, max_value=3),
            "process": st.booleans(),
            # The platform acts, then the answer is lost (500, garbage, dropped).
            "after_effect": st.booleans(),
        }
    ),
    max_size=4,
)
# What a POS may write between the pass's snapshot and its API calls.
CHANGES = {
    "paid": "payment_status = 'ok'",
    "picked_up": "status_id = 16",
    "delivered": "status_id = 5",
    "restocked": None,  # food 2 back in stock
}
# ... and how each change to an order shows in its row.
CHANGED_FIELDS: dict[str, dict[str, object]] = {
    "paid": {"payment_status": "ok"},
    "picked_up": {"status_id": 16},
    "delivered": {"status_id": 5},
}
changes = st.lists(
    st.tuples(st.integers(min_value=0, max_value=7), st.sampled_from(sorted(CHANGES))),
    max_size=4,
)
MAX_PER_HOUR = 3


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(cooldown_seconds=0) as sim:
        yield sim


def _inject(sim: Simulator, fault: dict[str, Any]) -> None:
    options: dict[str, Any] = {"count": fault["count"], "path_prefix": "orders/cancel/"}
    if fault["kind"] in ("status", "body", "drop"):
        options["after_effect"] = fault["after_effect"]
    if fault["kind"] == "status":
        options["status"] = 503
    elif fault["kind"] == "hang":
        options.update(seconds=0.5, process=fault["process"])
    elif fault["kind"] == "body":
        options.update(status=200, body="<html>maintenance</html>")
    sim.inject_fault(fault["kind"], **options)


class ChangingJudge(Judge):
    """Plans a pass, then lets the POS change orders: after the snapshot, before the calls."""

    def __init__(
        self, *, config: Config, engine: sa.Engine, apply_changes: Callable[[], None]
    ) -> None:
        super().__init__(config=config, engine=engine)
        self._apply_changes = apply_changes

    def plan_for(self, ctx: PassContext, *, hourly_used: int) -> Plan:
        # run_once plans here, between reading the snapshot and the first call.
        planned = super().plan_for(ctx, hourly_used=hourly_used)
        self._apply_changes()
        self._apply_changes = lambda: None  # the first pass only: every send comes after
        return planned


class ChangingRunner(PassRunner):
    """A pass during which the POS changes orders after the snapshot, before the calls."""

    def __init__(
        self,
        *,
        config: Config,
        engine: sa.Engine,
        executor_factory: Callable[[], Executor],
        apply_changes: Callable[[], None],
    ) -> None:
        super().__init__(config=config, engine=engine, executor_factory=executor_factory)
        self.judge = ChangingJudge(config=config, engine=engine, apply_changes=apply_changes)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=orders, first_faults=faults, second_faults=faults, mid_pass=changes)
def test_invariants_hold_under_random_rows_faults_and_changes(
    simulator: Simulator,
    rows: list[dict[str, Any]],
    first_faults: list[dict[str, Any]],
    second_faults: list[dict[str, Any]],
    mid_pass: list[tuple[int, str]],
) -> None:
    simulator.reset()
    # A hung request of the previous example may still land in the log: every
    # example names its orders afresh and only looks at its own.
    prefix = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as folder:
        world = World(
            folder=Path(folder), store_url=f"sqlite:///{folder}/orders.db", simulator=simulator
        )
        world.configure(
            RULES,
            timeout=0.3,
            max_attempts=2,
            never_cancel=[PROTECTED_PHONE],
            max_per_hour=MAX_PER_HOUR,
        )
        world.set_stock(2, available=False)
        for index, row in enumerate(rows):
            world.add_order(
                f"{prefix}-o{index}",
                status_id=row["status_id"],
                payment_status=row["payment_status"],
                minutes_ago=row["minutes_ago"],
                items=[(row["food"], 1)],
                phone=PROTECTED_PHONE if row["protected"] else "05335587642",
                on_platform=row["on_platform"],
            )
        config = load_config(world.rules_path, environ={})
        final = [dict(row) for row in rows]
        restocked = changed = False

        def apply_changes() -> None:
            nonlocal restocked, changed
            changed = True
            for index, change in mid_pass:
                if change == "restocked":
                    world.set_stock(2, available=True)
                    restocked = True
                elif index < len(rows):
                    run_sql(
                        world,
                        f"UPDATE orders SET {CHANGES[change]} WHERE payment_key = :key",
                        key=f"{prefix}-o{index}",
                    )
                    final[index].update(CHANGED_FIELDS[change])

        client = DukkangoClient(
            base_url=simulator.url, timeout=0.3, access_token=simulator.static_token
        )

        def executor() -> Executor:
            return Executor(
                client=client,
                policy=RetryPolicy(
                    max_attempts=2, initial_backoff_seconds=0, rate_limit_wait_seconds=0
                ),
            )

        runner = ChangingRunner(
            config=config,
            engine=world.engine,
            executor_factory=executor,
            apply_changes=apply_changes,
        )
        with client:
            for batch in (first_faults, second_faults, []):
                simulator.clear_faults()
                for fault in batch:
                    _inject(simulator, fault)
                runner.run_once()
            simulator.clear_faults()
            runner.run_once()  # a quiet pass: the API answers again
        assert changed, "the first pass never reached the point where the POS changes orders"

        cancels = simulator.requests("PUT", f"orders/cancel/{prefix}-")
        # A real success, not a proxy's HTML page with a 200 status.
        succeeded = Counter(
            r.path.rsplit("/", 1)[1]
            for r in cancels
            if r.status == 200 and _is_success_envelope(r.reply)
        )
        assert all(count == 1 for count in succeeded.values()), succeeded
        # Every send came after the mid-pass changes: judge by the final rows.
        eligible = {
            f"{prefix}-o{i}"
            for i, row in enumerate(final)
            if row["status_id"] in (1, 2)
            and not row["protected"]
            and row["minutes_ago"] < 180
            and ((row["food"] == 2 and not restocked) or row["payment_status"] == "failed")
        }
        asked = {r.path.rsplit("/", 1)[1] for r in cancels}
        assert asked <= eligible
        platform_cancelled = {
            o["payment_key"]
            for o in simulator.orders()
            if o["status_id"] == 6 and o["payment_key"] in asked
        }
        assert len(platform_cancelled) <= MAX_PER_HOUR
        ledger = world.ledger()
        ledger_cancelled = {r["payment_key"] for r in ledger if r["outcome"] == "cancelled"}
        may_have_acted = {r["payment_key"] for r in ledger if r["uncertain_sends"] > 0}
        assert ledger_cancelled <= platform_cancelled
        assert platform_cancelled - ledger_cancelled <= may_have_acted
        world.engine.dispose()


def _is_success_envelope(reply: str) -> bool:
    """The API's ``{"status": true, ...}``; a proxy's HTML page is not one."""
    try:
        decoded = json.loads(reply)
    except ValueError:
        return False
    return isinstance(decoded, dict) and decoded.get("status") is True

"""Bad data in a row: the engine decides on the problem's code, the operator reads its sentence.

The first tests hand the distance rule orders whose problems carry a code and
a text that disagree, so only a decision made on the code passes them. The
last reads real bad rows from a SQLite store and checks the sentences the
log shows are the ones operators have always seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.config.load import parse_config
from daemon.config.models import Restaurant
from daemon.domain.orders import Order, Snapshot
from daemon.domain.row_problems import POSITION_PROBLEMS, RowProblem, RowProblemCode
from daemon.engine.geo import Locator
from daemon.engine.passes import Judge
from daemon.engine.plan import Plan, plan_pass
from daemon.engine.safety import SafetyLimits
from daemon.store import connect, migrate, schema
from rules.context import PassContext
from rules.max_distance import MaxDistanceRule
from rules.verdict import VerdictKind

NOW = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
HAL = "0ca1d2b1-a199-4960-8617-83a659d890c8"
HOME = (41.0493, 28.9877)
FAR = (41.1500, 29.1000)  # about 15 km from HOME: beyond the radius
TOO_FAR = MaxDistanceRule(name="too-far", reason_id=6, max_km=7.5)
LIMITS = SafetyLimits(
    max_cancellations_per_hour=30, max_order_age_minutes=180, never_cancel=frozenset()
)
UNREADABLE = "no position for the delivery: the stored coordinates are unreadable"


def far_delivery(key: str, *problems: RowProblem) -> Order:
    """A delivery the distance rule cancels, unless its problems say the position is bad."""
    return Order(
        payment_key=key,
        restaurant_id=HAL,
        status_id=1,
        shipping_method="delivery",
        created_at=NOW - timedelta(minutes=5),
        latitude=FAR[0],
        longitude=FAR[1],
        problems=problems,
    )


def judge(*orders: Order) -> Plan:
    # No geocoder and every order has coordinates: the store is never asked.
    locator = Locator(
        engine=sa.create_engine("sqlite://"),
        geocoder=None,
        origins={HAL: HOME},
        max_plausible_km=100,
    )
    snapshot = Snapshot(
        taken_at=NOW,
        orders=orders,
        stock={},
        live_intents={},
        closures={},
        deactivated_foods=frozenset(),
    )
    ctx = PassContext(
        now=NOW,
        snapshot=snapshot,
        restaurants={HAL: Restaurant(id=HAL, latitude=HOME[0], longitude=HOME[1])},
        locations=locator.locate_all(orders),
    )
    return plan_pass([TOO_FAR], ctx, LIMITS, hourly_used=0, dry_run=False)


def cancellation(plan: Plan, key: str) -> tuple[str, int, str] | None:
    decision = plan.decision_for(key)
    return None if decision is None else (decision.rule, decision.reason_id, decision.outcome)


@pytest.mark.parametrize("code", sorted(POSITION_PROBLEMS))
def test_a_position_problem_code_skips_the_distance_rule_whatever_its_text(
    code: RowProblemCode,
) -> None:
    bad = far_delivery("bad-position", RowProblem(code, "words nothing should parse"))
    clean = far_delivery("clean-position")

    plan = judge(bad, clean)

    assert cancellation(plan, "clean-position") == ("too-far", 6, "pending")
    assert cancellation(plan, "bad-position") is None
    [(rule, verdict)] = plan.verdicts["bad-position"]
    assert (rule.name, verdict.kind, verdict.why) == ("too-far", VerdictKind.SKIPPED, UNREADABLE)


def test_a_problem_worded_like_a_position_problem_does_not_hide_the_position() -> None:
    # The words the old prefix match looked for, on a problem about the total.
    worded_alike = RowProblem(RowProblemCode.BAD_TOTAL, "latitude, longitude, only one of them")

    plan = judge(far_delivery("bad-total", worded_alike))

    assert cancellation(plan, "bad-total") == ("too-far", 6, "pending")


RULES = f"""\
store:
  url: sqlite:///orders.db
restaurants:
  - id: {HAL}
    latitude: {HOME[0]}
    longitude: {HOME[1]}
rules:
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""

# payment_key -> (the stored latitude, longitude as SQL) and the problems read from them.
BAD_ROWS: dict[str, tuple[str, str, list[tuple[RowProblemCode, str]]]] = {
    "row-problems-latitude": (
        "'abc'",
        str(FAR[1]),
        [
            (RowProblemCode.BAD_LATITUDE, "latitude 'abc' is not a number"),
            (RowProblemCode.HALF_POSITION, "only one of latitude and longitude is set"),
        ],
    ),
    "row-problems-longitude": (
        str(FAR[0]),
        "'east'",
        [
            (RowProblemCode.BAD_LONGITUDE, "longitude 'east' is not a number"),
            (RowProblemCode.HALF_POSITION, "only one of latitude and longitude is set"),
        ],
    ),
    "row-problems-half": (
        str(FAR[0]),
        "NULL",
        [(RowProblemCode.HALF_POSITION, "only one of latitude and longitude is set")],
    ),
}


def test_bad_rows_read_from_the_store_are_skipped_and_logged_in_the_same_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES)
    config = parse_config(RULES, source=rules_path)
    migrate.upgrade(config.store.url)
    engine = connect.create_store_engine(config.store.url)
    created = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as connection:
        for key, (latitude, longitude, _) in BAD_ROWS.items():
            connection.execute(
                sa.insert(schema.orders).values(
                    payment_key=key,
                    restaurant_id=HAL,
                    status_id=1,
                    shipping_method="delivery",
                    created_at=created,
                )
            )
            # What a buggy POS writes: SQLite keeps text in a REAL column.
            connection.execute(
                sa.text(
                    f"UPDATE orders SET latitude = {latitude}, longitude = {longitude} "
                    "WHERE payment_key = :key"
                ),
                {"key": key},
            )
    judge = Judge(config=config, engine=engine)

    snapshot = judge.read()
    with caplog.at_level("WARNING"):
        plan = judge.plan(snapshot)
    engine.dispose()

    for key, (_, _, expected) in BAD_ROWS.items():
        order = snapshot.order(key)
        assert order is not None
        assert [(p.code, p.text) for p in order.problems] == expected
        assert cancellation(plan, key) is None
        [(_, verdict)] = plan.verdicts[key]
        assert (verdict.kind, verdict.why) == (VerdictKind.SKIPPED, UNREADABLE)
    logged = sorted(r.getMessage() for r in caplog.records if "bad data" in r.getMessage())
    assert logged == sorted(
        f"bad data order={key} problem={text!r}: no action is based on it"
        for key, (_, _, expected) in BAD_ROWS.items()
        for _, text in expected
    )

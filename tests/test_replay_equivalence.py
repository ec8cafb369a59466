"""A replay keeping order-local verdicts across passes reports what re-judging everything does.

Seeded random histories, written to a real SQLite store the way the daemon
writes them (daemon.store.history.write, images as daemon.domain.images
encodes them), replayed twice through daemon.engine.replay.load.replay: with
the verdict memo and without it (every order re-judged at every pass). The
two reports must be equal, order by order, closure by closure, food by food.
The histories are built so that every rule kind can match and every input a
kept verdict depends on changes: orders arrive, change status and payment,
leave; stock rows go out and come back; restaurants overflow and close.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.config.models import Config, Restaurant, SafetySettings, ScheduleSettings
from daemon.domain import images
from daemon.domain.orders import Item, Order, StockLevel
from daemon.engine.replay import summary
from daemon.engine.replay.load import read_coverage, replay
from daemon.engine.replay.outcomes import ReplayResult
from daemon.store import connect, history
from daemon.store.migrate import upgrade
from rules.base import Rule
from rules.congestion import CongestionRule
from rules.max_distance import MaxDistanceRule
from rules.out_of_stock import OutOfStockRule
from rules.payment_failed import PaymentFailedRule

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
BRANCHES = [
    Restaurant(id=f"branch-{n}", name=f"Şube {n}", latitude=41.0 + n / 100, longitude=29.0)
    for n in range(4)
]
FOODS = range(1, 9)  # shared menu; food 8 is often out


def _rules(capacity: int) -> tuple[Rule, ...]:
    return (
        OutOfStockRule(name="out-of-stock", reason_id=1, deactivate_food=True),
        MaxDistanceRule(name="too-far", reason_id=6, max_km=7.5),
        CongestionRule(
            name="overloaded",
            reason_id=3,
            max_active_orders=capacity,
            reopen_below=max(0, capacity - 2),
            min_closed_minutes=3,
        ),
        PaymentFailedRule(name="payment-failed", reason_id=7),
        PaymentFailedRule(name="payment-shadow", reason_id=7, dry_run=True, statuses=(1, 2, 16)),
    )


def _config(capacity: int, *, cap: int) -> Config:
    return Config(
        source=Path("replayed.yaml"),
        restaurants=tuple(BRANCHES),
        rules=_rules(capacity),
        schedule=ScheduleSettings(interval_seconds=15, full_pass_seconds=120),
        safety=SafetySettings(max_cancellations_per_hour=cap),
    )


def _order(rng: random.Random, key: str, at: datetime) -> Order:
    branch = rng.choice(BRANCHES)
    far = rng.random() < 0.1
    assert branch.latitude is not None and branch.longitude is not None
    return Order(
        payment_key=key,
        restaurant_id=branch.id,
        status_id=1,
        order_number=rng.randrange(1, 10_000),
        shipping_method=rng.choice(["delivery", "delivery", "pickup"]),
        payment_status="ok",
        total=Decimal(rng.randrange(50, 900)),
        # Some were placed long ago: they cross max_order_age_minutes during the replay.
        created_at=at - timedelta(minutes=rng.choice([1, 2, 5, 170, 178])),
        customer_phone=f"0532{rng.randrange(10**6, 10**7)}",
        latitude=branch.latitude + (0.2 if far else rng.uniform(-0.02, 0.02)),
        longitude=branch.longitude,
        items=tuple(
            Item(food, f"yemek {food}", rng.choice([1, 1, 2])) for food in rng.sample(FOODS, 2)
        ),
    )


def _history(rng: random.Random) -> list[tuple[datetime, history.Entry]]:
    """About two hours of changes, in time order."""
    entries: list[tuple[datetime, history.Entry]] = []
    moment = START
    active: dict[str, Order] = {}
    for n in range(160):
        moment += timedelta(seconds=rng.choice([1, 3, 20, 45, 90]))
        pick = rng.random()
        if pick < 0.45 or not active:
            order = _order(rng, f"order-{n}", moment)
            active[order.payment_key] = order
        elif pick < 0.8:
            key = rng.choice(sorted(active))
            change = rng.random()
            order = active[key]
            if change < 0.6:
                order = replace(order, status_id={1: 2, 2: 16, 16: 16}[order.status_id])
            elif change < 0.8:
                order = replace(order, payment_status="failed")
            else:
                order = replace(order, latitude=None, longitude=None)  # position lost
            active[key] = order
        elif pick < 0.9:
            key = rng.choice(sorted(active))
            entries.append(
                (moment, history.Entry("order", key, active.pop(key).restaurant_id, None))
            )
            continue
        else:
            food = rng.choice([8, 8, *FOODS])
            level = StockLevel(food, f"yemek {food}", available=rng.random() < 0.5, quantity=None)
            entries.append(
                (moment, history.Entry("stock", str(food), None, images.encode_stock(level)))
            )
            continue
        entries.append(
            (
                moment,
                history.Entry(
                    "order", order.payment_key, order.restaurant_id, images.encode_order(order)
                ),
            )
        )
    return entries


def _store(tmp_path: Path, seed: int) -> sa.Engine:
    url = f"sqlite:///{tmp_path / f'history-{seed}.db'}"
    upgrade(url)
    engine = connect.create_store_engine(url)
    with engine.begin() as connection:
        history.write(connection, [], seen_at=START, started=True)
        for seen_at, entry in _history(random.Random(seed)):
            history.write(connection, [entry], seen_at=seen_at)
    return engine


def _replayed(config: Config, engine: sa.Engine, *, remember: bool) -> ReplayResult:
    covered = read_coverage(config, engine)
    return replay(
        config,
        engine,
        start=START,
        end=START + timedelta(hours=3),
        covered=covered,
        remember_verdicts=remember,
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("capacity", "cap"), [(3, 100), (2, 4)], ids=["congested", "hourly-cap-binding"]
)
def test_the_fast_replay_reports_what_re_judging_everything_reports(
    tmp_path: Path, seed: int, capacity: int, cap: int
) -> None:
    engine = _store(tmp_path, seed)
    try:
        config = _config(capacity, cap=cap)
        fast = _replayed(config, engine, remember=True)
        reference = _replayed(config, engine, remember=False)
    finally:
        engine.dispose()
    assert fast.orders == reference.orders
    assert fast.closures == reference.closures
    assert fast.foods == reference.foods
    assert fast.shadows == reference.shadows
    assert summary.report(fast, config.zone) == summary.report(reference, config.zone)
    # The histories exercise what they are meant to: cancellations of several kinds.
    kinds = {outcome.kind for outcome in reference.orders.values() if outcome.cancels}
    assert len(kinds) >= 2, kinds

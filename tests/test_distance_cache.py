"""Geodesics measured once per (restaurant, delivery) position, kept for the next process.

A pass measures exactly only the band near ``max_km`` and the matches; what
it measured is written to ``distance_cache``, and a new process (a fresh
runner on the same store) reads it instead of measuring again. The geodesic
calls are counted through the function the runner is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic

from daemon.config.load import parse_config
from daemon.domain.distance import Point
from daemon.domain.location import geodesic_km
from daemon.engine.distances import RETENTION
from daemon.engine.passes import PassRunner
from daemon.store import connect, migrate, schema

HAL = "0ca1d2b1-a199-4960-8617-83a659d890c8"
HOME: Point = (41.0493, 28.9877)


def _at(km: float, bearing: float) -> Point:
    found = geodesic(kilometers=km).destination(HOME, bearing)
    return (found.latitude, found.longitude)


NEAR, BORDER, FAR = _at(1.2, 30), _at(7.49, 120), _at(15.0, 200)


class Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[Point, Point]] = []

    def __call__(self, origin: Point, destination: Point) -> float:
        self.calls.append((origin, destination))
        return geodesic_km(origin, destination)


def _rules(url: str) -> str:
    return f"""\
store:
  url: {url}
dry_run: true
restaurants:
  - id: {HAL}
    name: Halaskargazi
    latitude: {HOME[0]}
    longitude: {HOME[1]}
rules:
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orders.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


class Store:
    def __init__(self, url: str, folder: Path) -> None:
        path = folder / "rules.yaml"
        path.write_text(_rules(url))
        self.config = parse_config(_rules(url), source=path)
        migrate.upgrade(url)
        self.engine = connect.create_store_engine(url)

    def add(self, key: str, position: Point) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.insert(schema.orders).values(
                    payment_key=key,
                    restaurant_id=HAL,
                    status_id=1,
                    shipping_method="delivery",
                    created_at=datetime.now(UTC) - timedelta(minutes=5),
                    latitude=position[0],
                    longitude=position[1],
                )
            )

    def runner(self, geodesic: Counting) -> PassRunner:
        """A new runner: what a new process starts with (nothing in memory)."""
        return PassRunner(
            config=self.config,
            engine=self.engine,
            executor_factory=None,
            dry_run=True,
            geodesic=geodesic,
        )

    def cached(self) -> dict[tuple[float, float], float]:
        table = schema.distance_cache
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.latitude, table.c.longitude, table.c.km))
            return {(lat, lon): km for lat, lon, km in rows}


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    made = Store(store_url, tmp_path)
    yield made
    made.engine.dispose()


def _evidence(runner: PassRunner) -> dict[str, dict[str, object]]:
    report = runner.run_once()
    assert report.plan is not None
    return {
        key: dict(verdict.evidence)
        for key, verdicts in report.plan.verdicts.items()
        for _rule, verdict in verdicts
    }


def test_a_cold_process_reads_the_measured_distances_instead_of_measuring_again(
    store: Store,
) -> None:
    store.add("near", NEAR)
    store.add("border", BORDER)
    store.add("far", FAR)

    first = Counting()
    evidence = _evidence(store.runner(first))

    # Only the band and the match are measured, each once.
    assert sorted(first.calls) == sorted([(HOME, BORDER), (HOME, FAR)])
    assert evidence["near"]["decided_by"] == "haversine bound"
    assert evidence["far"] == {"distance_km": round(geodesic_km(HOME, FAR), 2), "max_km": 7.5}
    assert evidence["border"] == {
        "distance_km": round(geodesic_km(HOME, BORDER), 2),
        "max_km": 7.5,
    }
    assert store.cached() == {BORDER: geodesic_km(HOME, BORDER), FAR: geodesic_km(HOME, FAR)}

    cold = Counting()
    assert _evidence(store.runner(cold)) == evidence
    assert cold.calls == []

    # A new order in the band is measured by whoever meets it first, once.
    also_border = _at(7.52, 300)
    store.add("border-2", also_border)
    cold_runner = store.runner(cold)
    _evidence(cold_runner)
    _evidence(cold_runner)
    assert cold.calls == [(HOME, also_border)]
    assert also_border in store.cached()


def test_pairs_older_than_the_retention_are_measured_again_and_dropped(store: Store) -> None:
    store.add("far", FAR)
    old = datetime.now(UTC) - RETENTION - timedelta(hours=1)
    with store.engine.begin() as connection:
        connection.execute(
            sa.insert(schema.distance_cache).values(
                origin_latitude=HOME[0],
                origin_longitude=HOME[1],
                latitude=FAR[0],
                longitude=FAR[1],
                km=99.0,  # not what the geodesic says: shows whether it was used
                computed_at=old,
            )
        )

    counted = Counting()
    evidence = _evidence(store.runner(counted))

    assert counted.calls == [(HOME, FAR)]
    assert evidence["far"]["distance_km"] == round(geodesic_km(HOME, FAR), 2)
    assert store.cached() == {FAR: geodesic_km(HOME, FAR)}

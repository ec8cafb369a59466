"""``autocancel replay`` honours people's decisions: pauses, and closures people ended.

Each test builds a store's past with the store's own API, at chosen times
an hour or two ago: the order history as passes record it
(daemon.store.history), pauses as ``autocancel pause``/``resume`` store them
(daemon.store.pauses), closures of ours as the close writes them and ended
as ``autocancel release`` (daemon.engine.side_effects.release) or a staff
reopen noticed on the platform end them. Then ``autocancel replay --json``
reads only that store, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.domain import images
from daemon.domain.orders import Order
from daemon.domain.timeutil import isoformat_z, utcnow
from daemon.engine.side_effects import release
from daemon.store import history, pauses, schema
from tests.test_daemon import fast
from tests.world import AKAT, HALASKARGAZI, NEAR, PAYMENT_FAILED, World

CONGESTION = """\
  - name: overloaded
    kind: congestion
    max_active_orders: 3
    reopen_below: 2
    min_closed_minutes: 0
    respect_staff_minutes: 30
    reason_id: 3
"""
CONFIRMED, RECEIVED, DELIVERED = 2, 1, 5


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> World:
    found: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return found


@dataclass
class Past:
    """A store's past, written at chosen moments from ``t0`` (when the history starts)."""

    world: World
    t0: datetime

    def at(self, minutes: float) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    def orders(
        self,
        minutes: float,
        keys: Iterable[str],
        *,
        restaurant_id: str = HALASKARGAZI,
        status_id: int = RECEIVED,
        payment_status: str = "ok",
    ) -> None:
        """Orders placed a minute before ``minutes``, as the pass then saw them (new or changed)."""
        moment = self.at(minutes)
        entries = []
        for key in keys:
            order = Order(
                payment_key=key,
                restaurant_id=restaurant_id,
                status_id=status_id,
                shipping_method="delivery",
                payment_status=payment_status,
                total=Decimal(100),
                created_at=self.at(minutes - 1) if status_id == RECEIVED else self.t0,
                latitude=NEAR[0],
                longitude=NEAR[1],
            )
            entries.append(history.Entry("order", key, restaurant_id, images.encode_order(order)))
        with self.world.engine.begin() as connection:
            history.write(connection, entries, seen_at=moment)

    def gone(self, minutes: float, keys: Iterable[str], restaurant_id: str) -> None:
        """Orders no longer active (delivered), as the pass then saw it."""
        entries = [history.Entry("order", key, restaurant_id, None) for key in keys]
        with self.world.engine.begin() as connection:
            history.write(connection, entries, seen_at=self.at(minutes))

    def replay(self, *, since: float = 0, until: float) -> dict[str, Any]:
        result = self.world.cli(
            "replay",
            "--json",
            "--from",
            isoformat_z(self.at(since)),
            "--to",
            isoformat_z(self.at(until)),
        )
        assert result.returncode == 0, result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        return report


def _past(world: World) -> Past:
    t0 = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    with world.engine.begin() as connection:
        history.write(connection, [], seen_at=t0, started=True)
    return Past(world, t0)


def _outcomes(report: dict[str, Any]) -> dict[str, tuple[str, str, int | None]]:
    """payment_key -> (outcome, at, pause_id)."""
    return {o["payment_key"]: (o["outcome"], o["at"], o["pause_id"]) for o in report["orders"]}


def test_a_pause_over_part_of_the_period_skips_exactly_the_decisions_it_covered(
    store: World,
) -> None:
    fast(store, PAYMENT_FAILED, interval=60)
    past = _past(store)
    with store.engine.begin() as connection:
        everything = pauses.create(
            connection,
            rule="payment-failed",
            restaurant_id=None,
            until=past.at(70),
            comment="kasa arızası",
            created_by="ayşe",
            host=None,
            now=past.at(10),
        )
        akat = pauses.create(
            connection,
            rule=None,
            restaurant_id=AKAT,
            until=past.at(60.2),  # ends by itself, between two scheduled passes
            comment="şube kapalı",
            created_by="mehmet",
            host=None,
            now=past.at(50),
        )
    past.orders(1, ["before"], payment_status="failed")
    past.orders(15, ["during"], payment_status="failed")
    past.orders(20, ["delivered-during"], payment_status="failed")
    past.gone(25, ["delivered-during"], HALASKARGAZI)
    with store.engine.begin() as connection:  # `autocancel resume 1`, 20 min 7 s later
        assert pauses.resume(connection, everything.id, by="ayşe", now=past.at(30.12))
    past.orders(40, ["after"], payment_status="failed")
    past.orders(55, ["at-akat"], restaurant_id=AKAT, payment_status="failed")

    report = past.replay(until=90)

    assert _outcomes(report) == {
        "before": ("cancelled", isoformat_z(past.at(1)), None),
        # Skipped while paused; cancelled the moment the resume was stored.
        "during": ("cancelled", isoformat_z(past.at(30.12)), everything.id),
        # Delivered while paused: never cancelled.
        "delivered-during": ("skipped", isoformat_z(past.at(20)), everything.id),
        "after": ("cancelled", isoformat_z(past.at(40)), None),
        # Cancelled the moment the Akat pause ran out.
        "at-akat": ("cancelled", isoformat_z(past.at(60.2)), akat.id),
    }
    skipped = next(o for o in report["orders"] if o["payment_key"] == "delivered-during")
    assert skipped["because"] == "paused"
    assert report["paused"] == {
        "orders": 1,
        "by_pause": {str(everything.id): 1},
        "then_cancelled": 2,
    }
    assert report["skipped"] == {"paused": 1}
    assert report["held"]["orders"] == 0
    assert [(p["id"], p["from"], p["to"], p["orders_skipped"]) for p in report["pauses"]] == [
        (everything.id, isoformat_z(past.at(10)), isoformat_z(past.at(30.12)), 2),
        (akat.id, isoformat_z(past.at(50)), isoformat_z(past.at(60.2)), 1),
    ]

    # From inside the pause: it is in force from the start, as the store had it then.
    late = past.replay(since=17, until=90)
    assert _outcomes(late)["during"] == ("cancelled", isoformat_z(past.at(30.12)), everything.id)

    text = store.cli("replay", "--from", isoformat_z(past.at(0)), "--to", isoformat_z(past.at(90)))
    assert text.returncode == 0, text.stderr
    assert (
        f"held by pauses: 1 order(s) (pause {everything.id} 1); 2 paused, then cancelled"
        in text.stdout
    )
    assert f"pause {everything.id}: rule payment-failed at every restaurant" in text.stdout
    assert 'by ayşe ("kasa arızası")' in text.stdout


def _closed_by_us(world: World, restaurant_id: str, at: datetime) -> int:
    """A closure of ours in force, as the close writes it once Dükkango confirmed it."""
    with world.engine.begin() as connection:
        closure_id: int = connection.execute(
            sa.insert(schema.restaurant_closures)
            .values(
                restaurant_id=restaurant_id,
                rule="overloaded",
                closed_at=at,
                close_outcome="closed",
                active_key=restaurant_id,
            )
            .returning(schema.restaurant_closures.c.id)
        ).scalar_one()
    return closure_id


def _opened_by_staff(world: World, closure_id: int, at: datetime) -> None:
    """As the status read writes it when Dükkango shows our closure open (Closures._ended_open)."""
    table = schema.restaurant_closures
    with world.engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.id == closure_id)
            .values(
                active_key=None,
                reopened_at=at,
                reopen_outcome="already_open",
                override_kind="staff",
                override_by=None,
            )
        )


def _closures(report: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (c["restaurant_id"], c["closed_at"], c["reopened_at"], c["ended_by"])
        for c in report["closures"]
    ]


def test_a_release_or_a_staff_reopen_keeps_the_replay_from_closing_again(store: World) -> None:
    # Every scheduled pass is a full one, as on the live daemon's full pass.
    fast(store, CONGESTION, interval=60, full_pass=60)
    past = _past(store)
    z = isoformat_z
    # Halaskargazi: overloaded by accepted orders (closed, nothing to cancel) ...
    past.orders(4, ["h1", "h2", "h3", "h4"], status_id=CONFIRMED)
    halaskargazi = _closed_by_us(store, HALASKARGAZI, past.at(4))
    # ... released by an operator; a new order while it is still overloaded ...
    assert release(store.engine, halaskargazi, by="ayşe", now=past.at(10.5))
    past.orders(12, ["h5"])
    # ... then the load falls below reopen_below (respect ends), and rises again.
    past.gone(20, ["h1", "h2", "h3", "h4"], HALASKARGAZI)
    past.orders(25, ["h6", "h7", "h8"], status_id=CONFIRMED)
    # Akat: closed, opened again by staff on Dükkango, and overloaded all along.
    past.orders(5, ["a1", "a2", "a3", "a4"], restaurant_id=AKAT, status_id=CONFIRMED)
    akat = _closed_by_us(store, AKAT, past.at(5))
    _opened_by_staff(store, akat, past.at(8))
    past.orders(9, ["a5"], restaurant_id=AKAT)

    report = past.replay(until=60)

    assert _closures(report) == [
        (HALASKARGAZI, z(past.at(4)), z(past.at(10.5)), "release"),
        (AKAT, z(past.at(5)), z(past.at(8)), "staff"),
        # Closed again once the load had fallen below reopen_below and risen again ...
        (HALASKARGAZI, z(past.at(25)), None, None),
        # ... and once respect_staff_minutes (30) had passed since the staff reopen.
        (AKAT, z(past.at(38)), None, None),
    ]
    outcomes = _outcomes(report)
    # The received orders beyond capacity: not cancelled while the decision was respected,
    # only once the load had risen again (h5) or respect_staff_minutes had passed (a5).
    assert outcomes["h5"] == ("cancelled", z(past.at(25)), None)
    assert outcomes["a5"] == ("cancelled", z(past.at(38)), None)
    assert report["overrides"] == [
        {
            "restaurant_id": AKAT,
            "kind": "staff",
            "by": None,
            "at": z(past.at(8)),
            "ended_closure": True,
            "respect_ended_at": None,
        },
        {
            "restaurant_id": HALASKARGAZI,
            "kind": "release",
            "by": "ayşe",
            "at": z(past.at(10.5)),
            "ended_closure": True,
            "respect_ended_at": z(past.at(20)),
        },
    ]

    # From after the release: respected from the start, as the store had it then.
    late = past.replay(since=11, until=60)
    assert [c[:2] for c in _closures(late)] == [
        (HALASKARGAZI, z(past.at(25))),
        (AKAT, z(past.at(38))),
    ]
    assert _outcomes(late)["h5"] == ("cancelled", z(past.at(25)), None)

    # Rules that never close: the people's decisions have no closure of the replay's to end.
    never = store.rules_path.with_name("never-closes.yaml")
    never.write_text(
        store.rules_path.read_text().replace("max_active_orders: 3", "max_active_orders: 30")
    )
    result = store.cli(
        "replay", "--json", "--rules", str(never), "--from", z(past.at(0)), "--to", z(past.at(60))
    )
    assert result.returncode == 0, result.stderr
    unmatched = json.loads(result.stdout)
    assert unmatched["closures"] == []
    assert [o["ended_closure"] for o in unmatched["overrides"]] == [False, False]

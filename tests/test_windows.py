"""Time windows end to end: the installed CLI, real processes, the simulator, SQLite and PostgreSQL.

The processes read the real clock, so each window is written around the
moment the test runs, with hours of margin: one that holds now
(now - 2 h to now + 2 h), one that does not (now + 3 h to now + 5 h). The
edges, overnight ranges, other zones and DST changes are proven on injected
instants in tests/unit/test_windows.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.world import (
    AKAT,
    PAYMENT_AND_CLOSE_AT_TWO,
    World,
    assert_cancelled,
    ledger_rows,
    requests_to,
)

# Far from the machine's zone and from Istanbul: the window is read on rules.yaml's timezone.
ZONE = "America/New_York"
BACKENDS = ["world", "pg_world"]


def window(start_hours: float, end_hours: float) -> str:
    """``HH:MM-HH:MM`` from now + ``start_hours`` to now + ``end_hours``, New York time."""
    now = datetime.now(ZoneInfo(ZONE))
    start, end = now + timedelta(hours=start_hours), now + timedelta(hours=end_hours)
    return f"{start:%H:%M}-{end:%H:%M}"


HOLDS_NOW = (-2, 2)
LATER = (3, 5)


def payment_rule(hours: str) -> str:
    """``hours`` is a :func:`window`, computed once: asserting on a second call could
    straddle a minute boundary."""
    return f"""\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
    active_hours: ["{hours}"]
"""


def quiet_top_level(hours: str) -> str:
    return f'timezone: {ZONE}\nquiet_windows:\n  - name: derby-night\n    hours: ["{hours}"]\n'


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> World:
    """The world on SQLite, then on the real PostgreSQL (skipped without a server)."""
    world: World = request.getfixturevalue(request.param)
    return world


def test_a_rule_outside_its_window_cancels_nothing_and_inside_it_cancels(store: World) -> None:
    later = window(*LATER)
    store.configure(payment_rule(later), top_level=f"timezone: {ZONE}\n")
    store.add_order("failed", payment_status="failed")

    outside = store.once()
    explained = store.cli("explain", "failed")

    assert outside == []  # no rule matched: no decision at all
    assert store.cancel_calls() == [] and ledger_rows(store, "failed") == []
    assert store.status_of("failed") == 1
    assert explained.returncode == 0, explained.stderr
    assert f"outside its active window ({later}, {ZONE}; now " in explained.stdout
    assert "decision: no rule matches; the order is left alone" in explained.stdout

    store.configure(payment_rule(window(*HOLDS_NOW)), top_level=f"timezone: {ZONE}\n")
    inside = store.once()

    assert_cancelled(
        store,
        inside,
        "failed",
        rule="payment-failed",
        kind="payment_failed",
        reason_id=7,
        evidence={"payment_status": "failed"},
    )


def test_a_quiet_window_holds_every_automatic_cancellation_but_not_staff(store: World) -> None:
    holds_now = window(*HOLDS_NOW)
    store.configure(PAYMENT_AND_CLOSE_AT_TWO, top_level=quiet_top_level(holds_now))
    store.add_order("failed", payment_status="failed")
    rush = [store.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=10 - n) for n in range(4)]
    store.add_order("by-staff")

    quiet = {d["payment_key"]: d for d in store.once()}
    dry = {d["payment_key"]: d for d in store.once("--dry-run")}

    # What the rules would cancel is skipped, once each, saying which window and until when.
    assert sorted(quiet) == ["failed", "rush-2", "rush-3"]
    for key, decision in quiet.items():
        assert (decision["mode"], decision["outcome"]) == ("live", "skipped"), decision
        evidence = decision["evidence"]
        assert evidence["skipped_because"] == "quiet_window"
        assert (evidence["quiet_window"], evidence["window"]) == ("derby-night", holds_now)
        assert evidence["timezone"] == ZONE and evidence["quiet_until"].endswith("Z")
        assert dry[key]["outcome"] == "skipped"  # a dry run tells the same story
    # Nothing went out: no cancellation, no closure of the overloaded Akat.
    assert store.cancel_calls() == []
    assert requests_to(store, "PUT", f"restaurants/status/close/{AKAT}") == []
    assert store.simulator.restaurant_status(AKAT) == "Open"
    store.once()  # a second quiet pass records no second row
    assert [(row["mode"], row["outcome"]) for row in ledger_rows(store, "failed")] == [
        ("live", "skipped"),
        ("dry_run", "skipped"),
    ]
    assert [store.status_of(key) for key in ("failed", *rush)] == [1, 1, 1, 1, 1]

    explained = store.cli("explain", "failed")
    assert explained.returncode == 0, explained.stderr
    assert "suspended (every rule): quiet window 'derby-night'" in explained.stdout
    assert "decision: payment-failed -> reason 7 (Ödeme problemi), live, skipped" in (
        explained.stdout
    )

    # A person's cancellation is not automatic: it goes out during the quiet.
    manual = store.cli("cancel", "by-staff", "--reason", "5", "--yes", "--by", "ayse")
    assert manual.returncode == 0, manual.stderr
    assert store.platform_order("by-staff")["status_id"] == 6

    # The quiet over, the next pass decides those orders afresh.
    store.configure(PAYMENT_AND_CLOSE_AT_TWO, top_level=quiet_top_level(window(*LATER)))
    after = {d["payment_key"]: d["outcome"] for d in store.once()}

    assert after == {"failed": "cancelled", "rush-2": "cancelled", "rush-3": "cancelled"}
    assert store.simulator.restaurant_status(AKAT) == "Closed"

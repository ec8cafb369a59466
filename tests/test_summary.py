"""``autocancel summary``: per restaurant and rule, the numbers ``audit`` has, for a manager.

Real subprocesses on a real SQLite store after live passes against the simulator:
the counts match ``audit``'s rows, revenue is the sum of the cancelled orders'
``total``, a closure shows with its duration, bad windows are one line and exit 2.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.world import AKAT, PAYMENT_AND_CLOSE_AT_TWO, World, run_sql


def _summary(world: World, *args: str) -> dict[str, Any]:
    result = world.cli("summary", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_summary_counts_what_audit_lists_with_revenue_and_closures(world: World) -> None:
    world.configure(PAYMENT_AND_CLOSE_AT_TWO)
    world.add_order("hal-failed", payment_status="failed")
    world.add_order("akat-1", restaurant_id=AKAT, minutes_ago=9)
    world.add_order("akat-2", restaurant_id=AKAT, minutes_ago=8)
    world.add_order("akat-3", restaurant_id=AKAT, minutes_ago=7)  # one over: cancelled, closed
    run_sql(world, "UPDATE orders SET total = 250.50 WHERE payment_key = 'hal-failed'")
    run_sql(world, "UPDATE orders SET total = 99.25 WHERE payment_key = 'akat-3'")
    world.set_up_with("once", "--json")  # preparation: the summary is the subject

    got = _summary(world, "--since", "1h")
    audit = [
        json.loads(line) for line in world.cli("audit", "--format", "json").stdout.splitlines()
    ]
    assert got["outcomes"] == dict(Counter(row["outcome"] for row in audit))
    by_rule = {(line["rule"], line["restaurant"]): line for line in got["by_restaurant_and_rule"]}
    payment = by_rule[
        ("payment-failed", "Halaskargazi Şube (0ca1d2b1-a199-4960-8617-83a659d890c8)")
    ]
    assert payment["outcomes"] == {"cancelled": 1}
    assert payment["cancelled_revenue"] == 250.5
    overloaded = by_rule[("overloaded", "Akat Şube (8f2b9ce2-04de-4712-842d-a39f64596fdf)")]
    assert overloaded["outcomes"] == {"cancelled": 1}
    assert got["cancelled_revenue"] == 349.75
    (closure,) = got["closures"]
    assert closure["restaurant"].startswith("Akat Şube") and closure["reopened_at"] is None
    assert 0 <= closure["minutes"] < 5
    assert {(r["reason_id"], r["cancelled"]) for r in got["top_reasons"]} == {(7, 1), (3, 1)}

    table = world.cli("summary")
    assert table.returncode == 0
    assert "cancelled 2" in table.stdout and "349.75" in table.stdout
    assert "closures:" in table.stdout and "still closed" in table.stdout
    assert "Yoğunluk" in table.stdout  # the reason's Turkish text


def test_summary_of_an_empty_window_says_so(world: World) -> None:
    got = _summary(world, "--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z")
    assert got["outcomes"] == {} and got["closures"] == [] and got["cancelled_revenue"] == 0
    empty = world.cli("summary", "--since", "2019-12-31T00:00:00Z", "--until", "2020-01-01")
    assert empty.returncode == 0, empty.stderr
    assert "no decisions" in empty.stdout


def test_a_bad_window_is_one_line_and_exit_2(world: World) -> None:
    for args in (("--since", "yesterdayish"), ("--since", "1h", "--until", "2h")):
        result = world.cli("summary", *args)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr

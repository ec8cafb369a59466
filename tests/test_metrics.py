"""The Prometheus metrics of a running daemon move when the matching thing happens.

README, "Watching it": ``autocancel_held_total``, ``autocancel_api_errors_total{kind}``,
``autocancel_pass_failures_total`` and ``autocancel_restaurants_closed_total`` on
``http://127.0.0.1:PORT/metrics`` with ``metrics.port`` set.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.test_daemon import Daemon, cancelled, eventually, fast
from tests.world import AKAT, PAYMENT_AND_CLOSE_AT_TWO, World, run_sql

HELD = "autocancel_held_total"
PASS_FAILURES = "autocancel_pass_failures_total"
CLOSED = "autocancel_restaurants_closed_total"
API_404 = 'autocancel_api_errors_total{kind="404"}'
STAFF = "autocancel_staff_reopens_total"

Samples = dict[str, float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as reply:
            return str(reply.read().decode())

    def samples(self) -> Samples:
        """Every sample as ``name{label="value",...}`` -> value (labels sorted)."""
        found = {}
        for family in text_string_to_metric_families(self.text()):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return found

    def up(self) -> bool:
        try:
            self.text()
        except OSError:
            return False
        return True


def _daemon_with_metrics(
    world: World, start_daemon: Callable[..., Daemon], *, max_per_hour: int = 30
) -> Scraper:
    fast(world, PAYMENT_AND_CLOSE_AT_TWO)
    text = world.rules_path.read_text().replace(
        "max_cancellations_per_hour: 30", f"max_cancellations_per_hour: {max_per_hour}"
    )
    port = _free_port()
    world.rules_path.write_text(text + f"metrics:\n  port: {port}\n")
    start_daemon()
    scraper = Scraper(port)
    eventually(scraper.up, what="the metrics endpoint")
    eventually(lambda: world.finished_passes() >= 1, what="a first pass")
    return scraper


def _moved(before: Samples, after: Samples) -> dict[str, float]:
    """The four counters of this file whose value changed (absent counts as 0)."""
    return {
        name: after.get(name, 0.0) - before.get(name, 0.0)
        for name in (HELD, PASS_FAILURES, CLOSED, API_404)
        if after.get(name, 0.0) != before.get(name, 0.0)
    }


def test_held_api_errors_pass_failures_and_closures_move_when_they_happen(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    scraper = _daemon_with_metrics(world, start_daemon, max_per_hour=2)
    start = scraper.samples()
    assert {name: start.get(name) for name in (HELD, PASS_FAILURES, CLOSED, API_404)} == {
        HELD: 0.0,
        PASS_FAILURES: 0.0,
        CLOSED: 0.0,
        API_404: None,  # a labelled counter has no sample before its first error
    }

    # Dükkango does not know the order: a 404, final after one attempt.
    world.add_order("unknown", payment_status="failed", on_platform=False)
    eventually(lambda: API_404 in scraper.samples(), what="the API error counted")
    after_404 = scraper.samples()
    assert _moved(start, after_404) == {API_404: 1.0}

    # One order more than Akat can cook: it closes (and its newest order is
    # cancelled, the first of the two cancellations the hour allows).
    for n in range(3):
        world.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=20 - n)
    eventually(lambda: scraper.samples().get(CLOSED) == 1.0, what="the closure counted")
    after_close = scraper.samples()
    assert _moved(after_404, after_close) == {CLOSED: 1.0}

    world.add_order("within-budget", payment_status="failed")
    eventually(cancelled(world, "within-budget"), what="the second cancellation")
    world.add_order("over-budget", payment_status="failed")
    eventually(lambda: scraper.samples()[HELD] >= 1, what="the held cancellation counted")
    after_hold = scraper.samples()
    # Held again in every pass while the hour is used up: counted each time.
    assert set(_moved(after_close, after_hold)) == {HELD}
    assert world.cancel_calls() == [
        ("unknown", {"reason_id": 7}),
        ("rush-2", {"reason_id": 3}),
        ("within-budget", {"reason_id": 7}),
    ]

    with world.engine.begin() as conn:  # the store goes away: passes cannot run
        conn.execute(sa.text("ALTER TABLE orders RENAME TO orders_away"))
    eventually(lambda: scraper.samples()[PASS_FAILURES] >= 1, what="the failed pass counted")
    after_failure = scraper.samples()
    with world.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders_away RENAME TO orders"))
    moved = _moved(after_hold, after_failure)
    assert moved.keys() <= {PASS_FAILURES, HELD}  # a pass may still have held it meanwhile
    assert moved[PASS_FAILURES] >= 1
    assert (after_failure[CLOSED], after_failure[API_404]) == (1.0, 1.0)


def test_the_exposition_passes_promtool(world: World, start_daemon: Callable[..., Daemon]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus); .ci/run installs it")
    scraper = _daemon_with_metrics(world, start_daemon)
    world.add_order("counted", payment_status="failed")
    world.add_order("unknown", payment_status="failed", on_platform=False)
    eventually(lambda: API_404 in scraper.samples(), what="a decision and an API error counted")

    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=scraper.text(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (checked.stdout + checked.stderr).strip() == ""


def test_passes_are_counted_by_scope_and_a_write_the_log_missed_as_drift(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, interval=0.3, full_pass=1)
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    start_daemon()
    scraper = Scraper(port)
    eventually(scraper.up, what="the metrics endpoint")
    full, incremental = (
        'autocancel_passes_total{scope="full"}',
        'autocancel_passes_total{scope="incremental"}',
    )
    eventually(
        lambda: scraper.samples().get(full, 0) >= 2 and scraper.samples().get(incremental, 0) >= 1,
        what="full passes, and incremental ones between them",
    )
    assert scraper.samples()["autocancel_incremental_drift_restaurants_total"] == 0

    # A writer the change log never sees (no trigger): the next full pass finds it.
    with world.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER autocancel_orders_insert_logged")
    world.add_order("unlogged", payment_status="failed")
    eventually(cancelled(world, "unlogged"), what="the full pass to judge the unlogged order")
    eventually(
        lambda: scraper.samples()["autocancel_incremental_drift_restaurants_total"] == 1,
        what="the drift counted",
    )


def test_a_staff_reopen_noticed_is_counted(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, PAYMENT_AND_CLOSE_AT_TWO, interval=0.3)
    port = _free_port()
    text = world.rules_path.read_text().replace(
        "schedule:\n", "schedule:\n  status_check_seconds: 1\n"
    )
    world.rules_path.write_text(text + f"metrics:\n  port: {port}\n")
    start_daemon()
    scraper = Scraper(port)
    eventually(scraper.up, what="the metrics endpoint")
    assert scraper.samples()[STAFF] == 0
    for n in range(3):
        world.add_order(f"rush-{n}", restaurant_id=AKAT, status_id=2)
    eventually(lambda: scraper.samples().get(CLOSED) == 1.0, what="the closure counted")

    world.simulator.set_restaurant_status(AKAT, "Open")  # staff, in their panel

    eventually(lambda: scraper.samples()[STAFF] == 1.0, what="the staff reopen counted")
    assert scraper.samples()[CLOSED] == 1.0  # and not closed again


PENDING = "autocancel_pending_intents"
STALE = "autocancel_stale_orders"


def test_pending_intents_and_stale_orders_are_gauges_of_what_holds_now(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, interval=0.3, api_extra={"lost_answer_retries": 10})
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    # The platform takes every cancellation, and every answer is lost on the way back.
    world.simulator.inject_fault(
        "drop", count=1_000, after_effect=True, method="PUT", path_prefix="orders/cancel/"
    )
    world.add_order("forgotten", minutes_ago=200)  # older than max_order_age_minutes (180)
    start_daemon()
    scraper = Scraper(port)
    eventually(scraper.up, what="the metrics endpoint")
    eventually(lambda: scraper.samples().get(STALE) == 1.0, what="the stale order counted")
    assert scraper.samples()[PENDING] == 0.0

    world.add_order("lost", payment_status="failed")
    eventually(lambda: scraper.samples()[PENDING] == 1.0, what="the lost answer's intent counted")
    assert world.status_of("forgotten") == 1  # stale: never cancelled, only counted

    world.simulator.clear_faults()  # the next resend is answered: the intent is settled
    eventually(lambda: scraper.samples()[PENDING] == 0.0, what="the settled intent uncounted")
    assert [row["outcome"] for row in world.ledger() if row["payment_key"] == "lost"] == [
        "cancelled"
    ]
    run_sql(world, "UPDATE orders SET status_id = 4 WHERE payment_key = 'forgotten'")
    eventually(lambda: scraper.samples()[STALE] == 0.0, what="the delivered stale order gone")

"""Notifications of ``autocancel run`` as a real process: its own events, replicas, SIGKILL.

What needs the process: started and stopping (its lifecycle), a reload
rejected (SIGHUP), two replicas on one PostgreSQL store (two processes
claiming the same outbox), and a SIGKILL in the middle of a send. Every
event goes to a signed webhook on 127.0.0.1 whose ``webhook-id`` is the
outbox's event id, so "exactly once" is a count of ids.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from daemon.store import outbox
from tests.conftest import StartDaemon
from tests.receivers import Receiver
from tests.test_daemon import Daemon, eventually, fast
from tests.test_metrics import Scraper, _free_port
from tests.world import PAYMENT_FAILED, World

SECRET = "whsec_" + base64.b64encode(b"daemon-signing-key-0123456789abc").decode()
ENV = {"HOOK_SECRET": SECRET}


def with_webhook(world: World, hook: Receiver, *, events: str, rules: str = PAYMENT_FAILED) -> None:
    """A pass every second; ``events`` POSTed, signed, to ``hook``."""
    fast(
        world,
        rules,
        top_level=(
            "notifications:\n  channels:\n"
            f"    hook:\n      webhook: {{url: '{hook.http_url}', secret_env: HOOK_SECRET}}\n"
            f"  routes:\n    - events: {events}\n      channels: [hook]\n"
            "  delivery:\n    first_backoff_seconds: 0.1\n    max_backoff_seconds: 0.5\n"
            "    poll_seconds: 0.2\n"
        ),
    )


def verified(hook: Receiver) -> list[dict[str, Any]]:
    """Every event the webhook received, each checked against its signature."""
    found = []
    for request in hook.requests():
        event = Webhook(SECRET).verify(request.body, request.headers)
        assert event["id"] == request.headers["webhook-id"]
        found.append(event)
    return found


def of_type(hook: Receiver, name: str) -> list[dict[str, Any]]:
    return [event for event in verified(hook) if event["type"] == name]


def rows_of(world: World, *names: str) -> list[dict[str, Any]]:
    """The outbox's rows for events ``names`` (a prepaid order has its refund hand-off too)."""
    with world.engine.connect() as connection:
        return [row for row in outbox.rows(connection) if row["name"] in names]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_the_daemon_announces_its_start_a_rejected_reload_and_its_stop(
    world: World, hook: Receiver, start_daemon: StartDaemon
) -> None:
    with_webhook(world, hook, events="[daemon_started, reload_rejected, daemon_stopping]")
    daemon = start_daemon(env=ENV)
    (started,) = eventually(lambda: of_type(hook, "daemon_started"), what="daemon_started")
    assert started["data"] == {"mode": "live", "path": str(world.rules_path)}

    good = world.rules_path.read_text()
    world.rules_path.write_text(
        good + "  - name: broken\n    kind: no_such_kind\n    reason_id: 1\n"
    )
    daemon.signal(signal.SIGHUP)
    (rejected,) = eventually(lambda: of_type(hook, "reload_rejected"), what="reload_rejected")
    assert rejected["data"]["path"] == str(world.rules_path)
    assert rejected["data"]["errors"] == 1
    (problem,) = rejected["data"]["problems"]
    assert "rules.yaml:" in problem and "unknown kind 'no_such_kind'" in problem

    assert daemon.stop() == 0
    (stopping,) = of_type(hook, "daemon_stopping")  # delivered before the process ended
    assert stopping["data"] == {"path": str(world.rules_path)}
    assert [e["type"] for e in verified(hook)] == [
        "daemon_started",
        "reload_rejected",
        "daemon_stopping",
    ]


def test_a_send_cut_by_sigkill_is_sent_again_after_restart_with_the_same_id(
    world: World, hook: Receiver, start_daemon: StartDaemon
) -> None:
    """The id stays the event's: a receiver that deduplicates on webhook-id sees it once."""
    with_webhook(world, hook, events="[order_cancelled]")
    hook.hold()  # the receiver takes the request and does not answer
    world.add_order("pay-1", payment_status="failed")
    first = start_daemon(env=ENV)
    (cut,) = eventually(lambda: of_type(hook, "order_cancelled"), what="the send in flight")
    first.kill()  # SIGKILL, the answer never read: the row stays claimed by a dead process
    (row,) = rows_of(world, "order_cancelled")
    assert (row["state"], row["event_id"]) == ("pending", cut["id"])

    hook.release.set()
    second = start_daemon(env=ENV)
    eventually(lambda: len(of_type(hook, "order_cancelled")) == 2, what="the resend")
    assert second.stop() == 0
    again = of_type(hook, "order_cancelled")[1]
    assert again["id"] == cut["id"]
    assert again["data"]["payment_key"] == "pay-1"
    assert [r["state"] for r in rows_of(world, "order_cancelled")] == ["delivered"]
    assert [key for key, _ in world.cancel_calls()] == ["pay-1"]  # cancelled once


REPLICA_ORDERS = 12
ROUTED = ("order_cancelled", "daemon_started")


@pytest.mark.postgres
def test_two_daemon_processes_on_postgresql_deliver_each_event_exactly_once(
    pg_world: World, hook: Receiver
) -> None:
    with_webhook(pg_world, hook, events=f"[{', '.join(ROUTED)}]")
    replicas = [Daemon(pg_world, env=ENV, log_name=f"replica-{n}.log") for n in range(2)]
    try:
        eventually(lambda: len(of_type(hook, "daemon_started")) == 2, what="both replicas started")
        for n in range(REPLICA_ORDERS):
            pg_world.add_order(f"pay-{n}", payment_status="failed")

        def settled() -> bool:
            rows = rows_of(pg_world, *ROUTED)
            return len(rows) == REPLICA_ORDERS + 2 and {r["state"] for r in rows} == {"delivered"}

        eventually(settled, within=30, what="every event delivered")
        assert all(replica.stop() == 0 for replica in replicas)
    finally:
        for replica in replicas:
            replica.kill()

    # The refund hand-offs and daemon_stopping were recorded too, and routed nowhere.
    ids = {row["event_id"] for row in rows_of(pg_world, *ROUTED)}
    delivered = Counter(event["id"] for event in verified(hook))
    assert set(delivered) == ids
    assert set(delivered.values()) == {1}, "an event was delivered twice"
    cancelled = sorted(e["data"]["payment_key"] for e in of_type(hook, "order_cancelled"))
    assert cancelled == sorted(f"pay-{n}" for n in range(REPLICA_ORDERS))
    assert Counter(key for key, _ in pg_world.cancel_calls()) == Counter(
        {f"pay-{n}": 1 for n in range(REPLICA_ORDERS)}
    )


PENDING = "autocancel_outbox_pending"
OLDEST = "autocancel_outbox_oldest_pending_age_seconds"


def test_the_outbox_backlog_is_a_metric_and_in_status_until_the_channel_takes_it(
    world: World, hook: Receiver, start_daemon: StartDaemon
) -> None:
    hook.status = 503  # the receiver is down
    with_webhook(world, hook, events="[order_cancelled]")
    port = _free_port()
    world.rules_path.write_text(world.rules_path.read_text() + f"metrics:\n  port: {port}\n")
    daemon = start_daemon(env=ENV)
    scraper = Scraper(port)
    eventually(scraper.up, what="the metrics endpoint")
    # daemon_started waits a moment too (routed nowhere, settled by the first round).
    eventually(lambda: _backlog(scraper) == (0, 0), what="an empty outbox")

    world.add_order("pay-1", payment_status="failed")
    eventually(lambda: scraper.samples()[PENDING] == 1, what="the undelivered event counted")
    first_age = scraper.samples()[OLDEST]
    eventually(lambda: scraper.samples()[OLDEST] > first_age, what="the backlog ageing")
    assert [key for key, _ in world.cancel_calls()] == ["pay-1"]  # the cancellation did not wait
    assert "HTTP 503" in daemon.log() and SECRET not in daemon.log()
    text, as_json = world.start_cli("status"), world.start_cli("status", "--json")  # at once
    (line,) = [t for t in text.communicate()[0].splitlines() if t.startswith("notifications:")]
    assert line.startswith("notifications: 1 waiting (the oldest since 20")
    shown = json.loads(as_json.communicate()[0])["notifications"]
    assert shown["pending"] == 1 and shown["oldest_pending_at"].startswith("20")
    promtool = shutil.which("promtool")
    if promtool is not None:  # .ci/run installs it; tests/test_metrics.py skips without
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=scraper.text(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

    hook.status = 200  # back: the next retry delivers it
    eventually(lambda: _backlog(scraper) == (0, 0), what="the backlog drained")
    delivered = of_type(hook, "order_cancelled")[-1]
    assert delivered["data"]["payment_key"] == "pay-1"
    assert daemon.stop() == 0


def _backlog(scraper: Scraper) -> tuple[float, float]:
    samples = scraper.samples()  # one scrape: the two gauges as one round left them
    return samples[PENDING], samples[OLDEST]

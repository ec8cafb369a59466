"""A reload of ``autocancel run`` applies every setting, and says what it changed."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
from typing import Any

from daemon.config.models import YAML_KEYS
from daemon.service import reloading
from tests.conftest import StartDaemon
from tests.test_daemon import Daemon, _free_port, eventually, fast
from tests.world import DEFAULT_RULES, World, ledger_rows, secret_keys_only


def _edit(world: World, *replacements: tuple[str, str], append: str = "") -> None:
    text = world.rules_path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    world.rules_path.write_text(text + append, encoding="utf-8")


def _reloads(daemon: Daemon) -> list[str]:
    return [line for line in daemon.log().splitlines() if "rules reloaded from" in line]


def _is_cancelled(world: World, key: str) -> bool:
    return _outcome(world, key) == "cancelled"


def _reload(daemon: Daemon, count: int) -> str:
    """SIGHUP, then the ``count``-th "rules reloaded" line."""
    daemon.signal(signal.SIGHUP)
    eventually(lambda: len(_reloads(daemon)) >= count, what=f"reload number {count}")
    return _reloads(daemon)[count - 1]


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_reload_names_every_change_with_its_old_and_new_value(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, DEFAULT_RULES)
    daemon = start_daemon()
    eventually(lambda: "running" in daemon.log(), what="start-up")
    _edit(
        world,
        ("    min_closed_minutes: 10\n", "    min_closed_minutes: 0\n"),
        ("  interval_seconds: 1\n", "  interval_seconds: 2\n"),
        ("  max_cancellations_per_hour: 30\n", "  max_cancellations_per_hour: 20\n"),
        ("    latitude: 41.0789\n", "    latitude: 41.08\n"),
        ("  - name: payment-failed\n    kind: payment_failed\n    reason_id: 7\n", ""),
    )

    line = _reload(daemon, 1)

    assert "overloaded: min_closed_minutes 10 -> 0" in line
    assert "schedule.interval_seconds 1 -> 2" in line
    assert "safety.max_cancellations_per_hour 30 -> 20" in line
    assert "restaurant Akat Şube: latitude 41.0789 -> 41.08" in line
    assert "rule removed: payment-failed" in line
    assert "section changed" not in daemon.log()
    assert "not applied until a restart" not in daemon.log()
    assert daemon.stop() == 0


def test_reload_starts_and_stops_the_sync_and_moves_the_metrics(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world)
    world.simulator.add_order(payment_key="on-the-platform")
    first_port, second_port = _free_port(), _free_port()
    daemon = start_daemon()
    eventually(lambda: "running" in daemon.log(), what="start-up")
    assert world.simulator.requests("GET", "orders/get-current") == []

    _edit(world, append=f"sync:\n  enabled: true\nmetrics:\n  port: {first_port}\n")
    line = _reload(daemon, 1)

    assert "sync.enabled false -> true" in line
    assert f"metrics.port none -> {first_port}" in line
    eventually(
        lambda: world.simulator.requests("GET", "orders/get-current"),
        what="the sync job polling get-current",
    )
    eventually(
        lambda: "autocancel_pass_duration_seconds" in (_scrape(first_port) or ""),
        what="metrics on the new port",
    )

    _edit(
        world,
        ("  enabled: true\n", "  enabled: false\n"),
        (f"  port: {first_port}\n", f"  port: {second_port}\n"),
    )
    line = _reload(daemon, 2)

    assert "sync.enabled true -> false" in line
    assert f"metrics.port {first_port} -> {second_port}" in line
    moved = f"metrics moved to http://127.0.0.1:{second_port}/metrics"
    eventually(lambda: moved in daemon.log(), what="the metrics server moving")
    assert "order sync stopped" in daemon.log()
    assert _scrape(second_port) is not None
    assert _scrape(first_port) is None
    assert "not applied until a restart" not in daemon.log()
    assert daemon.stop() == 0


def test_every_top_level_setting_is_applied_on_reload_or_named_as_needing_a_restart() -> None:
    handled = reloading.APPLIED_BY_NEW_RUNNER | reloading.APPLIED_BY_DAEMON
    assert set(YAML_KEYS) <= handled | reloading.NEEDS_RESTART
    change = reloading.Change(
        section="some_future_key", setting="some_future_key", before="a", after="b"
    )
    assert reloading.needing_restart([change]) == [change]
    assert (
        reloading.needing_restart(
            [reloading.Change(section="sync", setting="sync.enabled", before=False, after=True)]
        )
        == []
    )


# --- the next pass goes by the new file ----------------------------------------------------

PAYMENT_AND_STOCK = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""


def _outcome(world: World, key: str) -> str | None:
    return next((row["outcome"] for row in world.ledger() if row["payment_key"] == key), None)


def _status(world: World) -> dict[str, Any]:
    result = world.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


def test_a_rule_removed_by_sighup_cancels_nothing_from_the_next_pass_on(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, PAYMENT_AND_STOCK)
    world.set_stock(2, available=False)
    daemon = start_daemon()
    world.add_order("stock-before", items=[(2, 1)])
    eventually(lambda: _outcome(world, "stock-before") == "cancelled", what="the rule acting")

    _edit(world, ("  - name: out-of-stock\n    kind: out_of_stock\n    reason_id: 1\n", ""))
    assert "rule removed: out-of-stock" in _reload(daemon, 1)
    world.add_order("stock-after", items=[(2, 1)])
    world.add_order("payment-after", payment_status="failed")
    # The pass that cancelled payment-after read stock-after too (written before it).
    eventually(lambda: _outcome(world, "payment-after") == "cancelled", what="the next pass")

    assert world.cancel_calls() == [
        ("stock-before", {"reason_id": 1}),
        ("payment-after", {"reason_id": 7}),
    ]
    assert ledger_rows(world, "stock-after") == []
    assert world.status_of("stock-after") == 1
    status = _status(world)
    assert status["safety_budget"] == {"limit": 30, "used": 2, "left": 28}
    assert status["pending_intents"] == []
    assert daemon.stop() == 0


def test_a_rule_changed_by_sighup_cancels_by_its_new_settings_from_the_next_pass_on(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world)
    daemon = start_daemon()
    world.add_order("on-its-way", status_id=16, payment_status="failed")
    world.add_order("before", payment_status="failed")
    eventually(lambda: _outcome(world, "before") == "cancelled", what="a cancel by the old rule")
    assert _outcome(world, "on-its-way") is None  # status 16 is not the rule's, yet

    _edit(
        world,
        ("    reason_id: 7\n", "    reason_id: 5\n    statuses: [1, 2, 16]\n"),
        ("  max_cancellations_per_hour: 30\n", "  max_cancellations_per_hour: 20\n"),
    )
    line = _reload(daemon, 1)
    assert "payment-failed: reason_id 7 -> 5" in line
    assert "safety.max_cancellations_per_hour 30 -> 20" in line
    world.add_order("after", payment_status="failed")
    for key in ("on-its-way", "after"):
        eventually(partial(_is_cancelled, world, key), what=f"{key} cancelled")

    assert sorted(world.cancel_calls()) == [
        ("after", {"reason_id": 5}),
        ("before", {"reason_id": 7}),
        ("on-its-way", {"reason_id": 5}),
    ]
    assert {row["payment_key"]: row["reason_id"] for row in world.ledger()} == {
        "before": 7,
        "on-its-way": 5,
        "after": 5,
    }
    assert world.simulator.order("on-its-way")["cancel_reason_id"] == 5  # type: ignore[index]
    status = world.cli("status")
    assert "safety budget: 17 of 20 cancellations left this hour" in status.stdout
    assert daemon.stop() == 0


def test_an_interval_changed_by_sighup_spaces_the_passes_at_once(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world, interval=30)
    daemon = start_daemon()
    eventually(lambda: world.finished_passes() >= 1, what="the first pass")

    _edit(world, ("  interval_seconds: 30\n", "  interval_seconds: 0.5\n"))
    assert "schedule.interval_seconds 30 -> 0.5" in _reload(daemon, 1)
    eventually(lambda: world.finished_passes() >= 6, what="five passes at the new interval")
    assert daemon.stop() == 0

    starts = [row["started_at"] for row in world.passes()]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(starts)]
    # The first pass, then nothing until the reload; after it, one every half second.
    later_gaps = gaps[1:]
    assert max(later_gaps) < 5, gaps  # the old interval would space them 30 s apart
    assert sum(later_gaps) / len(later_gaps) >= 0.4, gaps  # and they do not run back to back
    finished = datetime.fromisoformat(_status(world)["last_pass"]["finished_at"])
    assert datetime.now(UTC) - finished < timedelta(seconds=10)


def test_a_reload_keeps_the_login_unless_the_api_section_changes(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    fast(world)
    daemon = start_daemon(env=secret_keys_only(world))

    def cancel_one(key: str) -> None:
        world.add_order(key, payment_status="failed")
        eventually(lambda: _outcome(world, key) == "cancelled", what=f"{key} cancelled")

    def logins() -> int:
        return len(world.simulator.requests("POST", "auth/login"))

    cancel_one("first")
    _edit(world, ("  max_cancellations_per_hour: 30\n", "  max_cancellations_per_hour: 20\n"))
    _reload(daemon, 1)
    cancel_one("after-a-safety-change")
    assert logins() == 1

    _edit(world, ("  timeout_seconds: 2\n", "  timeout_seconds: 3\n"))
    assert "api.timeout_seconds 2 -> 3" in _reload(daemon, 2)
    cancel_one("after-an-api-change")
    assert logins() == 2  # a new client for the new settings
    assert daemon.stop() == 0

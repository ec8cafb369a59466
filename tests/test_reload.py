"""A reload of ``autocancel run`` applies every setting, and says what it changed."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request

from daemon.config.models import YAML_KEYS
from daemon.service import reloading
from tests.conftest import StartDaemon
from tests.test_daemon import Daemon, _free_port, eventually, fast
from tests.world import DEFAULT_RULES, World


def _edit(world: World, *replacements: tuple[str, str], append: str = "") -> None:
    text = world.rules_path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    world.rules_path.write_text(text + append, encoding="utf-8")


def _reloads(daemon: Daemon) -> list[str]:
    return [line for line in daemon.log().splitlines() if "rules reloaded from" in line]


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

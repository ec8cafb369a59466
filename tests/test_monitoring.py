"""The monitoring kit in deploy/: alert rules and a dashboard that use only real metrics.

``promtool test rules`` runs the alert rules' own test file (input series in,
expected alerts out); every alert has a test there; and every metric an alert
or a dashboard panel reads is one a running daemon really exports (a live
scrape, so a renamed metric breaks this test rather than the operator's
alerting or dashboard).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_daemon import Daemon, eventually
from tests.test_metrics import Scraper, _daemon_with_metrics
from tests.world import AKAT, World

KIT = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
ALERTS = KIT / "autocancel-alerts.yml"
ALERT_TESTS = KIT / "autocancel-alerts.test.yml"
METRIC = re.compile(r"\bautocancel_[a-z_]+")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus); .ci/run installs it")
    return found


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_alert_rules_are_valid_and_pass_their_unit_tests() -> None:
    promtool = _promtool()
    for command in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERT_TESTS)]):
        result = subprocess.run(
            [promtool, *command], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_a_summary_and_a_runbook() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = [rule["alert"] for rule in _rules()]
    assert set(names) <= tested, f"alerts without a firing test: {sorted(set(names) - tested)}"
    for rule in _rules():
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook"].startswith("README.md, Monitoring > "), rule["alert"]
    readme = (KIT.parent.parent / "README.md").read_text(encoding="utf-8")
    for name in names:  # the runbook's section exists
        assert f"**{name}**" in readme, f"README's Monitoring section does not explain {name}"


def test_every_metric_an_alert_reads_is_exported_by_a_running_daemon(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    scraper: Scraper = _daemon_with_metrics(world, start_daemon)
    world.add_order("a1", restaurant_id=AKAT)
    world.add_order("a2", restaurant_id=AKAT)  # the congestion rule closes Akat at two
    eventually(
        lambda: "autocancel_restaurant_closed_since_timestamp_seconds" in scraper.text(),
        what="the closure in the metrics",
    )
    exported = set(METRIC.findall(scraper.text()))
    wanted = {name for rule in _rules() for name in METRIC.findall(rule["expr"])}
    assert wanted, "the alert rules read no autocancel metric"
    assert wanted <= exported, f"not exported: {sorted(wanted - exported)}"


DASHBOARD = KIT.parent / "grafana" / "autocancel.json"


def test_the_dashboard_is_valid_json_with_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for shown in ("decisions", "held", "pass duration", "api errors", "closed", "reaction"):
        assert shown in titles, f"no panel for {shown}"


def test_every_dashboard_query_reads_metrics_a_running_daemon_exports(
    world: World, start_daemon: Callable[..., Daemon]
) -> None:
    scraper: Scraper = _daemon_with_metrics(world, start_daemon)
    world.add_order("late", payment_status="failed")
    eventually(
        lambda: "autocancel_cancel_delay_seconds_count 1.0" in scraper.text(),
        what="a cancellation's reaction time observed",
    )
    exported = set(METRIC.findall(scraper.text()))
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    assert len(queried) >= 10
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"

"""The audit report in a real browser: headless Chromium driven by selenium.

One store (tests/audit_world.py: real passes against the simulator, markup in
a customer's name, an address and a restaurant's name), one report, one
browser session for the module. The page loads with no console error (a CSP
violation is one), the charts and the table show ``audit``'s counts, the
filter hides what does not match, and nothing from the data ever runs: no
alert, no global flag. Skipped, with the reason, where Chromium, chromedriver
or selenium are missing (.ci/run installs them).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.audit_world import IMG_ADDRESS, SCRIPT_NAME, SVG_RESTAURANT, AuditedStore, audited_world

if TYPE_CHECKING:
    from selenium.webdriver import Chrome as WebDriver  # get_log is Chromium's
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None:
        return "no chromium on PATH (apt-get install chromium)"
    if CHROMEDRIVER is None:
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

# Without the background-networking flags Chromium dials out at start (updates,
# sync, field trials): on a closed network those refusals end up in the log.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1800",
)


@dataclass(frozen=True)
class Opened:
    driver: WebDriver
    built: AuditedStore
    audit: list[dict[str, Any]]
    folder: Path
    load_log: list[dict[str, Any]]  # the browser's console while the page loaded


def _browser(profile: Path) -> WebDriver:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    from selenium.webdriver.support.ui import WebDriverWait

    folder = tmp_path_factory.mktemp("browser")
    with audited_world(folder) as (world, built):
        target = folder / "report.html"
        written = world.cli("report", "--html", str(target))
        assert written.returncode == 0, written.stderr
        listed = world.cli("audit", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        audit = [json.loads(line) for line in listed.stdout.splitlines()]
    driver = _browser(folder / "profile")
    try:
        driver.get(target.as_uri())
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        yield Opened(driver, built, audit, folder, _console(driver))
    finally:
        driver.quit()


def _console(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's console since the last read (goog:loggingPrefs)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def _problems(log: list[dict[str, Any]]) -> list[str]:
    return [entry["message"] for entry in log if entry["level"] in ("SEVERE", "WARNING")]


def _visible_keys(driver: WebDriver) -> list[str]:
    from selenium.webdriver.common.by import By

    rows: list[WebElement] = driver.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")
    return [str(row.get_attribute("data-key")) for row in rows if row.is_displayed()]


def _shown_count(driver: WebDriver) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "shown-count").text)


def test_the_page_loads_without_errors_and_nothing_from_the_data_runs(opened: Opened) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver = opened.driver
    assert _problems(opened.load_log) == []
    with pytest.raises(NoAlertPresentException):
        _ = driver.switch_to.alert
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
    # The markup is there as text, where a reader sees it.
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-key='hostile-customer']")
    assert SCRIPT_NAME in row.text and IMG_ADDRESS in row.text
    closures = driver.find_element(By.ID, "chart-closures")
    assert SVG_RESTAURANT in closures.text

    screenshot = opened.folder / "report.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_the_charts_and_the_table_show_audits_counts(opened: Opened) -> None:
    from selenium.webdriver.common.by import By

    driver, audit = opened.driver, opened.audit
    assert _visible_keys(driver) == [row["payment_key"] for row in audit]
    assert _shown_count(driver) == str(len(audit))
    outcomes = {
        cells[0].text: int(cells[1].text)
        for row in driver.find_elements(By.CSS_SELECTOR, "#outcomes tbody tr[data-outcome]")
        for cells in [row.find_elements(By.TAG_NAME, "td")]
    }
    assert outcomes == dict(Counter(row["outcome"] for row in audit))

    def bars(chart: str) -> list[int]:
        values: list[str] = driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' g.bar desc.value'),"
            " d => d.textContent)",
            f"#{chart}",
        )
        return [int(value) for value in values]

    # Every decision is in one bar segment of each chart (one day here).
    assert sum(bars("chart-reasons")) == len(audit)
    assert sorted(bars("chart-modes")) == sorted(Counter(row["mode"] for row in audit).values())
    legend = driver.find_element(By.ID, "chart-reasons").text
    for reason in {row["reason_id"] for row in audit}:
        assert f"{reason} " in legend
    assert "Ödeme problemi / payment problem" in legend
    # Drawn, not just present: the charts take room on the page.
    for chart in ("chart-reasons", "chart-modes", "chart-closures"):
        size = driver.find_element(By.CSS_SELECTOR, f"#{chart} svg").size
        assert size["width"] > 300 and size["height"] > 100, (chart, size)
    closed = driver.execute_script(
        "return new Set(Array.from(document.querySelectorAll('#chart-closures g.series'),"
        " g => g.getAttribute('class').match(/serie-\\d+/)[0])).size"
    )
    assert closed == 1  # Akat, closed by the congestion rule
    assert _problems(_console(driver)) == []


def test_filtering_the_table_hides_the_rows_that_do_not_match(opened: Opened) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, built = opened.driver, opened.built
    text = driver.find_element(By.ID, "filter-text")
    mode = Select(driver.find_element(By.ID, "filter-mode"))
    outcome = Select(driver.find_element(By.ID, "filter-outcome"))
    everyone = [row["payment_key"] for row in opened.audit]
    try:
        text.send_keys("alert(1)")  # the customer's name, as typed text
        assert _visible_keys(driver) == ["hostile-customer"]
        assert _shown_count(driver) == "1"

        text.clear()
        text.send_keys("PWNED=1")  # case-insensitive; the address, and the evidence
        assert sorted(_visible_keys(driver)) == ["hostile-address", "hostile-customer"]

        text.clear()
        text.send_keys(" ")  # clear() fires no input event; a blank filter matches all
        assert _visible_keys(driver) == everyone
        mode.select_by_value("dry_run")
        assert sorted(_visible_keys(driver)) == sorted(built.dry_keys)
        outcome.select_by_value("cancelled")  # the filters combine: none is both
        assert _visible_keys(driver) == [] and _shown_count(driver) == "0"
        mode.select_by_value("")
        assert sorted(_visible_keys(driver)) == sorted(built.live_keys)
    finally:
        text.clear()
        mode.select_by_value("")
        outcome.select_by_value("")
    assert _problems(_console(driver)) == []
    assert driver.execute_script("return typeof window.__pwned") == "undefined"

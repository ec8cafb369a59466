"""``autocancel report --html``: the auditor's page, read as an auditor (and an attacker) would.

A real store built by real passes against the simulator (tests/audit_world.py);
the page is parsed with the standard library's HTML parser. The rows are
``audit``'s over the same window, each with the rules file in force when it
was decided; markup from orders and rules.yaml stays text; bad arguments are
one line and leave no file. The browser test (test_audit_report_browser.py)
opens the same kind of page in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from daemon.cli.main import main
from daemon.store import schema
from tests.audit_world import (
    IMG_ADDRESS,
    SCRIPT_NAME,
    SVG_RESTAURANT,
    AuditedStore,
    audited_world,
)
from tests.conftest import StartDaemon
from tests.test_daemon import eventually, fast
from tests.world import PAYMENT_FAILED, World


@dataclass
class Row:
    attrs: dict[str, str]
    cells: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # title attributes inside the row


class Page(HTMLParser):
    """The parts of the report a test reads: tables by id, scripts, tags, SVG texts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[Row]] = {}
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.csp = ""
        self.svg_texts: list[str] = []
        self._table: str | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._script: tuple[dict[str, str], list[str]] | None = None
        self._svg_depth = 0
        self._in_head = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags[tag] += 1
        self.attributes += [(tag, name, value) for name, value in values.items()]
        if tag == "meta" and values.get("http-equiv") == "Content-Security-Policy":
            self.csp = values["content"]
        elif tag == "table" and "id" in values:
            self._table = values["id"]
            self.tables[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None and not self._in_head:
            self._row = Row(attrs=values)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "script":
            self._script = (values, [])
        elif tag == "svg":
            self._svg_depth += 1
        if self._row is not None and "title" in values:
            self._row.titles.append(values["title"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.cells.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None
        elif tag == "svg":
            self._svg_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self._script[1].append(data)
        if self._svg_depth and data.strip():
            self.svg_texts.append(data.strip())

    def decisions(self) -> list[Row]:
        return self.tables["decisions"]

    def facts(self) -> dict[str, Any]:
        (text,) = [text for attrs, text in self.scripts if attrs.get("id") == "report-facts"]
        parsed: dict[str, Any] = json.loads(text)
        return parsed


Audited = tuple[World, AuditedStore]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """One store for the tests that only read it (building it runs two passes)."""
    with audited_world(tmp_path_factory.mktemp("audited")) as shared:
        yield shared


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def _cli(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """``autocancel COMMAND -c RULES ARGS`` in this process (the store needs no credentials)."""
    command, *rest = args
    capsys.readouterr()
    code = main([command, "-c", str(world.rules_path), *rest])
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def _report(
    world: World, capsys: pytest.CaptureFixture[str], *args: str, name: str
) -> tuple[str, Page]:
    target = world.folder / name
    ran = _cli(world, capsys, "report", "--html", str(target), *args)
    assert ran.code == 0, ran.err
    assert ran.out.startswith(f"wrote {target}: "), ran.out
    assert target.stat().st_mode & 0o777 == 0o600  # customers' names and addresses
    assert _leftovers(world.folder) == []
    html = target.read_text(encoding="utf-8")
    return html, Page(html)


def _audit(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    ran = _cli(world, capsys, "audit", "--format", "json", *args)
    assert ran.code == 0, ran.err
    return [json.loads(line) for line in ran.out.splitlines()]


def _keyed(rows: list[Row]) -> dict[str, Row]:
    return {row.attrs["data-key"]: row for row in rows}


def _shipped_script() -> str:
    files = resources.files("daemon.cli.auditreport") / "templates"
    return (files / "report.js").read_text(encoding="utf-8")


def test_the_report_lists_audits_rows_each_with_the_rules_file_in_force(
    audited: Audited, capsys: pytest.CaptureFixture[str]
) -> None:
    world, built = audited
    audit = _audit(world, capsys)

    _, page = _report(world, capsys, name="all.html")

    rows = page.decisions()
    assert [
        (r.attrs["data-key"], r.attrs["data-rule"], r.attrs["data-outcome"], r.attrs["data-mode"])
        for r in rows
    ] == [(a["payment_key"], a["rule"], a["outcome"], a["mode"]) for a in audit]
    assert page.facts()["outcomes"] == dict(Counter(a["outcome"] for a in audit))
    assert page.facts()["outcomes"] == {"cancelled": 3, "would_cancel": 2}
    outcome_rows = {r.cells[0]: r.cells[1] for r in page.tables["outcomes"]}
    assert outcome_rows == {"cancelled": "3", "would_cancel": "2", "all": "5"}
    # Each decision names the file that decided it: the live one, then the dry-run one.
    by_key = _keyed(rows)
    for key in built.live_keys:
        assert built.live_digest in by_key[key].titles, key
        assert built.live_digest[:12] in by_key[key].cells
    for key in built.dry_keys:
        assert built.dry_digest in by_key[key].titles, key
    # The reason in the API's Turkish and in English; the evidence in full.
    customer = by_key["hostile-customer"].cells
    assert "Ödeme problemi" in customer[6] and "payment problem" in customer[6]
    assert json.loads(by_key["hostile-address"].cells[-1]) == {"address": IMG_ADDRESS}
    assert customer[2] == SCRIPT_NAME and customer[3] == IMG_ADDRESS
    # The periods: the live file until the dry-run file was loaded, which is still in force.
    first, second = page.tables["digests"]
    assert first.cells[0] == built.live_digest and second.cells[0] == built.dry_digest
    assert first.cells[1] == second.cells[1] == str(world.rules_path)
    assert first.cells[3] == second.cells[2] and second.cells[3] == "still in force"
    assert [first.cells[4], second.cells[4]] == ["1", "1"]  # one `once` each
    (closure,) = page.tables["closures"]
    assert closure.cells[0].startswith(SVG_RESTAURANT) and closure.cells[3] == "still closed"


def test_the_report_over_a_window_has_exactly_audits_rows_for_it(
    audited: Audited, capsys: pytest.CaptureFixture[str]
) -> None:
    world, built = audited
    # From just before the dry-run file was loaded (not the second its decisions were
    # printed at: under load a process starts in one second and decides in the next).
    loads = schema.rules_loads
    with world.engine.connect() as connection:
        loaded = connection.execute(
            sa.select(sa.func.min(loads.c.loaded_at)).where(loads.c.digest == built.dry_digest)
        ).scalar_one()
    since = (loaded - timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    window = ("--since", since, "--until", "2100-01-01T00:00:00Z")
    audit = _audit(world, capsys, *window)

    _, page = _report(world, capsys, *window, name="window.html")

    assert [r.attrs["data-key"] for r in page.decisions()] == [a["payment_key"] for a in audit]
    assert sorted(a["payment_key"] for a in audit) == sorted(built.dry_keys)
    # The closure began before the window and lasts into it; the live file was in force
    # until the window's first microsecond, so both files show.
    assert len(page.tables["closures"]) == 1
    assert [row.cells[0] for row in page.tables["digests"]] == [
        built.live_digest,
        built.dry_digest,
    ]
    assert {built.dry_digest} == {t for row in page.decisions() for t in row.titles}


def test_dry_run_only_lists_the_dry_run_decisions_alone(
    audited: Audited, capsys: pytest.CaptureFixture[str]
) -> None:
    world, built = audited

    html, page = _report(world, capsys, "--dry-run-only", name="dry.html")

    rows = page.decisions()
    assert sorted(_keyed(rows)) == sorted(built.dry_keys)
    assert {r.attrs["data-mode"] for r in rows} == {"dry_run"}
    assert page.facts()["outcomes"] == {"would_cancel": 2}
    assert "closures" not in page.tables and "dry-run-only report has none" in html
    assert "dry-run decisions only" in html


def test_markup_from_orders_and_rules_is_only_ever_text(
    audited: Audited, capsys: pytest.CaptureFixture[str]
) -> None:
    world, _ = audited

    html, page = _report(world, capsys, name="markup.html")

    for hostile in (SCRIPT_NAME, IMG_ADDRESS, SVG_RESTAURANT):
        assert hostile not in html, hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The restaurant's name is a label in the closures chart (SVG), as text.
    assert any(text.startswith(SVG_RESTAURANT) for text in page.svg_texts), page.svg_texts
    assert page.tags["img"] == 0 and page.tags["svg"] == 3  # the three charts, nothing more
    assert not [(tag, name) for tag, name, _ in page.attributes if name.startswith("on")]
    # Two scripts: the facts as JSON data, and the shipped filter script, byte for byte.
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]
    assert page.scripts[1][1] == _shipped_script()
    assert "<" not in page.scripts[0][1]
    # Nothing to load from anywhere, and only that script may run (by its hash).
    digest = hashlib.sha256(_shipped_script().encode()).digest()
    directives = dict(part.strip().split(" ", 1) for part in page.csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == f"'sha256-{base64.b64encode(digest).decode()}'"
    assert not [
        value
        for _, name, value in page.attributes
        if name in ("src", "href") and not value.startswith("#")
    ]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_bad_arguments_and_unwritable_files_are_one_line_and_leave_no_file(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(PAYMENT_FAILED)
    target = world.folder / "report.html"
    for args, code in (
        (("--since", "yesterdayish"), 2),
        (("--since", "1h", "--until", "2h"), 2),
    ):
        ran = _cli(world, capsys, "report", "--html", str(target), *args)
        assert ran.code == code, (args, ran.err)
        assert len(ran.err.strip().splitlines()) == 1, ran.err
        assert "Traceback" not in ran.err and not target.exists()

    (world.folder / "a-folder").mkdir()
    for unwritable in (world.folder / "no-such-folder" / "r.html", world.folder / "a-folder"):
        ran = _cli(world, capsys, "report", "--html", str(unwritable))
        assert ran.code == 1, ran.err
        (line,) = ran.err.strip().splitlines()
        assert line.startswith(f"autocancel report: error: cannot write {unwritable}: "), line
    assert _leftovers(world.folder) == []
    assert list((world.folder / "a-folder").iterdir()) == []

    # argparse's own usage error (exit 2), from the installed command
    missing = world.cli("report")
    assert missing.returncode == 2 and "--html" in missing.stderr


def _loads(world: World) -> list[dict[str, Any]]:
    table = schema.rules_loads
    with world.engine.connect() as connection:
        query = sa.select(table).order_by(table.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def _file_digest(world: World) -> str:
    return hashlib.sha256(world.rules_path.read_bytes()).hexdigest()


def test_once_records_the_rules_files_digest_and_status_shows_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(PAYMENT_FAILED)
    assert world.cli("once").returncode == 0

    (load,) = _loads(world)
    assert (load["event"], load["digest"], load["path"]) == (
        "once",
        _file_digest(world),
        str(world.rules_path),
    )
    status = json.loads(_cli(world, capsys, "status", "--json").out)
    assert status["rules_file"]["loaded"]["digest"] == load["digest"]
    assert status["rules_file"]["digest"] == load["digest"]
    text = _cli(world, capsys, "status").out
    assert f"rules in force: sha256 {load['digest'][:12]} of {world.rules_path}" in text

    world.rules_path.write_text(world.rules_path.read_text() + "# edited\n", encoding="utf-8")
    edited = _cli(world, capsys, "status").out
    assert f"the file on disk is now sha256 {_file_digest(world)[:12]} (not loaded yet)" in edited


def test_the_daemon_records_its_rules_at_start_and_each_accepted_reload(
    world: World, start_daemon: StartDaemon
) -> None:
    fast(world, PAYMENT_FAILED)
    started = _file_digest(world)
    daemon = start_daemon()
    eventually(lambda: len(_loads(world)) == 1, what="the start's load")

    world.rules_path.write_text(world.rules_path.read_text() + "# edited\n", encoding="utf-8")
    reloaded = _file_digest(world)
    daemon.signal(signal.SIGHUP)
    eventually(lambda: len(_loads(world)) == 2, what="the reload's load")
    world.rules_path.write_text("rules: [not, valid\n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    eventually(lambda: "reload rejected" in daemon.log(), what="the rejected reload")
    assert daemon.stop() == 0

    # The rejected file was never in force: nothing recorded for it.
    assert [(row["event"], row["digest"]) for row in _loads(world)] == [
        ("start", started),
        ("reload", reloaded),
    ]

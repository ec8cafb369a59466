"""``autocancel diff --format markdown``: pasted into a review, hostile text stays text.

Names come from rules.yaml and payment keys from the POS: neither may break
the tables (a ``|`` adds a column), close the ``<details>`` block, run as
HTML in a page that renders it (``<script>``, ``<img onerror>``), or forge a
line (a newline). Each is shown as the characters it is.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.cli.review import Compared, print_diff_table, print_markdown
from daemon.config.models import Config, Restaurant
from daemon.engine.replay.diff import compare
from daemon.engine.replay.outcomes import OrderOutcome, ReplayResult
from daemon.store.names import Names
from tests.unit.builders import HAL, NOW

HOSTILE_NAME = "Şube | <script>alert(1)</script></details>\n| forged | row |"
HOSTILE_KEY = "k`|<img src=x onerror=alert(1)>"
HOSTILE_RULE = "too-far</summary><b>*bold*</b>"


def _outcome(key: str, rule: str, *, reason: int) -> OrderOutcome:
    return OrderOutcome(
        payment_key=key,
        restaurant_id=HAL,
        rule=rule,
        kind="max_distance",
        reason_id=reason,
        mode="live",
        outcome="cancelled",
        at=NOW,
        total=Decimal("12.50"),
    )


def _compared() -> Compared:
    config = Config(
        source=Path("old `rules`.yaml"),
        restaurants=(Restaurant(id=HAL, name=HOSTILE_NAME),),
        rules=(),
    )
    new = {
        HOSTILE_KEY: _outcome(HOSTILE_KEY, HOSTILE_RULE, reason=6),
        "plain": _outcome("plain", "payment-failed", reason=7),
    }
    old = {"plain": _outcome("plain", "too-far", reason=6)}
    return Compared(
        old=config,
        new=config.model_copy(update={"source": Path("new.yaml")}),
        result=ReplayResult(
            start=NOW - timedelta(days=1),
            end=NOW,
            passes=0,
            full_passes=0,
            changes=0,
            orders_seen=2,
            orders=new,
        ),
        found=compare(old, new),
        on_now=None,
        names=Names.of(config.restaurants),
    )


def _markdown(capsys: pytest.CaptureFixture[str]) -> str:
    print_markdown(_compared())
    return capsys.readouterr().out


def _cells(line: str) -> list[str]:
    """A table row's cells, split on the pipes Markdown splits on (not ``\\|``)."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_every_row_keeps_its_columns_and_no_text_becomes_html(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _markdown(capsys)
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows, out
    header = {len(_cells(line)) for line in rows if line.startswith("| order ")}
    assert header == {5}
    for line in rows:
        assert len(_cells(line)) in (3, 5), line
    assert "forged" not in {cell.strip() for line in rows for cell in _cells(line)}
    # The only HTML is the report's own folding (a code span shows what it holds as text).
    prose = re.sub(r"(`+) .*? \1|`[^`]*`", "", out)
    tags = set(re.findall(r"</?[a-zA-Z][^>]*>", prose))
    assert tags <= {"<details>", "</details>", "<summary>", "</summary>"}, tags
    assert out.count("<details>") == out.count("</details>") == 2
    assert out.count("<summary>") == out.count("</summary>") == 2


def test_hostile_text_is_shown_as_the_characters_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _markdown(capsys)
    row = next(line for line in out.splitlines() if "onerror" in line)
    key, restaurant, _old, new, total = _cells(row)
    # The key keeps its code span, wide enough for the backtick inside.
    assert key.strip() == "`` k`\\|<img src=x onerror=alert(1)> ``"
    assert restaurant.strip() == (
        "Şube \\| &lt;script&gt;alert(1)&lt;/script&gt;&lt;/details&gt;\\\\n\\| forged \\| row \\|"
    )
    assert new.strip().startswith("too-far&lt;/summary&gt;&lt;b&gt;\\*bold\\*&lt;/b&gt; (6 ")
    assert total.strip() == "12.50"
    assert "### Rules change: `` old `rules`.yaml `` → `new.yaml`" in out


def test_the_text_tables_show_a_newline_or_an_escape_as_its_escape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = _compared()
    names = Names(restaurants={HAL: "Şube\x1b[2J\nforged line"})
    print_diff_table(Compared(**{**shown.__dict__, "names": names}))
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert not any(line.startswith("forged") for line in out.splitlines())
    assert "Şube\\x1b[2J\\nforged line" in out

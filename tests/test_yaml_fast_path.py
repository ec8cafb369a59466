"""The libyaml fast path of rules.yaml loading reports exactly what the reference loader does.

`load_config` parses with libyaml when PyYAML has it and, when validation
finds an error, parses again with the line-tracking pure-Python loader to
report it (issue 12, target 7). These tests hold the two to the same words
and lines: the libyaml document on its own (``loader="libyaml"``, no second
parse) must already give the reference's messages, so the second parse is a
guarantee, not a repair.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from daemon.config import yamlsource
from daemon.config.load import ConfigError, YamlLoader, load_config
from daemon.config.yamlsource import load_yaml, load_yaml_fast
from tests.conftest import SHIPPED_RULES

needs_libyaml = pytest.mark.skipif(
    not yamlsource.fast_loader_available(), reason="PyYAML is built without libyaml here"
)

RESTAURANT = """\
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
    name: Merkez
    latitude: 41.0
    longitude: 29.0
"""

# Files libyaml reads, with mistakes validation finds (one or several each).
BROKEN = {
    "unknown top-level key": RESTAURANT + "schedul:\n  interval_seconds: 15\n",
    "unknown rule kind": RESTAURANT
    + "rules:\n  - name: a\n    kind: out_of_stok\n    reason_id: 1\n",
    "reason id out of range": RESTAURANT
    + "rules:\n  - name: a\n    kind: payment_failed\n    reason_id: 9\n",
    "duplicate rule names": RESTAURANT + "rules:\n"
    "  - {name: a, kind: payment_failed, reason_id: 7}\n"
    "  - name: a\n    kind: out_of_stock\n    reason_id: 1\n",
    "duplicate key": RESTAURANT + "schedule:\n  interval_seconds: 15\n  interval_seconds: 20\n",
    "bad numbers": RESTAURANT + "schedule: {interval_seconds: -3}\n"
    "safety:\n  max_cancellations_per_hour: lots\n  max_order_age_minutes: 1e999\n",
    "no coordinates for a distance rule": "restaurants:\n  - id: r1\n    name: Merkez\n"
    "rules:\n  - name: far\n    kind: max_distance\n    max_km: 5\n    reason_id: 6\n",
    "refused tag and statuses": RESTAURANT
    + "x: !!python/object/apply:os.system [echo hi]\n"
    + "rules:\n  - name: a\n    kind: payment_failed\n    reason_id: 7\n    statuses: [1, 5]\n",
    "merge keys and anchors": RESTAURANT + "rules:\n"
    "  - &base {name: a, kind: payment_failed, reason_id: 7, colour: red}\n"
    "  - <<: *base\n    name: b\n    reason_id: 0\n",
    "phone-like and yes/no scalars": RESTAURANT
    + "dry_run: yes please\nsafety:\n  never_cancel: [05321234567, on]\n",
    "windows line ends": (RESTAURANT + "rules:\n  - name: a\n    kind: nope\n").replace(
        "\n", "\r\n"
    ),
    "top level not a mapping": "- just\n- a list\n",
}

# Text libyaml refuses or that the fast path leaves to the reference loader.
NOT_FOR_LIBYAML = {
    "tab indentation": "schedule:\n\tinterval_seconds: 3\n",
    "unclosed flow": RESTAURANT + "rules: [\n  {name: a\n",
    "two documents": "--- a\n--- b\n",
    "nested too deeply": "[" * 5000,
    "billion laughs": "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    "line separator": RESTAURANT + "# a\u2028comment\nschedul: 1\n",
    "lone carriage returns": (RESTAURANT + "schedul: 1\n").replace("\n", "\r"),
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_bytes(text.encode("utf-8"))
    return path


def _errors(path: Path, loader: YamlLoader) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, loader=loader)
    return caught.value.errors


@needs_libyaml
@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_reports_the_same_messages_and_lines_through_libyaml(
    tmp_path: Path, text: str
) -> None:
    path = _write(tmp_path, text)
    assert load_yaml_fast(text) is not None, "the fast path must take this file"

    reference = _errors(path, "reference")
    assert reference and all(e.startswith(f"{path}:") for e in reference), reference
    assert _errors(path, "libyaml") == reference
    assert _errors(path, "auto") == reference


@needs_libyaml
@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_the_libyaml_document_is_the_reference_document(text: str) -> None:
    assert load_yaml_fast(text) == load_yaml(text)


@needs_libyaml
@pytest.mark.parametrize("text", NOT_FOR_LIBYAML.values(), ids=NOT_FOR_LIBYAML.keys())
def test_what_libyaml_refuses_is_reported_by_the_reference_loader(
    tmp_path: Path, text: str
) -> None:
    path = _write(tmp_path, text)
    assert load_yaml_fast(text) is None

    reference = _errors(path, "reference")
    assert _errors(path, "auto") == reference
    assert _errors(path, "libyaml") == reference


def _chain(restaurants: int) -> str:
    """A chain-sized file, the shape bench/generate.py writes (congestion before
    payment_failed, so it loads with an ordering warning)."""
    lines = ["store:\n  url: sqlite:///orders.db\ndry_run: true\nrestaurants:\n"]
    for i in range(restaurants):
        lines.append(
            f"  - id: 00000000-0000-4000-8000-{i:012d}\n    name: Şube {i:04d}\n"
            f"    latitude: {41 + i / 10_000:.6f}\n    longitude: {29 - i / 10_000:.6f}\n"
        )
    lines.append(
        "rules:\n"
        "  - {name: out-of-stock, kind: out_of_stock, reason_id: 1}\n"
        "  - {name: too-far, kind: max_distance, max_km: 7.5, reason_id: 6}\n"
        "  - name: overloaded\n    kind: congestion\n    max_active_orders: 20\n"
        "    reason_id: 3\n"
        "  - {name: payment-failed, kind: payment_failed, reason_id: 7}\n"
    )
    return "".join(lines)


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [SHIPPED_RULES.read_text(encoding="utf-8"), _chain(300), _chain(300).replace("\n", "\r\n")],
    ids=["shipped", "chain", "chain-crlf"],
)
def test_valid_files_load_the_same_config_and_warnings_through_both(
    tmp_path: Path, text: str
) -> None:
    path = _write(tmp_path, text)
    assert load_yaml_fast(text) == load_yaml(text)
    fast, reference = (load_config(path, environ={}, loader=x) for x in ("auto", "reference"))
    assert fast == reference


def test_without_libyaml_the_reference_loader_does_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsource, "_CLoader", None)
    assert not yamlsource.fast_loader_available()
    good = _write(tmp_path, _chain(3))
    assert load_yaml_fast(good.read_text(encoding="utf-8")) is None
    assert load_config(good, environ={}).warnings

    broken = _write(tmp_path, textwrap.dedent(BROKEN["unknown rule kind"]))
    assert _errors(broken, "auto") == _errors(broken, "reference")

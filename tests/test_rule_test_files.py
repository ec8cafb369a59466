"""Every way a rules test file can be malformed, each reported as ``FILE:LINE: message``.

In-process (daemon.config.ruletests.load): the command prints exactly these
lines and exits 2 (tests/test_rule_tests.py checks that). Each case is a
whole file, so the line numbers can be read off it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.ruletests.load import RuleTestFileError, load_rule_tests, parse_rule_tests
from tests.conftest import SHIPPED_RULES

HAL = "0ca1d2b1-a199-4960-8617-83a659d890c8"
RULES = f"rules_file: {SHIPPED_RULES}\n"
START = RULES + "tests:\n  - name: t\n    now: 2026-11-27T20:00:00\n"  # a test from line 3


def errors(text: str, *, default_rules: Path | None = None) -> list[str]:
    with pytest.raises(RuleTestFileError) as raised:
        parse_rule_tests(text, source=Path("t.yaml"), default_rules=default_rules)
    return raised.value.errors


# (what is wrong, the file, the messages). START's test begins at line 3; its
# body from line 5 on.
CASES = [
    (
        "yaml syntax",
        "tests: [\n",
        [
            "t.yaml:2: YAML syntax error: expected the node content, but found '<stream end>' "
            "(while parsing a flow node at line 2)"
        ],
    ),
    (
        "an unquoted {n} in a flow mapping",
        START + "    orders:\n      - {payment_key: busy-{n}, count: 3}\n    expect: {}\n",
        [
            "t.yaml:6: YAML syntax error: expected ',' or '}', but got '{' (while parsing a "
            'flow mapping at line 6); put a payment_key with {n} in quotes: "busy-{n}"'
        ],
    ),
    ("empty", "", ["t.yaml:1: the file is empty; it needs tests: (see README, 'Testing rules')"]),
    (
        "not a mapping",
        "- a\n",
        [
            "t.yaml:1: the top level must be a mapping with tests: and rules_file: or config: "
            "(got a list)"
        ],
    ),
    (
        "a python tag",
        RULES + "tests: !!python/object/apply:os.system [true]\n",
        [
            "t.yaml:2: unsupported YAML tag '!!python/object/apply:os.system' at tests: "
            "rules.yaml holds plain data only (text, numbers, true/false, lists, mappings); "
            "remove the tag"
        ],
    ),
    (
        "a duplicate key",
        START + "    now: 2026-11-27T21:00:00\n    expect: {decisions: []}\n",
        [
            "t.yaml:5: duplicate key 'now' in tests[0] (first at line 4); YAML would silently "
            "keep only the last one, so remove one of them"
        ],
    ),
    (
        "no tests",
        RULES + "tests: []\n",
        ["t.yaml:2: tests must list at least 1 item(s)"],
    ),
    (
        "no tests key",
        RULES,
        ["t.yaml:1: missing required key 'tests' in the top level"],
    ),
    (
        "an unknown top-level key",
        RULES + "test: []\ntests:\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        [
            "t.yaml:2: unknown key 'test' in the top level; valid keys: config, geocode, "
            "rules_file, tests, timezone"
        ],
    ),
    (
        "both rules_file and config",
        RULES + "config: {}\ntests:\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        [
            "t.yaml:1: the top level: give rules_file (a rules file) or config (rules written "
            "here), not both"
        ],
    ),
    (
        "an unknown time zone",
        START.replace("tests:", "timezone: Europe/Istambul\ntests:") + "    expect: {}\n",
        [
            "t.yaml:2: timezone: unknown time zone 'Europe/Istambul'; did you mean "
            "'Europe/Istanbul'? (an IANA name such as Europe/Istanbul, Europe/Berlin or "
            "America/New_York)"
        ],
    ),
    (
        "an unknown key in a test",
        START + "    colour: red\n    expect: {}\n",
        [
            "t.yaml:5: unknown key 'colour' in tests[0]; valid keys: cancelled_in_last_hour, "
            "deactivated_foods, expect, name, now, orders, pauses, restaurants, steps, stock"
        ],
    ),
    (
        "a test without now",
        RULES + "tests:\n  - name: t\n    expect: {}\n",
        [
            "t.yaml:3: missing required key 'now' in tests[0] (when the first pass runs, e.g. "
            "2026-11-27T21:00:00)"
        ],
    ),
    (
        "now relative",
        RULES + "tests:\n  - name: t\n    now: -5m\n    expect: {}\n",
        [
            "t.yaml:4: now must be a date and time such as 2026-11-27T21:00:00: the clock of "
            "the test's first pass, which every offset counts from"
        ],
    ),
    (
        "now a day only",
        RULES + "tests:\n  - name: t\n    now: 2026-11-27\n    expect: {}\n",
        [
            "t.yaml:4: tests[0].now must be a time, not only a day (got 2026-11-27); add the "
            "time: 2026-11-27T12:00"
        ],
    ),
    (
        "a bad time",
        START + "    orders: [{payment_key: a, created_at: yesterday}]\n    expect: {}\n",
        [
            "t.yaml:5: tests[0].orders[0].created_at must be a time: now, an offset from the "
            "step's clock such as -10m or +1h30m, or ISO 8601 such as 2026-11-27T21:00:00 (the "
            "timezone's wall clock unless it has an offset) (got 'yesterday')"
        ],
    ),
    (
        "a bad duration",
        START + "    expect: {}\n    steps: [{advance: 10}]\n",
        [
            "t.yaml:6: tests[0].steps[0].advance must be a duration such as 90s, 5m, 1h30m or "
            "2d (got 10)"
        ],
    ),
    (
        "a zero duration",
        START + "    expect: {}\n    steps: [{advance: 0m}]\n",
        ["t.yaml:6: tests[0].steps[0].advance must be longer than 0 (got '0m')"],
    ),
    (
        "a step with no clock",
        START + "    expect: {}\n    steps:\n      - expect: {}\n",
        [
            "t.yaml:7: tests[0].steps[0]: give exactly one of at: TIME or advance: DURATION "
            "(when this pass runs)"
        ],
    ),
    (
        "a step with two clocks",
        START + "    expect: {}\n    steps:\n      - {at: +5m, advance: 5m}\n",
        [
            "t.yaml:7: tests[0].steps[0]: give exactly one of at: TIME or advance: DURATION "
            "(when this pass runs)"
        ],
    ),
    (
        "a clock going back",
        START + "    expect: {}\n    steps:\n      - {advance: 5m}\n      - {at: +1m}\n",
        [
            "t.yaml:8: this pass's clock (2026-11-27 20:01:00) is before the previous pass's "
            "(2026-11-27 20:05:00): passes run forward in time"
        ],
    ),
    (
        "a quoted number",
        START + "    orders: [{payment_key: a, status_id: '2'}]\n    expect: {}\n",
        [
            "t.yaml:5: tests[0].orders[0].status_id must be an integer (got string '2'); write "
            "the number without quotes"
        ],
    ),
    (
        "a phone number written as a number",
        START + "    orders: [{payment_key: a, customer_phone: 05321234567}]\n    expect: {}\n",
        [
            "t.yaml:5: tests[0].orders[0].customer_phone must be text (got 05321234567); put "
            "it in quotes so YAML keeps it as text"
        ],
    ),
    (
        "a latitude out of range",
        START + "    orders: [{payment_key: a, latitude: 91}]\n    expect: {}\n",
        ["t.yaml:5: tests[0].orders[0].latitude must be between -90 and 90 (got 91)"],
    ),
    (
        "count without {n}",
        START + "    orders: [{payment_key: a, count: 3}]\n    expect: {}\n",
        [
            "t.yaml:5: tests[0].orders[0]: payment_key must contain {n} with count, so each "
            "order has its own key (got 'a'; e.g. 'busy-{n}')"
        ],
    ),
    (
        "every without count",
        START + "    orders: [{payment_key: a, every: 1m}]\n    expect: {}\n",
        ["t.yaml:5: tests[0].orders[0]: every needs count: it spaces the orders count makes"],
    ),
    (
        "a payment key twice",
        START + "    orders:\n      - {payment_key: a}\n      - {payment_key: a}\n    expect: {}\n",
        [
            "t.yaml:7: payment_key 'a' is an order of this test already (line 6); change it "
            "with change_orders"
        ],
    ),
    (
        "a numbered key already taken",
        START + "    orders: [{payment_key: b-2}]\n    expect: {}\n"
        "    steps:\n      - advance: 1m\n        add_orders: [{payment_key: 'b-{n}', count: 3}]\n",
        [
            "t.yaml:9: payment_key 'b-2' is an order of this test already (line 5); change it "
            "with change_orders"
        ],
    ),
    (
        "a change of an unknown order",
        START + "    expect: {}\n    steps:\n      - advance: 1m\n"
        "        change_orders: [{payment_key: q, status_id: 5}]\n",
        ["t.yaml:8: 'q' is not an order of this test yet: add it under orders or add_orders first"],
    ),
    (
        "an unknown column",
        START + "    orders: [{payment_key: a, colour: red}]\n    expect: {}\n",
        [
            "t.yaml:5: unknown key 'colour' in tests[0].orders[0]; valid keys: address, "
            "address_description, count, courier_type, created_at, customer_name, "
            "customer_phone, every, items, latitude, longitude, order_number, payment_key, "
            "payment_method, payment_status, restaurant_id, shipping_method, status_id, total, "
            "updated_at"
        ],
    ),
    (
        "a stock row twice",
        START + "    stock:\n      - {food_id: 1}\n      - {food_id: 1, available: false}\n"
        "    expect: {}\n",
        ["t.yaml:7: food 1 has a stock row already (line 6); the stock table has one row per food"],
    ),
    (
        "an unknown restaurant state",
        START + "    restaurants: [{id: Halaskargazi Şube, state: closed}]\n    expect: {}\n",
        [
            "t.yaml:5: tests[0].restaurants[0].state must be 'open', 'closed_by_autocancel' or "
            "'closed_by_others' (got string 'closed')"
        ],
    ),
    (
        "closure details for an open restaurant",
        START + "    restaurants: [{id: Halaskargazi Şube, state: open, closed_at: -5m}]\n"
        "    expect: {}\n",
        [
            "t.yaml:5: tests[0].restaurants[0]: closed_at and rule describe a closure of this "
            "daemon: only with state: closed_by_autocancel"
        ],
    ),
    (
        "an unknown restaurant",
        START + "    restaurants: [{id: Nowhere, state: open}]\n    expect: {}\n",
        [f"t.yaml:5: 'Nowhere' is not a restaurant of {SHIPPED_RULES} ({HAL} (Halaskargazi Şube))"],
    ),
    (
        "a closure in the future",
        START + "    restaurants:\n      - {id: Halaskargazi Şube, state: closed_by_autocancel,"
        " closed_at: +5m}\n    expect: {}\n",
        [
            "t.yaml:6: a closure in force at 2026-11-27 20:00:00 cannot start later "
            "(2026-11-27 20:05:00)"
        ],
    ),
    (
        "a closure by a rule that is no congestion rule",
        START + "    restaurants:\n      - {id: Halaskargazi Şube, state: closed_by_autocancel,"
        " rule: too-far}\n    expect: {}\n",
        [
            f"t.yaml:6: rule 'too-far' is not a congestion rule of {SHIPPED_RULES} "
            "(congestion rules: overloaded)"
        ],
    ),
    (
        "an earlier cancellation after now",
        START + "    cancelled_in_last_hour: [-5m, +5m]\n    expect: {}\n",
        [
            "t.yaml:5: a cancellation made before the test cannot be after its now "
            "(2026-11-27 20:05:00 is after 2026-11-27 20:00:00)"
        ],
    ),
    (
        "a negative count of earlier cancellations",
        START + "    cancelled_in_last_hour: -1\n    expect: {}\n",
        ["t.yaml:5: tests[0].cancelled_in_last_hour must be at least 0 (got -1)"],
    ),
    (
        "a test that checks nothing",
        START + "    steps: [{advance: 5m}]\n",
        [
            "t.yaml:3: test 't' checks nothing: give expect: (decisions:, side_effects:) to the "
            "test or to one of its steps"
        ],
    ),
    (
        "two tests of one name",
        START + "    expect: {}\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        ["t.yaml:6: tests[0] is named 't' already; give each test its own name"],
    ),
    (
        "an unknown outcome",
        START + "    orders: [{payment_key: a}]\n    expect:\n      decisions:\n"
        "        - {payment_key: a, rule: too-far, outcome: failed}\n",
        [
            "t.yaml:8: tests[0].expect.decisions[0].outcome must be 'cancelled', "
            "'would_cancel', 'skipped' or 'held' (got string 'failed')"
        ],
    ),
    (
        "an expected decision of an unknown order and rule",
        START + "    expect:\n      decisions:\n        - {payment_key: zz, rule: too_far, "
        "outcome: cancelled}\n",
        [
            "t.yaml:7: 'zz' is not an order of this test (by this step)",
            f"t.yaml:7: rule 'too_far' is not a rule of {SHIPPED_RULES} (rules: out-of-stock, "
            "address-not-found, too-far, payment-failed, overloaded)",
        ],
    ),
    (
        "an order expected before it is added",
        START + "    expect:\n      decisions: [{payment_key: a, rule: too-far, outcome: held}]\n"
        "    steps:\n      - advance: 1m\n        add_orders: [{payment_key: a}]\n",
        ["t.yaml:6: 'a' is not an order of this test (by this step)"],
    ),
    (
        "a decision expected twice",
        START + "    orders: [{payment_key: a}]\n    expect:\n      decisions:\n"
        "        - {payment_key: a, rule: too-far, outcome: cancelled}\n"
        "        - {payment_key: a, rule: too-far, outcome: held}\n",
        ["t.yaml:9: a by too-far is expected already (line 8)"],
    ),
    (
        "a reason id out of range",
        START + "    orders: [{payment_key: a}]\n    expect:\n      decisions:\n"
        "        - {payment_key: a, rule: too-far, outcome: cancelled, reason_id: 9}\n",
        ["t.yaml:8: tests[0].expect.decisions[0].reason_id must be an integer from 1 to 8 (got 9)"],
    ),
    (
        "a side effect of an unknown restaurant, food and rule",
        START + "    expect:\n      side_effects:\n        - {close: Nowhere}\n"
        "        - {deactivate: 77}\n        - {reopen: Halaskargazi Şube, rule: nope}\n",
        [
            f"t.yaml:7: 'Nowhere' is not a restaurant of {SHIPPED_RULES} ({HAL} "
            "(Halaskargazi Şube))",
            "t.yaml:8: food 77 is in no stock row, order item or deactivated_foods of this test",
            f"t.yaml:9: rule 'nope' is not a rule of {SHIPPED_RULES} (rules: out-of-stock, "
            "address-not-found, too-far, payment-failed, overloaded)",
        ],
    ),
    (
        "a side effect with no action or two",
        START + "    expect:\n      side_effects:\n        - {rule: overloaded}\n"
        "        - {close: Halaskargazi Şube, reopen: Halaskargazi Şube}\n",
        [
            "t.yaml:7: tests[0].expect.side_effects[0]: give exactly one of close: RESTAURANT, "
            "reopen: RESTAURANT, deactivate: FOOD_ID or reactivate: FOOD_ID (got none)",
            "t.yaml:8: tests[0].expect.side_effects[1]: give exactly one of close: RESTAURANT, "
            "reopen: RESTAURANT, deactivate: FOOD_ID or reactivate: FOOD_ID (got close, reopen)",
        ],
    ),
    (
        "a pause that ends before it starts, of an unknown rule and restaurant",
        START + "    pauses:\n      - {rule: too-far, since: -5m, until: -10m}\n"
        "      - {rule: nope, restaurant: Nowhere, until: +1h}\n    expect: {}\n",
        [
            "t.yaml:6: a pause must end after it starts (2026-11-27 19:50:00 is not after "
            "2026-11-27 19:55:00)",
            f"t.yaml:7: rule 'nope' is not a rule of {SHIPPED_RULES} (rules: out-of-stock, "
            "address-not-found, too-far, payment-failed, overloaded)",
            f"t.yaml:7: 'Nowhere' is not a restaurant of {SHIPPED_RULES} ({HAL} "
            "(Halaskargazi Şube))",
        ],
    ),
    (
        "a pause without an end",
        START + "    pauses: [{rule: too-far}]\n    expect: {}\n",
        ["t.yaml:5: missing required key 'until' in tests[0].pauses[0]"],
    ),
    (
        "a deactivation in the future, by an unknown rule",
        START + "    deactivated_foods:\n      - {food_id: 9, at: +5m}\n"
        "      - {food_id: 8, rule: nope}\n    expect: {}\n",
        [
            "t.yaml:6: a deactivation in force at 2026-11-27 20:00:00 cannot start later "
            "(2026-11-27 20:05:00)",
            f"t.yaml:7: rule 'nope' is not a rule of {SHIPPED_RULES} (rules: out-of-stock, "
            "address-not-found, too-far, payment-failed, overloaded)",
        ],
    ),
    (
        "geocoder answers for rules without a geocoder",
        START.replace("tests:", 'geocode: {"Dershane Sokak 4": [41.05, 28.99]}\ntests:')
        + "    expect: {}\n",
        [
            f"t.yaml:2: {SHIPPED_RULES} configures no geocoder, so no address is ever looked "
            "up: remove geocode, or test rules that have a geocoder"
        ],
    ),
    (
        "a bad geocoder answer",
        START.replace("tests:", 'geocode: {"Dershane Sokak 4": [41.05]}\ntests:')
        + "    expect: {}\n",
        [
            "t.yaml:2: 'Dershane Sokak 4': must be [latitude, longitude] or not_found (got "
            "[41.05])",
            f"t.yaml:2: {SHIPPED_RULES} configures no geocoder, so no address is ever looked "
            "up: remove geocode, or test rules that have a geocoder",
        ],
    ),
    (
        "no rules named and no -c file",
        "tests:\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        [
            "t.yaml:1: name the rules to test: rules_file: PATH (relative to this file) or "
            "config: (a rules.yaml written here)"
        ],
    ),
    (
        "rules written in place, with a mistake",
        "config:\n  restaurants: [{id: r-1}]\n  rules:\n"
        "    - {name: x, kind: payment_failed, reason_id: 9}\n"
        "tests:\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        ["t.yaml:4: rules[0] (x): reason_id must be an integer from 1 to 8 (got 9)"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_malformed_file_is_reported_line_by_line(text: str, expected: list[str]) -> None:
    assert errors(text) == expected


RULES_WITH_TWO = """\
config:
  restaurants: [{id: r-1, name: One}, {id: r-2, name: Two}]
  rules:
    - {name: oos, kind: out_of_stock, reason_id: 1}
    - {name: busy, kind: congestion, max_active_orders: 5, reason_id: 3}
    - {name: busier, kind: congestion, max_active_orders: 9, reason_id: 3}
tests:
  - name: t
    now: 2026-11-27T20:00:00
"""


def test_what_has_no_default_with_several_candidates_must_be_named() -> None:
    text = RULES_WITH_TWO + (
        "    restaurants: [{id: One, state: closed_by_autocancel}]\n"
        "    orders: [{payment_key: a, items: [{food_id: 3}]}]\n"
        "    expect:\n"
        "      side_effects: [{close: One}, {deactivate: 3}]\n"
    )
    assert errors(text) == [
        "t.yaml:10: name the congestion rule that closed it (rule: NAME) (congestion rules: "
        "busy, busier)",
        "t.yaml:11: give restaurant_id: the config at line 1 lists 2 restaurants",
        "t.yaml:13: name the rule (rule: NAME): busy, busier can all close",
        "t.yaml:13: no enabled rule of the config at line 1 can deactivate anything; name the "
        "rule (rule: NAME) if that is what the test is about",
    ]


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    def load(path: Path) -> list[str]:
        with pytest.raises(RuleTestFileError) as raised:
            load_rule_tests(path)
        return raised.value.errors

    assert load(tmp_path / "missing.yaml") == [f"{tmp_path / 'missing.yaml'}: no such file"]
    assert load(tmp_path) == [f"{tmp_path}: is a directory, not a test file"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"tests:\n  - name: caf\xe9\n")
    assert load(latin) == [f"{latin}:2: not UTF-8 text; save the file as UTF-8"]


def test_a_rules_file_is_relative_to_the_test_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(
        SHIPPED_RULES.read_text(encoding="utf-8"), encoding="utf-8"
    )
    test = tmp_path / "t.yaml"
    test.write_text(
        "rules_file: rules/rules.yaml\n"
        "tests:\n  - {name: t, now: 2026-11-27T20:00:00, expect: {}}\n",
        encoding="utf-8",
    )
    loaded = load_rule_tests(test)
    assert loaded.config.source == tmp_path / "rules" / "rules.yaml"
    assert [t.name for t in loaded.tests] == ["t"]


def test_times_are_read_on_the_wall_clock_of_the_file_unless_they_have_an_offset() -> None:
    text = (
        RULES
        + "timezone: Europe/Berlin\ntests:\n"
        + "  - name: berlin\n    now: 2026-11-27T20:00:00\n"  # 19:00 UTC in November
        + "    orders:\n      - {payment_key: a, created_at: '2026-11-27 19:30'}\n"
        + "      - {payment_key: b, created_at: 2026-11-27T18:00:00Z}\n"
        + "      - {payment_key: c, created_at: -1h30m}\n"
        + "      - {payment_key: d}\n"
        + "    expect: {}\n"
        + "    steps:\n      - {at: +1h30m}\n      - {advance: 90s}\n"
        + "      - {at: '2026-11-27T21:00:00+00:00', add_orders: [{payment_key: e}]}\n"
    )
    [test] = parse_rule_tests(text, source=Path("t.yaml")).tests
    clocks = [step.clock.isoformat() for step in test.steps]
    assert clocks == [
        "2026-11-27T19:00:00+00:00",
        "2026-11-27T20:30:00+00:00",
        "2026-11-27T20:31:30+00:00",
        "2026-11-27T21:00:00+00:00",
    ]
    created = {o.payment_key: o.created_at for step in test.steps for o in step.add_orders}
    assert {key: when.isoformat() for key, when in created.items() if when} == {
        "a": "2026-11-27T18:30:00+00:00",
        "b": "2026-11-27T18:00:00+00:00",
        "c": "2026-11-27T17:30:00+00:00",
        "d": "2026-11-27T19:00:00+00:00",  # default: the pass's clock
        "e": "2026-11-27T21:00:00+00:00",
    }

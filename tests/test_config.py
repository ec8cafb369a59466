"""rules.yaml loading and validation, in process: every problem as FILE:LINE: message."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

from daemon.config.load import ConfigError, load_config, resolve_sqlite_url
from daemon.config.models import DEFAULT_BASE_URL, Config
from rules import (
    AddressNotFoundRule,
    CongestionRule,
    MaxDistanceRule,
    OutOfStockRule,
    PaymentFailedRule,
    Rule,
    registry,
)
from tests.conftest import SHIPPED_RULES

VALID_KINDS = "address_not_found, congestion, max_distance, out_of_stock, payment_failed"

# Line numbers in the tests below count from the first line of each text.
RESTAURANT = """\
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
    name: Merkez
    latitude: 41.0
    longitude: 29.0
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(path: Path, environ: dict[str, str] | None = None) -> Config:
    return load_config(path, environ=environ or {})


def errors_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, environ)
    return caught.value.errors


def assert_reported(errors: list[str], path: Path, line: int, fragment: str) -> None:
    wanted = f"{path}:{line}: "
    matching = [e for e in errors if e.startswith(wanted) and fragment in e]
    assert matching, f"no error at {wanted!r} containing {fragment!r} in:\n" + "\n".join(errors)


# --- the shipped file --------------------------------------------------------


def test_shipped_rules_yaml_loads_with_every_kind_and_no_warnings() -> None:
    config = load(SHIPPED_RULES)
    assert config.warnings == ()
    assert [rule.kind for rule in config.rules] == [
        "out_of_stock",
        "address_not_found",
        "max_distance",
        "payment_failed",
        "congestion",  # last: the per-order reasons are more specific
    ]
    assert sorted(rule.kind for rule in config.rules) == registry.kinds()
    by_name = {rule.name: rule for rule in config.rules}
    assert [r.reason_id for r in config.rules] == [1, 2, 6, 7, 3]

    stock = by_name["out-of-stock"]
    assert isinstance(stock, OutOfStockRule)
    assert stock.deactivate_food is True
    too_far = by_name["too-far"]
    assert isinstance(too_far, MaxDistanceRule)
    assert too_far.max_km == 7.5
    overloaded = by_name["overloaded"]
    assert isinstance(overloaded, CongestionRule)
    assert (overloaded.max_active_orders, overloaded.reopen_below) == (20, 15)
    assert (overloaded.close_restaurant, overloaded.min_closed_minutes) == (True, 10)
    assert isinstance(by_name["address-not-found"], AddressNotFoundRule)
    assert isinstance(by_name["payment-failed"], PaymentFailedRule)

    assert config.dry_run is False
    assert config.schedule.interval_seconds == 15
    assert config.api.base_url == DEFAULT_BASE_URL
    assert config.api.timeout_seconds == 10
    assert config.geocoder is None
    assert config.safety.max_cancellations_per_hour == 30
    assert config.safety.max_order_age_minutes == 180
    assert config.safety.never_cancel == ()
    assert config.safety.max_cancel_ratio is None
    assert config.safety.max_plausible_km == 100
    (restaurant,) = config.restaurants
    assert restaurant.id == "0ca1d2b1-a199-4960-8617-83a659d890c8"
    assert (restaurant.latitude, restaurant.longitude) == (41.0493, 28.9877)
    assert config.store.url == f"sqlite:///{SHIPPED_RULES.parent / 'orders.db'}"


def test_config_is_frozen() -> None:
    config = load(SHIPPED_RULES)
    with pytest.raises(Exception, match="frozen"):
        config.dry_run = True  # type: ignore[misc]  # the point: mypy refuses it too
    with pytest.raises(Exception, match="frozen"):
        config.rules[0].reason_id = 3  # type: ignore[misc]  # the point: mypy refuses it too


# --- defaults ----------------------------------------------------------------


def test_defaults_for_omitted_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: stock
    kind: out_of_stock
    reason_id: 1
  - name: busy
    kind: congestion
    reason_id: 3
    max_active_orders: 10
""",
    )
    config = load(path)
    stock, busy = config.rules
    assert isinstance(stock, OutOfStockRule)
    assert stock.statuses == (1, 2)
    assert stock.enabled is True
    assert stock.dry_run is False
    assert stock.deactivate_food is False
    assert isinstance(busy, CongestionRule)
    assert busy.close_restaurant is True
    assert busy.reopen_below == 7  # three quarters of 10, rounded down
    assert busy.min_closed_minutes == 10
    assert config.dry_run is False
    assert config.store.url == f"sqlite:///{tmp_path / 'orders.db'}"
    assert config.api.base_url == DEFAULT_BASE_URL
    assert config.schedule.interval_seconds == 15
    assert config.safety.max_cancellations_per_hour == 30
    assert config.safety.max_plausible_km == 100
    assert config.source == path


def test_min_closed_minutes_zero_and_status_16_are_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: busy
    kind: congestion
    reason_id: 3
    max_active_orders: 4
    reopen_below: 0
    min_closed_minutes: 0
    statuses: [1, 2, 16]
""",
    )
    (busy,) = load(path).rules
    assert isinstance(busy, CongestionRule)
    assert busy.min_closed_minutes == 0
    assert busy.reopen_below == 0
    assert busy.statuses == (1, 2, 16)


def test_rule_models_can_be_built_in_code_without_kind() -> None:
    rule = MaxDistanceRule(name="too-far", reason_id=6, max_km=7.5)
    assert rule.kind == "max_distance"
    assert rule.label == "too-far (max_distance)"
    assert isinstance(rule, Rule)
    assert registry.get("max_distance") is MaxDistanceRule
    assert "nope" not in registry


# --- YAML-level problems -----------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + "schedule:\n  interval_seconds: [15\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:8: YAML syntax error:")


def test_duplicate_yaml_keys_are_an_error_at_the_later_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, "schedule:\n  interval_seconds: 15\n  interval_seconds: 20\n" + RESTAURANT
    )
    assert_reported(errors_of(path), path, 3, "duplicate key 'interval_seconds' in schedule")


def test_python_tags_are_rejected_and_never_executed(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"pwned-{uuid.uuid4().hex}"
    path = write(
        tmp_path,
        RESTAURANT
        + f"""\
store:
  url: !!python/object/apply:os.system ["touch {marker}"]
""",
    )
    errors = errors_of(path)
    assert_reported(errors, path, 7, "unsupported YAML tag '!!python/object/apply:os.system'")
    assert len(errors) == 1, errors
    assert not marker.exists()


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing but a comment\n")
    assert errors_of(path) == [
        f"{path}:1: the file is empty; start from the shipped, commented rules.yaml"
    ]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    assert_reported(errors_of(path), path, 1, "the top level must be a mapping of sections")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: no such file")


# --- unknown keys and kinds --------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + "shedule:\n  interval_seconds: 15\n")
    assert_reported(
        errors_of(path),
        path,
        6,
        "unknown key 'shedule' at the top level; valid keys: api, dry_run, geocoder, history, "
        "metrics, notifications, quiet_windows, restaurants, rules, safety, schedule, store, "
        "sync, timezone",
    )


def test_unknown_key_in_a_section(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + "schedule:\n  intervall: 15\n")
    assert_reported(
        errors_of(path),
        path,
        7,
        "unknown key 'intervall' in schedule; valid keys: full_pass_seconds, interval_seconds, "
        "status_check_seconds",
    )


def test_unknown_key_in_a_rule_lists_that_kinds_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: too-far
    kind: max_distance
    max_kms: 7.5
    reason_id: 6
""",
    )
    errors = errors_of(path)
    assert_reported(
        errors,
        path,
        9,
        "unknown key 'max_kms' in rules[0] (too-far); valid keys: active_days, active_hours, "
        "dry_run, enabled, kind, max_km, name, reason_id, statuses",
    )
    # The missing required key is reported at the line of the rule that lacks it.
    assert_reported(errors, path, 7, "rules[0] (too-far): missing required key 'max_km'")


def test_unknown_kind_lists_the_valid_kinds_and_still_checks_common_fields(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: payment-failed
    kind: payment_faild
    reason_id: 9
""",
    )
    errors = errors_of(path)
    assert_reported(
        errors,
        path,
        8,
        f"rules[0] (payment-failed): unknown kind 'payment_faild'; valid kinds: {VALID_KINDS}",
    )
    assert_reported(errors, path, 9, "reason_id must be an integer from 1 to 8 (got 9)")


# --- values --------------------------------------------------------------------

ONE_RULE = (
    RESTAURANT
    + """\
rules:
  - name: stock
    kind: out_of_stock
    reason_id: {reason_id}
"""
)


@pytest.mark.parametrize("reason_id", ["0", "9"])
def test_reason_id_outside_1_to_8(tmp_path: Path, reason_id: str) -> None:
    path = write(tmp_path, ONE_RULE.format(reason_id=reason_id))
    assert_reported(
        errors_of(path),
        path,
        9,
        f"rules[0] (stock): reason_id must be an integer from 1 to 8 (got {reason_id})",
    )


def test_reason_id_as_a_quoted_string_is_not_coerced(tmp_path: Path) -> None:
    path = write(tmp_path, ONE_RULE.format(reason_id='"3"'))
    assert_reported(
        errors_of(path),
        path,
        9,
        "rules[0] (stock): reason_id must be an integer from 1 to 8 (got string '3'); "
        "write the number without quotes",
    )


def test_duplicate_rule_names_are_reported_at_the_later_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: same
    kind: out_of_stock
    reason_id: 1
  - name: same
    kind: payment_failed
    reason_id: 7
""",
    )
    errors = errors_of(path)
    assert_reported(errors, path, 10, "duplicate rule name 'same' (also rules[0])")
    assert len(errors) == 1, errors


def test_negative_max_km(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: too-far
    kind: max_distance
    reason_id: 6
    max_km: -3
""",
    )
    assert_reported(
        errors_of(path), path, 10, "rules[0] (too-far): max_km must be greater than 0 (got -3)"
    )


def test_wrong_type_says_what_was_expected_and_given(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + 'schedule:\n  interval_seconds: "fast"\n')
    assert_reported(
        errors_of(path),
        path,
        7,
        "schedule.interval_seconds must be a number greater than 0 (got string 'fast')",
    )


def test_booleans_only_from_yaml_booleans(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + "dry_run: 1\n")
    assert_reported(errors_of(path), path, 6, "dry_run must be true or false (got 1)")


def test_phone_numbers_must_be_quoted(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT + "safety:\n  never_cancel: [05321234567]\n")
    assert_reported(
        errors_of(path),
        path,
        7,
        "safety.never_cancel[0] must be text (got 05321234567); put it in quotes",
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0", "safety.max_plausible_km must be greater than 0 (got 0)"),
        ("-5", "safety.max_plausible_km must be greater than 0 (got -5)"),
        ('"far"', "safety.max_plausible_km must be a number greater than 0 (got string 'far')"),
        (".inf", "safety.max_plausible_km"),
    ],
)
def test_max_plausible_km_is_a_positive_number(tmp_path: Path, value: str, fragment: str) -> None:
    path = write(tmp_path, RESTAURANT + f"safety:\n  max_plausible_km: {value}\n")
    assert_reported(errors_of(path), path, 7, fragment)


def test_max_plausible_km_is_configurable_and_must_exceed_max_km(tmp_path: Path) -> None:
    rule = "rules:\n  - name: too-far\n    kind: max_distance\n    reason_id: 6\n    max_km: {}\n"
    path = write(tmp_path, RESTAURANT + "safety:\n  max_plausible_km: 40.5\n" + rule.format(12))
    assert load(path).safety.max_plausible_km == 40.5

    # A radius beyond the plausible distance could never cancel anything out there.
    path = write(tmp_path, RESTAURANT + "safety:\n  max_plausible_km: 40\n" + rule.format(50))
    errors = errors_of(path)
    assert_reported(
        errors,
        path,
        12,
        "rules[0] (too-far): max_km 50 must be smaller than safety.max_plausible_km (40)",
    )
    assert len(errors) == 1, errors


def test_reopen_below_must_be_smaller_than_max_active_orders(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - name: overloaded
    kind: congestion
    reason_id: 3
    max_active_orders: 20
    reopen_below: 20
""",
    )
    assert_reported(
        errors_of(path),
        path,
        11,
        "rules[0] (overloaded): reopen_below must be smaller than max_active_orders (20) (got 20)",
    )


@pytest.mark.parametrize(("status", "what"), [(5, "delivered"), (6, "canceled")])
def test_statuses_5_and_6_are_never_cancelable(tmp_path: Path, status: int, what: str) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + f"""\
rules:
  - name: stock
    kind: out_of_stock
    reason_id: 1
    statuses: [1, {status}]
""",
    )
    assert_reported(
        errors_of(path),
        path,
        10,
        f"rules[0] (stock): statuses[1]: {status} ({what}) orders are never cancelable",
    )


def test_max_distance_needs_restaurant_coordinates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
restaurants:
  - id: with-coordinates
    latitude: 41.0
    longitude: 29.0
  - id: r-2
    name: Kadıköy
rules:
  - name: too-far
    kind: max_distance
    reason_id: 6
    max_km: 7.5
""",
    )
    errors = errors_of(path)
    assert_reported(
        errors,
        path,
        5,
        "restaurants[1] (Kadıköy) has no latitude and longitude, which rule 'too-far' "
        "(max_distance, rules[0]) needs",
    )
    assert len(errors) == 1, errors


def test_disabled_max_distance_does_not_need_coordinates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
restaurants:
  - id: 0ca1d2b1-a199-4960-8617-83a659d890c8
rules:
  - name: too-far
    kind: max_distance
    reason_id: 6
    max_km: 7.5
    enabled: false
""",
    )
    assert load(path).warnings == ()


def test_coordinates_come_in_pairs_and_in_range(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
restaurants:
  - id: r-1
    latitude: 41.0
  - id: r-2
    latitude: 95
    longitude: 29.0
""",
    )
    errors = errors_of(path)
    assert_reported(errors, path, 2, "restaurants[0]: give both latitude and longitude, or neither")
    assert_reported(errors, path, 5, "restaurants[1].latitude must be between -90 and 90 (got 95)")


def test_duplicate_restaurant_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "restaurants:\n  - id: r-1\n  - id: r-1\n")
    assert_reported(errors_of(path), path, 3, "duplicate restaurant id 'r-1' (also restaurants[0])")


@pytest.mark.parametrize("restaurants", ["", "restaurants: []\n", "restaurants:\n"])
def test_no_restaurants(tmp_path: Path, restaurants: str) -> None:
    path = write(tmp_path, "dry_run: true\n" + restaurants)
    line = 2 if restaurants else 1
    assert_reported(
        errors_of(path),
        path,
        line,
        "no restaurants configured; add at least one under 'restaurants:'",
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
schedule:
  intervall: 15
api:
  base_url: ftp://example.com
restaurants:
  - id: r-1
rules:
  - name: a
    kind: out_of_stock
    reason_id: 0
  - name: b
    kind: max_distance
    reason_id: 6
    max_km: -1
  - name: a
    kind: nope
    reason_id: 1
""",
    )
    errors = errors_of(path)
    assert_reported(errors, path, 2, "unknown key 'intervall' in schedule")
    assert_reported(errors, path, 4, "api.base_url must be an http:// or https:// URL")
    assert_reported(errors, path, 10, "rules[0] (a): reason_id must be an integer from 1 to 8")
    assert_reported(errors, path, 14, "rules[1] (b): max_km must be greater than 0 (got -1)")
    assert_reported(errors, path, 15, "duplicate rule name 'a'")
    assert_reported(errors, path, 16, "unknown kind 'nope'")
    assert len(errors) == 6, errors
    # In file order, so an operator can fix them top to bottom.
    lines = [int(error.split(":")[1]) for error in errors]
    assert lines == sorted(lines)


# --- warnings ------------------------------------------------------------------


def test_reason_8_on_an_automatic_rule_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, ONE_RULE.format(reason_id=8))
    config = load(path)
    (warning,) = config.warnings
    assert warning.startswith(f"{path}:9: rules[0] (stock): reason_id 8")
    assert "specific reason" in warning


def test_address_not_found_without_geocoder_is_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT + "rules:\n  - name: addr\n    kind: address_not_found\n    reason_id: 2\n",
    )
    (warning,) = load(path).warnings
    assert "can never match without a geocoder" in warning


def test_geocoder_section_is_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
geocoder:
  provider: nominatim
  options: {user_agent: autocancel}
  timeout_seconds: 3
""",
    )
    geocoder = load(path).geocoder
    assert geocoder is not None
    assert (geocoder.provider, geocoder.options, geocoder.timeout_seconds) == (
        "nominatim",
        {"user_agent": "autocancel"},
        3,
    )
    bad = write(tmp_path, RESTAURANT + "geocoder:\n  provider: nominatm\n", name="bad.yaml")
    assert_reported(errors_of(bad), bad, 7, "did you mean 'nominatim'?")


# --- environment and paths -----------------------------------------------------


def test_environment_overrides_store_url_and_base_url(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT)
    config = load(
        path,
        {
            "AUTOCANCEL_STORE_URL": "postgresql+psycopg://autocancel@db.example/orders",
            "DUKKANGO_BASE_URL": "http://127.0.0.1:8080/api/integrations/",
        },
    )
    assert config.store.url == "postgresql+psycopg://autocancel@db.example/orders"
    assert config.api.base_url == "http://127.0.0.1:8080/api/integrations"


def test_invalid_environment_override_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, RESTAURANT)
    errors = errors_of(path, {"DUKKANGO_BASE_URL": "ftp://example.com"})
    assert errors == [
        "DUKKANGO_BASE_URL (environment) must be an http:// or https:// URL "
        "(got 'ftp://example.com')"
    ]


def test_relative_sqlite_path_is_resolved_against_the_rules_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, RESTAURANT + "store:\n  url: sqlite:///data/orders.db\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load(path).store.url == f"sqlite:///{folder / 'data' / 'orders.db'}"
    # The same file named by a relative path gives the same store.
    relative = Path(os.path.relpath(path, elsewhere))
    assert load(relative).store.url == f"sqlite:///{folder / 'data' / 'orders.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/autocancel/orders.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg://user@host/db",
    ],
)
def test_other_store_urls_are_left_alone(url: str, tmp_path: Path) -> None:
    assert resolve_sqlite_url(url, base_dir=tmp_path) == url


# --- hostile or odd input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: &a [*a]\n", "an alias refers to the value that contains it"),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
            "the document expands to more than 100000 values",
        ),
        ("[" * 5000, "nested too deeply"),
        ("restaurants: !!set {a, b}\n", "unsupported YAML tag '!!set'"),
        ("x: !custom value\n", "unsupported YAML tag '!custom'"),
        ("--- a\n--- b\n", "YAML syntax error"),
        ("schedule:\n\tinterval_seconds: 3\n", "YAML does not allow tabs"),
        (RESTAURANT + "schedule: {interval_seconds: .inf}\n", "must be a finite number"),
    ],
)
def test_hostile_or_odd_yaml_is_reported_not_raised(
    tmp_path: Path, text: str, fragment: str
) -> None:
    errors = errors_of(write(tmp_path, text))
    assert any(fragment in error for error in errors), errors


def test_yaml_merge_keys_work_and_own_keys_win(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESTAURANT
        + """\
rules:
  - &base {name: first, kind: payment_failed, reason_id: 7, dry_run: true}
  - <<: *base
    name: second
    reason_id: 5
""",
    )
    first, second = load(path).rules
    assert (second.name, second.kind, second.reason_id, second.dry_run) == (
        "second",
        "payment_failed",
        5,
        True,
    )
    assert first.reason_id == 7


# --- overrides (README "Overrides") ------------------------------------------------


def test_the_overrides_settings_default_and_are_checked_with_their_lines(tmp_path: Path) -> None:
    congestion = (
        "rules:\n  - name: busy\n    kind: congestion\n    max_active_orders: 4\n    reason_id: 3\n"
    )
    config = load(write(tmp_path, RESTAURANT + congestion))
    assert config.schedule.status_check_seconds == 300
    assert config.rules[0].respect_staff_minutes == 60  # type: ignore[attr-defined]

    path = write(
        tmp_path,
        RESTAURANT
        + "schedule:\n  status_check_seconds: 0\n"
        + congestion
        + "    respect_staff_minutes: 1441\n",
    )
    errors = errors_of(path)
    assert_reported(errors, path, 7, "schedule.status_check_seconds must be between 1 and 3600")
    assert_reported(
        errors, path, 13, "rules[0] (busy): respect_staff_minutes must be an integer from 0 to 1440"
    )

"""Rules tests run in-process (daemon.engine.ruletest): passes, failures and their lines.

The test files are text with the rules embedded (``config:``), parsed as
``autocancel test`` parses them; every step is a pass on a store in memory.
tests/test_rule_tests.py runs the command itself.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent, indent

from daemon.config.ruletests.load import parse_rule_tests
from daemon.engine.ruletest import Mismatch, RuleTestResult, run_file

HAL = "0ca1d2b1-a199-4960-8617-83a659d890c8"
CONFIG = f"""\
config:
  restaurants:
    - {{id: {HAL}, name: Halaskargazi, latitude: 41.0493, longitude: 28.9877}}
    - {{id: akat, name: Akat}}
  rules:
    - {{name: out-of-stock, kind: out_of_stock, reason_id: 1, deactivate_food: true}}
    - {{name: payment-failed, kind: payment_failed, reason_id: 7}}
    - {{name: payment-shadow, kind: payment_failed, reason_id: 8, dry_run: true}}
    - name: overloaded
      kind: congestion
      max_active_orders: 3
      reopen_below: 2
      min_closed_minutes: 10
      reason_id: 3
"""


def run(tests: str, *, config: str = CONFIG) -> list[RuleTestResult]:
    text = config + "tests:\n" + indent(dedent(tests), "  ")
    return run_file(parse_rule_tests(text, source=Path("t.yaml")))


def mismatches(results: list[RuleTestResult]) -> list[Mismatch]:
    return [m for result in results for m in result.mismatches]


def test_a_passing_test_has_no_mismatch() -> None:
    results = run(
        """\
        - name: failed payment
          now: 2026-11-27T20:00:00
          orders:
            - {payment_key: p1, restaurant_id: Halaskargazi, payment_status: failed}
            - {payment_key: p2, restaurant_id: akat, payment_status: ok}
          expect:
            decisions:
              - {payment_key: p1, rule: payment-failed, reason_id: 7, outcome: cancelled}
              - {payment_key: p1, rule: payment-shadow, reason_id: 8, outcome: would_cancel,
                 evidence: {shadowed_by: payment-failed}}
            side_effects: []
        """
    )
    assert [(r.name, r.passed, r.passes) for r in results] == [("failed payment", True, 1)]


def test_a_failed_expectation_shows_both_sides_at_its_line() -> None:
    results = run(
        """\
        - name: wrong
          now: 2026-11-27T20:00:00
          orders:
            - {payment_key: p1, restaurant_id: akat, payment_status: failed}
            - {payment_key: p2, restaurant_id: akat, payment_status: ok}
          expect:
            decisions:
              - {payment_key: p2, rule: payment-failed, outcome: cancelled,
                 evidence: {payment_status: failed, nothing: 1}}
        """
    )
    assert mismatches(results) == [
        Mismatch(
            line=22,  # the line of `decisions:`
            test="wrong",
            step=0,
            clock=mismatches(results)[0].clock,
            what="decisions",
            expected=(
                "payment_key=p2 rule=payment-failed reason_id=7 outcome=cancelled "
                'evidence={"nothing": 1, "payment_status": "failed"}',
            ),
            got=(
                "payment_key=p1 rule=payment-failed reason_id=7 outcome=cancelled",
                "payment_key=p1 rule=payment-shadow reason_id=8 outcome=would_cancel",
            ),
        )
    ]
    assert mismatches(results)[0].clock.isoformat() == "2026-11-27T17:00:00+00:00"
    assert not results[0].passed


def test_evidence_is_compared_on_the_keys_given_only() -> None:
    results = run(
        """\
        - name: evidence
          now: 2026-11-27T20:00:00
          orders:
            - {payment_key: p1, payment_status: failed, restaurant_id: akat}
          expect:
            decisions:
              - {payment_key: p1, rule: payment-failed, outcome: cancelled,
                 evidence: {payment_status: ok, absent: 1}}
              - {payment_key: p1, rule: payment-shadow, outcome: would_cancel}
        """
    )
    [found] = mismatches(results)
    assert found.got[0] == (
        "payment_key=p1 rule=payment-failed reason_id=7 outcome=cancelled "
        'evidence={"absent": "<missing>", "payment_status": "failed"}'
    )


def test_steps_see_what_earlier_passes_did_across_a_reopen() -> None:
    results = run(
        """\
        - name: close then reopen
          now: 2026-11-27T20:00:00
          orders:
            - {payment_key: "c-{n}", count: 3, status_id: 2, created_at: -30m, every: 1m,
               restaurant_id: Halaskargazi}
            - {payment_key: new, created_at: -1m, restaurant_id: Halaskargazi}
          expect:
            decisions:
              - {payment_key: new, rule: overloaded, outcome: cancelled,
                 evidence: {active_orders: 4, max_active_orders: 3}}
            side_effects: [{close: Halaskargazi}]
          steps:
            - advance: 5m
              change_orders: [{payment_key: c-1, status_id: 5}, {payment_key: c-2, status_id: 5}]
              expect: {decisions: [], side_effects: []}
            - at: +10m
              expect: {side_effects: [{reopen: Halaskargazi, rule: overloaded}]}
            - advance: 1m
              add_orders:
                - {payment_key: "more-{n}", count: 3, restaurant_id: Halaskargazi}
              expect:
                decisions:
                  - {payment_key: more-3, rule: overloaded, outcome: cancelled}
                side_effects: [{close: Halaskargazi}]
        """
    )
    assert mismatches(results) == []
    assert results[0].passes == 4


def test_the_restaurants_state_food_state_and_hourly_budget_at_the_start() -> None:
    results = run(
        """\
        - name: state
          now: 2026-11-27T20:00:00
          restaurants:
            - {id: Halaskargazi, state: closed_by_autocancel, closed_at: -30m}
            - {id: akat, state: closed_by_others}
          deactivated_foods: [9]
          cancelled_in_last_hour: [-50m, -30m]
          stock: [{food_id: 9, available: false}]
          orders:
            - {payment_key: a1, restaurant_id: Halaskargazi, items: [{food_id: 9}]}
          expect:
            decisions: [{payment_key: a1, rule: out-of-stock, outcome: cancelled}]
            side_effects: [{reopen: Halaskargazi}]
          steps:
            - advance: 1m
              restaurants: [{id: Halaskargazi, state: open}]
              stock: [{food_id: 9, available: true}]
              # Cancelled by the first pass: never decided again, whatever its row says.
              change_orders: [{payment_key: a1, status_id: 1, payment_status: failed}]
              add_orders:
                - {payment_key: a2, restaurant_id: akat, payment_status: failed}
              expect:
                decisions:
                  - {payment_key: a2, rule: payment-failed, outcome: cancelled}
                  - {payment_key: a2, rule: payment-shadow, outcome: would_cancel}
        """
    )
    assert mismatches(results) == []


def test_side_effects_name_restaurants_by_their_name_and_dry_runs_by_their_mode() -> None:
    dry = CONFIG.replace("config:\n", "config:\n  dry_run: true\n")
    results = run(
        """\
        - name: dry
          now: 2026-11-27T20:00:00
          stock: [{food_id: 9, available: false}]
          orders:
            - {payment_key: a1, restaurant_id: akat, items: [{food_id: 9}]}
          expect:
            decisions: [{payment_key: a1, rule: out-of-stock, outcome: would_cancel}]
            side_effects: [{deactivate: 9}, {close: Halaskargazi}]
        """,
        config=dry,
    )
    [found] = mismatches(results)
    assert found.what == "side effects"
    assert found.expected == (
        "close restaurant=Halaskargazi rule=overloaded",
        "deactivate food_id=9 rule=out-of-stock",
    )
    assert found.got == ("deactivate food_id=9 rule=out-of-stock mode=dry_run",)
    assert found.to_json()["what"] == "side effects"


def test_a_geocoder_answers_from_the_test_file() -> None:
    config = CONFIG.replace("  rules:\n", "  geocoder: {provider: nominatim}\n  rules:\n").replace(
        "    - {name: out-of-stock",
        "    - {name: not-found, kind: address_not_found, reason_id: 2}\n    - {name: out-of-stock",
    )
    geocode = 'geocode:\n  "Yok Sokak 1": not_found\n'
    results = run(
        """\
        - name: geocoded
          now: 2026-11-27T20:00:00
          orders:
            - {payment_key: a, restaurant_id: akat, shipping_method: delivery,
               address: Yok Sokak 1}
            - {payment_key: b, restaurant_id: akat, shipping_method: delivery,
               address: Bilinmeyen 2}
          expect:
            decisions: [{payment_key: a, rule: not-found, outcome: cancelled}]
        """,
        config=config + geocode,
    )
    assert mismatches(results) == []


def test_deactivations_at_the_start_come_back_and_pauses_hold_their_scope() -> None:
    results = run(
        """\
        - name: foods and pauses
          now: 2026-11-27T20:00:00
          deactivated_foods:
            - {food_id: 9, at: -2h, restaurant_id: Halaskargazi}
            - 8
          stock: [{food_id: 9, available: true}, {food_id: 8, available: false}]
          pauses: [{restaurant: akat, until: +10m}]
          orders:
            - {payment_key: akat-1, restaurant_id: akat, payment_status: failed}
            - {payment_key: hal-1, restaurant_id: Halaskargazi, payment_status: failed}
          expect:
            decisions:
              - {payment_key: akat-1, rule: payment-failed, outcome: skipped,
                 evidence: {skipped_because: paused}}
              - {payment_key: akat-1, rule: payment-shadow, outcome: would_cancel}  # evidence only
              - {payment_key: hal-1, rule: payment-failed, outcome: cancelled}
              - {payment_key: hal-1, rule: payment-shadow, outcome: would_cancel}
            side_effects: [{reactivate: 9}]
          steps:
            - advance: 10m
              stock: [{food_id: 8, available: true}]
              expect:
                decisions:
                  - {payment_key: akat-1, rule: payment-failed, outcome: cancelled}
                  - {payment_key: akat-1, rule: payment-shadow, outcome: would_cancel}
                side_effects: [{reactivate: 8}]
        """
    )
    assert mismatches(results) == []

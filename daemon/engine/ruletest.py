"""Running rules tests (``autocancel test``): each step a pass in memory, checked line by line.

A test's steps run in order on one :class:`daemon.engine.simulated.SimulatedStore`
built from the test's rules: the step's rows change, then a full pass runs
at the step's clock with the one planner and the rules' safety limits, and
its effects feed the next step. Each expectation a step lists (its
decisions, its side effects) is compared with what the pass did, as sorted
lines, one decision or effect a line: the same lines on both sides, so a
failure is a plain diff. Nothing here touches a store, the network or the
wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from daemon.config.geocode_file import GeocodeEntries
from daemon.config.ruletests.spec import (
    Expectation,
    ExpectedDecision,
    ExpectedEffect,
    RuleTestFile,
    RuleTestSpec,
    StepSpec,
)
from daemon.domain.decisions import Decision
from daemon.engine.simulated import Effect, SimulatedPass, SimulatedStore

Checked = Literal["decisions", "side effects"]


@dataclass(frozen=True)
class Mismatch:
    """One expectation a pass did not meet: where it is written, and both sides as lines."""

    line: int
    test: str
    step: int
    clock: datetime
    what: Checked
    expected: tuple[str, ...]
    got: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "test": self.test,
            "step": self.step,
            "at": self.clock.isoformat(),
            "what": self.what,
            "expected": list(self.expected),
            "got": list(self.got),
        }


@dataclass(frozen=True)
class RuleTestResult:
    name: str
    line: int
    passes: int
    mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


class TableGeocoder:
    """The geocoder of a test: the answers its file lists, and "unknown" for any other address.

    An unknown address fails as a geocoder that cannot be reached does, so it
    is never "not found" (daemon.engine.geo reads the failure as unknown).
    """

    def __init__(self, entries: GeocodeEntries) -> None:
        self._entries = entries

    def geocode(self, query: str, **_options: Any) -> _Position | None:
        from geopy.exc import GeocoderUnavailable

        if query in self._entries.not_found:
            return None
        position = self._entries.positions.get(query)
        if position is None:
            raise GeocoderUnavailable("the test file's geocode has no answer for this address")
        return _Position(*position)


@dataclass(frozen=True, slots=True)
class _Position:
    latitude: float
    longitude: float


def run_file(spec: RuleTestFile) -> list[RuleTestResult]:
    """Every test of one file, in file order."""
    return [run_test(spec, test) for test in spec.tests]


def run_test(spec: RuleTestFile, test: RuleTestSpec) -> RuleTestResult:
    """One test: a fresh store in memory, then each step's changes and pass, checked."""
    config = spec.config
    store = SimulatedStore(
        config, geocoder=TableGeocoder(spec.geocode) if config.geocoder is not None else None
    )
    for food in test.deactivated_foods:
        store.deactivate(food.food_id, rule=food.rule, at=food.at, restaurant_id=food.restaurant_id)
    store.record_cancellations(test.earlier_cancellations)
    names = _restaurant_labels(spec)
    mismatches: list[Mismatch] = []
    for step in test.steps:
        apply_step(store, step)
        done = store.run_pass(step.clock)
        if step.expect is not None:
            found = _check(step.expect, done, test=test, step=step, names=names)
            mismatches += sorted(found, key=lambda mismatch: mismatch.line)  # in file order
    return RuleTestResult(
        name=test.name, line=test.line, passes=len(test.steps), mismatches=tuple(mismatches)
    )


def apply_step(store: SimulatedStore, step: StepSpec) -> None:
    """The step's changes, in order: restaurants, stock rows, pauses, new and changed orders."""
    for setting in step.restaurants:
        if setting.state == "open":
            store.open(setting.restaurant_id)
        elif setting.state == "closed_by_others":
            store.close_by_others(setting.restaurant_id)
        else:
            assert setting.rule is not None and setting.closed_at is not None
            store.close_ours(setting.restaurant_id, rule=setting.rule, closed_at=setting.closed_at)
    for level in step.stock:
        store.put_stock(level)
    for pause in step.pauses:
        store.pause(
            rule=pause.rule,
            restaurant_id=pause.restaurant_id,
            since=pause.since,
            until=pause.until,
            comment="autocancel test",
        )
    for order in step.add_orders:
        store.put_order(order)
    for change in step.change_orders:
        store.change_order(change.payment_key, **change.columns)


def _check(
    expect: Expectation,
    done: SimulatedPass,
    *,
    test: RuleTestSpec,
    step: StepSpec,
    names: Mapping[str, str],
) -> list[Mismatch]:
    found = []
    if expect.decisions is not None:
        expected = sorted(decision_line_expected(d) for d in expect.decisions)
        got = sorted(_decision_lines(done.decisions, expect.decisions))
        if expected != got:
            found.append(
                _mismatch(
                    expect.decisions_line,
                    "decisions",
                    expected=expected,
                    got=got,
                    test=test,
                    step=step,
                )
            )
    if expect.side_effects is not None:
        expected = sorted(_expected_effect_line(e, names) for e in expect.side_effects)
        got = sorted(effect_line(e, names) for e in done.effects)
        if expected != got:
            found.append(
                _mismatch(
                    expect.side_effects_line,
                    "side effects",
                    expected=expected,
                    got=got,
                    test=test,
                    step=step,
                )
            )
    return found


def _mismatch(
    line: int,
    what: Checked,
    *,
    expected: list[str],
    got: list[str],
    test: RuleTestSpec,
    step: StepSpec,
) -> Mismatch:
    return Mismatch(
        line=line,
        test=test.name,
        step=step.number,
        clock=step.clock,
        what=what,
        expected=tuple(expected),
        got=tuple(got),
    )


# --- the lines both sides are written as ------------------------------------------


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    return json.dumps(dict(evidence), sort_keys=True, ensure_ascii=False, default=str)


def decision_line(
    payment_key: str,
    rule: str,
    reason_id: int,
    outcome: str,
    evidence: Mapping[str, Any] | None = None,
) -> str:
    line = f"payment_key={payment_key} rule={rule} reason_id={reason_id} outcome={outcome}"
    return line if evidence is None else f"{line} evidence={_evidence_text(evidence)}"


def decision_line_expected(expected: ExpectedDecision) -> str:
    return decision_line(
        expected.payment_key,
        expected.rule,
        expected.reason_id,
        expected.outcome,
        expected.evidence,
    )


_MISSING = "<missing>"


def _decision_lines(
    decisions: Sequence[Decision], expected: Sequence[ExpectedDecision]
) -> list[str]:
    """Each decision's line; its evidence only where the expectation for it lists some keys."""
    wanted = {(e.payment_key, e.rule): e.evidence for e in expected if e.evidence is not None}
    lines = []
    for decision in decisions:
        keys = wanted.get((decision.payment_key, decision.rule))
        evidence = (
            None if keys is None else {key: decision.evidence.get(key, _MISSING) for key in keys}
        )
        lines.append(
            decision_line(
                decision.payment_key,
                decision.rule,
                decision.reason_id,
                decision.outcome,
                evidence,
            )
        )
    return lines


def _restaurant_labels(spec: RuleTestFile) -> dict[str, str]:
    """How lines name a restaurant: its name where that names one restaurant only, else its id."""
    named = [r.name for r in spec.config.restaurants if r.name]
    return {
        r.id: r.name if r.name and named.count(r.name) == 1 else r.id
        for r in spec.config.restaurants
    }


def _line(action: str, target: str | int, rule: str, mode: str, names: Mapping[str, str]) -> str:
    what = (
        f"food_id={target}"
        if action in ("deactivate", "reactivate")
        else f"restaurant={names.get(str(target), target)}"
    )
    line = f"{action} {what} rule={rule}"
    return line if mode == "live" else f"{line} mode={mode}"


def effect_line(effect: Effect, names: Mapping[str, str]) -> str:
    return _line(effect.action, effect.target, effect.rule, effect.mode, names)


def _expected_effect_line(expected: ExpectedEffect, names: Mapping[str, str]) -> str:
    return _line(expected.action, expected.target, expected.rule, expected.mode, names)

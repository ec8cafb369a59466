"""``autocancel explain``: every rule's verdict on orders, and what would happen to them."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import sqlalchemy as sa

from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.decisions import Decision
from daemon.domain.orders import Order
from daemon.domain.reasons import reason_text
from daemon.domain.timeutil import isoformat_z
from daemon.engine.passes import Judge, PassError
from daemon.engine.plan import Plan
from daemon.service.runtime import open_store
from daemon.store import connect, ledger
from daemon.store.names import Names

# How verdicts read to an operator: "matched", "no match", "skipped".
VERDICT_WORDS = {"match": "matched", "no_match": "no match", "skipped": "skipped"}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def explain(config: Config, payment_keys: Sequence[str]) -> int:
    """Explain each order of ``payment_keys`` on one snapshot and one plan.

    Several orders are judged together, by one pass's plan: their
    explanations agree with each other as they agree with the pass. A key the
    store does not hold gets an error line; the others are still explained.
    """
    keys = list(dict.fromkeys(payment_keys))  # each once, in the order asked
    try:
        engine = open_store(config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        # The very planner, limits, clock and mode a pass runs: explain cannot
        # tell another story than the pass (or the dry run) does.
        judge = Judge(config=config, engine=engine, bad_data_of=keys)
        snapshot = judge.read(also_include=keys)
        plan = judge.plan(snapshot)
        with engine.connect() as connection:
            history = ledger.audit_rows(connection, payment_keys=keys)
    except (PassError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()

    code = exitcodes.OK
    names = Names.of(config.restaurants)
    explained = 0
    for payment_key in keys:
        order = snapshot.order(payment_key)
        if order is None:
            print(
                f"error: no order {payment_key} in the store {connect.describe_url(engine.url)}",
                file=sys.stderr,
            )
            code = exitcodes.RUNTIME_FAILURE
            continue
        if explained:
            print()  # a blank line between orders
        explained += 1
        _explain_one(
            config,
            plan,
            order,
            names=names,
            live_outcome=snapshot.live_intents.get(payment_key),
            history=[row for row in history if row["payment_key"] == payment_key],
        )
    return code


def _explain_one(
    config: Config,
    plan: Plan,
    order: Order,
    *,
    names: Names,
    live_outcome: str | None,
    history: Sequence[sa.RowMapping],
) -> None:
    _print_order(order, names)
    _print_verdicts(config, plan, order.payment_key)
    _print_suspensions(plan, order)
    _print_load(config, plan, order)
    if live_outcome is not None:
        print(f"decision: already decided live (outcome {live_outcome}); never sent again")
    else:
        _print_decision(plan.decision_for(order.payment_key))
    _print_history(history)


def _print_order(order: Order, names: Names) -> None:
    print(
        f"order {order.payment_key} (#{order.order_number}) restaurant "
        f"{names.restaurant(order.restaurant_id)}"
    )
    print(
        f"  status {order.status_id}, {order.shipping_method or 'unknown shipping'}, "
        f"payment {order.payment_status or 'unknown'}, created "
        f"{isoformat_z(order.created_at) if order.created_at else 'unknown'}"
    )
    items = ", ".join(f"{i.quantity}x {i.name or ''} (food {i.food_id})" for i in order.items)
    print(f"  items: {items or 'none'}")


def _print_verdicts(config: Config, plan: Plan, payment_key: str) -> None:
    by_rule = {rule.name: verdict for rule, verdict in plan.verdicts[payment_key]}
    print("rules (in file order):")
    for rule in config.rules:
        mode = {"dry_run": "dry-run"}.get(plan.rule_modes[rule.name], "live")
        window = rule.window
        active = f", active {window.describe()}" if window is not None else ""
        header = f"  {rule.name} [{rule.kind}, reason {rule.reason_id}, {mode}{active}]"
        if not rule.enabled:
            print(f"{header}: disabled")
            continue
        verdict = by_rule[rule.name]
        line = f"{header}: {VERDICT_WORDS.get(verdict.kind.value, verdict.kind.value)}"
        print(f"{line} - {verdict.why}" if verdict.why else line)
        if verdict.evidence:
            print(f"      evidence {_json(dict(verdict.evidence))}")


def _print_suspensions(plan: Plan, order: Order) -> None:
    """What holds every automatic decision now (a quiet window), whatever the verdicts say."""
    for suspension in plan.suspensions:
        if suspension.restaurants is not None and order.restaurant_id not in suspension.restaurants:
            continue
        scope = "every rule" if suspension.rules is None else ", ".join(sorted(suspension.rules))
        print(
            f"suspended ({scope}): {suspension.why}; no automatic cancellation, closure or "
            "food change goes out (reopenings still do)"
        )


def _print_load(config: Config, plan: Plan, order: Order) -> None:
    load = plan.loads.get(order.restaurant_id)
    if load is None:
        return  # not a listed restaurant: no load of ours
    names = {r.id: r.name for r in config.restaurants}
    print(
        f"load of {names.get(load.restaurant_id) or load.restaurant_id} this pass: "
        f"{load.load} (of {load.active} active: {len(load.stale)} stale, older than "
        f"{config.safety.max_order_age_minutes} min; {len(load.leaving)} leaving anyway)"
    )
    if plan.holds(order.restaurant_id):
        scope = "this pass" if plan.held else "this restaurant"
        print(
            f"held: a safety brake holds {scope}; no cancellation, closure, reopening or "
            "food change goes out for it"
        )


def _print_decision(primary: Decision | None) -> None:
    if primary is None:
        print("decision: no rule matches; the order is left alone")
        return
    outcome = {"pending": "would be cancelled now"}.get(primary.outcome, primary.outcome)
    print(
        f"decision: {primary.rule} -> reason {primary.reason_id} "
        f"({reason_text(primary.reason_id)}), {primary.mode}, {outcome}"
    )
    safety = {
        k: v
        for k, v in primary.evidence.items()
        if k.endswith("_because")
        or k
        in ("matched", "age_minutes", "quiet_window", "quiet_until", "pause_id", "paused_until")
    }
    if safety:
        print(f"      safety {_json(safety)}")


def _print_history(history: Sequence[sa.RowMapping]) -> None:
    if not history:
        return
    print("ledger:")
    for row in history:
        print(
            f"  {isoformat_z(row['at'])} {row['rule']} {row['mode']} {row['outcome']}"
            f" attempts={row['attempts']}"
            + (f" error={row['last_error']}" if row["last_error"] else "")
        )

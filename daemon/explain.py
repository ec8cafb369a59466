"""``autocancel explain``: every rule's verdict on one order, and what would happen to it."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import sqlalchemy as sa

from daemon import exitcodes, ledger, store
from daemon.config import Config
from daemon.engine import decide_order, evaluate
from daemon.passes import PassError, PassRunner, safety_limits
from daemon.reasons import reason_text
from daemon.runtime import open_store
from daemon.safety import apply_safety
from daemon.snapshot import Order
from daemon.timeutil import isoformat_z, utcnow
from rules.base import Rule
from rules.verdict import Verdict

# How verdicts read to an operator: "matched", "no match", "skipped".
VERDICT_WORDS = {"match": "matched", "no_match": "no match", "skipped": "skipped"}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def explain(config: Config, payment_key: str) -> int:
    try:
        engine = open_store(config)
    except store.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        runner = PassRunner(config=config, engine=engine, executor_factory=None, dry_run=True)
        snapshot = runner.read(also_include=[payment_key])
        order = snapshot.order(payment_key)
        if order is None:
            print(f"error: no order {payment_key} in the store {store.describe_url(engine.url)}",
                  file=sys.stderr)
            return exitcodes.RUNTIME_FAILURE
        ctx = runner.context(snapshot)
        with engine.connect() as connection:
            history = ledger.audit_rows(connection, payment_keys=[payment_key])
            used = ledger.live_cancellations_since(connection, utcnow() - ledger.HOURLY_WINDOW)
    except (PassError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()

    verdicts = evaluate(config.rules, ctx, dry_run=config.dry_run)[payment_key]
    _print_order(order)
    _print_verdicts(config, verdicts)
    if payment_key in snapshot.live_intents:
        print(f"decision: already decided live (outcome {snapshot.live_intents[payment_key]}); "
              "never sent again")
    else:
        _print_decision(config, order, verdicts, used)
    _print_history(history)
    return exitcodes.OK


def _print_order(order: Order) -> None:
    print(f"order {order.payment_key} (#{order.order_number}) restaurant {order.restaurant_id}")
    print(f"  status {order.status_id}, {order.shipping_method or 'unknown shipping'}, "
          f"payment {order.payment_status or 'unknown'}, created "
          f"{isoformat_z(order.created_at) if order.created_at else 'unknown'}")
    items = ", ".join(f"{i.quantity}x {i.name or ''} (food {i.food_id})" for i in order.items)
    print(f"  items: {items or 'none'}")


def _print_verdicts(config: Config, verdicts: Sequence[tuple[Rule, Verdict]]) -> None:
    by_rule = {rule.name: verdict for rule, verdict in verdicts}
    print("rules (in file order):")
    for rule in config.rules:
        mode = "dry-run" if (config.dry_run or rule.dry_run) else "live"
        header = f"  {rule.name} [{rule.kind}, reason {rule.reason_id}, {mode}]"
        if not rule.enabled:
            print(f"{header}: disabled")
            continue
        verdict = by_rule[rule.name]
        line = f"{header}: {VERDICT_WORDS.get(verdict.kind.value, verdict.kind.value)}"
        print(f"{line} - {verdict.why}" if verdict.why else line)
        if verdict.evidence:
            print(f"      evidence {_json(dict(verdict.evidence))}")


def _print_decision(
    config: Config, order: Order, verdicts: Sequence[tuple[Rule, Verdict]], used: int
) -> None:
    decisions = decide_order(order, verdicts, dry_run=config.dry_run)
    checked = apply_safety(decisions, safety_limits(config), now=utcnow(),
                           live_cancellations_last_hour=used)
    primary = next((d for d in checked if d.primary), None)
    if primary is None:
        print("decision: no rule matches; the order is left alone")
        return
    outcome = {"pending": "would be cancelled now"}.get(primary.outcome, primary.outcome)
    print(f"decision: {primary.rule} -> reason {primary.reason_id} "
          f"({reason_text(primary.reason_id)}), {primary.mode}, {outcome}")
    safety = {k: v for k, v in primary.evidence.items()
              if k.endswith("_because") or k in ("matched", "age_minutes")}
    if safety:
        print(f"      safety {_json(safety)}")


def _print_history(history: Sequence[sa.RowMapping]) -> None:
    if not history:
        return
    print("ledger:")
    for row in history:
        print(f"  {isoformat_z(row['at'])} {row['rule']} {row['mode']} {row['outcome']}"
              f" attempts={row['attempts']}"
              + (f" error={row['last_error']}" if row["last_error"] else ""))

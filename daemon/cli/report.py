"""How decisions and ledger rows look to operators: table, JSON lines, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from daemon.domain.decisions import Decision
from daemon.domain.reasons import reason_text
from daemon.domain.timeutil import isoformat_z
from daemon.store.names import Names

AUDIT_FIELDS = (
    "at",
    "payment_key",
    "rule",
    "kind",
    "reason_id",
    "reason_text",
    "mode",
    "outcome",
    "attempts",
    "last_error",
    "evidence",
    "note",
    "restaurant_id",
)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def to_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=_json_default, sort_keys=False)


def decision_record(decision: Decision) -> dict[str, Any]:
    """The ``once --json`` object (contract fields first)."""
    order = decision.order
    return {
        "payment_key": decision.payment_key,
        "rule": decision.rule,
        "kind": decision.kind,
        "reason_id": decision.reason_id,
        "mode": decision.mode,
        "outcome": decision.outcome,
        "evidence": dict(decision.evidence),
        "reason_text": reason_text(decision.reason_id),
        "order_number": order.order_number,
        "restaurant_id": order.restaurant_id,
        "status_id": order.status_id,
        "attempts": decision.attempts,
        "last_error": decision.last_error,
    }


def ledger_record(
    row: Mapping[str, Any] | sa.RowMapping, *, names: Names | None = None
) -> dict[str, Any]:
    """The ``audit --format json`` object: the ``once --json`` fields plus when and how."""
    return {
        "at": isoformat_z(row["at"]),
        "payment_key": row["payment_key"],
        "rule": row["rule"],
        "kind": row["kind"],
        "reason_id": int(row["reason_id"]),
        "mode": row["mode"],
        "outcome": row["outcome"],
        "evidence": row["evidence"],
        "reason_text": reason_text(int(row["reason_id"])),
        "attempts": int(row["attempts"]),
        "last_error": row["last_error"],
        "note": row["note"],
        "restaurant_id": row["restaurant_id"],
        "restaurant_name": (names or Names()).restaurant_name(row["restaurant_id"]),
        "updated_at": isoformat_z(row["updated_at"]),
    }


def _short_evidence(evidence: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in evidence.items() if k != "other_matches"}
    text = json.dumps(shown, ensure_ascii=False, default=_json_default)
    if "other_matches" in evidence:
        text += f" (+{len(evidence['other_matches'])} more rule(s) matched)"
    return text


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def decisions_table(decisions: Iterable[Decision]) -> str:
    rows = [
        (
            d.payment_key,
            d.rule,
            f"{d.reason_id} {reason_text(d.reason_id)}",
            d.mode,
            d.outcome,
            _short_evidence(d.evidence) + (f" error: {d.last_error}" if d.last_error else ""),
        )
        for d in decisions
    ]
    if not rows:
        return "no order matched a rule"
    return table(rows, ("ORDER", "RULE", "REASON", "MODE", "OUTCOME", "EVIDENCE"))


def audit_table(records: Iterable[Mapping[str, Any]]) -> str:
    rows = [
        (
            r["at"],
            r["payment_key"],
            r["restaurant_id"] or "",
            r["rule"],
            f"{r['reason_id']} {r['reason_text']}",
            r["mode"],
            r["outcome"],
            str(r["attempts"]),
            r["last_error"] or "",
        )
        for r in records
    ]
    if not rows:
        return "the ledger has no entries for this period"
    return table(
        rows,
        (
            "AT",
            "ORDER",
            "RESTAURANT",
            "RULE",
            "REASON",
            "MODE",
            "OUTCOME",
            "ATTEMPTS",
            "LAST ERROR",
        ),
    )


def actions_table(records: Iterable[Mapping[str, Any]]) -> str:
    """Closures, reopenings, food deactivations and reactivations (daemon.action_history),
    names beside ids; who asked and why, where the record says."""
    rows = [
        (
            r["at"],
            r["action"],
            r["target"],
            r["rule"],
            r["outcome"] or "",
            r.get("by") or "",
            r.get("why") or "",
            r["detail"] or "",
        )
        for r in records
    ]
    return table(rows, ("AT", "ACTION", "TARGET", "RULE", "OUTCOME", "BY", "WHY", "LAST ERROR"))


def pauses_table(records: Iterable[Mapping[str, Any]]) -> str:
    """Pauses made, resumed and expired (daemon.cli.pause_view.audit_records)."""
    rows = [
        (r["at"], r["event"], r["pause"], r["scope"], r["until"], r["by"], r["comment"])
        for r in records
    ]
    return table(rows, ("AT", "EVENT", "PAUSE", "SCOPE", "UNTIL", "BY", "COMMENT"))


def audit_csv(records: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=AUDIT_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "evidence": json.dumps(record["evidence"], ensure_ascii=False)})
    return buffer.getvalue()

"""``autocancel foods`` and ``food-reactivate``: the foods the daemon has off, the way back.

``foods`` lists every food this daemon switched off and still holds: since
when, by which rule for which order, what its stock row says now, and when
it comes back (its stock row, or the rule's ``reactivate_after_minutes``).
``food-reactivate FOOD_ID`` puts one back on sale now, through the same
claim, re-check and lost-answer handling as the automatic way back; it is
recorded with who asked (``--by``, default the OS user) and ``--note``, and
``audit`` shows it. It reactivates only what the daemon itself deactivated:
a food someone else switched off is theirs.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daemon.config.credentials import MissingCredentials, require_credentials
from daemon.config.models import Config
from daemon.domain import exitcodes
from daemon.domain.actions import ReactivateFood
from daemon.domain.foods import FoodOff, describe_reason, describe_stock, describe_stock_words
from daemon.domain.timeutil import isoformat_z
from daemon.engine.reactivation import due_at, snoozes
from daemon.service.runtime import ApiSession, open_store
from daemon.store import connect
from daemon.store.foods_off import last_deactivation, read_foods_off
from daemon.store.names import Names, food_names
from daemon.store.readonly import ReadingConfig

if TYPE_CHECKING:
    from daemon.engine.side_effects import Reactivation

REACTIVATE = "autocancel food-reactivate: error:"
# A food id as the stock table and the API know it: a plain decimal integer that
# fits the store's integer column (PostgreSQL's is 32 bits).
_FOOD_ID = re.compile(r"[0-9]{1,10}")
_MAX_FOOD_ID = 2**31 - 1


class _UsageError(Exception):
    """Bad input: one line on stderr, exit 2 (contract)."""


class _Refused(Exception):
    """Nothing was sent, for the reason in the message: one line, exit 1."""


def parse_food_id(text: str) -> int:
    """The FOOD_ID argument, or a usage error that shows what was given (safely quoted)."""
    shown = repr(text[:40] + ("..." if len(text) > 40 else ""))
    if not _FOOD_ID.fullmatch(text) or int(text) > _MAX_FOOD_ID:
        raise _UsageError(
            f"FOOD_ID {shown} is not a food id: give the number of the food as in the stock "
            "table (e.g. 2); `autocancel foods` lists the foods autocancel has off"
        )
    return int(text)


# --- autocancel foods --------------------------------------------------------------


def _stock_now(food: FoodOff) -> str:
    if food.stock_unreadable:
        return "unreadable stock row"
    if food.stock is None:
        return "no stock row"
    if food.restaurant_id is not None and not food.stock.speaks_for(food.restaurant_id):
        return f"the stock row is another restaurant's ({food.stock.restaurant_id})"
    return describe_stock_words(describe_stock(food.stock))


def _record(food: FoodOff, names: Names, snooze_due: datetime | None) -> dict[str, Any]:
    claim = food.reactivation
    return {
        "food_id": food.food_id,
        "food_name": names.food_name(food.food_id),
        "restaurant_id": food.restaurant_id,
        "restaurant_name": names.restaurant_name(food.restaurant_id),
        "since": isoformat_z(food.deactivated_at),
        "rule": food.rule,
        "payment_key": food.payment_key,
        "state": "off" if food.outcome == "done" else "maybe_off",
        "stock": describe_stock(food.stock),
        "stock_row": _stock_now(food),
        "sellable": food.sellable,
        "comes_back_at": None if snooze_due is None else isoformat_z(snooze_due),
        "reactivation": None
        if claim is None
        else {
            "outcome": claim.outcome,
            "trigger": claim.trigger,
            "requested_by": claim.requested_by,
            "attempts": claim.attempts,
            "uncertain_sends": claim.uncertain_sends,
            "last_error": claim.last_error,
            "at": isoformat_z(claim.updated_at),
        },
    }


def _comes_back(record: dict[str, Any]) -> str:
    claim = record["reactivation"]
    if claim is not None and claim["outcome"] == "pending":
        return f"being reactivated now (since {claim['at']})"
    if claim is not None and claim["outcome"] == "uncertain":
        return (
            f"the answer to its reactivation was lost ({claim['last_error']}): counted as "
            "sent; the next pass re-checks it and resends"
        )
    if claim is not None and claim["outcome"] == "failed":
        return (
            f"its reactivation failed for good ({claim['last_error']}): check it on Dükkango; "
            "`autocancel food-reactivate` tries again"
        )
    when = "when its stock row says it can be sold again"
    if record["sellable"]:
        when = "on the next pass: its stock row says it can be sold again"
    if record["comes_back_at"] is not None:
        when += f", or at {record['comes_back_at']} (reactivate_after_minutes) whatever it says"
    if claim is not None and claim["outcome"] == "retry":
        when += f"; the last try was not sent ({claim['last_error']})"
    return when


def _render(records: list[dict[str, Any]], hidden: int) -> str:
    lines = [f"foods autocancel has off: {len(records)}"]
    for r in records:
        food = f"food {r['food_id']}"
        if r["food_name"]:
            food = f"{r['food_name']} ({food})"
        where = r["restaurant_id"] or "every restaurant"
        if r["restaurant_name"]:
            where = f"{r['restaurant_name']} ({where})"
        order = f", order {r['payment_key']}" if r["payment_key"] else ""
        state = "off"
        if r["state"] != "off":
            state = "maybe off (the answer to its deactivation was lost)"
        lines.append(f"  {food} at {where}: {state} since {r['since']} by {r['rule']}{order}")
        lines.append(f"    stock row now: {r['stock_row']}")
        lines.append(f"    comes back: {_comes_back(r)}")
    if hidden:
        lines.append(
            f"({hidden} more deactivation(s) still being tried or refused by Dükkango: those "
            "foods were never switched off; `autocancel status` lists them)"
        )
    return "\n".join(lines)


def list_foods(reading: ReadingConfig, *, as_json: bool) -> int:
    config = reading.config
    try:
        engine = open_store(config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        with engine.connect() as connection:
            found = read_foods_off(connection)
            names = Names.of(config.restaurants).with_foods(
                food_names(connection, [f.food_id for f in found])
            )
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot read the store: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    # The rules' snoozes are known only while the rules validate.
    delays = snoozes(config.rules) if reading.trusts("rules") else {}
    off = [f for f in found if f.may_be_off]
    records = [_record(f, names, due_at(f, delays.get(f.rule))) for f in off]
    if as_json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        print(_render(records, hidden=len(found) - len(off)))
    return exitcodes.OK


# --- autocancel food-reactivate ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    food_id: int
    who: str
    note: str | None
    dry_run: bool


def reactivate(
    config: Config,
    food_id_text: str,
    *,
    by: str | None,
    note: str | None,
    who_default: str,
    dry_run: bool = False,
) -> int:
    try:
        food_id = parse_food_id(food_id_text)
        if by is not None and not by.strip():
            raise _UsageError("--by needs the name of who asks for the reactivation")
    except _UsageError as exc:
        print(f"{REACTIVATE} {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    request = _Request(
        food_id,
        by.strip() if by is not None else who_default,
        note,
        dry_run or config.dry_run,
    )
    try:
        engine = open_store(config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        return _reactivate(config, engine, request, dry_flag=dry_run)
    except _UsageError as exc:
        print(f"{REACTIVATE} {exc}", file=sys.stderr)
        return exitcodes.INVALID_CONFIG
    except (_Refused, MissingCredentials, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()


def _ours(engine: sa.Engine, food_id: int, names: Names) -> FoodOff:
    """The food's deactivation in force that may have switched it off, or why there is none."""
    with engine.connect() as connection:
        found = read_foods_off(connection, food_id=food_id)
        last = last_deactivation(connection, food_id)
        known = food_names(connection, [food_id])
    food = Names(restaurants=names.restaurants, foods=known).food(food_id)
    if not found:
        if last is None:
            if not known:
                raise _UsageError(
                    f"no {food} is known: autocancel never deactivated it, and the stock "
                    "table has no such food"
                )
            raise _UsageError(
                f"{food} was never deactivated by autocancel: if it is off on Dükkango, "
                "someone else switched it off, and autocancel reactivates only what it "
                "deactivated itself"
            )
        ended = last["reactivation"] or "ended"
        when = f" at {isoformat_z(last['reactivated_at'])}" if last["reactivated_at"] else ""
        who = f" by {last['requested_by']}" if last["requested_by"] else ""
        raise _UsageError(
            f"{food} is not off by autocancel: its last deactivation ({isoformat_z(last['at'])},"
            f" rule {last['rule']}) is over ({ended}{when}{who}); if it is off on Dükkango, "
            "someone else switched it off"
        )
    off = found[0]
    if not off.may_be_off:
        how = (
            f"Dükkango refused it ({off.last_error})"
            if off.outcome == "failed"
            else f"it is still being tried ({off.outcome}"
            + (f": {off.last_error})" if off.last_error else ")")
        )
        raise _UsageError(
            f"{food}: its deactivation never went through ({how}): it was never switched "
            "off, so there is nothing to undo"
        )
    return off


def _reactivate(config: Config, engine: sa.Engine, request: _Request, *, dry_flag: bool) -> int:
    names = Names.of(config.restaurants)
    off = _ours(engine, request.food_id, names)
    with engine.connect() as connection:
        names = names.with_foods(food_names(connection, [off.food_id]))
    label = f"{names.food(off.food_id)} at {names.restaurant(off.restaurant_id)}"
    claim = off.reactivation
    if claim is not None and claim.outcome == "pending":
        raise _Refused(
            f"{label} is being reactivated right now (claimed {isoformat_z(claim.updated_at)} "
            f"by {claim.owner or 'another process'}); see `autocancel foods`; nothing was sent"
        )
    if request.dry_run:
        why = "--dry-run" if dry_flag else f"dry_run: true in {config.source}"
        print(f"dry run ({why}): would reactivate {label}; nothing was sent")
        return exitcodes.OK
    require_credentials()
    action = ReactivateFood(
        food_id=off.food_id,
        restaurant_id=off.restaurant_id,
        rule=off.rule,
        deactivation_id=off.deactivation_id,
        trigger="manual",
        evidence={"stock": describe_stock(off.stock)},
        requested_by=request.who,
        note=request.note,
    )
    # Here, not at the top: `autocancel foods` only lists, and needs no pass machinery.
    from daemon.engine.passes import Judge
    from daemon.engine.side_effects import FoodReactivations

    judge = Judge(config=config, engine=engine)
    with ApiSession(config) as api:
        reactivations = FoodReactivations(
            engine=engine,
            executor=api.executor(),
            lost_answer_retries=config.api.lost_answer_retries,
            names=names,
            abandoned_after=judge.reactivations_abandoned_after,
        )
        done = reactivations.reactivate_one(
            action, recheck=judge.recheck_reactivation, by_hand=True
        )
    if done is None:
        raise _Refused(f"{label} was just claimed by another autocancel process; nothing was sent")
    return _report(label, off, done, request)


def _report(label: str, off: FoodOff, done: Reactivation, request: _Request) -> int:
    error = done.result.detail
    if done.outcome == "reactivated":
        print(
            f"reactivated {label} ({describe_reason('manual', {}, request.note)}, by {request.who})"
        )
        if not off.sellable:
            print(
                f"note: its stock row says {_stock_now(off)}: the next order for it is "
                "cancelled as out of stock and the food deactivated again, unless the "
                "stock row is updated",
                file=sys.stderr,
            )
        return exitcodes.OK
    if done.outcome == "uncertain":
        print(
            f"the answer to the reactivation of {label} was lost ({error}): it counts as sent "
            "and may have gone through; the next pass (autocancel run or once) re-checks it and "
            f"resends it, at most {done.resends_left} more time(s). Check the food on Dükkango.",
            file=sys.stderr,
        )
    elif done.outcome == "failed":
        print(
            f"failed to reactivate {label}: {error}; it stays on `autocancel foods`",
            file=sys.stderr,
        )
    else:
        print(f"{label} was not reactivated: {error}; it stays off", file=sys.stderr)
    return exitcodes.RUNTIME_FAILURE

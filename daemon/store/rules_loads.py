"""Which rules file was in force when: the loads of rules.yaml (migration 0015).

A process that acts on the rules writes one row when it loads them (``run`` at
start and on each accepted reload, ``once`` before its pass): the file's
SHA-256, its path, the time and who. The rules in force at a moment are the
ones of the last load before it; :func:`periods` folds consecutive loads of
the same file into one span, which is what an auditor asks about.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from daemon.store import schema
from daemon.store.ledger import OWNER

LoadEvent = Literal["start", "reload", "once"]


@dataclass(frozen=True, kw_only=True)
class RulesLoad:
    loaded_at: datetime
    event: str
    digest: str
    path: str
    owner: str | None


@dataclass(frozen=True, kw_only=True)
class DigestPeriod:
    """One file in force from ``since`` until ``until`` (None: still, as far as the store knows)."""

    digest: str
    path: str
    since: datetime
    until: datetime | None
    loads: int  # how many loads of this file the period folds


def record(
    connection: sa.Connection, *, digest: str, path: str, event: LoadEvent, at: datetime
) -> None:
    connection.execute(
        sa.insert(schema.rules_loads).values(
            loaded_at=at, event=event, digest=digest, path=path, owner=OWNER
        )
    )


def _load(row: sa.RowMapping) -> RulesLoad:
    return RulesLoad(
        loaded_at=row["loaded_at"],
        event=row["event"],
        digest=row["digest"],
        path=row["path"],
        owner=row["owner"],
    )


def every_load(connection: sa.Connection, *, until: datetime | None = None) -> list[RulesLoad]:
    """The loads in time order, up to ``until`` (exclusive)."""
    table = schema.rules_loads
    query = sa.select(table).order_by(table.c.loaded_at, table.c.id)
    if until is not None:
        query = query.where(table.c.loaded_at < until)
    return [_load(row) for row in connection.execute(query).mappings()]


def last_load(connection: sa.Connection) -> RulesLoad | None:
    table = schema.rules_loads
    query = sa.select(table).order_by(table.c.loaded_at.desc(), table.c.id.desc()).limit(1)
    row = connection.execute(query).mappings().first()
    return None if row is None else _load(row)


def periods(loads: Sequence[RulesLoad]) -> tuple[DigestPeriod, ...]:
    """Consecutive loads of the same file (digest and path) as one period each."""
    found: list[DigestPeriod] = []
    for load in loads:
        if found and (found[-1].digest, found[-1].path) == (load.digest, load.path):
            found[-1] = replace(found[-1], loads=found[-1].loads + 1)
            continue
        if found:
            found[-1] = replace(found[-1], until=load.loaded_at)
        found.append(
            DigestPeriod(
                digest=load.digest, path=load.path, since=load.loaded_at, until=None, loads=1
            )
        )
    return tuple(found)


def in_force(periods_: Sequence[DigestPeriod], at: datetime) -> DigestPeriod | None:
    """The period whose file was in force at ``at``; None before the first recorded load."""
    index = bisect.bisect_right([period.since for period in periods_], at) - 1
    return periods_[index] if index >= 0 else None

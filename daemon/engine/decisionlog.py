"""Which dry-run lines reach the log: each verdict once per order, not once per pass.

A live outcome is news every time it happens, and is always logged. A
dry-run verdict (a shadow rule's match, a dry-run daemon's would_cancel, a
would_do action) is the same news every pass for as long as the order
waits: it is logged the first time, and again only when it changes (another
outcome) or, in ``autocancel run``, a day later. The ledger keeps every one.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta

from daemon.domain.logonce import LogOnce

_DRY_RUN = LogOnce()


def dry_run_is_news(*key: Hashable) -> bool:
    """True the first time this dry-run verdict (order or target, rule, outcome) is seen."""
    return _DRY_RUN.first(key)


def repeat_every(period: timedelta | None) -> None:
    _DRY_RUN.repeat_every(period)

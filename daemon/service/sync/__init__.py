"""Pulling Dükkango's orders/get-current into the order store (``sync``).

- :mod:`.syncer` makes one poll (call, store, acknowledge) and keeps the cooldown;
- :mod:`.translate` reads an order object into the contract's rows;
- :mod:`.storing` writes a poll's rows, respecting whose order it is;
- :mod:`.command` is ``autocancel sync [--once]``, polling until stopped;
- :mod:`.report` is what a poll came to.

Code outside the package imports from here. Every module logs as ``daemon.service.sync``,
the name its lines had in the journal before the package was split.
"""

from daemon.service.sync.command import run_command
from daemon.service.sync.report import SyncReport
from daemon.service.sync.storing import CREATED_BY
from daemon.service.sync.syncer import COOLDOWN, Syncer
from daemon.service.sync.translate import MalformedOrder, item_rows, order_row

__all__ = [
    "COOLDOWN",
    "CREATED_BY",
    "MalformedOrder",
    "SyncReport",
    "Syncer",
    "item_rows",
    "order_row",
    "run_command",
]

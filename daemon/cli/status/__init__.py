"""``autocancel status``: what the daemon did, read from the store, as text or one JSON object.

:mod:`.gather` reads the store into a :class:`~.view.StatusReport` (frozen
values, with their JSON shape in :mod:`.view`); :mod:`.text` renders it for
a terminal.
"""

from __future__ import annotations

import json
import sys

import sqlalchemy as sa

from daemon.cli.status.gather import gather
from daemon.cli.status.text import render
from daemon.domain import exitcodes
from daemon.domain.printable import json_printable
from daemon.service.runtime import open_store
from daemon.store import connect
from daemon.store.readonly import ReadingConfig


def status(reading: ReadingConfig, *, as_json: bool) -> int:
    try:
        engine = open_store(reading.config)
    except connect.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    try:
        report = gather(reading, engine)
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: cannot read the store: {connect.describe_db_error(exc)}", file=sys.stderr)
        return exitcodes.RUNTIME_FAILURE
    finally:
        engine.dispose()
    if as_json:
        # Pause comments are typed by people: nothing in them may act on a terminal.
        print(json_printable(json.dumps(report.to_json(), ensure_ascii=False)))
    else:
        print(render(report))
    return exitcodes.OK

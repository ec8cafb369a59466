"""``autocancel simulator``: one simulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from daemon.simulator.defaults import DEFAULT_FOODS, DEFAULT_RESTAURANTS
from daemon.simulator.geocoder import UnlistedAddresses
from daemon.simulator.server import Simulator


def run_foreground(
    *,
    host: str,
    port: int,
    restaurants: Sequence[Mapping[str, str]] = DEFAULT_RESTAURANTS,
    foods: Sequence[Mapping[str, Any]] = DEFAULT_FOODS,
    orders: Sequence[Mapping[str, Any]] = (),
    geocoder_addresses: Mapping[str, tuple[float, float]] | None = None,
    geocoder_not_found: Iterable[str] = (),
    unlisted_addresses: UnlistedAddresses = "unknown",
    loaded: str | None = None,
) -> int:
    """``autocancel simulator``: serve until SIGINT/SIGTERM, then exit 0.

    A rehearsal's geocoder answers "unknown" for addresses it was not given
    (``unlisted_addresses``), never "not found": that would cancel them.
    ``loaded`` is printed after the first line (which tools wait for).
    """
    sim = Simulator(
        host=host,
        port=port,
        verbose=True,
        restaurants=restaurants,
        foods=foods,
        orders=orders,
        geocoder_addresses=geocoder_addresses,
        geocoder_not_found=geocoder_not_found,
        unlisted_addresses=unlisted_addresses,
    )
    try:
        sim.start()
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        print(
            f"Dükkango simulator on {sim.url} - DUKKANGO_BASE_URL={sim.url} "
            f"DUKKANGO_APP_SECRET_KEY={sim.app_secret_key} "
            f"DUKKANGO_REST_SECRET_KEY={sim.rest_secret_key} (or DUKKANGO_ACCESS_TOKEN="
            f"{sim.static_token}); control: {sim.control_url}/; stop with Ctrl-C",
            flush=True,
        )
        if loaded:
            print(loaded, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sim.stop()
    return 0

"""A store an auditor would look at, built by real passes against the simulator.

Two rules files, one after the other: a live one (failed payments, unknown
addresses, a congestion closure) and a dry-run one. The customer's name, the
address (also the unknown-address rule's evidence) and a restaurant's name
carry markup that must only ever be shown as text. ``autocancel report`` and
the browser test both read this store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from daemon.simulator.server import Simulator
from tests.world import AKAT, NEAR, PAYMENT_AND_CLOSE_AT_TWO, PAYMENT_FAILED, World, run_sql

SCRIPT_NAME = "<script>alert(1)</script>"
# Would set a global flag if it ever became markup: the browser test reads it.
IMG_ADDRESS = "<img src=x onerror=window.__pwned=1>"
SVG_RESTAURANT = "Akat Şube <svg onload=window.__pwned=2>"
ADDRESS_NOT_FOUND = """\
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
"""


@dataclass(frozen=True, kw_only=True)
class AuditedStore:
    live_digest: str  # SHA-256 of the live rules file, in force for the first pass
    dry_digest: str  # ... of the dry-run one, for the second
    live_keys: tuple[str, ...]  # cancelled in the first pass
    dry_keys: tuple[str, ...]  # would be cancelled in the second


def _hostile_restaurant_name(world: World) -> str:
    text = world.rules_path.read_text(encoding="utf-8")
    text = text.replace("name: Akat Şube", f"name: '{SVG_RESTAURANT}'")
    world.rules_path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_audited_store(world: World) -> AuditedStore:
    world.configure(PAYMENT_AND_CLOSE_AT_TWO + ADDRESS_NOT_FOUND, geocoder=True)
    live_digest = _hostile_restaurant_name(world)
    world.add_order("hostile-customer", payment_status="failed")
    run_sql(
        world,
        "UPDATE orders SET customer_name = :name, address = :address "
        "WHERE payment_key = 'hostile-customer'",
        name=SCRIPT_NAME,
        address=IMG_ADDRESS,
    )
    world.add_order("hostile-address", coordinates=None, address=IMG_ADDRESS)
    for number in (1, 2, 3):  # one over two active orders: cancelled, and Akat closed
        world.add_order(f"akat-{number}", restaurant_id=AKAT, minutes_ago=10 - number)
    first = world.cli("once")
    assert first.returncode == 0, first.stderr

    world.configure(PAYMENT_FAILED, dry_run=True)
    dry_digest = _hostile_restaurant_name(world)
    world.add_order("dry-1", payment_status="failed", coordinates=NEAR)
    world.add_order("dry-2", payment_status="failed", coordinates=NEAR)
    second = world.cli("once")
    assert second.returncode == 0, second.stderr
    return AuditedStore(
        live_digest=live_digest,
        dry_digest=dry_digest,
        live_keys=("hostile-customer", "hostile-address", "akat-3"),
        dry_keys=("dry-1", "dry-2"),
    )


@contextmanager
def audited_world(folder: Path) -> Iterator[tuple[World, AuditedStore]]:
    """A world in ``folder`` with :func:`build_audited_store` done: for a module to share."""
    simulator = Simulator(cooldown_seconds=0.2)
    simulator.start()
    world = World(folder=folder, store_url=f"sqlite:///{folder / 'orders.db'}", simulator=simulator)
    try:
        yield world, build_audited_store(world)
    finally:
        world.engine.dispose()
        simulator.stop()

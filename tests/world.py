"""A restaurant's world for end-to-end tests: a store, rules.yaml, and the simulator.

Orders are written into the store the way a POS would (plain rows) and, with
the same payment_key, into the simulator, so that a cancel call reaches an
order Dükkango knows. The CLI runs as a real subprocess against both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import sqlalchemy as sa

from daemon.simulator.recording import RecordedRequest
from daemon.simulator.server import Simulator
from daemon.store import connect, migrate, schema
from daemon.store.ledger import OWNER as THIS_PROCESS
from daemon.store.outbox import PENDING as OUTBOX_PENDING
from tests.conftest import run_cli, start_cli
from tests.inprocess import run_main

HALASKARGAZI = "0ca1d2b1-a199-4960-8617-83a659d890c8"
AKAT = "8f2b9ce2-04de-4712-842d-a39f64596fdf"
# Halaskargazi Şube, the restaurant every distance is measured from.
HOME = (41.0493, 28.9877)
NEAR = (41.0520, 28.9900)  # about 0.36 km away

DEFAULT_RULES = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
  - name: overloaded
    kind: congestion
    max_active_orders: 20
    reopen_below: 15
    min_closed_minutes: 10
    reason_id: 3
"""

#: The one-rule file most tests need: cancel orders whose payment failed (reason 7).
PAYMENT_FAILED = """\
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""
# Failed payments, and a restaurant closed at two active orders (reopened below one).
PAYMENT_AND_CLOSE_AT_TWO = (
    PAYMENT_FAILED
    + """\
  - name: overloaded
    kind: congestion
    max_active_orders: 2
    close_restaurant: true
    reopen_below: 1
    min_closed_minutes: 10
    reason_id: 3
"""
)

CONFIG_TEMPLATE = """\
store:
  url: {store_url}
api:
  base_url: {base_url}
  timeout_seconds: {timeout}
  max_attempts: {max_attempts}
  backoff_seconds: 0.05
{api_extra}dry_run: {dry_run}
restaurants:
  - id: {halaskargazi}
    name: Halaskargazi Şube
    latitude: {home_lat}
    longitude: {home_lon}
  - id: {akat}
    name: Akat Şube
    latitude: 41.0789
    longitude: 29.0231
{geocoder}safety:
  max_cancellations_per_hour: {max_per_hour}
  max_order_age_minutes: 180
  never_cancel: {never_cancel}
{plausible}{top_level}rules:
{rules}"""


class World:
    def __init__(
        self,
        *,
        folder: Path,
        store_url: str,
        simulator: Simulator,
        migrated_copy_of: Path | None = None,
    ) -> None:
        """``migrated_copy_of``: a SQLite store already at head (conftest's
        ``migrated_sqlite``), copied to ``store_url``'s file instead of migrating anew."""
        self.folder = folder
        self.store_url = store_url
        self.simulator = simulator
        self.rules_path = folder / "rules.yaml"
        if migrated_copy_of is None:
            migrate.upgrade(store_url)
        else:
            file = sa.make_url(store_url).database
            assert store_url.startswith("sqlite:///") and file, store_url
            shutil.copyfile(migrated_copy_of, file)
        self.engine = connect.create_store_engine(store_url)
        self._next_number = 1000
        self.configure()

    # --- configuration --------------------------------------------------------

    def configure(
        self,
        rules: str = DEFAULT_RULES,
        *,
        dry_run: bool = False,
        geocoder: bool = False,
        timeout: float = 2,
        max_attempts: int = 3,
        max_per_hour: int = 30,
        never_cancel: Iterable[str] = (),
        api_extra: dict[str, object] | None = None,
        max_plausible_km: float | None = None,
        top_level: str = "",
    ) -> None:
        """Write rules.yaml; ``top_level`` is more top-level YAML (``timezone: ...\n``)."""
        geocoder_block = (
            "geocoder:\n  provider: nominatim\n"
            f'  options: {{domain: "127.0.0.1:{self.simulator.port}", scheme: http, '
            "user_agent: autocancel-tests}\n  timeout_seconds: 2\n"
            if geocoder
            else ""
        )
        self.rules_path.write_text(
            CONFIG_TEMPLATE.format(
                store_url=self.store_url,
                base_url=self.simulator.url,
                timeout=timeout,
                max_attempts=max_attempts,
                dry_run=str(dry_run).lower(),
                halaskargazi=HALASKARGAZI,
                akat=AKAT,
                home_lat=HOME[0],
                home_lon=HOME[1],
                geocoder=geocoder_block,
                max_per_hour=max_per_hour,
                never_cancel=json.dumps(list(never_cancel)),
                rules=rules,
                api_extra="".join(
                    f"  {key}: {json.dumps(value)}\n" for key, value in (api_extra or {}).items()
                ),
                plausible=""
                if max_plausible_km is None
                else f"  max_plausible_km: {max_plausible_km}\n",
                top_level=top_level,
            ),
            encoding="utf-8",
        )

    @property
    def env(self) -> dict[str, str]:
        return {"DUKKANGO_ACCESS_TOKEN": self.simulator.static_token or ""}

    @property
    def access_token(self) -> str:
        """The simulator's fixed access token; fails the test when it has none."""
        token = self.simulator.static_token
        assert token is not None, "this simulator has no fixed access token"
        return token

    # --- the store, as a POS writes it -----------------------------------------

    def add_order(
        self,
        key: str,
        *,
        restaurant_id: str = HALASKARGAZI,
        status_id: int = 1,
        shipping_method: str = "delivery",
        payment_status: str | None = "ok",
        coordinates: tuple[float, float] | None = NEAR,
        address: str = "Dershane Sokak 4",
        phone: str = "05335587642",
        minutes_ago: float = 5,
        items: Iterable[tuple[int, int]] = ((1, 1),),
        on_platform: bool = True,
    ) -> str:
        """Write one order (items as (food_id, quantity)) to the store and the simulator."""
        self._next_number += 1
        created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(schema.orders).values(
                    payment_key=key,
                    order_number=self._next_number,
                    restaurant_id=restaurant_id,
                    status_id=status_id,
                    shipping_method=shipping_method,
                    courier_type="restaurant",
                    payment_method="Kredi Kartı",
                    payment_status=payment_status,
                    total=100,
                    created_at=created,
                    customer_name="Test Müşteri",
                    customer_phone=phone,
                    address=address,
                    address_description="",
                    latitude=coordinates[0] if coordinates else None,
                    longitude=coordinates[1] if coordinates else None,
                    updated_at=created,
                )
            )
            for food_id, quantity in items:
                conn.execute(
                    sa.insert(schema.order_items).values(
                        payment_key=key,
                        food_id=food_id,
                        name=f"food {food_id}",
                        quantity=quantity,
                    )
                )
        if on_platform:
            self.simulator.add_order(
                payment_key=key, restaurant_id=restaurant_id, status_id=status_id
            )
        return key

    def set_stock(
        self,
        food_id: int,
        *,
        available: bool = True,
        quantity: int | None = None,
        restaurant_id: str | None = HALASKARGAZI,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.stock).where(schema.stock.c.food_id == food_id))
            conn.execute(
                sa.insert(schema.stock).values(
                    food_id=food_id,
                    restaurant_id=restaurant_id,
                    name=f"food {food_id}",
                    available=available,
                    quantity=quantity,
                )
            )

    def status_of(self, key: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(schema.orders.c.status_id).where(schema.orders.c.payment_key == key)
                ).scalar_one()
            )

    def platform_order(self, key: str) -> dict[str, Any]:
        """The order as Dükkango holds it; fails the test when the platform does not know it."""
        order = self.simulator.order(key)
        assert order is not None, f"{key}: the simulator has no such order"
        return order

    def ledger(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.ledger).order_by(schema.ledger.c.id)).mappings()
            return [dict(row) for row in rows]

    def passes(self) -> list[dict[str, Any]]:
        """The ``passes`` table, oldest first: one row per pass of any process on the store."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(schema.passes).order_by(schema.passes.c.started_at)
            ).mappings()
            return [dict(row) for row in rows]

    def finished_passes(self, *, started_after: datetime | None = None) -> int:
        """How many passes have finished (only those started after ``started_after``)."""
        table = schema.passes
        query = sa.select(sa.func.count()).where(table.c.finished_at.is_not(None))
        if started_after is not None:
            query = query.where(table.c.started_at > started_after)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- the CLI ---------------------------------------------------------------

    def cli(
        self, *args: str, env: dict[str, str] | None = None, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command, *rest = args
        return run_cli(
            command,
            "-c",
            str(self.rules_path),
            *rest,
            env={**self.env, **(env or {})},
            input_text=input_text,
        )

    def start_cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """World.cli without waiting: the process, its output piped."""
        command, *rest = args
        return start_cli(
            command, "-c", str(self.rules_path), *rest, env={**self.env, **(env or {})}
        )

    def once(self, *flags: str) -> list[dict[str, Any]]:
        """``autocancel once --json``: the decision objects; fails the test on a non-zero exit."""
        result = self.cli("once", "--json", *flags)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def set_up_with(self, *args: str) -> list[dict[str, Any]]:
        """``autocancel ARGS -c rules.yaml`` in this process, to bring the world into a state.

        For a test's preparation, and for the passes between the ones it checks
        whose output it does not read (tests/inprocess.py): what a test reads
        from a command (its output, its exit code) comes from World.cli /
        World.once, real processes. Fails the test on a non-zero exit; the JSON
        objects of stdout (``once --json``), if any.
        """
        stdout = self.set_up_output(*args)
        return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]

    def set_up_output(self, *args: str) -> str:
        """World.set_up_with, for a command whose preparation a test reads from its stdout
        (the new pause's id): the stdout."""
        command, *rest = args
        result = run_main([command, "-c", str(self.rules_path), *rest], env=self.env)
        assert result.returncode == 0, result.stderr
        # A CLI process ends, and what it left pending is taken over as a dead
        # sender's; this process lives on, so a preparation that leaves work
        # pending in its name would change what the next real process does.
        assert self._pending_in_this_process() == [], "use World.cli: it left work pending"
        return result.stdout

    def _pending_in_this_process(self) -> list[str]:
        with self.engine.connect() as conn:
            return [
                f"{table.name} {row_id}"
                for table in (schema.ledger, schema.food_reactivations, schema.outbox)
                for row_id in conn.execute(
                    sa.select(table.c.id).where(
                        table.c.owner == THIS_PROCESS,
                        table.c.state == OUTBOX_PENDING
                        if table is schema.outbox
                        else table.c.outcome == "pending",
                    )
                ).scalars()
            ]

    # --- what Dükkango saw -------------------------------------------------------

    def cancel_calls(self) -> list[tuple[str, Any]]:
        """(payment_key, body) of every cancel request the simulator received."""
        return [
            (r.path.removeprefix("orders/cancel/"), r.body)
            for r in self.simulator.requests("PUT", "orders/cancel/")
        ]

    def api_calls(self) -> list[tuple[str, str]]:
        """(method, path) of every API request, geocoder included."""
        return [(r.method, r.path) for r in self.simulator.requests()]


# --- assertions shared by the per-rule end-to-end tests (tests/test_rule_*.py) ---------


class DecidingRule(TypedDict):
    """The rule a decision names (name, kind, reason id), for ``assert_cancelled(..., **RULE)``."""

    rule: str
    kind: str
    reason_id: int


def requests_to(world: World, method: str, path: str) -> list[RecordedRequest]:
    """Every request the simulator received for exactly ``method path`` (no prefix match)."""
    return [r for r in world.simulator.requests(method) if r.path == path]


def run_sql(world: World, statement: str, **params: Any) -> None:
    """A change made straight in the store, as a POS or an operator would."""
    with world.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def ledger_rows(world: World, key: str) -> list[dict[str, Any]]:
    return [row for row in world.ledger() if row["payment_key"] == key]


def assert_cancelled(
    world: World,
    decisions: list[dict[str, Any]],
    key: str,
    *,
    rule: str,
    kind: str,
    reason_id: int,
    evidence: dict[str, Any],
) -> None:
    """``key`` was cancelled live, once, by ``rule``: JSON line, request, ledger, store.

    ``evidence`` lists the keys that must be present with these values (more are allowed).
    """
    shown = [d for d in decisions if d["payment_key"] == key]
    assert len(shown) == 1, f"{key}: expected one decision, got {shown}"
    decision = shown[0]
    assert (
        decision["rule"],
        decision["kind"],
        decision["reason_id"],
        decision["mode"],
        decision["outcome"],
    ) == (rule, kind, reason_id, "live", "cancelled"), decision
    assert {k: decision["evidence"].get(k) for k in evidence} == evidence, decision
    sent = requests_to(world, "PUT", f"orders/cancel/{key}")
    assert len(sent) == 1, f"{key}: expected one cancel request, got {len(sent)}"
    request = sent[0]
    assert request.headers.get("access-token") == world.simulator.static_token
    assert request.headers.get("content-type", "").split(";")[0].strip() == "application/json"
    assert request.body == {"reason_id": reason_id}
    assert request.status == 200
    rows = [row for row in ledger_rows(world, key) if row["mode"] == "live"]
    assert len(rows) == 1, f"{key}: expected one live ledger row, got {rows}"
    row = rows[0]
    assert (row["rule"], row["kind"], row["reason_id"], row["outcome"], row["attempts"]) == (
        rule,
        kind,
        reason_id,
        "cancelled",
        1,
    ), row
    assert {k: row["evidence"].get(k) for k in evidence} == evidence, row
    assert world.status_of(key) == 6
    on_platform = world.platform_order(key)
    assert (on_platform["status_id"], on_platform.get("cancel_reason_id")) == (6, reason_id)


def assert_untouched(
    world: World, decisions: list[dict[str, Any]], key: str, *, status_id: int = 1
) -> None:
    """No rule decided anything about ``key``: no decision, no request, no ledger row."""
    assert [d for d in decisions if d["payment_key"] == key] == []
    assert requests_to(world, "PUT", f"orders/cancel/{key}") == []
    assert ledger_rows(world, key) == []
    assert world.status_of(key) == status_id
    on_platform = world.simulator.order(key)
    assert on_platform is None or on_platform["status_id"] == status_id


# --- helpers for the pass and operator-command tests (tests/test_pass.py, ...) ----------

#: ``env=`` for World.cli: no Dükkango credentials at all (the fixed token blanked).
NO_CREDENTIALS = {"DUKKANGO_ACCESS_TOKEN": ""}


def secret_keys_only(world: World) -> dict[str, str]:
    """``env=`` for World.cli: the simulator's secret keys and no fixed access token."""
    return {
        "DUKKANGO_ACCESS_TOKEN": "",
        "DUKKANGO_APP_SECRET_KEY": world.simulator.app_secret_key,
        "DUKKANGO_REST_SECRET_KEY": world.simulator.rest_secret_key,
    }


def once_json(
    world: World, *flags: str, env: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str]:
    """``once --json FLAGS``: (decisions, stderr). Exit 0, and stdout only JSON objects."""
    result = world.cli("once", "--json", *flags, env=env)
    assert result.returncode == 0, result.stderr
    decisions = []
    for line in result.stdout.splitlines():
        decoded = json.loads(line)  # any log line or table on stdout fails here
        assert isinstance(decoded, dict), line
        decisions.append(decoded)
    return decisions, result.stderr


def decision_for(decisions: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The one decision printed for ``key`` (fails when there is none or several)."""
    shown = [d for d in decisions if d["payment_key"] == key]
    assert len(shown) == 1, f"{key}: expected one decision, got {shown}"
    return shown[0]


def cancel_requests_for(world: World, key: str) -> list[RecordedRequest]:
    return requests_to(world, "PUT", f"orders/cancel/{key}")


def point_store_at(world: World, url: str) -> None:
    """Rewrite rules.yaml so that ``store.url`` names ``url`` (the rest unchanged)."""
    text = world.rules_path.read_text(encoding="utf-8")
    assert world.store_url in text
    world.rules_path.write_text(text.replace(world.store_url, url), encoding="utf-8")

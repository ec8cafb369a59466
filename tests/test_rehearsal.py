"""Rehearsals against ``autocancel simulator`` as a real process (issue 10, item 10).

``--from-store`` loads the store's active orders, the restaurants of rules.yaml
and the stock foods, so a rehearsal cancels the operator's own orders rather
than getting 404 for every one (and using them up). The rehearsal geocoder
resolves the addresses of ``--geocode-file`` and answers "unknown" for any
other, so a real-looking address is never cancelled as not found.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from daemon.simulator.defaults import DEFAULT_STATIC_TOKEN
from tests.conftest import REPO_ROOT, autocancel_executable, run_cli
from tests.world import (
    AKAT,
    HALASKARGAZI,
    World,
    assert_untouched,
    decision_for,
    once_json,
)

REHEARSAL_RULES = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
  - name: too-far
    kind: max_distance
    max_km: 7.5
    reason_id: 6
  - name: payment-failed
    kind: payment_failed
    reason_id: 7
"""


class SimulatorProcess:
    """A running ``autocancel simulator``: its output lines, its URLs, HTTP calls to it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: queue.Queue[str] = queue.Queue()
        # A thread reads stdout, so waiting for a line is a wait on a queue with a timeout.
        threading.Thread(target=self._read, daemon=True).start()
        # The line with the URL is printed once the simulator listens.
        self.first_line = self.next_line(timeout=30)
        found = re.search(r"DUKKANGO_BASE_URL=(\S+)", self.first_line)
        assert found is not None, self.first_line
        self.url = found.group(1)
        self.root = self.url.removesuffix("/api/integrations")
        self.port = int(self.root.rsplit(":", 1)[1])
        self.http = httpx.Client(timeout=5)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def next_line(self, *, timeout: float = 10) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the simulator printed nothing in time") from None
        assert line, f"the simulator exited: {self.process.poll()}"
        return line

    def api(self, method: str, path: str) -> Any:
        response = self.http.request(
            method, f"{self.url}/{path}", headers={"Access-Token": DEFAULT_STATIC_TOKEN}
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def control(self, method: str, path: str = "") -> Any:
        response = self.http.request(method, f"{self.root}/_sim/{path}")
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def simulator_process(*args: str, cwd: Path | None = None) -> Iterator[SimulatorProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUKKANGO_", "AUTOCANCEL_"))}
    process = subprocess.Popen(
        [*autocancel_executable(), "simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    try:
        sim = SimulatorProcess(process)
        try:
            yield sim
        finally:
            sim.http.close()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _point_rules_at(world: World, sim: SimulatorProcess) -> None:
    """rules.yaml of ``world``, with the API and the geocoder at the simulator process."""
    text = world.rules_path.read_text(encoding="utf-8")
    world.rules_path.write_text(
        text.replace(f"127.0.0.1:{world.simulator.port}", f"127.0.0.1:{sim.port}"),
        encoding="utf-8",
    )


def test_a_rehearsal_from_the_store_cancels_the_operators_own_orders(world: World) -> None:
    world.configure(REHEARSAL_RULES)
    world.set_stock(1, available=True)
    world.set_stock(2, available=False, quantity=0)
    world.set_stock(3, available=True, restaurant_id=AKAT)
    # Orders only the store knows of (the test's own simulator never hears of them).
    pay = world.add_order("pay", payment_status="failed", on_platform=False)
    short = world.add_order("short", items=[(2, 1)], on_platform=False)
    world.add_order("fine-akat", restaurant_id=AKAT, items=[(3, 2)], on_platform=False)
    world.add_order("delivered", status_id=5, payment_status="failed", on_platform=False)

    with simulator_process("--from-store", "-c", str(world.rules_path)) as sim:
        loaded = sim.next_line()
        assert "3 active orders" in loaded and "2 restaurants" in loaded, loaded
        assert "3 foods" in loaded, loaded

        orders = {o["payment_key"]: o for o in sim.control("GET", "orders")["orders"]}
        assert sorted(orders) == ["fine-akat", "pay", "short"]  # active orders only
        with world.engine.connect() as conn:
            import sqlalchemy as sa

            from daemon.store import schema

            numbers = dict(
                conn.execute(
                    sa.select(schema.orders.c.payment_key, schema.orders.c.order_number)
                ).all()
            )
        assert orders["pay"]["id"] == numbers["pay"]
        assert orders["fine-akat"]["restaurant_name"] == "Akat Şube"
        assert [(i["food_id"], i["quantity"]) for i in orders["fine-akat"]["items"]] == [(3, 2)]
        assert orders["short"]["customer"]["phone"] == "05335587642"
        restaurants = sim.api("GET", "restaurants/get")
        assert restaurants == [
            {"id": HALASKARGAZI, "name": "Halaskargazi Şube"},
            {"id": AKAT, "name": "Akat Şube"},
        ]
        foods = {f["food_id"]: f for f in sim.api("GET", "foods/get-foods")}
        assert sorted(foods) == [1, 2, 3]
        assert foods[3]["restaurant_id"] == AKAT

        _point_rules_at(world, sim)
        decisions, stderr = once_json(world)

        for key, rule, reason in ((pay, "payment-failed", 7), (short, "out-of-stock", 1)):
            decision = decision_for(decisions, key)
            assert (decision["rule"], decision["reason_id"], decision["outcome"]) == (
                rule,
                reason,
                "cancelled",
            ), decision
            on_platform = sim.control("GET", f"orders/{key}")
            assert (on_platform["status_id"], on_platform["cancel_reason_id"]) == (6, reason)
        state = sim.control("GET", "state")
        assert {"food_id": 2, "active": False} in state["foods"]  # deactivated, not 403
        assert [d for d in decisions if d["payment_key"] == "fine-akat"] == []
        assert "sipariş bulunamadı" not in stderr


def test_the_rehearsal_geocoder_resolves_its_file_and_answers_unknown_otherwise(
    world: World,
) -> None:
    world.configure(REHEARSAL_RULES, geocoder=True)
    addresses = world.folder / "addresses.yaml"
    addresses.write_text(
        "# address -> [latitude, longitude], or not_found\n"
        '"Dershane Sokak 4": [41.0520, 28.9900]\n'
        '"Uzak Sokak 1, Sarıyer": [41.1700, 29.1000]\n'
        '"Olmayan Sokak 999": not_found\n',
        encoding="utf-8",
    )
    for key, address in (
        ("near", "Dershane Sokak 4"),
        ("far", "Uzak  Sokak 1, Sarıyer"),
        ("nowhere", "Olmayan Sokak 999"),
        ("real", "Bağdat Caddesi 12, Kadıköy"),
    ):
        world.add_order(key, address=address, coordinates=None, on_platform=False)

    with simulator_process(
        "--from-store", "--geocode-file", str(addresses), "-c", str(world.rules_path)
    ) as sim:
        _point_rules_at(world, sim)
        decisions, _ = once_json(world)

        assert (
            decision_for(decisions, "far")["rule"],
            decision_for(decisions, "far")["outcome"],
        ) == ("too-far", "cancelled")
        assert (
            decision_for(decisions, "nowhere")["rule"],
            decision_for(decisions, "nowhere")["outcome"],
        ) == ("address-not-found", "cancelled")
        for key in ("near", "real"):
            assert [d for d in decisions if d["payment_key"] == key] == []
            assert sim.control("GET", f"orders/{key}")["status_id"] == 1
        cancelled = [r["path"] for r in sim.control("GET", "requests?method=PUT")["requests"]]
        assert sorted(cancelled) == ["orders/cancel/far", "orders/cancel/nowhere"]

        # explain says why the unlisted address decided nothing: the geocoder does not know.
        explained = world.cli("explain", "real")
        verdict = next(
            line
            for line in explained.stdout.splitlines()
            if line.strip().startswith("address-not-found [")
        )
        # (geopy words the 503 its own way; what matters is "failed", hence unknown)
        assert ": skipped" in verdict and "geocoder failed" in verdict and "503" in verdict, verdict
    assert_untouched(world, [], "near")


def test_a_bad_geocode_file_is_reported_as_file_line_and_exit_2(tmp_path: Path) -> None:
    addresses = tmp_path / "addresses.yaml"
    addresses.write_text(
        '"Dershane Sokak 4": [41.0520, 28.9900]\n'
        '"Ters Sokak": [41.05, 228.99]\n'
        '"Yarım Sokak": [41.0]\n'
        '"Belki Sokak": maybe\n',
        encoding="utf-8",
    )

    result = run_cli("simulator", "--port", "0", "--geocode-file", str(addresses), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{addresses}:2",
        f"{addresses}:3",
        f"{addresses}:4",
    ], lines
    assert "Ters Sokak" in lines[0] and "longitude" in lines[0]
    assert "not_found" in lines[2]
    assert "Traceback" not in result.stderr

    missing = run_cli(
        "simulator", "--port", "0", "--geocode-file", str(tmp_path / "no.yaml"), cwd=tmp_path
    )
    assert missing.returncode == 2
    [line] = missing.stderr.splitlines()
    assert "no.yaml" in line and "no such file" in line

    no_rules = run_cli("simulator", "--port", "0", "--from-store", cwd=tmp_path)
    assert no_rules.returncode == 2
    assert "rules.yaml" in no_rules.stderr
    assert "Traceback" not in no_rules.stderr


def test_the_control_endpoints_list_themselves_and_the_readme_documents_each() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    with simulator_process() as sim:
        listed = sim.control("GET")["endpoints"]

    assert listed, "GET /_sim/ lists nothing"
    for endpoint in listed:
        assert endpoint["does"], endpoint
        assert f"`{endpoint['method']} {endpoint['path']}`" in readme, endpoint
    assert {"GET /_sim/", "POST /_sim/geocoder", "GET /_sim/requests"} <= {
        f"{e['method']} {e['path']}" for e in listed
    }

"""Secrets stay secret; nothing in the code runs data; exposed files are called out."""

from __future__ import annotations

import io
import logging
import re
import signal
from pathlib import Path

import sqlalchemy as sa

from daemon.store import schema
from tests.conftest import REPO_ROOT, SimulatorFactory, run_cli
from tests.test_daemon import Daemon, eventually, fast
from tests.world import PAYMENT_FAILED, World

APP_SECRET = "app-5ecret-Q7w9e1"
REST_SECRET = "rest-5ecret-Z3x5c8"
PAYMENT_ONLY = PAYMENT_FAILED


def _secret_world(tmp_path: Path, simulator_factory: SimulatorFactory) -> World:
    sim = simulator_factory(
        cooldown_seconds=0.2,
        app_secret_key=APP_SECRET,
        rest_secret_key=REST_SECRET,
        static_token=None,
    )
    world = World(folder=tmp_path, store_url=f"sqlite:///{tmp_path / 'orders.db'}", simulator=sim)
    world.configure(PAYMENT_ONLY)
    return world


def _dump_store(world: World) -> str:
    with world.engine.connect() as conn:
        return "\n".join(
            repr(row)
            for table in schema.metadata.sorted_tables
            for row in conn.execute(sa.select(table))
        )


def test_no_secret_or_token_in_output_logs_ledger_or_audit(
    tmp_path: Path, simulator_factory: SimulatorFactory
) -> None:
    world = _secret_world(tmp_path, simulator_factory)
    keys = {
        "DUKKANGO_ACCESS_TOKEN": "",
        "DUKKANGO_APP_SECRET_KEY": APP_SECRET,
        "DUKKANGO_REST_SECRET_KEY": REST_SECRET,
    }
    world.add_order("ok-order", payment_status="failed")
    world.add_order("unknown-on-platform", payment_status="failed", on_platform=False)
    world.add_order("server-error", payment_status="failed")
    world.simulator.inject_fault(
        "status", status=500, count=10, path_prefix="orders/cancel/server-error"
    )
    world.simulator.inject_fault("unauthorized", count=1, path_prefix="orders/cancel/ok-order")

    once = world.cli("once", "--json", env=keys)
    world.add_order("second-pass", payment_status="failed")
    verbose = run_cli("-v", "once", "-c", str(world.rules_path), env={**world.env, **keys})
    assert "DEBUG" in verbose.stderr
    audit = world.cli("audit", "--format", "json", env=keys)
    csv = world.cli("audit", "--format", "csv", env=keys)
    explain = world.cli("explain", "server-error", env=keys)
    status = world.cli("status", env=keys)

    tokens = {
        r.headers["access-token"] for r in world.simulator.requests() if "access-token" in r.headers
    }
    assert tokens, "the daemon logged in and used a token"
    everything = "\n".join(
        [result.stdout + result.stderr for result in (once, verbose, audit, csv, explain, status)]
        + [_dump_store(world)]
    )
    assert "cancelled" in once.stdout and "sipariş bulunamadı" in everything
    for secret in (APP_SECRET, REST_SECRET, *tokens):
        assert secret not in everything


GEOCODER_KEY = "geo-k3y-Secret-77"
STATIC_TOKEN = "static-t0ken-Secret-55"
ADDRESS_AND_PAYMENT = (
    PAYMENT_ONLY
    + """\
  - name: address-not-found
    kind: address_not_found
    reason_id: 2
"""
)


def test_verbose_logs_of_every_library_never_show_a_secret(
    tmp_path: Path, simulator_factory: SimulatorFactory
) -> None:
    sim = simulator_factory(
        cooldown_seconds=0.2,
        app_secret_key=APP_SECRET,
        rest_secret_key=REST_SECRET,
        static_token=STATIC_TOKEN,
    )
    world = World(folder=tmp_path, store_url=f"sqlite:///{tmp_path / 'orders.db'}", simulator=sim)
    # A geocoder that takes an api key (OpenMapQuest: Nominatim with ?key=...);
    # geopy logs every request URL at DEBUG.
    world.configure(ADDRESS_AND_PAYMENT, geocoder=True)
    text = world.rules_path.read_text(encoding="utf-8")
    world.rules_path.write_text(
        text.replace("provider: nominatim", "provider: openmapquest").replace(
            "scheme: http,", f"scheme: http, api_key: {GEOCODER_KEY},"
        ),
        encoding="utf-8",
    )
    # Every answer echoes the request's headers, Access-Token included, and
    # httpcore logs response headers at DEBUG.
    sim.inject_fault("echo", count=1000)
    keys = {
        "DUKKANGO_ACCESS_TOKEN": "",
        "DUKKANGO_APP_SECRET_KEY": APP_SECRET,
        "DUKKANGO_REST_SECRET_KEY": REST_SECRET,
    }
    world.add_order("failed-payment", payment_status="failed")
    world.add_order("no-such-address", coordinates=None, address="Olmayan Sokak 9")

    logged_in = run_cli("-v", "once", "-c", str(world.rules_path), env=keys)
    world.add_order("second-pass", payment_status="failed")
    fixed = run_cli(
        "-v", "once", "-c", str(world.rules_path), env={"DUKKANGO_ACCESS_TOKEN": STATIC_TOKEN}
    )

    assert logged_in.returncode == 0, logged_in.stderr
    assert fixed.returncode == 0, fixed.stderr
    assert sorted(key for key, _ in world.cancel_calls()) == [
        "failed-payment",
        "no-such-address",
        "second-pass",
    ]
    searches = world.simulator.requests("GET", "/nominatim/v1/search")
    assert searches and all(r.query.get("key") == GEOCODER_KEY for r in searches)
    tokens = {
        r.headers["access-token"] for r in world.simulator.requests() if "access-token" in r.headers
    }
    assert len(tokens) == 2, "a login token and the fixed one were used"
    everything = "\n".join(r.stdout + r.stderr for r in (logged_in, fixed))
    # The lines are there, with the secrets masked.
    assert "OpenMapQuest.geocode" in everything and "key=***" in everything
    assert "(b'Access-Token', b'***')" in everything
    for secret in (APP_SECRET, REST_SECRET, GEOCODER_KEY, *tokens):
        assert secret not in everything


def test_the_redactor_rewrites_messages_arguments_exceptions_and_stacks() -> None:
    """One handler, as the CLI sets it up: records of any logger pass the redactor."""
    from daemon.domain.redaction import Redactor

    redactor = Redactor()
    redactor.register("registered-Secret/1 x", "", "abc")  # too short ones are ignored
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    foreign = logging.getLogger("some.library")
    foreign.addHandler(handler)
    foreign.propagate = False
    try:
        foreign.warning("odd text %s and %r", "-registered-Secret/1 x-", {"n": 1})
        foreign.warning("encoded: %s", "q=registered-Secret%2F1+x")
        foreign.warning("GET https://geo.example/search?q=a&api_key=k1k1&key=k2k2&token=k3k3")
        foreign.warning("?access_token=k4k4&password=k5k5&secret=k6k6&client_secret=k7k7#x")
        foreign.warning("Access-Token: k8k8 and {'access-token': 'k9k9'}")
        foreign.warning("Authorization: Bearer k10k10; postgresql://app:k11k11@db/orders")
        try:
            raise ValueError("boom with registered-Secret/1 x inside")
        except ValueError:
            foreign.exception("failed at %s", "?key=k12k12")
        foreign.warning("with stack", stack_info=True, extra={"unused": "registered-Secret/1 x"})
        foreign.warning("unformattable %s %s", "registered-Secret/1 x")
        foreign.warning("short values stay: abc")
    finally:
        foreign.removeHandler(handler)
        foreign.propagate = True
    written = stream.getvalue()

    assert "registered-Secret" not in written
    for number in range(1, 13):
        assert f"k{number}k{number}" not in written, number
    assert "odd text -***- and {'n': 1}" in written
    assert "encoded: q=***" in written
    assert "?q=a&api_key=***&key=***&token=***" in written
    assert "?access_token=***&password=***&secret=***&client_secret=***#x" in written
    assert "Access-Token: *** and {'access-token': '***'}" in written
    assert "Authorization: Bearer ***; postgresql://app:***@db/orders" in written
    assert "failed at ?key=***" in written and "ValueError: boom with *** inside" in written
    assert "Traceback" in written and "Stack (most recent call last)" in written
    assert "unformattable" in written and "short values stay: abc" in written


def test_systemd_credentials_are_read_from_the_credentials_directory(
    tmp_path: Path, simulator_factory: SimulatorFactory
) -> None:
    world = _secret_world(tmp_path, simulator_factory)
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "DUKKANGO_APP_SECRET_KEY").write_text(APP_SECRET + "\n")
    (credentials / "DUKKANGO_REST_SECRET_KEY").write_text(REST_SECRET + "\n")
    world.add_order("via-credentials", payment_status="failed")

    result = world.cli(
        "once",
        "--json",
        env={"DUKKANGO_ACCESS_TOKEN": "", "CREDENTIALS_DIRECTORY": str(credentials)},
    )

    assert result.returncode == 0, result.stderr
    assert world.cancel_calls() == [("via-credentials", {"reason_id": 7})]
    assert len(world.simulator.requests("POST", "auth/login")) == 1


def test_run_warns_when_the_rules_file_is_writable_by_others(world: World) -> None:
    fast(world, PAYMENT_ONLY)
    env_file = world.folder / "autocancel.env"
    env_file.write_text("DUKKANGO_ACCESS_TOKEN=x\n")
    env_file.chmod(0o644)
    world.rules_path.chmod(0o666)
    daemon = Daemon(world, env={"AUTOCANCEL_ENV_FILE": str(env_file)})
    try:
        eventually(lambda: "running" in daemon.log(), what="start-up")
        log = daemon.log()
        assert f"{world.rules_path} can be changed by other users (mode 666)" in log
        assert f"{env_file} holds secrets and is readable by every user" in log
        daemon.signal(signal.SIGTERM)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_the_code_never_executes_data() -> None:
    forbidden = re.compile(
        r"\beval\(|\bexec\(|\bpickle\b|\bmarshal\b|yaml\.load\(|yaml\.unsafe_load|"
        r"yaml\.Loader\b|verify\s*=\s*False|shell\s*=\s*True"
    )
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for folder in ("daemon", "rules")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line) and not line.strip().startswith("#")
    ]
    assert offenders == []

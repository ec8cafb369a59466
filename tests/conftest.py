"""Shared fixtures: real SQLite files, the real PostgreSQL, and the installed CLI."""

from __future__ import annotations

import compileall
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

import pytest

if TYPE_CHECKING:
    from daemon.dukkango.client import DukkangoClient
    from daemon.simulator.server import Simulator
    from tests.test_daemon import Daemon
    from tests.world import World

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_RULES = REPO_ROOT / "rules.yaml"


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the code the CLI subprocesses import, once, before any test runs.

    An installed package is compiled by pip; an editable checkout is not, and with
    PYTHONDONTWRITEBYTECODE=1 (set on this workplace's machines) every one of the
    suite's ~1,500 CLI processes would compile the daemon's ~130 modules again
    (~0.1 s CPU each). Python still checks each .pyc against its source, so an
    edit made while the suite runs is picked up. The controller does it; xdist
    workers start after it.
    """
    # Each worker imports the ~110 test modules with their asserts rewritten by pytest,
    # ~5 s of CPU a worker; pytest keeps the rewritten code in tests/__pycache__ only
    # when bytecode may be written. Let it: a later run (any worker) reads it back,
    # checked against each module's source as Python checks a .pyc.
    sys.dont_write_bytecode = False
    if hasattr(config, "workerinput"):
        return
    for package in ("daemon", "rules"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


def autocancel_executable() -> list[str]:
    """The installed console script; the tests exercise what operators run."""
    beside_python = Path(sys.executable).parent / "autocancel"
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("autocancel")
    if found:
        return [found]
    pytest.fail("the autocancel console script is not installed: run pip install -e '.[test]'")


# Test-only packages an operator's install lacks, made unimportable for the CLI processes.
WITHOUT_TEST_EXTRAS = Path(__file__).resolve().parent / "without_test_extras"


def cli_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without its DUKKANGO_/AUTOCANCEL_ settings, plus ``env``.

    ``PYTHONPATH`` starts with :data:`WITHOUT_TEST_EXTRAS`: a CLI process imports
    what it would on an operator's server, not the test extras' trio and rich
    (tests/without_test_extras/README.md).
    """
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DUKKANGO_", "AUTOCANCEL_"))
    }
    full_env.update(env or {})
    return without_test_extras(full_env)


def without_test_extras(env: dict[str, str]) -> dict[str, str]:
    """``env`` with :data:`WITHOUT_TEST_EXTRAS` first on its ``PYTHONPATH``."""
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(
            [str(WITHOUT_TEST_EXTRAS), *filter(None, [env.get("PYTHONPATH")])]
        ),
    }


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``autocancel ARGS`` as a real subprocess and capture its output."""
    return subprocess.run(
        [*autocancel_executable(), *args],
        env=cli_environment(env),
        cwd=cwd,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``autocancel ARGS`` without waiting; its output is piped (``communicate()``)."""
    return subprocess.Popen(
        [*autocancel_executable(), *args],
        env=cli_environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A store URL naming a real SQLite file (not ``:memory:``)."""
    return f"sqlite:///{tmp_path / 'orders.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema on the server named by AUTOCANCEL_TEST_PG_URL.

    Each test gets its own schema (selected through ``search_path``) so tests
    never see each other's rows; the schema is dropped afterwards.
    """
    base = os.environ.get("AUTOCANCEL_TEST_PG_URL")
    if not base:
        pytest.skip("AUTOCANCEL_TEST_PG_URL is not set: PostgreSQL tests need a server")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, pool_pre_ping=True)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_of_its_own(prefix: str, *, timezone: str | None = None) -> Iterator[str]:
    """The URL of a new PostgreSQL database (``timezone``: its sessions' default), dropped after.

    For a test that must not share the server's test database: one that ends
    every connection to its database (as a restart would), or sets the
    database's own settings. Skips without AUTOCANCEL_TEST_PG_URL.
    """
    base = os.environ.get("AUTOCANCEL_TEST_PG_URL")
    if not base:
        pytest.skip("AUTOCANCEL_TEST_PG_URL is not set: PostgreSQL tests need a server")
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        if timezone is not None:
            conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone TO '{timezone}'"))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- the Dükkango simulator and client (daemon/simulator/, daemon/dukkango/) ---------


class SimulatorOptions(TypedDict, total=False):
    """The ``Simulator`` keywords tests set through ``simulator_factory`` (add more as needed)."""

    cooldown_seconds: float
    token_lifetime: timedelta
    static_token: str | None
    app_secret_key: str
    rest_secret_key: str


class SimulatorFactory(Protocol):
    """The ``simulator_factory`` fixture: start a simulator, stopped after the test."""

    def __call__(self, **options: Unpack[SimulatorOptions]) -> Simulator: ...


class StartDaemon(Protocol):
    """The ``start_daemon`` fixture: ``autocancel run EXTRA``, killed after the test."""

    def __call__(self, *extra: str, env: dict[str, str] | None = None) -> Daemon: ...


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """Start simulators with custom options (``cooldown_seconds=0.2`` ...); all stopped after."""
    from daemon.simulator.server import Simulator

    started: list[Simulator] = []

    def start(**options: Unpack[SimulatorOptions]) -> Simulator:
        sim = Simulator(**options)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """A running simulator with the documented defaults: 30 s cooldowns, 24 h tokens."""
    return simulator_factory()


@pytest.fixture
def api_client(simulator: Simulator) -> Iterator[DukkangoClient]:
    """A client that logs in to ``simulator`` with its secret keys (2 s timeout)."""
    from daemon.dukkango.client import DukkangoClient

    with DukkangoClient(
        base_url=simulator.url,
        timeout=2.0,
        app_secret_key=simulator.app_secret_key,
        rest_secret_key=simulator.rest_secret_key,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store at the newest schema, made once per worker: each ``world`` starts
    from a copy of it (the migrations cost ~45 ms of CPU a store; a copy, well under 1).

    The migrations themselves are tested on fresh stores (tests/test_store.py).
    """
    from daemon.store import migrate

    path = tmp_path_factory.mktemp("migrated") / "orders.db"
    migrate.upgrade(f"sqlite:///{path}")
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["orders.db"], left  # no -wal/-shm left behind: the one file is the store
    return path


@pytest.fixture
def world(
    tmp_path: Path, simulator_factory: SimulatorFactory, migrated_sqlite: Path
) -> Iterator[World]:
    """A SQLite-file store, a rules.yaml and a running simulator (short cooldowns)."""
    from tests.world import World

    sim = simulator_factory(cooldown_seconds=0.2)
    built = World(
        folder=tmp_path,
        store_url=f"sqlite:///{tmp_path / 'orders.db'}",
        simulator=sim,
        migrated_copy_of=migrated_sqlite,
    )
    yield built
    built.engine.dispose()


@pytest.fixture
def pg_world(tmp_path: Path, pg_url: str, simulator_factory: SimulatorFactory) -> Iterator[World]:
    """The same world on the real PostgreSQL (skipped without AUTOCANCEL_TEST_PG_URL)."""
    from tests.world import World

    sim = simulator_factory(cooldown_seconds=0.2)
    built = World(folder=tmp_path, store_url=pg_url, simulator=sim)
    yield built
    built.engine.dispose()


@pytest.fixture
def start_daemon(world: World) -> Iterator[StartDaemon]:
    """Start ``autocancel run`` processes on ``world``; every one is killed after the test."""
    from tests.test_daemon import Daemon

    started: list[Daemon] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(world, *extra, env=env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()

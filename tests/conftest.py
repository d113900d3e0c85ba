"""Fixtures every test file can use: an isolated home, and simulators to talk to.

The session-scoped simulators are shared by all tests: read from them freely, but a test that
changes records, knobs or counters should start its own with ``make_simulator`` (or reset what
it changed), so that other tests see the data they expect.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.pgcluster import Cluster, start_cluster
from odoo_sync_cli.simulator.testing import Simulator, start_simulator
from tests.backends import BACKENDS, POSTGRESQL, SQLITE, Backend

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "odoo19"
DATASET = FIXTURES / "dataset"
CASES_FILE = FIXTURES / "cases.jsonl"

SIMULATOR_RECORDS = 2000


@pytest.fixture(scope="session", autouse=True)
def isolated_session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same for what runs outside a test (session and module fixtures): never the real home."""
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("XDG_DATA_HOME", str(home / ".local/share"))
        mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        keyring.set_keyring(fail.Keyring())
        yield home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, the XDG directories and ODOOSYNC_DB into a temporary directory.

    The OS keyring is keyring's ``fail`` backend, here and in subprocesses, so no test reaches
    the keyring of the machine it runs on; the secrets' default store is then the credentials
    file in the temporary config directory. Tests that want a keyring install a test backend.
    """
    home = tmp_path / "home"
    for sub in ("", ".local/share", ".config", ".cache", ".local/state"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("ODOOSYNC_DB", str(tmp_path / "odoosync.db"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in ("ODOOSYNC_SECRET_KEY", "ODOOSYNC_SECRET_KEY_FILE", "ODOOSYNC_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    keyring.set_keyring(fail.Keyring())
    return home


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """A shared Odoo 19 simulator with generated data (2,000 partners, seed 0). Read only."""
    with start_simulator(records=SIMULATOR_RECORDS, seed=0) as sim:
        yield sim


@pytest.fixture(scope="session")
def dataset_simulator() -> Iterator[Simulator]:
    """A shared Odoo 19 simulator loaded with the recorded dataset. Read only."""
    with start_simulator(dataset=DATASET) as sim:
        yield sim


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., Simulator]]:
    """Start private simulators (``start_simulator`` arguments); all stop after the test."""
    started: list[Simulator] = []

    def make(**kwargs: Any) -> Simulator:
        sim = start_simulator(**kwargs)
        started.append(sim)
        return sim

    yield make
    for sim in reversed(started):
        sim.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL server for the whole session (initdb in a temp dir, loopback).

    Never skipped: without server binaries the session errors, and scripts/test installs them.
    Tests that write should use a database or schema of their own.
    """
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """The test's mirror, once in a SQLite file and once in a fresh schema of the session's
    PostgreSQL (dropped afterwards); ``ODOOSYNC_DB`` and ``ODOOSYNC_PG_SCHEMA`` point at it."""
    if request.param == SQLITE:
        yield Backend(SQLITE, str(tmp_path / "odoosync.db"))
        return
    yield from _pg_schema(request, monkeypatch)


@pytest.fixture
def pg_backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """A fresh schema of the session's PostgreSQL, for tests of that backend alone."""
    yield from _pg_schema(request, monkeypatch)


def _pg_schema(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    cluster: Cluster = request.getfixturevalue("postgres")
    chosen = Backend(POSTGRESQL, cluster.url(), f"t_{uuid.uuid4().hex[:16]}")
    monkeypatch.setenv("ODOOSYNC_DB", chosen.db)
    monkeypatch.setenv("ODOOSYNC_PG_SCHEMA", chosen.schema)
    try:
        yield chosen
    finally:
        chosen.drop()


@pytest.fixture
def unchecked_alice() -> Path:
    """A database (where ODOOSYNC_DB points) with one user never checked against a server."""
    settings = load_settings(db=Path(os.environ["ODOOSYNC_DB"]))
    engine.user_add(
        settings,
        name="alice",
        url="http://127.0.0.1:8069",
        database="odoo",
        login="admin",
        secret=NewSecret(SecretStr("not-used-here")),
        check=False,
    )
    return settings.db_path

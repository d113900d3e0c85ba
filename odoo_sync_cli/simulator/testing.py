"""Run the simulator inside a test process, or in a process of its own.

>>> with start_simulator(records=500) as sim:
...     sim.execute_kw("res.partner", "search_count", [[]])

:func:`start_simulator` builds the stores (generated data, a recorded dataset, or stores you
pass), serves them on a free loopback port from a daemon thread, and returns a
:class:`Simulator`: the URL and credentials to give a client, the stores, the knobs (latency,
faults), the counters, ways to change records while a client syncs, and small JSON-RPC / JSON-2
helpers. ``stop()`` (or leaving the ``with`` block) shuts everything down and closes every
socket, so tests running with ``-W error`` see no ResourceWarning.

:func:`simulator_process` starts ``python -m odoo_sync_cli.simulator`` instead, for the tests,
benchmarks and scripts that need the server outside their own process (a kill must not take it
down, or its work must not share the GIL), and reads the JSON line it prints first.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from odoo_sync_cli.simulator.generator import populate
from odoo_sync_cli.simulator.models import builtin_models
from odoo_sync_cli.simulator.query import Semantics
from odoo_sync_cli.simulator.server import (
    CONTROL_HEADER,
    DEFAULT_DATABASE,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DEMO_UID,
    Fault,
    FaultMatch,
    SimDatabase,
    SimStats,
    SimulatorServer,
)
from odoo_sync_cli.simulator.store import SimStore

DatabaseSource = int | str | Path | SimStore | SimDatabase


@dataclass(frozen=True)
class Credentials:
    """How a client logs in to one simulated database."""

    url: str
    database: str
    login: str
    uid: int
    password: str = field(repr=False)
    api_key: str = field(repr=False)


class SimulatorCallError(Exception):
    """A JSON-RPC call answered with an error; ``name``/``message`` are Odoo's."""

    def __init__(self, error: dict[str, Any]) -> None:
        data = error.get("data") or {}
        self.error = error
        self.name: str = data.get("name", "")
        self.message: str = data.get("message", error.get("message", ""))
        super().__init__(f"{self.name}: {self.message}")


def make_store(
    odoo_version: int = 19,
    path: Path | str | None = None,
    *,
    shuffle_ties: bool = True,
    tie_seed: int = 0,
) -> SimStore:
    """An empty store with the six default models, speaking the given Odoo version.

    Rows and x2many ids that tie under their order come back shuffled anew on each read, as
    on a real server; ``shuffle_ties=False`` gives one fixed order (Odoo never promises one).
    """
    return SimStore(
        builtin_models(),
        semantics=Semantics(version=odoo_version),
        path=None if path is None else str(path),
        shuffle_ties=shuffle_ties,
        tie_seed=tie_seed,
    )


def build_store(
    source: int | str | Path,
    *,
    seed: int = 0,
    odoo_version: int = 19,
    path: Path | str | None = None,
    shuffle_ties: bool = True,
) -> SimStore:
    """A store filled with ``source`` partners of generated data, or the dataset in a directory.

    ``seed`` seeds the generator and the order of tied rows alike.
    """
    store = make_store(odoo_version, path, shuffle_ties=shuffle_ties, tie_seed=seed)
    try:
        if isinstance(source, int):
            populate(store, source, seed=seed)
        else:
            store.load_dataset(Path(source))
    except BaseException:
        store.close()
        raise
    return store


class Simulator:
    """A running simulator and everything a test needs to drive it."""

    def __init__(self, server: SimulatorServer, *, owned_stores: Iterable[SimStore] = ()) -> None:
        self.server = server
        self._owned = list(owned_stores)
        self._ids = count(1)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"odoo-simulator-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        self._client = httpx.Client(base_url=self.url, timeout=60.0)
        self._stopped = False

    # -- what clients need -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def odoo_version(self) -> int:
        return self.server.version.major

    @property
    def database(self) -> str:
        return self.server.primary.name

    @property
    def login(self) -> str:
        return self.server.primary.admin.login

    @property
    def password(self) -> str:
        return self.server.primary.admin.password

    @property
    def api_key(self) -> str:
        return self.server.primary.admin.api_key

    @property
    def uid(self) -> int:
        return self.server.primary.admin.uid

    @property
    def control_key(self) -> str:
        return self.server.control_key

    def credentials(self, database: str | None = None) -> Credentials:
        """The admin's credentials for one database (default: the first)."""
        db = self.server.database(database)
        admin = db.admin
        return Credentials(self.url, db.name, admin.login, admin.uid, admin.password, admin.api_key)

    def demo_credentials(self, database: str | None = None) -> Credentials:
        """The non-admin ``demo`` user (uid 5), who sees hr.employee public profiles only."""
        db = self.server.database(database)
        demo = db.users[DEMO_UID]
        return Credentials(self.url, db.name, demo.login, demo.uid, demo.password, demo.api_key)

    @property
    def stores(self) -> dict[str, SimStore]:
        return {name: db.store for name, db in self.server.databases.items()}

    @property
    def store(self) -> SimStore:
        return self.server.primary.store

    # -- knobs ---------------------------------------------------------------------------------

    @property
    def stats(self) -> SimStats:
        return self.server.stats

    def reset_stats(self) -> None:
        self.server.stats.reset()

    def set_latency(self, seconds: float) -> None:
        self.server.set_latency(seconds)

    def set_fail_rate(
        self,
        rate: float,
        kinds: Iterable[Fault | str] | None = None,
        *,
        match: FaultMatch | Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        """Fail each matching request with probability ``rate`` (kinds: see server docstring)."""
        self.server.faults.set_rate(rate, kinds, match=match, seed=seed)

    def script_faults(
        self,
        faults: Iterable[Fault | str | None],
        *,
        match: FaultMatch | Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next matching requests with these faults, in order (None: normally)."""
        self.server.faults.script(faults, match=match)

    def clear_faults(self) -> None:
        self.server.faults.clear()

    # -- changing records while a client syncs ---------------------------------------------------

    def create(
        self,
        model: str,
        vals_list: Iterable[Mapping[str, Any]] | Mapping[str, Any],
        *,
        at: datetime | None = None,
        database: str | None = None,
    ) -> list[int]:
        if isinstance(vals_list, Mapping):
            vals_list = [vals_list]
        ids: list[int] = self.server.mutate(
            "create", model, vals_list=vals_list, at=at, database=database
        )
        return ids

    def write(
        self,
        model: str,
        ids: Iterable[int],
        vals: Mapping[str, Any],
        *,
        at: datetime | None = None,
        database: str | None = None,
    ) -> bool:
        return bool(
            self.server.mutate("write", model, ids=ids, vals=vals, at=at, database=database)
        )

    def archive(
        self,
        model: str,
        ids: Iterable[int],
        *,
        at: datetime | None = None,
        database: str | None = None,
    ) -> bool:
        return bool(self.server.mutate("archive", model, ids=ids, at=at, database=database))

    def unarchive(
        self,
        model: str,
        ids: Iterable[int],
        *,
        at: datetime | None = None,
        database: str | None = None,
    ) -> bool:
        return bool(self.server.mutate("unarchive", model, ids=ids, at=at, database=database))

    def unlink(self, model: str, ids: Iterable[int], *, database: str | None = None) -> bool:
        return bool(self.server.mutate("unlink", model, ids=ids, database=database))

    def late_commit(
        self,
        model: str,
        *,
        seconds_ago: float | None = None,
        at: datetime | None = None,
        ids: Iterable[int] | None = None,
        vals: Mapping[str, Any] | None = None,
        vals_list: Iterable[Mapping[str, Any]] | None = None,
        database: str | None = None,
    ) -> list[int]:
        """Commit now a transaction that started ``seconds_ago`` earlier (see the server docs)."""
        return self.server.late_commit(
            model,
            seconds_ago=seconds_ago,
            at=at,
            ids=ids,
            vals=vals,
            vals_list=vals_list,
            database=database,
        )

    # -- HTTP helpers --------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        """A client on the simulator's URL, closed by :meth:`stop`."""
        return self._client

    def jsonrpc(self, service: str, method: str, *args: Any) -> dict[str, Any]:
        """POST one JSON-RPC call and return the whole answer envelope."""
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": next(self._ids),
            "params": {"service": service, "method": method, "args": list(args)},
        }
        response = self._client.post("/jsonrpc", json=body)
        response.raise_for_status()
        envelope: dict[str, Any] = response.json()
        return envelope

    def execute_kw(
        self,
        model: str,
        method: str,
        args: list[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        database: str | None = None,
        user: Credentials | None = None,
    ) -> Any:
        """Call a model method as the admin (or ``user``); raise SimulatorCallError on an error."""
        creds = user or self.credentials(database)
        envelope = self.jsonrpc(
            "object",
            "execute_kw",
            creds.database,
            creds.uid,
            creds.password,
            model,
            method,
            args or [],
            dict(kwargs or {}),
        )
        if "error" in envelope:
            raise SimulatorCallError(envelope["error"])
        return envelope.get("result")

    def json2(
        self,
        model: str,
        method: str,
        body: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
        database: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST one JSON-2 call with the admin's key (or ``api_key``); returns the raw response."""
        # An unknown ``database`` is sent as is (to test that), with the first one's key.
        db = self.server.databases.get(database or self.database, self.server.primary)
        sent = {
            "Authorization": f"bearer {api_key or db.admin.api_key}",
            "X-Odoo-Database": database or self.database,
        }
        sent.update(headers or {})
        return self._client.post(f"/json/2/{model}/{method}", json=dict(body or {}), headers=sent)

    def control(self, action: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        """POST to the control API (``/_sim/<action>``) with the control key."""
        return self._client.post(
            f"/_sim/{action}", json=dict(body or {}), headers={CONTROL_HEADER: self.control_key}
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Shut the server down, wait for its threads, close sockets and the stores it built."""
        if self._stopped:
            return
        self._stopped = True
        self._client.close()
        self.server.close()
        self._thread.join(timeout=10)
        for store in self._owned:
            store.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Simulator(url={self.url!r}, odoo_version={self.odoo_version}, "
            f"databases={sorted(self.server.databases)})"
        )


def start_simulator(
    *,
    records: int = 2000,
    seed: int = 0,
    odoo_version: int = 19,
    dataset: Path | str | None = None,
    databases: Mapping[str, DatabaseSource] | None = None,
    latency: float = 0.0,
    fail_rate: float = 0.0,
    fail_kinds: Iterable[Fault | str] | None = None,
    fault_seed: int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    database: str = DEFAULT_DATABASE,
    login: str = DEFAULT_LOGIN,
    password: str = DEFAULT_PASSWORD,
    api_key: str | None = None,
    store_path: Path | str | None = None,
    shuffle_ties: bool = True,
) -> Simulator:
    """Start a simulator on a free loopback port and return its handle.

    Args:
        records: partners to generate for the single database (ignored with ``dataset`` or
            ``databases``); orders, moves and employees follow in proportion.
        seed: generator seed; database number ``i`` of ``databases`` uses ``seed + i``.
        odoo_version: 19 or 17.
        dataset: a directory in the recorded dataset format to load instead of generating.
        databases: several databases: name -> partner count, dataset directory, store, or a
            ready :class:`SimDatabase`. Each gets its own API keys (login and password as given).
        latency, fail_rate, fail_kinds, fault_seed: the knobs at start (they can change later).
        database, login, password, api_key: the single database's name and admin credentials.
        store_path: an SQLite file for the single database's store (default: a temporary
            file the store removes when closed).
        shuffle_ties: rows and x2many ids that tie under their order come back in an order
            drawn anew for each read (seeded by ``seed``), as on PostgreSQL; False fixes it.
    """
    owned: list[SimStore] = []
    served: dict[str, SimStore | SimDatabase] = {}
    try:
        if databases is None:
            source: int | str | Path = dataset if dataset is not None else records
            store = build_store(
                source,
                seed=seed,
                odoo_version=odoo_version,
                path=store_path,
                shuffle_ties=shuffle_ties,
            )
            owned.append(store)
            served[database] = SimDatabase(
                database, store, login=login, password=password, api_key=api_key
            )
        else:
            for i, (name, src) in enumerate(databases.items()):
                if isinstance(src, SimStore | SimDatabase):
                    served[name] = src
                    continue
                store = build_store(
                    src, seed=seed + i, odoo_version=odoo_version, shuffle_ties=shuffle_ties
                )
                owned.append(store)
                served[name] = SimDatabase(name, store, login=login, password=password)
        server = SimulatorServer(
            served,
            host=host,
            port=port,
            odoo_version=odoo_version,
            latency=latency,
            fail_rate=fail_rate,
            fail_kinds=fail_kinds,
            fault_seed=fault_seed,
        )
    except BaseException:
        for store in owned:
            store.close()
        raise
    return Simulator(server, owned_stores=owned)


__all__ = [
    "Credentials",
    "Simulator",
    "SimulatorCallError",
    "build_store",
    "make_store",
    "start_simulator",
]


# --------------------------------------------------------------------------- in its own process


@dataclass
class SimulatorProcess:
    """A simulator run as ``python -m odoo_sync_cli.simulator`` and the JSON line it printed."""

    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def databases(self) -> list[dict[str, Any]]:
        """Every database served: name, login, password, API key, partners."""
        listed: list[dict[str, Any]] = self.info.get("databases") or [self.info]
        return listed

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def simulator_process(*args: str, quiet: bool = True) -> Iterator[SimulatorProcess]:
    """Start a simulator in its own process (on a free port), yield it once it serves, stop it.

    ``args`` are the command line's (``--records 3000 --latency 0.02``...); ``quiet`` drops
    what it says on stderr.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "odoo_sync_cli.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
    )
    running = SimulatorProcess(process, {})
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first:
            raise RuntimeError(f"the simulator exited ({process.wait()}) before it served")
        running.info = json.loads(first)
        for line in process.stdout:  # the line that says it serves comes after its figures
            if line.startswith("serving"):
                break
        yield running
    finally:
        running.stop()

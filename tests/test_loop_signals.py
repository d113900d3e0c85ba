"""`odoosync loop` as separate processes: SIGTERM, a second signal, and two loops on one database,
on both backends.

The simulator runs in its own process, as a real server would, and answers its page log on the
control API, so the tests can count which pages were fetched and how often.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine, mirror
from odoo_sync_cli.config import Settings, load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.odoo import Connection, OdooClient
from odoo_sync_cli.simulator.testing import simulator_process
from tests.backends import Backend

# The methods a page of records is read with (web_search_read on the Odoo 19 simulator).
READS = ("search_read", "web_search_read")

CONFIG = """
page_size = 50
batch_size = 600

[http.retry]
attempts = 2
wait_initial = 0.01
wait_max = 0.05
"""
CLI = [sys.executable, "-c", "from odoo_sync_cli.cli import main; main()"]


class Server:
    """A simulator process and its first JSON line."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.url: str = info["url"]
        self.key: str = info["api_key"]
        self.databases: list[dict[str, Any]] = info.get("databases") or [info]

    def control(self, action: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.post(
            f"{self.url}/_sim/{action}", json=body or {}, headers={"X-Sim-Key": self.key}
        )
        response.raise_for_status()
        return response.json()["result"]

    def data_pages(self) -> list[dict[str, Any]]:
        """The pages of records read by id, the way sync batches read them."""
        pages = self.control("stats")["pages"]
        return [p for p in pages if p["method"] in READS and p["order"] == "id asc"]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def one_db() -> Iterator[Server]:
    with simulator_process("--records", "1500", "--seed", "5", "--latency", "0.02") as sim:
        yield Server(sim.info)


@pytest.fixture
def three_dbs() -> Iterator[Server]:
    with simulator_process("--databases", "a:500,b:500,c:500", "--latency", "0.01") as sim:
        yield Server(sim.info)


def setup_users(tmp_path: Path, server: Server, backend: Backend) -> tuple[Settings, list[str]]:
    config = tmp_path / "odoosync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(config, db=backend.db)
    names = []
    for db in server.databases:
        name = f"user-{db['database']}"
        engine.user_add(
            settings,
            name=name,
            url=server.url,
            database=db["database"],
            login=db["login"],
            secret=NewSecret(SecretStr(db["api_key"])),
        )
        names.append(name)
    return settings, names


def loop_command(tmp_path: Path, backend: Backend, *args: str) -> list[str]:
    return [*CLI, "--config", str(tmp_path / "odoosync.toml"), "--db", backend.db, "loop", *args]


class Lines:
    """Reads a process's stdout in a thread, so a test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line with {text!r} in:\n{''.join(self.lines)}"
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"ended without {text!r}:\n{''.join(self.lines)}"
            self.lines.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        self._thread.join(timeout=20)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def assert_equal_to_server(settings: Settings, server: Server, user: str, database: str) -> None:
    """The mirror equals a fresh read of the server, module by module, and nothing is twice (a
    many2one to a model the user mirrors is kept without its name)."""
    db = next(d for d in server.databases if d["database"] == database)
    conn = Connection("check", server.url, database, db["login"], SecretStr(db["api_key"]))
    mirrored = {m.model for m in settings.for_user(user).modules}
    with mirror.open_mirror(settings) as store, OdooClient(conn) as client:
        for module in settings.for_user(user).modules:
            mine = store.read_records(user, module.table)
            fields = list(mine[0])
            theirs = client.search_read(
                module.model,
                module.domain_list(),
                fields,
                order="id asc",
                context={"active_test": False},
            )
            types = client.fields_get(module.model, attributes=["type", "relation"])
            x2many = {f for f, a in types.items() if a["type"] in ("one2many", "many2many")}
            unnamed = {
                f for f, a in types.items() if a["type"] == "many2one" and a["relation"] in mirrored
            }
            # x2many are sets, read in no fixed order; the mirror keeps them ascending.
            theirs = [
                {
                    k: sorted(v) if k in x2many else [v[0], None] if k in unnamed and v else v
                    for k, v in r.items()
                }
                for r in theirs
            ]
            assert [r["id"] for r in mine] == [r["id"] for r in theirs], module.name
            assert mine == theirs, module.name
    progress = engine.status(settings, user=user)[0]
    assert progress.records_synced == progress.records_expected, "a page was stored twice"


def test_sigterm_finishes_the_page_in_flight_then_a_rerun_completes_exactly(
    tmp_path: Path, one_db: Server, backend: Backend
) -> None:
    settings, (user,) = setup_users(tmp_path, one_db, backend)
    proc = subprocess.Popen(
        loop_command(tmp_path, backend, "--verbose", "--interval", "0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = Lines(proc)
        out.wait_for("page of 50 record(s)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        output = out.rest()
    finally:
        stop(proc)
    assert "Got SIGTERM" in output and "Stopped after" in output
    assert "\x1b" not in output, "a pipe gets no escape codes"
    assert engine.user_get(settings, user).status == "in_progress", "stopped mid-sync"
    with mirror.open_mirror(settings) as store:
        stored = sum(b.synced for b in store.batches(user))
    assert 0 < stored < 1500

    rerun = subprocess.run(
        loop_command(tmp_path, backend, "--once", "--interval", "0.5"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert engine.user_get(settings, user).status == "done"
    assert_equal_to_server(settings, one_db, user, one_db.info["database"])
    keys = Counter(
        (p["database"], p["model"], json.dumps(p["domain"])) for p in one_db.data_pages()
    )
    assert keys and max(keys.values()) == 1, "a page was fetched twice across the stop"


def test_a_second_signal_stops_at_once_and_the_database_stays_consistent(
    tmp_path: Path, one_db: Server, backend: Backend
) -> None:
    settings, (user,) = setup_users(tmp_path, one_db, backend)
    proc = subprocess.Popen(
        loop_command(tmp_path, backend, "--verbose", "--interval", "0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = Lines(proc)
        out.wait_for("page of 50 record(s)")
        one_db.control("latency", {"seconds": 3.0})  # the page in flight now takes long
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out.wait_for("Got SIGTERM")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        waited = time.monotonic() - started
        output = out.rest()
    finally:
        stop(proc)
    assert code == 128 + signal.SIGINT, output
    assert waited < 2.0, "the second signal must not wait for the slow page"
    assert "Stopped at once" in output
    one_db.control("latency", {"seconds": 0.0})

    rerun = subprocess.run(
        loop_command(tmp_path, backend, "--once", "--interval", "0.5"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_equal_to_server(settings, one_db, user, one_db.info["database"])


def test_two_loops_on_one_database_never_fetch_a_page_twice(
    tmp_path: Path, three_dbs: Server, backend: Backend
) -> None:
    settings, users = setup_users(tmp_path, three_dbs, backend)
    # One worker each: three users cannot all be held by one process, so both get turns
    # whenever they look, not only when their look falls between another's slices.
    args = ("--once", "--workers", "1", "--slice-seconds", "0.2", "--interval", "0.3")
    procs = [
        subprocess.Popen(
            loop_command(tmp_path, backend, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, _ = proc.communicate(timeout=90)
            outputs.append(stdout)
            assert proc.returncode == 0, stdout
    finally:
        for proc in procs:
            stop(proc)
    for user in users:
        assert engine.user_get(settings, user).status == "done"
        assert_equal_to_server(settings, three_dbs, user, user.removeprefix("user-"))
    keys = Counter(
        (p["database"], p["model"], json.dumps(p["domain"])) for p in three_dbs.data_pages()
    )
    assert len(keys) > 30
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    worked = [sum("batch" in line and " done " in line for line in o.splitlines()) for o in outputs]
    assert all(n > 0 for n in worked), ("both loops should have had turns", worked, outputs)

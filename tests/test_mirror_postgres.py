"""What only the PostgreSQL backend has, against real throwaway servers: column types, libpq's
ways to give the password (never shown), leases held by connections, a server restarted or
gone during a sync, and the refusals (wrong password, no permission, a schema not ours).

Each test works in a schema of its own; the tests that restart or stop a server use a cluster
of their own, so the session's server is never disturbed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine, mirror
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import LeaseError, StoreError, safe_url
from odoo_sync_cli.mirror.base import Page, lease_owner_id
from odoo_sync_cli.mirror.postgres import connection as pg_connection
from odoo_sync_cli.mirror.postgres.columns import ids_literal
from odoo_sync_cli.mirror.postgres.connection import describe_url, lock_key
from odoo_sync_cli.models import FULL, Lease, PlannedBatch
from odoo_sync_cli.pgcluster import Cluster, start_cluster
from odoo_sync_cli.progress import PageStored, RecordingReporter
from odoo_sync_cli.simulator.testing import Simulator
from tests.backends import POSTGRESQL, Backend
from tests.cli_runs import one_line, run
from tests.test_mirror_store import OWNER, PARTNER_FIELDS, TTL, partner, running

FAST_RETRY = {"retry": {"attempts": 2, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}
ONLY_CONTACTS = {
    m: {"enabled": False}
    for m in ("sale_orders", "invoices", "employees", "order_lines", "invoice_lines")
}


@pytest.fixture
def backend(pg_backend: Backend) -> Backend:
    """Here, PostgreSQL only."""
    return pg_backend


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A server these tests may restart and stop."""
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture
def own(own_cluster: Cluster, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The test's schema on the cluster of this module."""
    chosen = Backend(POSTGRESQL, own_cluster.url(), backend.schema)
    monkeypatch.setenv("ODOOSYNC_DB", chosen.db)
    return chosen


def add_user(settings: Settings, sim: Simulator, name: str = "alice") -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def superuser(cluster: Cluster, query: str) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(query)  # type: ignore[arg-type]


# --- what the tables look like ------------------------------------------------------------------


def test_columns_use_postgresql_types(backend: Backend) -> None:
    with backend.open(create=True) as store:
        store.ensure_table("res.partner", PARTNER_FIELDS)
    types = dict(
        backend.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = 'res_partner'",
            (backend.schema,),
        )
    )
    assert types == {
        "user": "text",
        "id": "bigint",
        "name": "text",
        "active": "boolean",
        "write_date": "timestamp without time zone",
        "parent_id": "bigint",
        "parent_id_name": "text",
        "child_ids": "ARRAY",
        "category_id": "ARRAY",
        "credit_limit": "double precision",
        "balance": "numeric",
        "color": "bigint",
        "date": "date",
        "comment": "text",
        "type": "text",
        "props": "jsonb",
        "_write_date": "timestamp without time zone",
        "_synced_at": "timestamp with time zone",
        "_deleted_at": "timestamp with time zone",
    }
    key = backend.sql(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = 'res_partner'::regclass AND i.indisprimary ORDER BY a.attname"
    )
    assert key == [("id",), ("user",)]


def test_money_sums_exactly_and_reads_back_equal(backend: Backend) -> None:
    with backend.open(create=True) as store:
        store.add_user(
            name="alice",
            url="u",
            database="d",
            login="l",
            protocol="auto",
            location=mirror.base.SecretLocation("env", "X"),  # type: ignore[attr-defined]
        )
        spec = store.ensure_table("res.partner", PARTNER_FIELDS)
        batch = running(store, "alice", [PlannedBatch("contacts", "res.partner", FULL)])
        amounts = [0.1, 0.2, 1234567.891, 1e-7, 0.30000000000000004]
        records = [partner(i + 1, balance=a) for i, a in enumerate(amounts)]
        store.write_page(Page(Lease("alice", OWNER, TTL), batch, spec, records, 99, True))
        back = {r["id"]: r["balance"] for r in store.read_records("alice", "res_partner")}
    assert [back[i + 1] for i in range(len(amounts))] == amounts
    total = backend.sql("SELECT sum(balance)::text FROM res_partner WHERE id <= 2")
    assert total == [("0.3",)], "numeric adds the amounts Odoo shows, not their binary doubles"


def test_pure_helpers() -> None:
    assert ids_literal("[3, 7, 12]") == "{3, 7, 12}" and ids_literal("[]") == "{}"
    with pytest.raises(StoreError, match="not a list of ids"):
        ids_literal('{"a": 1}')
    key = lock_key("odoosync", "alice")
    assert key == lock_key("odoosync", "alice") and 0 <= key < 2**63
    assert key != lock_key("other", "alice") and key != lock_key("odoosync", "bob")
    assert describe_url("postgresql://u:pw@db1:5432,db2:5433/mirror?sslmode=require") == (
        "postgresql://db1:5432,db2:5433/mirror"
    )
    assert describe_url("postgresql:///?service=mirror") == "PostgreSQL service mirror"
    assert safe_url("postgres://u:p@ss@h/db") == "postgres://h/db"


# --- the password: libpq's ways to give it, and never shown -------------------------------------


def password_free_url(cluster: Cluster) -> str:
    return cluster.url(password=False)


@pytest.mark.parametrize("source", ["PGPASSWORD", "pgpass", "service"])
def test_libpq_gives_the_password_and_no_output_shows_it(
    source: str,
    backend: Backend,
    postgres: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    simulator: Simulator,
) -> None:
    url = password_free_url(postgres)
    if source == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", postgres.password)
    elif source == "pgpass":
        pgpass = Path(os.environ["HOME"]) / ".pgpass"
        pgpass.write_text(f"127.0.0.1:{postgres.port}:*:{postgres.superuser}:{postgres.password}\n")
        pgpass.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(pgpass))  # libpq's name for ~/.pgpass
    else:
        services = tmp_path / "pg_service.conf"
        services.write_text(
            textwrap.dedent(
                f"""
                [mirror]
                host=127.0.0.1
                port={postgres.port}
                dbname=postgres
                user={postgres.superuser}
                password={postgres.password}
                """
            )
        )
        monkeypatch.setenv("PGSERVICEFILE", str(services))
        url = "postgresql:///?service=mirror"
    monkeypatch.setenv("ODOOSYNC_DB", url)
    creds = simulator.credentials()
    outputs = [
        run(
            "user",
            "add",
            "alice",
            "--url",
            creds.url,
            "--db",
            creds.database,
            "--login",
            creds.login,
            input=creds.api_key + "\n",
        ),
        run("prepare"),
        run("step", "--max-pages", "2"),
        run("status"),
        run("status", "--json"),
        run("user", "list"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert postgres.password not in result.output
    shown = json.loads(outputs[4].stdout)["users"][0]
    assert shown["syncStatus"] == "in_progress" and shown["progress"]["recordsSynced"] > 0


def test_no_output_error_or_log_shows_the_password_of_the_url(
    backend: Backend,
    postgres: Cluster,
    tmp_path: Path,
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(records=150)
    creds = sim.credentials()
    db = ["--db", backend.db]
    log = tmp_path / "loop.log"
    wrong = backend.db.replace(postgres.password, "Wr0ngPassw0rd")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = backend.db.replace(f":{postgres.port}/", f":{sock.getsockname()[1]}/")
    add_alice = [*db, "user", "add", "alice", "--url", creds.url, "--db", creds.database,
                 "--login", creds.login]  # fmt: skip
    results = [
        run(*add_alice, input=creds.api_key + "\n"),
        run(*db, "user", "list", "--json"),
        run(*db, "prepare", "--user", "alice"),
        run(*db, "loop", "--once", "--verbose", "--log-file", str(log), "--http-port", "0"),
        run(*db, "status"),
        run(*db, "status", "--json"),
        run(*db, "test-complete", "--user", "alice", "--yes"),
        run(*db, "clear", "--user", "alice", "--yes"),
        run(*add_alice, input=creds.api_key + "\n"),
    ]
    assert [r.exit_code for r in results[:-1]] == [0] * 8, [r.output for r in results]
    assert "already exists" in results[-1].output
    for url, expected in ((wrong, "refused the login"), (closed, "cannot reach PostgreSQL")):
        for args in (["status"], ["--debug", "status"], ["user", "list"], ["loop", "--once"]):
            result = run("--db", url, *args)
            assert result.exit_code == 7, result.output
            assert expected in result.stderr
            results.append(result)
        line = one_line(run("--db", url, "status"))
        assert expected in line and "postgresql://127.0.0.1:" in line
    texts = [r.output for r in results] + [log.read_text()]
    for text in texts:
        assert postgres.password not in text
        assert "Wr0ngPassw0rd" not in text
    refused = one_line(run("--db", wrong, "status"))
    assert refused == (
        f"Error: PostgreSQL at postgresql://127.0.0.1:{postgres.port}/postgres refused the login "
        f'(password authentication failed for user "{postgres.superuser}"). Check the user and '
        "password: in the URL, PGPASSWORD, ~/.pgpass or the service file."
    )


# --- leases between processes -------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from odoo_sync_cli import mirror
    from odoo_sync_cli.config import Settings
    from odoo_sync_cli.errors import LeaseError
    from odoo_sync_cli.mirror.base import lease_owner_id

    store = mirror.open_mirror(Settings(db={db!r}, pg_schema={schema!r}))
    owner = lease_owner_id()
    store.acquire_lease("alice", owner, {ttl})
    print("held", flush=True)
    sys.stdin.readline()  # the test says when to go on (after stopping and continuing us)
    try:
        store.acquire_lease("alice", owner, {ttl})
        print("still held", flush=True)
    except LeaseError as exc:
        print("lost:", exc, flush=True)
    """
)


def holder_process(backend: Backend, ttl: float) -> subprocess.Popen[str]:
    script = HOLDER.format(db=backend.db, schema=backend.schema, ttl=ttl)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def with_alice(backend: Backend) -> None:
    with backend.open(create=True) as store:
        store.add_user(
            name="alice",
            url="http://127.0.0.1:1",
            database="d",
            login="l",
            protocol="auto",
            location=mirror.base.SecretLocation("env", "X"),  # type: ignore[attr-defined]
        )


def test_a_killed_holder_frees_its_user_at_once_and_status_names_it_meanwhile(
    backend: Backend,
) -> None:
    with_alice(backend)
    proc = holder_process(backend, ttl=600)
    try:
        settings = backend.settings()
        held = engine.status(settings)[0].to_json()["heldBy"]
        assert held == {"host": socket.gethostname(), "pid": proc.pid}
        text = run("status").output
        assert f"worked on now by pid {proc.pid} on {socket.gethostname()}" in text
        with backend.open() as store, pytest.raises(LeaseError, match=f"pid {proc.pid}"):
            store.acquire_lease("alice", lease_owner_id(), 600)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        with backend.open() as store:
            while True:
                try:
                    store.acquire_lease("alice", OWNER, 600)
                    break
                except LeaseError:
                    assert time.monotonic() < deadline, "the killed holder's lock stayed"
                    time.sleep(0.05)
            assert store.holders() == {"alice": OWNER}
    finally:
        proc.kill()
        proc.communicate()


def test_a_hung_holder_whose_lease_expired_is_taken_over(backend: Backend) -> None:
    with_alice(backend)
    proc = holder_process(backend, ttl=0.5)
    try:
        proc.send_signal(signal.SIGSTOP)  # alive, connection open, doing nothing
        with backend.open() as store:
            time.sleep(0.6)
            store.acquire_lease("alice", OWNER, 600)  # its session is ended, its lock taken
            assert store.holders() == {"alice": OWNER}
            proc.send_signal(signal.SIGCONT)
            out, _ = proc.communicate("go\n", timeout=60)
            assert "lost: user 'alice' was taken over" in out
            assert store.holders() == {"alice": OWNER}
    finally:
        proc.kill()
        proc.communicate()


def test_a_live_holder_is_never_taken_over(backend: Backend) -> None:
    with_alice(backend)
    proc = holder_process(backend, ttl=600)
    try:
        proc.send_signal(signal.SIGSTOP)
        with backend.open() as store, pytest.raises(LeaseError):
            store.acquire_lease("alice", OWNER, 600)
        proc.send_signal(signal.SIGCONT)
        out, _ = proc.communicate("go\n", timeout=60)
        assert out.strip() == "still held"
    finally:
        proc.kill()
        proc.communicate()


def test_two_workers_planning_at_once_change_the_schema_in_turn(backend: Backend) -> None:
    with backend.open(create=True):
        pass
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def plan(i: int) -> None:
        try:
            with backend.open() as store:
                barrier.wait()
                fields = {**PARTNER_FIELDS, f"x_field_{i}": "char"}
                store.ensure_table("res.partner", fields)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=plan, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    columns = backend.columns("res_partner")
    assert {f"x_field_{i}" for i in range(4)} <= columns
    known = backend.sql("SELECT field FROM _odoosync_fields WHERE table_name = 'res_partner'")
    assert len(known) == len(set(known)) == len(PARTNER_FIELDS) + 4


# --- refusals, in one line, exit 7 --------------------------------------------------------------


def test_no_permission_on_the_schema_or_to_create_one(
    backend: Backend, postgres: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_alice(backend)
    role = f"r_{backend.schema}"
    superuser(postgres, f"CREATE ROLE {role} LOGIN PASSWORD 'pw-of-the-role'")
    try:
        url = f"postgresql://{role}:pw-of-the-role@127.0.0.1:{postgres.port}/postgres"
        line = one_line(run("--db", url, "status"))
        assert "no permission on the mirror" in line and "permission denied for schema" in line
        assert f"GRANT USAGE, CREATE ON SCHEMA {backend.schema}" in line
        superuser(postgres, f"GRANT USAGE ON SCHEMA {backend.schema} TO {role}")
        line = one_line(run("--db", url, "status"))
        assert "permission denied for table _odoosync_migrations" in line, line
        monkeypatch.setenv("ODOOSYNC_PG_SCHEMA", f"{backend.schema}_new")
        result = run(
            "--db",
            url,
            "user",
            "add",
            "bob",
            "--url",
            "http://127.0.0.1:1",
            "--db",
            "d",
            "--login",
            "l",
            "--no-check",
            input="secret\n",
        )
        assert result.exit_code == 7
        assert "permission denied for database" in one_line(result)
        assert "pw-of-the-role" not in result.output
    finally:
        superuser(postgres, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_a_schema_holding_tables_not_ours_is_refused_before_anything_is_written(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.sql(f"CREATE SCHEMA {backend.schema}")
    backend.sql("CREATE TABLE orders (id int)")
    backend.sql("INSERT INTO orders VALUES (1)")
    for args in (
        [
            "user",
            "add",
            "bob",
            "--url",
            "http://127.0.0.1:1",
            "--db",
            "d",
            "--login",
            "l",
            "--no-check",
        ],
        ["status"],
    ):
        result = run(*args, input="secret\n")
        assert result.exit_code == 7, result.output
        line = one_line(result)
        assert "holds another program's tables (orders)" in line and "pg_schema" in line
    tables = backend.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        (backend.schema,),
    )
    assert tables == [("orders",)] and backend.sql("SELECT * FROM orders") == [(1,)]


# --- the server restarted, or gone, during a sync -------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_server_restarted_during_a_sync_loses_nothing_and_stores_nothing_twice(
    mode: str, own: Backend, own_cluster: Cluster, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=1200, latency=0.01)
    settings = own.settings(page_size=40, batch_size=400, http=FAST_RETRY, modules=ONLY_CONTACTS)
    add_user(settings, sim)
    engine.prepare(settings)
    restarted = threading.Event()

    class Trigger(RecordingReporter):
        """After the 4th page, the server restarts while the next page is read."""

        def emit(self, event: Any) -> None:
            super().emit(event)
            if isinstance(event, PageStored) and len(self.of(PageStored)) == 4:
                own_cluster.pg_ctl("restart", "-m", mode)
                restarted.set()

    sim.reset_stats()
    report = engine.step(settings, reporter=Trigger())
    assert restarted.is_set()
    assert not report.errors and report.users[0].status == "done", report
    check = engine.check_complete(settings, user="alice", sample=60, sync=False)
    assert check.passed, [p for m in check.modules for p in m.problems()]
    status = engine.status(settings)[0]
    assert status.records_synced == status.records_expected, "a page was stored twice"
    pages = Counter(
        (p.model, json.dumps(p.domain))
        for p in sim.stats.pages(method=None)
        if p.method in ("search_read", "web_search_read") and p.order == "id asc"
    )
    assert max(pages.values()) == 1, "a page was fetched twice"


class DroppingProxy:
    """TCP between odoosync and PostgreSQL; when armed, it forwards a COMMIT to the server and
    drops the connection before the server's answer reaches the client."""

    COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"

    def __init__(self, port: int) -> None:
        self.port_to = port
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.port_to))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if answers and self.armed.is_set() and self.COMMIT_DONE in chunk:
                    self.armed.clear()
                    self.dropped.set()
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()


def test_a_commit_whose_answer_was_lost_is_not_stored_twice(
    backend: Backend, postgres: Cluster
) -> None:
    proxy = DroppingProxy(postgres.port)
    try:
        via = Backend(
            POSTGRESQL, backend.db.replace(f":{postgres.port}/", f":{proxy.port}/"), backend.schema
        )
        with via.open(create=True) as store:
            store.add_user(
                name="alice",
                url="u",
                database="d",
                login="l",
                protocol="auto",
                location=mirror.base.SecretLocation("env", "X"),  # type: ignore[attr-defined]
            )
            spec = store.ensure_table("res.partner", PARTNER_FIELDS)
            batch = running(store, "alice", [PlannedBatch("contacts", "res.partner", FULL)])
            proxy.armed.set()
            store.write_page(
                Page(Lease("alice", OWNER, TTL), batch, spec, [partner(1), partner(2)], 2, False)
            )
            assert proxy.dropped.is_set(), "the commit's answer was never dropped"
            after = store.next_batch("alice")
            assert after is not None and (after.cursor, after.synced, after.pages) == (2, 2, 1)
            assert [r["id"] for r in store.read_records("alice", "res_partner")] == [1, 2]
    finally:
        proxy.close()


def test_a_server_gone_longer_than_the_reconnect_window_fails_in_one_line_then_resumes(
    own: Backend,
    own_cluster: Cluster,
    make_simulator: Callable[..., Simulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg_connection, "RECONNECT_SECONDS", 1.0)
    sim = make_simulator(records=600, latency=0.01)
    settings = own.settings(page_size=40, http=FAST_RETRY, modules=ONLY_CONTACTS)
    add_user(settings, sim)
    engine.prepare(settings)
    engine.step(settings, max_pages=3)
    own_cluster.pg_ctl("stop", "-m", "fast")
    try:
        with pytest.raises(StoreError) as info:
            engine.step(settings, users=["alice"])
        assert "cannot reach PostgreSQL" in str(info.value)
        assert own_cluster.password not in str(info.value)
        line = one_line(run("status"))
        assert "cannot reach PostgreSQL at postgresql://127.0.0.1" in line
    finally:
        own_cluster.pg_ctl("start")
    report = engine.step(settings)
    assert not report.errors and report.users[0].status == "done"
    status = engine.status(settings)[0]
    assert status.records_synced == status.records_expected == 600
    assert engine.check_complete(settings, user="alice", sample=30, sync=False).passed

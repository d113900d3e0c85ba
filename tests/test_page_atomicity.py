"""A page's rows and the cursor that follows them commit together, or not at all, on both
backends.

Failures are injected inside the database itself, by triggers: one fires while the page's rows
are written, the other while the batch's cursor is. Each either raises (an error the process
survives) or kills the process with SIGKILL on the spot (a crash), and afterwards the database
must hold neither the rows nor the new cursor. Both places are needed: whichever of the two
writes came first in a transaction of its own would be left behind by a failure in the other.
In SQLite the triggers are temporary, on the store's own connection, and the kill happens inside
the trigger; in PostgreSQL the trigger raises, or sleeps while the test kills the client, whose
connection then takes its open transaction with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.mirror.base import Page
from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.models import FULL, Batch, Lease, ModulePlan, PlannedBatch, SecretLocation
from tests.backends import Backend

FIELDS = {"id": "integer", "name": "char", "write_date": "datetime", "parent_id": "many2one"}
OWNER = "test-host:1:owner"
TTL = 600.0

# Where the failure is injected: (table, trigger event). The rows are upserted into the mirror
# table; the cursor is an UPDATE of the batch.
AT_ROWS = ("res_partner", "INSERT")
AT_CURSOR = ("_odoosync_batches", "UPDATE")


def partners(ids: range) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"P{i}", "write_date": "2026-01-01 00:00:00", "parent_id": False}
        for i in ids
    ]


def setup_batch(backend: Backend) -> None:
    """A user with one running full batch of contacts, its cursor at 0, and an empty mirror."""
    with backend.open(create=True) as store:
        store.add_user(
            name="alice",
            url="http://127.0.0.1:1",
            database="odoo",
            login="admin",
            protocol="auto",
            location=SecretLocation("env", "ALICE_KEY"),
        )
        spec = store.ensure_table("res.partner", FIELDS)
        store.acquire_lease("alice", OWNER, TTL)
        store.save_plan(
            "alice",
            OWNER,
            TTL,
            [ModulePlan("contacts", "res.partner", "res_partner", fields=tuple(spec.fields))],
            [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=10)],
        )
        batch = store.next_batch("alice")
        assert batch is not None
        store.start_batch(batch.id, OWNER, "alice", TTL)
        store.release_lease("alice", OWNER)


def running(store: Mirror) -> tuple[Batch, TableSpec]:
    batch = store.next_batch("alice")
    assert batch is not None and batch.status == "running"
    return batch, store.table_spec("res_partner", list(FIELDS))


def store_first_page(store: Mirror) -> None:
    store.acquire_lease("alice", OWNER, TTL)
    batch, spec = running(store)
    store.write_page(
        Page(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=partners(range(1, 6)),
            cursor=5,
            done=False,
        )
    )


def assert_neither(backend: Backend) -> None:
    """No row of the page and no move of the cursor; the next attempt stores both."""
    if not backend.is_postgres:
        assert backend.sql("PRAGMA quick_check") == [("ok",)]
    with backend.open() as store:
        batch, _ = running(store)
        rows = store.table_rows("alice", "res_partner")
        assert (batch.cursor, batch.synced, batch.pages, len(rows)) == (0, 0, 0, 0), (
            f"cursor {batch.cursor} (synced {batch.synced}) with {len(rows)} rows stored"
        )
        store_first_page(store)  # the page is read again and stored: nothing in the way
        batch, _ = running(store)
        assert (batch.cursor, batch.synced) == (5, 5)
        assert [r["id"] for r in store.table_rows("alice", "res_partner")] == [1, 2, 3, 4, 5]


def pg_trigger(backend: Backend, table: str, event: str, body: str) -> None:
    """A trigger on a table (PostgreSQL has no temporary ones): every session fires it, once per
    statement."""
    backend.sql(
        "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {body}; RETURN NULL; END $$"
    )
    backend.sql(
        f"CREATE TRIGGER injected AFTER {event} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION injected()"
    )


def pg_disarm(backend: Backend, table: str) -> None:
    backend.sql(f"DROP TRIGGER injected ON {table}")
    backend.sql("DROP FUNCTION injected()")


@pytest.mark.parametrize("where", [AT_ROWS, AT_CURSOR], ids=["at-rows", "at-cursor"])
def test_a_failure_inside_the_page_transaction_leaves_neither_rows_nor_cursor(
    backend: Backend, where: tuple[str, str]
) -> None:
    setup_batch(backend)
    table, event = where
    if backend.is_postgres:
        pg_trigger(backend, table, event, "RAISE EXCEPTION 'injected failure'")
        with backend.open() as store, pytest.raises(StoreError, match="injected failure"):
            store_first_page(store)
        pg_disarm(backend, table)
    else:
        with SqliteMirror.open(backend.path) as sqlite_store:
            sqlite_store.conn.execute(
                f"CREATE TEMP TRIGGER injected AFTER {event} ON main.{table} "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
            with pytest.raises(StoreError, match="injected failure"):
                store_first_page(sqlite_store)
    assert_neither(backend)


# Run in a child process: open the store, arm a trigger that SIGKILLs the process, store a page.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_page_atomicity import store_first_page
    from odoo_sync_cli.mirror.sqlite import SqliteMirror

    store = SqliteMirror.open(Path({db!r}))
    store.conn.create_function("die", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
    store.conn.execute(
        "CREATE TEMP TRIGGER injected AFTER {event} ON main.{table} BEGIN SELECT die(); END"
    )
    store_first_page(store)
    print("the page was stored: the trigger never fired")
    """
)
# The same in PostgreSQL: the child says which server process is its own, and the test kills
# the child while the trigger holds the page's transaction open.
PG_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_page_atomicity import store_first_page
    from odoo_sync_cli import mirror
    from odoo_sync_cli.config import Settings

    store = mirror.open_mirror(Settings(db={db!r}, pg_schema={schema!r}))
    print(store.conn.info.backend_pid, flush=True)
    store_first_page(store)
    print("the page was stored: the test was too late")
    """
)


@pytest.mark.parametrize("where", [AT_ROWS, AT_CURSOR], ids=["at-rows", "at-cursor"])
def test_a_kill_inside_the_page_transaction_leaves_neither_rows_nor_cursor(
    backend: Backend, where: tuple[str, str]
) -> None:
    setup_batch(backend)
    table, event = where
    tests = str(Path(__file__).parent)
    if not backend.is_postgres:
        script = CHILD.format(tests=tests, db=backend.db, table=table, event=event)
        child = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
        )
        assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
        assert_neither(backend)
        return
    pg_trigger(backend, table, event, "PERFORM pg_sleep(2)")
    script = PG_CHILD.format(tests=tests, db=backend.db, schema=backend.schema)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        deadline = time.monotonic() + 20
        while backend.sql("SELECT wait_event FROM pg_stat_activity WHERE pid = ?", (pid,)) != [
            ("PgSleep",)
        ]:
            assert time.monotonic() < deadline, "the child never reached the trigger"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=20) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    pg_disarm(backend, table)
    assert_neither(backend)

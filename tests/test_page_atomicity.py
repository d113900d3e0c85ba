"""A page's rows and the cursor that follows them commit together, or not at all.

Failures are injected inside SQLite itself, by temporary triggers on the store's own connection:
one fires while the page's rows are written, the other while the batch's cursor is. Each either
raises (an error the process survives) or kills the process with SIGKILL on the spot (a crash),
and afterwards the database must hold neither the rows nor the new cursor. Both places are
needed: whichever of the two writes came first in a transaction of its own would be left behind
by a failure in the other.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.base import Page
from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.models import FULL, Batch, Lease, ModulePlan, PlannedBatch, SecretLocation

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


def setup_batch(db: Path) -> None:
    """A user with one running full batch of contacts, its cursor at 0, and an empty mirror."""
    with SqliteMirror.open(db, create=True) as store:
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


def running(store: SqliteMirror) -> tuple[Batch, TableSpec]:
    batch = store.next_batch("alice")
    assert batch is not None and batch.status == "running"
    return batch, store.table_spec("res_partner", list(FIELDS))


def store_first_page(store: SqliteMirror) -> None:
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


def assert_neither(db: Path) -> None:
    """No row of the page and no move of the cursor; the next attempt stores both."""
    with SqliteMirror.open(db) as store:
        assert store.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        batch, _ = running(store)
        rows = store.table_rows("alice", "res_partner")
        assert (batch.cursor, batch.synced, batch.pages, len(rows)) == (0, 0, 0, 0), (
            f"cursor {batch.cursor} (synced {batch.synced}) with {len(rows)} rows stored"
        )
        store_first_page(store)  # the page is read again and stored: nothing in the way
        batch, _ = running(store)
        assert (batch.cursor, batch.synced) == (5, 5)
        assert [r["id"] for r in store.table_rows("alice", "res_partner")] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("where", [AT_ROWS, AT_CURSOR], ids=["at-rows", "at-cursor"])
def test_a_failure_inside_the_page_transaction_leaves_neither_rows_nor_cursor(
    tmp_path: Path, where: tuple[str, str]
) -> None:
    db = tmp_path / "odoosync.db"
    setup_batch(db)
    table, event = where
    with SqliteMirror.open(db) as store:
        store.conn.execute(
            f"CREATE TEMP TRIGGER injected AFTER {event} ON main.{table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        with pytest.raises(StoreError, match="injected failure"):
            store_first_page(store)
    assert_neither(db)


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


@pytest.mark.parametrize("where", [AT_ROWS, AT_CURSOR], ids=["at-rows", "at-cursor"])
def test_a_kill_inside_the_page_transaction_leaves_neither_rows_nor_cursor(
    tmp_path: Path, where: tuple[str, str]
) -> None:
    db = tmp_path / "odoosync.db"
    setup_batch(db)
    table, event = where
    script = CHILD.format(tests=str(Path(__file__).parent), db=str(db), table=table, event=event)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert_neither(db)

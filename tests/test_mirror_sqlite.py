"""What only the SQLite backend has: one private file in WAL mode, its errors, leases of
processes on this machine, and mirrors written by older versions."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror import base as mirror_base
from odoo_sync_cli.mirror.base import Page
from odoo_sync_cli.mirror.sqlite import MIGRATIONS, SqliteMirror
from odoo_sync_cli.mirror.sqlite import connection as sqlite_connection
from odoo_sync_cli.models import DONE, FULL, NOT_STARTED, Lease, PlannedBatch, SecretLocation
from tests.test_mirror_store import OWNER, PARTNER_FIELDS, TTL, partner, running


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "odoosync.db"


@pytest.fixture
def store(db_path: Path) -> Any:
    with SqliteMirror.open(db_path, create=True) as s:
        s.add_user(
            name="alice",
            url="http://127.0.0.1:1",
            database="odoo",
            login="admin",
            protocol="auto",
            location=SecretLocation("file", "alice@0123456789abcdef"),
        )
        yield s


def test_missing_file_is_not_created(db_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SqliteMirror.open(db_path)
    assert not db_path.exists()
    assert not db_path.parent.exists()


def test_new_file_is_private_wal_and_migrated(db_path: Path) -> None:
    with SqliteMirror.open(db_path, create=True) as s:
        assert s.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    with SqliteMirror.open(db_path) as s:  # reopening applies nothing twice
        assert s.applied_migrations() == [name for name, _ in MIGRATIONS]


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all, just some text " * 40)
    before = junk.read_bytes()
    with pytest.raises(StoreError, match="not an odoosync database"):
        SqliteMirror.open(junk)
    assert junk.read_bytes() == before


def test_foreign_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not an odoosync database"):
        SqliteMirror.open(other)
    with sqlite3.connect(other) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert names == ["t"]


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SqliteMirror.open(tmp_path, create=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attempt to write a readonly database", "is read-only"),
        ("database is locked", "is locked by another process"),
        ("database or disk is full", "the disk is full"),
        ("unable to open database file", "cannot open"),
        ("file is not a database", "not an odoosync database"),
        ("disk I/O error", "disk I/O error"),
        ("something else", "database error on"),
    ],
)
def test_sqlite_errors_become_store_errors_with_a_hint(text: str, expected: str) -> None:
    error = sqlite_connection.describe(sqlite3.OperationalError(text), Path("/x/odoosync.db"))
    assert expected in str(error)
    assert error.hint


def test_a_locked_database_is_a_store_error(store: SqliteMirror, db_path: Path) -> None:
    store.conn.execute("PRAGMA busy_timeout = 50")
    with SqliteMirror.open(db_path) as other:
        other.conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            store.set_status("alice", DONE)
        other.conn.execute("ROLLBACK")
    assert store.get_user("alice").status == NOT_STARTED  # type: ignore[union-attr]


def test_what_has_not_changed_is_not_written(store: SqliteMirror, db_path: Path) -> None:
    # Another process holds the writer: a call that would take it meets "locked" at once.
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    store.set_server_info("alice", server_version="19.0", protocol_used="json2")
    store.acquire_lease("alice", OWNER, TTL)
    store.conn.execute("PRAGMA busy_timeout = 50")
    with SqliteMirror.open(db_path) as other:
        other.conn.execute("BEGIN IMMEDIATE")
        assert store.ensure_table("res.partner", PARTNER_FIELDS) == spec
        store.set_server_info("alice", server_version="19.0", protocol_used="json2")
        store.release_lease("alice", "elsewhere:1:x")  # not the holder: nothing to release
        with pytest.raises(StoreError, match="locked"):
            store.ensure_table("res.partner", {**PARTNER_FIELDS, "ref": "char"})
        with pytest.raises(StoreError, match="locked"):
            store.set_server_info("alice", server_version="19.0+e", protocol_used="json2")
        with pytest.raises(StoreError, match="locked"):
            store.release_lease("alice", OWNER)
        other.conn.execute("ROLLBACK")
    alice = store.get_user("alice")
    assert alice is not None and alice.server_version == "19.0"
    assert store.holders() == {"alice": OWNER}


def test_threads_of_one_process_take_turns_at_the_writer(db_path: Path, store: Any) -> None:
    # With no busy wait at all, only the per-file writer lock keeps the threads' connections
    # from meeting "database is locked": each waits for the lock, never for SQLite.
    store.add_user(
        name="bob",
        url="http://127.0.0.1:1",
        database="odoo",
        login="admin",
        protocol="auto",
        location=SecretLocation("env", "BOB_KEY"),
    )
    link = db_path.parent / "link.db"
    link.symlink_to(db_path)
    errors: list[BaseException] = []
    ready = threading.Barrier(6)

    def work(i: int) -> None:
        try:
            with SqliteMirror.open(db_path if i % 2 else link) as s:
                s.conn.execute("PRAGMA busy_timeout = 0")
                ready.wait()
                for n in range(40):
                    s.record_error("alice" if i % 2 else "bob", f"thread {i} write {n}")
        except BaseException as exc:  # any thread's failure is the test's
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sqlite_connection.writer_lock(link) is sqlite_connection.writer_lock(db_path)
    assert sqlite_connection.writer_lock(db_path.parent / "other.db") is not (
        sqlite_connection.writer_lock(db_path)
    )
    assert store.get_user("bob").last_error.startswith("thread ")  # type: ignore[union-attr]


def test_sqlite_column_types(store: SqliteMirror) -> None:
    store.ensure_table("res.partner", PARTNER_FIELDS)
    types = {r[1]: r[2] for r in store.conn.execute("PRAGMA table_info(res_partner)")}
    assert types["user"] == "TEXT" and types["id"] == "INTEGER"
    assert types["parent_id"] == "INTEGER" and types["parent_id_name"] == "TEXT"
    assert types["child_ids"] == "TEXT" and types["credit_limit"] == "REAL"
    assert types["active"] == "INTEGER" and types["date"] == "TEXT"
    assert {"_write_date", "_synced_at", "_deleted_at"} <= set(types)
    pk = [
        r[1]
        for r in sorted(store.conn.execute("PRAGMA table_info(res_partner)"), key=lambda r: r[5])
        if r[5]
    ]
    assert pk == ["user", "id"]


def test_lease_of_a_dead_process_or_expired_is_taken_over(store: SqliteMirror) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{mirror_base.socket.gethostname()}:{proc.stdout.strip()}:dead"
    store.acquire_lease("alice", dead, TTL)
    assert store.holders() == {}, "a dead process holds nothing"
    store.acquire_lease("alice", OWNER, TTL)
    far = "elsewhere:1:x"
    store.release_lease("alice", OWNER)
    store.acquire_lease("alice", far, -1.0)  # already expired
    assert store.holders() == {}
    store.acquire_lease("alice", OWNER, TTL)


def test_old_x2many_rows_are_normalised(store: SqliteMirror) -> None:
    db_path = store.path
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    batch = running(
        store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=2)]
    )
    store.write_page(
        Page(
            Lease("alice", OWNER, TTL),
            batch,
            spec,
            [partner(1, child_ids=[9, 3, 7]), partner(2, category_id=[5, 1])],
            cursor=2,
            done=False,
        )
    )
    store.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    rows = "SELECT id, child_ids, category_id FROM res_partner ORDER BY id"
    # A mirror written before the canonical form kept Odoo's order of the time.
    conn.execute(
        "UPDATE res_partner SET child_ids = '[9, 3, 7]', category_id = '[5,1]' WHERE id = 1"
    )
    conn.execute("UPDATE res_partner SET category_id = NULL WHERE id = 2")
    conn.execute("DELETE FROM _odoosync_migrations WHERE name = 'm004_x2many_sorted'")
    conn.close()
    with SqliteMirror.open(db_path) as s:
        assert "m004_x2many_sorted" in s.applied_migrations()
        assert s.conn.execute(rows).fetchall() == [
            (1, "[3, 7, 9]", "[1, 5]"),
            (2, "[102, 103]", None),
        ]

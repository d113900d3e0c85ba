"""The SQLite backend: file, migrations, users, leases, mirror tables, and one-transaction pages."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odoo_sync_cli.errors import LeaseError, StoreError
from odoo_sync_cli.mirror import base as mirror_base
from odoo_sync_cli.mirror import codec
from odoo_sync_cli.mirror.base import Page, ReconcilePage
from odoo_sync_cli.mirror.codec import FieldColumn, TableSpec, record_to_row, row_to_record
from odoo_sync_cli.mirror.sqlite import MIGRATIONS, SqliteMirror
from odoo_sync_cli.mirror.sqlite import connection as sqlite_connection
from odoo_sync_cli.models import (
    DONE,
    FULL,
    IDLE,
    IN_PROGRESS,
    NO_SECRET,
    NOT_STARTED,
    RECONCILE,
    Batch,
    Lease,
    ModulePlan,
    PlannedBatch,
    SecretLocation,
)

OWNER = mirror_base.lease_owner_id()
TTL = 60.0

PARTNER_FIELDS = {
    "id": "integer",
    "name": "char",
    "active": "boolean",
    "write_date": "datetime",
    "parent_id": "many2one",
    "child_ids": "one2many",
    "category_id": "many2many",
    "credit_limit": "float",
    "color": "integer",
    "date": "date",
    "comment": "html",
    "type": "selection",
    "props": "json",
}


def partner(i: int, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": i,
        "name": f"Partner {i}",
        "active": True,
        "write_date": "2026-01-01 00:00:00",
        "parent_id": [1, "Parent"] if i > 1 else False,
        "child_ids": [i + 100, i + 101],
        "category_id": [],
        "credit_limit": 1.5 * i,
        "color": 0,
        "date": False,
        "comment": "<p>hi</p>",
        "type": "contact",
        "props": False,
    }
    rec.update(over)
    return rec


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
        s.add_user(
            name="bob",
            url="http://127.0.0.1:1",
            database="odoo",
            login="admin",
            protocol="jsonrpc",
            location=SecretLocation("env", "BOB_KEY"),
        )
        yield s


def plan(
    s: SqliteMirror, user: str, batches: list[PlannedBatch], *, table: str = "res_partner"
) -> None:
    s.acquire_lease(user, OWNER, TTL)
    fields = tuple(PARTNER_FIELDS)
    s.save_plan(
        user,
        OWNER,
        TTL,
        [
            ModulePlan(
                "contacts",
                "res.partner",
                table,
                fields=fields,
                candidate="2026-01-02 00:00:00",
                count=10,
            )
        ],
        batches,
    )


# --- the file ---------------------------------------------------------------------------------


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


def test_database_from_a_newer_odoosync(db_path: Path) -> None:
    SqliteMirror.open(db_path, create=True).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO _odoosync_migrations VALUES ('m999_future', 'x')")
    with pytest.raises(StoreError, match="newer odoosync"):
        SqliteMirror.open(db_path)


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


def test_threads_of_one_process_take_turns_at_the_writer(db_path: Path, store: Any) -> None:
    # With no busy wait at all, only the per-file writer lock keeps the threads' connections
    # from meeting "database is locked": each waits for the lock, never for SQLite.
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


# --- users --------------------------------------------------------------------------------------


def test_users(store: SqliteMirror) -> None:
    alice = store.get_user("alice")
    assert alice is not None
    assert alice.status == NOT_STARTED
    assert alice.secret_source == "file"
    assert "alice@0123456789abcdef" not in repr(alice)
    assert alice.credential.location == SecretLocation("file", "alice@0123456789abcdef")
    bob = store.get_user("bob")
    assert bob is not None and bob.secret_source == "env:BOB_KEY"
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    with pytest.raises(StoreError, match="already exists"):
        store.add_user(
            name="alice",
            url="u",
            database="d",
            login="l",
            protocol="auto",
            location=NO_SECRET,
        )


def test_the_users_table_holds_locations_not_secrets(store: SqliteMirror) -> None:
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(_odoosync_users)")]
    assert "secret" not in columns and "secret_env" not in columns
    raw = store.conn.execute(
        "SELECT secret_store, secret_ref FROM _odoosync_users WHERE name = 'bob'"
    )
    assert raw.fetchone() == ("env", "BOB_KEY")
    assert store.plain_secrets() == []
    assert not store.scrub_pending()
    assert len(store.mirror_id()) == 16


def test_status_and_errors(store: SqliteMirror) -> None:
    store.set_status("alice", "failed", error="boom")
    alice = store.get_user("alice")
    assert alice is not None and (alice.status, alice.last_error) == ("failed", "boom")
    assert alice.last_error_at is not None
    with pytest.raises(ValueError, match="unknown status"):
        store.set_status("alice", "sleeping")


# --- leases -------------------------------------------------------------------------------------


def test_lease_excludes_a_live_process(store: SqliteMirror) -> None:
    store.acquire_lease("alice", OWNER, TTL)
    store.acquire_lease("alice", OWNER, TTL)  # re-entrant for the same owner
    other = mirror_base.lease_owner_id()  # same pid, so alive
    with pytest.raises(LeaseError, match="another odoosync process"):
        store.acquire_lease("alice", other, TTL)
    store.release_lease("alice", OWNER)
    store.acquire_lease("alice", other, TTL)


def test_lease_of_a_dead_process_or_expired_is_taken_over(store: SqliteMirror) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{mirror_base.socket.gethostname()}:{proc.stdout.strip()}:dead"
    store.acquire_lease("alice", dead, TTL)
    store.acquire_lease("alice", OWNER, TTL)
    far = "elsewhere:1:x"
    store.release_lease("alice", OWNER)
    store.acquire_lease("alice", far, -1.0)  # already expired
    store.acquire_lease("alice", OWNER, TTL)


# --- mirror tables ------------------------------------------------------------------------------


def test_ensure_table_maps_types_to_columns(store: SqliteMirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    assert spec.table == "res_partner"
    assert spec.fields == list(PARTNER_FIELDS)
    cols = {c.field: c for c in spec.columns}
    assert (cols["parent_id"].column, cols["parent_id"].name_column) == (
        "parent_id",
        "parent_id_name",
    )
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


def test_new_server_fields_add_columns_and_names_never_collide(store: SqliteMirror) -> None:
    store.ensure_table("res.partner", {"id": "integer", "company_id": "many2one"})
    spec = store.ensure_table(
        "res.partner",
        {"id": "integer", "company_id": "many2one", "company_id_name": "char", "user": "char"},
    )
    cols = {c.field: c for c in spec.columns}
    assert cols["company_id"].name_column == "company_id_name"
    assert cols["company_id_name"].column == "company_id_name_2"
    assert cols["user"].column == "user_2"
    names = [r[1] for r in store.conn.execute("PRAGMA table_info(res_partner)")]
    assert len(names) == len(set(names))


def test_type_changes(store: SqliteMirror) -> None:
    store.ensure_table("res.partner", {"id": "integer", "ref": "char", "x": "char"})
    spec = store.ensure_table("res.partner", {"id": "integer", "ref": "text"})
    assert spec.columns[1].type == "text"
    with pytest.raises(StoreError, match="changed type"):
        store.ensure_table("res.partner", {"id": "integer", "x": "many2one"})


@given(
    name=st.one_of(st.just(False), st.text(max_size=20)),
    parent=st.one_of(st.just(False), st.tuples(st.integers(1, 10**9), st.text(max_size=10))),
    children=st.lists(st.integers(1, 10**9), max_size=5),
    limit=st.floats(allow_nan=False, allow_infinity=False, width=64),
    color=st.integers(-(2**62), 2**62),
    active=st.booleans(),
    props=st.one_of(st.just(False), st.dictionaries(st.text(max_size=5), st.integers())),
)
def test_rows_round_trip_to_records(
    name: Any, parent: Any, children: list[int], limit: float, color: int, active: bool, props: Any
) -> None:
    columns = []
    taken: set[str] = set()
    for f, t in PARTNER_FIELDS.items():
        columns.append(
            FieldColumn(
                f, t, f, codec.allocate_column(f"{f}_name", taken) if t == "many2one" else None
            )
        )
    spec = TableSpec("res_partner", "res.partner", tuple(columns))
    rec = partner(
        7,
        name=name,
        parent_id=list(parent) if parent else False,
        child_ids=children,
        credit_limit=limit,
        color=color,
        active=active,
        props=props,
    )
    back = row_to_record(spec, record_to_row(spec, rec))
    # x2many come back as their set, ascending: the one form the mirror keeps.
    assert back == {**rec, "child_ids": sorted(children)}
    assert record_to_row(spec, back) == record_to_row(spec, rec)


# --- pages, atomically --------------------------------------------------------------------------


def test_store_page_refuses_a_stale_batch_and_a_lost_lease(store: SqliteMirror) -> None:
    """The guards of a page's transaction (its atomicity: tests/test_page_atomicity.py)."""
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=3)])
    batch = store.next_batch("alice")
    assert batch is not None and batch.status == "pending"
    store.start_batch(batch.id, OWNER, "alice", TTL)
    batch = store.next_batch("alice")
    assert batch is not None
    store.write_page(
        Page(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=[partner(1), partner(2)],
            cursor=2,
            done=False,
        )
    )
    after = store.next_batch("alice")
    assert after is not None and (after.cursor, after.synced, after.pages) == (2, 2, 1)
    # Storing from the stale batch (cursor 0) again must fail and leave nothing behind.
    with pytest.raises(StoreError, match="moved on"):
        store.write_page(
            Page(
                lease=Lease("alice", OWNER, TTL),
                batch=batch,
                spec=spec,
                records=[partner(3, name="should not land")],
                cursor=3,
                done=True,
            )
        )
    assert [r["id"] for r in store.read_records("alice", "res_partner")] == [1, 2]
    # A process that lost the lease cannot commit either.
    with pytest.raises(LeaseError):
        store.write_page(
            Page(
                lease=Lease("alice", "someone-else", TTL),
                batch=after,
                spec=spec,
                records=[partner(3)],
                cursor=3,
                done=True,
            )
        )
    assert store.mirrored_count("alice", "res_partner") == 2
    store.write_page(
        Page(
            lease=Lease("alice", OWNER, TTL),
            batch=after,
            spec=spec,
            records=[partner(3)],
            cursor=3,
            done=True,
        )
    )
    assert store.next_batch("alice") is None
    assert store.read_records("alice", "res_partner") == [partner(1), partner(2), partner(3)]


def test_damaged_cursor_is_caught_when_read(store: SqliteMirror) -> None:
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 10, 20, expected=3)])
    store.conn.execute("UPDATE _odoosync_batches SET cursor = 25")
    with pytest.raises(StoreError, match="damaged: stored cursor 25 is past"):
        store.next_batch("alice")


def test_fail_and_requeue(store: SqliteMirror) -> None:
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 0, None)])
    batch = store.next_batch("alice")
    assert batch is not None
    store.fail_batch(batch.id, "alice", "server down")
    alice = store.get_user("alice")
    assert alice is not None and (alice.status, alice.last_error) == ("failed", "server down")
    assert store.batches("alice")[0].status == "failed"
    assert store.requeue_failed("alice") == 1
    assert store.batches("alice")[0].status == "pending"
    assert store.get_user("alice").status == IN_PROGRESS  # type: ignore[union-attr]


def test_reconcile_page_marks_gone_and_restores_within_bounds(store: SqliteMirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", RECONCILE)])
    batch = store.next_batch("alice")
    assert batch is not None
    store.start_batch(batch.id, OWNER, "alice", TTL)
    batch = store.next_batch("alice")
    assert batch is not None
    seed_spec = spec
    # Mirror holds 1..6; the server lists 1, 2, 4 in the first page (hi 4) and 6, 7 later.
    store.conn.execute("BEGIN IMMEDIATE")
    store._write_rows("alice", seed_spec, [partner(i) for i in range(1, 7)], "t0")
    store._write_rows("bob", seed_spec, [partner(3)], "t0")
    store.conn.execute("COMMIT")
    assert store.missing_ids("alice", "res_partner", [1, 2, 4, 7]) == [7]
    gone = store.reconcile_page(
        ReconcilePage(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=[],
            cursor=4,
            done=False,
            server_ids=[1, 2, 4],
            hi_id=4,
            hard_delete=False,
        )
    )
    assert gone == 1  # id 3; ids 5 and 6 lie beyond this page
    live = [r["id"] for r in store.read_records("alice", "res_partner")]
    assert live == [1, 2, 4, 5, 6]
    assert [r["id"] for r in store.read_records("bob", "res_partner")] == [3]
    batch = store.next_batch("alice")
    assert batch is not None and batch.cursor == 4
    # Last page: 6 and 7 listed, 7 was missing and is stored, 5 is gone.
    assert store.missing_ids("alice", "res_partner", [6, 7]) == [7]
    gone = store.reconcile_page(
        ReconcilePage(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=[partner(7)],
            cursor=7,
            done=True,
            server_ids=[6, 7],
            hi_id=None,
            hard_delete=False,
        )
    )
    assert gone == 1
    assert [r["id"] for r in store.read_records("alice", "res_partner")] == [1, 2, 4, 6, 7]
    deleted = [r for r in store.table_rows("alice", "res_partner") if r["_deleted_at"]]
    assert [r["id"] for r in deleted] == [3, 5]
    # A tombstoned id that comes back is missing again, and storing it revives it.
    assert store.missing_ids("alice", "res_partner", [3]) == [3]
    assert store.batches("alice")[0].restored == 1  # id 7
    store.write_page(
        Page(
            lease=Lease("alice", OWNER, TTL),
            batch=_fresh_running_batch(store, "alice"),
            spec=spec,
            records=[partner(3, name="Back again")],
            cursor=3,
            done=True,
        )
    )
    assert store.missing_ids("alice", "res_partner", [3]) == []
    revived = {r["id"]: r for r in store.read_records("alice", "res_partner")}[3]
    assert revived["name"] == "Back again"


def _fresh_running_batch(store: SqliteMirror, user: str) -> Batch:
    """A new one-batch plan for ``user``, started."""
    plan(store, user, [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=1)])
    batch = store.next_batch(user)
    assert batch is not None
    store.start_batch(batch.id, OWNER, user, TTL)
    batch = store.next_batch(user)
    assert batch is not None and batch.status == "running"
    return batch


def test_hard_delete(store: SqliteMirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", RECONCILE)])
    batch = store.next_batch("alice")
    assert batch is not None
    store.start_batch(batch.id, OWNER, "alice", TTL)
    batch = store.next_batch("alice")
    assert batch is not None
    store.conn.execute("BEGIN IMMEDIATE")
    store._write_rows("alice", spec, [partner(1), partner(2)], "t0")
    store._write_rows("bob", spec, [partner(1), partner(3)], "t0")
    store.conn.execute("COMMIT")
    store.reconcile_page(
        ReconcilePage(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=[],
            cursor=2,
            done=True,
            server_ids=[2],
            hi_id=None,
            hard_delete=True,
        )
    )
    assert [r["id"] for r in store.table_rows("alice", "res_partner")] == [2]
    # Another user's rows in the same ids are another server's records: untouched.
    assert [r["id"] for r in store.table_rows("bob", "res_partner")] == [1, 3]


def test_finish_sync_moves_the_high_water_mark(store: SqliteMirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL)])
    with pytest.raises(StoreError, match="unfinished"):
        store.finish_sync("alice", OWNER, TTL)
    planned = store.module_row("alice", "contacts")
    assert planned is not None
    assert (planned.high_water, planned.candidate) == (None, "2026-01-02 00:00:00"), (
        "the mark moves only when the sync is done"
    )
    batch = store.next_batch("alice")
    assert batch is not None
    store.start_batch(batch.id, OWNER, "alice", TTL)
    batch = store.next_batch("alice")
    assert batch is not None
    store.write_page(
        Page(
            lease=Lease("alice", OWNER, TTL),
            batch=batch,
            spec=spec,
            records=[],
            cursor=0,
            done=True,
        )
    )
    store.finish_sync("alice", OWNER, TTL)
    row = store.module_row("alice", "contacts")
    assert row is not None
    assert (row.high_water, row.candidate, row.syncs, row.in_plan) == (
        "2026-01-02 00:00:00",
        None,
        1,
        False,
    )
    alice = store.get_user("alice")
    assert alice is not None and alice.status == DONE and alice.last_success
    progress = store.progress("alice")
    assert [(p.module, p.batches_done, p.batches_total) for p in progress] == [("contacts", 1, 1)]


def test_clear_and_remove_touch_one_user(store: SqliteMirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    store.conn.execute("BEGIN IMMEDIATE")
    store._write_rows("alice", spec, [partner(1), partner(2)], "t0")
    store._write_rows("bob", spec, [partner(1)], "t0")
    store.conn.execute("COMMIT")
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL)])
    counts = store.clear("alice", module="contacts", table="res_partner")
    assert (counts.records, counts.batches) == (2, 1)
    assert store.module_row("alice", "contacts") is None
    assert store.get_user("alice").status == IN_PROGRESS  # type: ignore[union-attr]
    counts = store.clear("alice")
    assert store.get_user("alice").status == IDLE  # type: ignore[union-attr]
    assert store.mirrored_count("bob", "res_partner") == 1
    counts = store.remove_user("bob")
    assert counts.records == 1
    assert store.get_user("bob") is None
    assert store.mirrored_count("bob", "res_partner") == 0


def test_module_domain_is_kept_with_the_plan(store: SqliteMirror) -> None:
    store.acquire_lease("alice", OWNER, TTL)
    store.save_plan(
        "alice",
        OWNER,
        TTL,
        [ModulePlan("invoices", "account.move", "account_move", domain=[["move_type", "=", "x"]])],
        [],
    )
    row = store.module_row("alice", "invoices")
    assert row is not None and row.domain_list() == [["move_type", "=", "x"]]
    assert json.loads(row.domain) == [["move_type", "=", "x"]]
    assert os.path.exists(store.path)


def test_x2many_are_stored_ascending_and_old_rows_are_normalised(store: SqliteMirror) -> None:
    """One canonical form: the same set always gives the same bytes, older mirrors included."""
    db_path = store.path
    with store as s:
        spec = s.ensure_table("res.partner", PARTNER_FIELDS)
        plan(s, "alice", [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=2)])
        batch = s.next_batch("alice")
        assert batch is not None
        s.start_batch(batch.id, OWNER, "alice", TTL)
        batch = s.next_batch("alice")
        assert batch is not None
        s.write_page(
            Page(
                lease=Lease("alice", OWNER, TTL),
                batch=batch,
                spec=spec,
                records=[partner(1, child_ids=[9, 3, 7]), partner(2, category_id=[5, 1])],
                cursor=2,
                done=False,
            )
        )
    conn = sqlite3.connect(db_path, isolation_level=None)
    rows = "SELECT id, child_ids, category_id FROM res_partner ORDER BY id"
    assert conn.execute(rows).fetchall() == [(1, "[3, 7, 9]", "[]"), (2, "[102, 103]", "[1, 5]")]
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

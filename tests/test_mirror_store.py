"""The store, on both backends: users, leases, mirror tables, and one-transaction pages.

Every test runs once on a SQLite file and once on a schema of a real PostgreSQL
(``backend`` fixture); what only one backend has is in test_mirror_sqlite.py and
test_mirror_postgres.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo_sync_cli.errors import LeaseError, StoreError
from odoo_sync_cli.mirror import Mirror, codec
from odoo_sync_cli.mirror import base as mirror_base
from odoo_sync_cli.mirror.base import Page, ReconcilePage
from odoo_sync_cli.mirror.codec import FieldColumn, TableSpec, record_to_row, row_to_record
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
from tests.backends import Backend

OWNER = mirror_base.lease_owner_id()
TTL = 60.0
MIGRATION_NAMES = [
    "m001_initial",
    "m002_user_insecure",
    "m003_secret_locations",
    "m004_x2many_sorted",
    "m005_batch_restored",
    "m006_history_and_comodels",
    "m007_module_names",
    "m008_reconcile_timing",
]

PARTNER_FIELDS = {
    "id": "integer",
    "name": "char",
    "active": "boolean",
    "write_date": "datetime",
    "parent_id": "many2one",
    "child_ids": "one2many",
    "category_id": "many2many",
    "credit_limit": "float",
    "balance": "monetary",
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
        "balance": 0.1 * i,
        "color": 0,
        "date": False,
        "comment": "<p>hi</p>",
        "type": "contact",
        "props": False,
    }
    rec.update(over)
    return rec


@pytest.fixture
def store(backend: Backend) -> Iterator[Mirror]:
    with backend.open(create=True) as s:
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


def plan(s: Mirror, user: str, batches: list[PlannedBatch], *, table: str = "res_partner") -> None:
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


def running(s: Mirror, user: str, batches: list[PlannedBatch]) -> Batch:
    """A new plan for ``user`` whose first batch is started."""
    plan(s, user, batches)
    batch = s.next_batch(user)
    assert batch is not None and batch.status == "pending"
    s.start_batch(batch.id, OWNER, user, TTL)
    batch = s.next_batch(user)
    assert batch is not None and batch.status == "running"
    return batch


def seed(s: Mirror, user: str, spec: TableSpec, records: list[dict[str, Any]]) -> None:
    """Store ``records`` for ``user`` through a one-page full batch of its own."""
    batch = running(s, user, [PlannedBatch("contacts", "res.partner", FULL, expected=1)])
    s.write_page(Page(Lease(user, OWNER, TTL), batch, spec, records, cursor=10**9, done=True))


# --- the database --------------------------------------------------------------------------------


def test_a_new_mirror_records_the_same_named_migrations(backend: Backend) -> None:
    with backend.open(create=True) as s:
        assert s.applied_migrations() == MIGRATION_NAMES
        assert len(s.mirror_id()) == 16
    with backend.open() as s:  # reopening applies nothing twice
        assert s.applied_migrations() == MIGRATION_NAMES
    names = [r[0] for r in backend.sql("SELECT name FROM _odoosync_migrations ORDER BY name")]
    assert names == MIGRATION_NAMES


def test_a_mirror_from_a_newer_odoosync_is_refused(backend: Backend) -> None:
    backend.open(create=True).close()
    backend.sql(
        "INSERT INTO _odoosync_migrations (name, applied_at) "
        "VALUES ('m999_future', '2030-01-01T00:00:00Z')"
    )
    with pytest.raises(StoreError, match="newer odoosync"):
        backend.open()


def test_a_missing_mirror_is_not_created(backend: Backend) -> None:
    with pytest.raises(StoreError, match=r"does not exist|no odoosync mirror"):
        backend.open()
    backend.open(create=True).close()
    backend.open().close()


# --- users --------------------------------------------------------------------------------------


def test_users(store: Mirror) -> None:
    alice = store.get_user("alice")
    assert alice is not None
    assert alice.status == NOT_STARTED
    assert alice.secret_source == "file"
    assert "alice@0123456789abcdef" not in repr(alice)
    assert alice.credential.location == SecretLocation("file", "alice@0123456789abcdef")
    assert alice.created_at.endswith("Z") and alice.insecure is False
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


def test_the_users_table_holds_locations_not_secrets(store: Mirror, backend: Backend) -> None:
    rows = backend.sql("SELECT secret_store, secret_ref FROM _odoosync_users WHERE name = 'bob'")
    assert rows == [("env", "BOB_KEY")]
    if backend.is_postgres:
        columns = backend.sql(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = '_odoosync_users'",
            (backend.schema,),
        )
    else:
        columns = [(r[1],) for r in backend.sql("PRAGMA table_info(_odoosync_users)")]
    assert not {("secret",), ("secret_env",)} & set(columns)
    assert store.plain_secrets() == []
    assert not store.scrub_pending()


def test_status_and_errors(store: Mirror) -> None:
    store.set_status("alice", "failed", error="boom")
    alice = store.get_user("alice")
    assert alice is not None and (alice.status, alice.last_error) == ("failed", "boom")
    assert alice.last_error_at is not None
    with pytest.raises(ValueError, match="unknown status"):
        store.set_status("alice", "sleeping")


# --- leases -------------------------------------------------------------------------------------


def test_a_lease_excludes_another_owner_until_released(store: Mirror, backend: Backend) -> None:
    store.acquire_lease("alice", OWNER, TTL)
    store.acquire_lease("alice", OWNER, TTL)  # re-entrant for the same owner
    assert store.holders() == {"alice": OWNER}
    other = mirror_base.lease_owner_id()  # this process again: a live holder
    with pytest.raises(LeaseError, match="another odoosync process"):
        store.acquire_lease("alice", other, TTL)
    with backend.open() as elsewhere, pytest.raises(LeaseError, match="another odoosync"):
        elsewhere.acquire_lease("alice", other, TTL)
    store.release_lease("alice", OWNER)
    assert store.holders() == {}
    with backend.open() as elsewhere:
        elsewhere.acquire_lease("alice", other, TTL)
        assert store.holders() == {"alice": other}
        with pytest.raises(LeaseError):
            store.acquire_lease("alice", OWNER, TTL)


def test_the_last_commit_of_a_turn_hands_the_lease_back(store: Mirror, backend: Backend) -> None:
    other = mirror_base.lease_owner_id()
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL, expected=1)])
    assert store.holders() == {"alice": OWNER}, "a plan saved without release keeps the lease"
    store.acquire_lease("alice", OWNER, TTL)
    store.save_plan("alice", OWNER, TTL, [], [], release=True)
    assert store.holders() == {}
    with backend.open() as elsewhere:
        elsewhere.acquire_lease("alice", other, TTL)
        store.release_lease("alice", OWNER)  # released already: the other holder keeps it
        assert store.holders() == {"alice": other}
        elsewhere.release_lease("alice", other)
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    seed(store, "alice", spec, [partner(1)])
    store.finish_sync("alice", OWNER, TTL)
    assert store.holders() == {"alice": OWNER}, "a sync finished without release keeps it"
    seed(store, "alice", spec, [partner(1)])
    store.finish_sync("alice", OWNER, TTL, release=True)
    alice = store.get_user("alice")
    assert alice is not None and alice.status == DONE
    assert store.holders() == {}


def test_server_info_is_recorded_and_kept(store: Mirror) -> None:
    store.set_server_info("alice", server_version="19.0", protocol_used="json2")
    store.set_server_info("alice", server_version="19.0", protocol_used="json2")
    store.set_server_info("bob", server_version="17.0", protocol_used="jsonrpc")
    store.set_server_info("bob", server_version="17.0", protocol_used="json2")
    alice, bob = store.get_user("alice"), store.get_user("bob")
    assert alice is not None and (alice.server_version, alice.protocol_used) == ("19.0", "json2")
    assert bob is not None and (bob.server_version, bob.protocol_used) == ("17.0", "json2")


# --- mirror tables ------------------------------------------------------------------------------


def test_ensure_table_maps_fields_to_columns(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    assert spec.table == "res_partner"
    assert spec.fields == list(PARTNER_FIELDS)
    cols = {c.field: c for c in spec.columns}
    assert (cols["parent_id"].column, cols["parent_id"].name_column) == (
        "parent_id",
        "parent_id_name",
    )
    assert store.table_rows("alice", "res_partner") == []
    assert store.table_spec("res_partner", ["name", "id"]).fields == ["name", "id"]
    with pytest.raises(StoreError, match="no column for shoe_size"):
        store.table_spec("res_partner", ["shoe_size"])


def test_new_server_fields_add_columns_and_names_never_collide(store: Mirror) -> None:
    store.ensure_table("res.partner", {"id": "integer", "company_id": "many2one"})
    spec = store.ensure_table(
        "res.partner",
        {"id": "integer", "company_id": "many2one", "company_id_name": "char", "user": "char"},
    )
    cols = {c.field: c for c in spec.columns}
    assert cols["company_id"].name_column == "company_id_name"
    assert cols["company_id_name"].column == "company_id_name_2"
    assert cols["user"].column == "user_2"
    record = {"id": 1, "company_id": [3, "Co"], "company_id_name": "x", "user": "u"}
    seed(store, "alice", spec, [record])
    row = store.table_rows("alice", "res_partner")[0]
    assert (row["company_id"], row["company_id_name"], row["company_id_name_2"]) == (3, "Co", "x")
    assert (row["user"], row["user_2"]) == ("alice", "u")


def test_type_changes(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", {"id": "integer", "ref": "char", "x": "char"})
    seed(store, "alice", spec, [{"id": 1, "ref": "R1", "x": "X"}])
    spec = store.ensure_table("res.partner", {"id": "integer", "ref": "text"})
    assert spec.columns[1].type == "text"
    assert store.read_records("alice", "res_partner")[0]["ref"] == "R1"
    with pytest.raises(StoreError, match="changed type"):
        store.ensure_table("res.partner", {"id": "integer", "x": "many2one"})


def test_a_retyped_boolean_keeps_its_values(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", {"id": "integer", "flag": "integer"})
    flags = [{"id": 1, "flag": 1}, {"id": 2, "flag": 0}, {"id": 3, "flag": False}]
    seed(store, "alice", spec, flags)
    spec = store.ensure_table("res.partner", {"id": "integer", "flag": "boolean"})
    seed(store, "alice", spec, [{"id": 4, "flag": True}])
    read = {r["id"]: r["flag"] for r in store.read_records("alice", "res_partner")}
    assert read == {1: True, 2: False, 3: False, 4: True}


# Text as Odoo can hold it: PostgreSQL's text has no NUL character.
def texts(size: int) -> st.SearchStrategy[str]:
    return st.text(max_size=size).filter(lambda t: "\x00" not in t)


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(
    name=st.one_of(st.just(False), texts(20)),
    parent=st.one_of(st.just(False), st.tuples(st.integers(1, 10**9), texts(10))),
    children=st.lists(st.integers(1, 10**9), max_size=5, unique=True),
    limit=st.floats(allow_nan=False, allow_infinity=False, width=64),
    balance=st.floats(allow_nan=False, allow_infinity=False, width=64),
    color=st.integers(-(2**62), 2**62),
    active=st.booleans(),
    date=st.one_of(st.just(False), st.dates().map(lambda d: d.isoformat())),
    when=st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
    props=st.one_of(
        st.just(False),
        st.dictionaries(texts(5), st.integers(-(2**52), 2**52)),
    ),
)
def test_records_come_back_from_the_store_as_they_went_in(
    store: Mirror,
    name: Any,
    parent: Any,
    children: list[int],
    limit: float,
    balance: float,
    color: int,
    active: bool,
    date: Any,
    when: str,
    props: Any,
) -> None:
    """Through the backend's own types and back (a PostgreSQL numeric, boolean, date, array,
    jsonb...), every cell is what the codec made of the record."""
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    rec = partner(
        7,
        name=name,
        parent_id=list(parent) if parent else False,
        child_ids=children,
        credit_limit=limit,
        balance=balance,
        color=color,
        active=active,
        date=date,
        write_date=when,
        props=props,
    )
    seed(store, "alice", spec, [rec])
    stored = store.rows_by_ids("alice", "res_partner", [7])[7]
    expected = record_to_row(spec, rec)
    for column, value in expected.items():
        if column == "props" and value is not None:
            assert json.loads(stored[column]) == json.loads(value)
        else:
            assert stored[column] == value, column
    assert store.read_records("alice", "res_partner") == [{**rec, "child_ids": sorted(children)}]


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


def test_store_page_refuses_a_stale_batch_and_a_lost_lease(store: Mirror) -> None:
    """The guards of a page's transaction (its atomicity: tests/test_page_atomicity.py)."""
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    batch = running(
        store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 0, None, expected=3)]
    )
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


def test_damaged_cursor_is_caught_when_read(store: Mirror, backend: Backend) -> None:
    plan(store, "alice", [PlannedBatch("contacts", "res.partner", FULL, 10, 20, expected=3)])
    backend.sql("UPDATE _odoosync_batches SET cursor = 25")
    with pytest.raises(StoreError, match="damaged: stored cursor 25 is past"):
        store.next_batch("alice")


def test_fail_and_requeue(store: Mirror) -> None:
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


def test_reconcile_page_marks_gone_and_restores_within_bounds(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    # Mirror holds 1..6; the server lists 1, 2, 4 in the first page (hi 4) and 6, 7 later.
    seed(store, "alice", spec, [partner(i) for i in range(1, 7)])
    seed(store, "bob", spec, [partner(3)])
    batch = running(store, "alice", [PlannedBatch("contacts", "res.partner", RECONCILE)])
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
    batch = store.next_batch("alice")  # type: ignore[assignment]
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
    assert all(r["_deleted_at"].endswith("Z") for r in deleted)
    # A tombstoned id that comes back is missing again, and storing it revives it.
    assert store.missing_ids("alice", "res_partner", [3]) == [3]
    assert store.batches("alice")[0].restored == 1  # id 7
    seed(store, "alice", spec, [partner(3, name="Back again")])
    assert store.missing_ids("alice", "res_partner", [3]) == []
    revived = {r["id"]: r for r in store.read_records("alice", "res_partner")}[3]
    assert revived["name"] == "Back again"


def test_hard_delete(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    seed(store, "alice", spec, [partner(1), partner(2)])
    seed(store, "bob", spec, [partner(1), partner(3)])
    batch = running(store, "alice", [PlannedBatch("contacts", "res.partner", RECONCILE)])
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


def test_finish_sync_moves_the_high_water_mark(store: Mirror) -> None:
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
    assert row.last_synced_at is not None and row.last_synced_at.endswith("Z")
    alice = store.get_user("alice")
    assert alice is not None and alice.status == DONE and alice.last_success
    progress = store.progress("alice")
    assert [(p.module, p.batches_done, p.batches_total) for p in progress] == [("contacts", 1, 1)]


def test_clear_and_remove_touch_one_user(store: Mirror) -> None:
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    seed(store, "alice", spec, [partner(1), partner(2)])
    seed(store, "bob", spec, [partner(1)])
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


def test_module_domain_and_fields_are_kept_with_the_plan(store: Mirror) -> None:
    store.acquire_lease("alice", OWNER, TTL)
    store.save_plan(
        "alice",
        OWNER,
        TTL,
        [
            ModulePlan(
                "invoices",
                "account.move",
                "account_move",
                fields=("id", "name"),
                domain=[["move_type", "=", "x"]],
            ),
            ModulePlan("contacts", "res.partner", "res_partner"),
        ],
        [],
    )
    row = store.module_row("alice", "invoices")
    assert row is not None and row.domain_list() == [["move_type", "=", "x"]]
    assert json.loads(row.domain) == [["move_type", "=", "x"]]
    assert row.fields == ("id", "name")
    assert [m.module for m in store.module_rows("alice")] == ["invoices", "contacts"]


def test_x2many_are_stored_ascending(store: Mirror, backend: Backend) -> None:
    """One canonical form: the same set always gives the same bytes."""
    spec = store.ensure_table("res.partner", PARTNER_FIELDS)
    seed(store, "alice", spec, [partner(1, child_ids=[9, 3, 7]), partner(2, category_id=[5, 1])])
    rows = backend.sql("SELECT id, child_ids, category_id FROM res_partner ORDER BY id")
    if backend.is_postgres:
        assert rows == [(1, [3, 7, 9], []), (2, [102, 103], [1, 5])]
    else:
        assert rows == [(1, "[3, 7, 9]", "[]"), (2, "[102, 103]", "[1, 5]")]

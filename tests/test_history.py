"""History mode: every version of a record, kept in ``<table>_history`` with each page.

Three levels. The version rules of ``mirror.history`` as properties over any sequence of
observations. The SQLite backend applying them, page by page and reconcile by reconcile, with
history switched off and on, checked after every step with plain SQL: every live row has
exactly one open version holding its values, a row gone has none, versions never overlap. And
the whole sync against the simulator: renames, deletes, history turned on over an existing
mirror and off again, ``clear`` and ``user remove``.
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.base import Page, ReconcilePage
from odoo_sync_cli.mirror.history import Latest, closed_at, history_time, on_stored
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.models import FULL, RECONCILE, Lease, ModulePlan, PlannedBatch, SecretLocation
from odoo_sync_cli.progress import Note, RecordingReporter
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import history_diff

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


def stamp(seconds: int) -> str:
    """A time in Odoo's form, ``seconds`` after an arbitrary start."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- the rules, pure


@dataclass
class Version:
    number: int
    values: str
    valid_from: str
    valid_to: str | None = None


@dataclass
class Record:
    """One record's history, kept by the rules alone."""

    versions: list[Version] = field(default_factory=list)

    def latest(self, values: str) -> Latest | None:
        if not self.versions:
            return None
        v = self.versions[-1]
        return Latest(v.number, v.valid_from, v.valid_to, v.values == values)

    def stored(self, values: str, write_date: str | None, now: str) -> None:
        new = on_stored(self.latest(values), write_date, now)
        if new is None:
            return
        if new.closes:
            self.versions[-1].valid_to = new.valid_from
        self.versions.append(Version(new.number, values, new.valid_from))

    def gone(self, now: str) -> None:
        if self.versions and self.versions[-1].valid_to is None:
            last = self.versions[-1]
            last.valid_to = closed_at(last.valid_from, now)

    def check(self) -> None:
        vs = self.versions
        assert [v.number for v in vs] == list(range(1, len(vs) + 1))
        assert all(v.valid_to is not None for v in vs[:-1]), "an open version before the last"
        for v in vs:
            assert v.valid_to is None or v.valid_from <= v.valid_to, v
        for a, b in itertools.pairwise(vs):
            assert a.valid_to is not None and a.valid_to <= b.valid_from, (a, b)


observation = st.one_of(
    st.tuples(
        st.just("stored"),
        st.sampled_from(["Ann", "Bob", "Cy"]),
        st.one_of(st.none(), st.integers(0, 40)),  # the write_date, any order
        st.integers(0, 5),  # how far the sync's clock moved
    ),
    st.tuples(st.just("gone"), st.just(""), st.none(), st.integers(0, 5)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(observation, max_size=25))
def test_the_version_rules_keep_one_current_version_and_never_overlap(
    events: list[tuple[str, str, int | None, int]],
) -> None:
    record, clock, live, values = Record(), 0, False, None
    for kind, name, write_date, tick in events:
        clock += tick
        now = stamp(clock)
        before = list(record.versions)
        if kind == "stored":
            wd = None if write_date is None else stamp(write_date)
            unchanged = live and values == name
            record.stored(name, wd, now)
            last = record.versions[-1]
            assert last.valid_to is None and last.values == name
            # A record read again unchanged adds no version; anything else adds exactly one.
            assert len(record.versions) == len(before) + (0 if unchanged else 1)
            if not unchanged and wd is not None and before:
                prev = before[-1]
                bound = prev.valid_from if prev.valid_to is None else prev.valid_to
                # A change Odoo dated starts at its write_date, when that is after the bound.
                if wd > bound:
                    assert last.valid_from == wd
            if not before:
                assert last.valid_from == (wd or now)
            live, values = True, name
        else:
            record.gone(now)
            assert all(v.valid_to is not None for v in record.versions)
            assert len(record.versions) == len(before)
            if before and before[-1].valid_to is None:
                assert record.versions[-1].valid_to == max(now, before[-1].valid_from)
            live = False
        record.check()


def test_history_times_are_odoo_datetimes() -> None:
    assert history_time("2026-03-01T10:00:05Z") == "2026-03-01 10:00:05"
    assert history_time("2026-03-01 10:00:05") == "2026-03-01 10:00:05"


# --------------------------------------------------------------------------- the SQLite backend

FIELDS = {"id": "integer", "name": "char", "write_date": "datetime", "parent_id": "many2one"}
OWNER = "test-host:1:owner"
TTL = 600.0
LEASE = Lease("alice", OWNER, TTL)


def open_store(db: Path) -> SqliteMirror:
    store = SqliteMirror.open(db, create=True)
    if store.get_user("alice") is None:
        store.add_user(
            name="alice",
            url="http://127.0.0.1:1",
            database="odoo",
            login="admin",
            protocol="auto",
            location=SecretLocation("env", "ALICE_KEY"),
        )
        store.ensure_table("res.partner", FIELDS, {"parent_id": "res.partner"})
        store.acquire_lease("alice", OWNER, TTL)
    return store


def planned(store: SqliteMirror, kind: str) -> Any:
    spec = store.table_spec("res_partner", list(FIELDS))
    store.save_plan(
        "alice",
        OWNER,
        TTL,
        [ModulePlan("contacts", "res.partner", "res_partner", fields=tuple(spec.fields))],
        [PlannedBatch("contacts", "res.partner", kind, 0, None, expected=1)],
    )
    batch = store.next_batch("alice")
    assert batch is not None
    store.start_batch(batch.id, OWNER, "alice", TTL)
    return store.next_batch("alice"), spec


def partner(
    rid: int, name: str, write_date: str | None, parent: int | None = None
) -> dict[str, Any]:
    return {
        "id": rid,
        "name": name,
        "write_date": write_date or False,
        "parent_id": [parent, f"P{parent}"] if parent else False,
    }


def store_page(store: SqliteMirror, records: list[dict[str, Any]]) -> None:
    batch, spec = planned(store, FULL)
    top = max([r["id"] for r in records], default=0)
    store.write_page(Page(LEASE, batch, spec, records, cursor=top, done=True))


def reconcile(store: SqliteMirror, listed: list[int], *, hard_delete: bool = False) -> int:
    batch, spec = planned(store, RECONCILE)
    page = ReconcilePage(
        LEASE,
        batch,
        spec,
        [],
        cursor=max(listed, default=0),
        done=True,
        server_ids=sorted(listed),
        hi_id=None,
        hard_delete=hard_delete,
    )
    return store.reconcile_page(page)


def version_count(db: Path, table: str = "res_partner") -> int:
    conn = sqlite3.connect(db)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ?", (f"{table}_history",)
        ).fetchone()
        return conn.execute(f"SELECT count(*) FROM {table}_history").fetchone()[0] if exists else 0
    finally:
        conn.close()


step_strategy = st.one_of(
    st.tuples(
        st.just("page"),
        st.lists(
            st.tuples(st.integers(1, 6), st.sampled_from(["Ann", "Bob"]), st.integers(0, 30)),
            max_size=4,
            unique_by=lambda r: r[0],
        ),
    ),
    st.tuples(st.just("reconcile"), st.lists(st.integers(1, 6), unique=True)),
    st.tuples(st.just("hard reconcile"), st.lists(st.integers(1, 6), unique=True)),
    st.tuples(st.just("off"), st.just([])),
    st.tuples(st.just("on"), st.just([])),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(step_strategy, min_size=1, max_size=12))
def test_sqlite_history_agrees_with_the_mirror_after_every_commit(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, list[Any]]]
) -> None:
    db = tmp_path_factory.mktemp("history") / "odoosync.db"
    with open_store(db) as store:
        on = store.start_history("alice", "res_partner") is not None
        for kind, arg in steps:
            before = version_count(db)
            if kind == "page":
                rows = {r["id"]: r for r in store.table_rows("alice", "res_partner")}
                records = [partner(i, name, stamp(wd)) for i, name, wd in arg]
                store_page(store, records)
                unchanged = all(
                    i in rows
                    and rows[i]["_deleted_at"] is None
                    and (rows[i]["name"], rows[i]["_write_date"]) == (name, stamp(wd))
                    for i, name, wd in arg
                )
                if on and unchanged:
                    assert version_count(db) == before, "a record read again unchanged"
            elif kind == "off":
                store.stop_history("alice", "res_partner")
                on = False
            elif kind == "on":
                store.start_history("alice", "res_partner")
                on = True
            else:
                reconcile(store, arg, hard_delete=kind == "hard reconcile")
            if not on:
                assert version_count(db) == before, f"{kind} wrote history while it was off"
            else:
                assert history_diff(db, "alice") == (0, []), (kind, arg)


def test_a_version_per_change_the_same_write_date_and_a_return_after_a_tombstone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "odoosync.db"
    with open_store(db) as store:
        assert store.start_history("alice", "res_partner") == 0
        assert store.start_history("alice", "res_partner") is None  # on already
        store_page(store, [partner(1, "Ann", stamp(0)), partner(2, "Bob", stamp(0))])
        store_page(store, [partner(1, "Ann", stamp(0))])  # read again, unchanged
        store_page(store, [partner(1, "Anne", stamp(10))])  # a change Odoo dated
        # The parent's name changed: the row's values change, its write_date does not.
        store_page(store, [partner(2, "Bob", stamp(0), parent=1)])
        reconcile(store, [2])  # 1 is gone
        store_page(store, [partner(1, "Anne", stamp(10))])  # back, without a write
        rows = store.conn.execute(
            "SELECT id, _version, name, parent_id, _valid_from, _valid_to FROM "
            "res_partner_history ORDER BY id, _version"
        ).fetchall()
    one = [r for r in rows if r[0] == 1]
    two = [r for r in rows if r[0] == 2]
    assert [(r[1], r[2], r[4]) for r in one[:2]] == [(1, "Ann", stamp(0)), (2, "Anne", stamp(10))]
    assert one[0][5] == stamp(10)
    gone_at = one[1][5]
    assert gone_at is not None and gone_at > stamp(10)
    # Back after a tombstone: a new version, from when the sync saw it, not before the end.
    assert (one[2][1], one[2][2], one[2][5]) == (3, "Anne", None) and one[2][4] >= gone_at
    assert [(r[1], r[3], r[5] is None) for r in two] == [(1, None, False), (2, 1, True)]
    assert two[0][5] == two[1][4] and two[1][4] > stamp(0)  # seen at the sync, not dated
    assert history_diff(db, "alice") == (0, [])


# Where a failure is injected while a page changes a record: the new version, or the cursor.
AT_VERSIONS = ("res_partner_history", "INSERT")
AT_CURSOR = ("_odoosync_batches", "UPDATE")


def history_then_a_change(db: Path) -> None:
    """A mirror keeping history of partner 1 ("Ann"), and a running batch to store it again."""
    with open_store(db) as store:
        store.start_history("alice", "res_partner")
        store_page(store, [partner(1, "Ann", stamp(0))])
        planned(store, FULL)


def store_the_change(store: SqliteMirror) -> None:
    batch = store.next_batch("alice")
    assert batch is not None
    spec = store.table_spec("res_partner", list(FIELDS))
    store.write_page(Page(LEASE, batch, spec, [partner(1, "Anne", stamp(5))], cursor=1, done=True))


def assert_nothing_stored(db: Path) -> None:
    """The page left nothing: not the row, not its versions, not the cursor."""
    with SqliteMirror.open(db) as store:
        assert store.conn.execute(
            "SELECT name, _version, _valid_to FROM res_partner_history"
        ).fetchall() == [("Ann", 1, None)]
        assert store.table_rows("alice", "res_partner")[0]["name"] == "Ann"
        batch = store.next_batch("alice")
        assert batch is not None and (batch.cursor, batch.synced) == (0, 0)
    assert history_diff(db, "alice") == (0, [])


@pytest.mark.parametrize("where", [AT_VERSIONS, AT_CURSOR], ids=["at-versions", "at-cursor"])
def test_a_failure_inside_the_page_leaves_neither_versions_nor_rows_nor_cursor(
    tmp_path: Path, where: tuple[str, str]
) -> None:
    db = tmp_path / "odoosync.db"
    history_then_a_change(db)
    table, event = where
    with SqliteMirror.open(db) as store:
        store.conn.execute(
            f"CREATE TEMP TRIGGER injected AFTER {event} ON main.{table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        with pytest.raises(StoreError, match="injected failure"):
            store_the_change(store)
    assert_nothing_stored(db)


KILLED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_history import store_the_change
    from odoo_sync_cli.mirror.sqlite import SqliteMirror

    store = SqliteMirror.open(Path({db!r}))
    store.conn.create_function("die", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
    store.conn.execute(
        "CREATE TEMP TRIGGER injected AFTER INSERT ON main.res_partner_history "
        "BEGIN SELECT die(); END"
    )
    store_the_change(store)
    print("the page was stored: the trigger never fired")
    """
)


def test_a_kill_while_the_versions_are_written_leaves_nothing_of_the_page(tmp_path: Path) -> None:
    db = tmp_path / "odoosync.db"
    history_then_a_change(db)
    script = KILLED_CHILD.format(tests=str(Path(__file__).parent), db=str(db))
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert_nothing_stored(db)


def test_widening_the_table_widens_its_history(tmp_path: Path) -> None:
    db = tmp_path / "odoosync.db"
    with open_store(db) as store:
        store.start_history("alice", "res_partner")
        store_page(store, [partner(1, "Ann", stamp(0))])
        store.ensure_table("res.partner", {**FIELDS, "email": "char"})
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(res_partner_history)")}
        assert "email" in columns and "_synced_at" not in columns and "_deleted_at" not in columns
    assert history_diff(db, "alice") == (0, [])


# --------------------------------------------------------------------------- the whole sync


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(records=240, seed=15)


NO_INVOICES: dict[str, dict[str, Any]] = {
    "invoices": {"enabled": False},
    "invoice_lines": {"enabled": False},
}


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("lookback", 0)
    values.setdefault("modules", NO_INVOICES)
    return Settings(db=tmp_path / "odoosync.db", **values)


def add_user(settings: Settings, sim: Simulator, name: str = "alice") -> None:
    engine.user_add(
        settings,
        name=name,
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=NewSecret(SecretStr(sim.api_key)),
    )


def sync(settings: Settings, user: str = "alice", **kw: Any) -> RecordingReporter:
    reporter = RecordingReporter()
    engine.prepare(settings, users=[user], reporter=reporter, **kw)
    report = engine.step(settings, users=[user])
    assert not report.errors and engine.user_get(settings, user).status == "done"
    return reporter


def versions_of(settings: Settings, rid: int, user: str = "alice") -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(settings.db_path)
    try:
        return conn.execute(
            "SELECT _version, name, _write_date, _valid_from, _valid_to FROM res_partner_history "
            "WHERE user = ? AND id = ? ORDER BY _version",
            (user, rid),
        ).fetchall()
    finally:
        conn.close()


def lonely_partner(sim: Simulator) -> int:
    """A partner of its own making: renaming or deleting it changes no other record."""
    return sim.create("res.partner", [{"name": "Original name", "email": "h@example.com"}])[0]


def test_renames_between_syncs_close_the_original_and_open_the_last(
    tmp_path: Path, sim: Simulator
) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(tmp_path, history=True)
    add_user(settings, sim)
    sync(settings)
    assert history_diff(settings.db_path, "alice") == (0, [])
    count = version_count(settings.db_path)
    assert count == len(sim.store.ids("res.partner"))
    [first] = versions_of(settings, pid)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    sim.store.write("res.partner", [pid], {"name": "Second name"}, at=now + timedelta(seconds=1))
    sim.store.write("res.partner", [pid], {"name": "Final name"}, at=now + timedelta(seconds=2))
    sync(settings)
    original, final = versions_of(settings, pid)
    final_date = (now + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert original == (1, "Original name", first[2], first[2], final_date)
    assert final == (2, "Final name", final_date, final_date, None)
    # Only the renamed partner got a version: the others were read again unchanged, or not at all.
    assert version_count(settings.db_path) == count + 1
    sync(settings, full=True)  # everything read again: nothing changed, no version
    assert version_count(settings.db_path) == count + 1
    assert history_diff(settings.db_path, "alice") == (0, [])


@pytest.mark.parametrize("hard_delete", [False, True], ids=["tombstone", "hard-delete"])
def test_a_record_deleted_in_odoo_closes_its_last_version(
    tmp_path: Path, sim: Simulator, hard_delete: bool
) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(tmp_path, history=True, hard_delete=hard_delete)
    add_user(settings, sim)
    sync(settings)
    sim.unlink("res.partner", [pid])
    sync(settings)
    [(number, name, _, _, valid_to)] = versions_of(settings, pid)
    assert (number, name) == (1, "Original name") and valid_to is not None
    conn = sqlite3.connect(settings.db_path)
    row = conn.execute("SELECT _deleted_at FROM res_partner WHERE id = ?", (pid,)).fetchone()
    conn.close()
    if hard_delete:
        assert row is None
    else:
        assert row is not None and valid_to == history_time(row[0])
    assert history_diff(settings.db_path, "alice") == (0, [])


def test_history_off_writes_no_history(tmp_path: Path, sim: Simulator) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(tmp_path)
    add_user(settings, sim)
    sync(settings)
    sim.store.write("res.partner", [pid], {"name": "Renamed"})
    sim.unlink("res.partner", [lonely_partner(sim)])
    sync(settings)
    conn = sqlite3.connect(settings.db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    switches = conn.execute("SELECT count(*) FROM _odoosync_history").fetchone()[0]
    conn.close()
    assert switches == 0
    assert not [t for t in tables if t.endswith("_history") and not t.startswith("_odoosync")]


def test_history_turned_on_over_a_mirror_starts_from_it_and_off_keeps_it(
    tmp_path: Path, sim: Simulator
) -> None:
    pid, gone = lonely_partner(sim), lonely_partner(sim)
    settings = make_settings(tmp_path)
    add_user(settings, sim)
    sync(settings)
    sim.unlink("res.partner", [gone])
    sync(settings)  # gone is tombstoned before history starts
    on = make_settings(tmp_path, modules={**NO_INVOICES, "contacts": {"history": True}})
    notes = [e.message for e in sync(on).events if isinstance(e, Note)]
    live = len(sim.store.ids("res.partner"))
    opened = f"({live} version(s) opened from the mirror as it is)"
    assert f"contacts: history on, kept in res_partner_history {opened}" in notes
    conn = sqlite3.connect(settings.db_path)
    # One open version per live row, from its write_date; none for the tombstoned one.
    assert (
        conn.execute(
            "SELECT count(*) FROM res_partner t JOIN res_partner_history h "
            "ON h.user = t.user AND h.id = t.id AND h._valid_from = t._write_date "
            "AND h._valid_to IS NULL AND t._deleted_at IS NULL"
        ).fetchone()[0]
        == live
        == version_count(settings.db_path)
    )
    assert not [r for r in conn.execute("SELECT 1 FROM res_partner_history WHERE id = ?", (gone,))]
    assert not [
        t
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if t.endswith("_history") and t not in ("res_partner_history", "_odoosync_history")
    ], "history only where the settings ask for it"
    conn.close()
    # Off: the table stays, no more versions.
    notes = [e.message for e in sync(settings).events if isinstance(e, Note)]
    assert "contacts: history off; res_partner_history is kept" in notes
    sim.store.write("res.partner", [pid], {"name": "Renamed while off"})
    sync(settings)
    assert version_count(settings.db_path) == live
    # On again: the version the pause left stale closes, the current values open.
    sync(on)
    assert [v[1] for v in versions_of(settings, pid)] == ["Original name", "Renamed while off"]
    assert history_diff(settings.db_path, "alice") == (0, [])


def test_clear_and_user_remove_clear_history(tmp_path: Path, sim: Simulator) -> None:
    settings = make_settings(tmp_path, history=True)
    add_user(settings, sim)
    add_user(settings, sim, "bob")
    sync(settings)
    sync(settings, "bob")
    partners = len(sim.store.ids("res.partner"))
    orders = len(sim.store.ids("sale.order"))

    def per_user(table: str) -> dict[str, int]:
        conn = sqlite3.connect(settings.db_path)
        try:
            return dict(
                conn.execute(f"SELECT user, count(*) FROM {table} GROUP BY user").fetchall()
            )
        finally:
            conn.close()

    assert per_user("res_partner_history") == {"alice": partners, "bob": partners}
    [result] = engine.clear(settings, user="alice", module="contacts")
    assert result.counts.versions == partners
    assert per_user("res_partner_history") == {"bob": partners}
    assert per_user("sale_order_history") == {"alice": orders, "bob": orders}
    [result] = engine.clear(settings, user="alice")
    assert result.counts.versions == sum(
        len(sim.store.ids(m)) for m in ("sale.order", "hr.employee", "sale.order.line")
    )
    assert "alice" not in per_user("sale_order_history")
    engine.user_remove(settings, "bob")
    assert per_user("res_partner_history") == per_user("sale_order_history") == {}
    # A cleared user's next sync starts its history again, from nothing.
    engine.queue(settings, users=["alice"])
    sync(settings)
    assert per_user("res_partner_history") == {"alice": partners}
    assert history_diff(settings.db_path, "alice") == (0, [])

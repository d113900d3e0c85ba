"""History mode: every version of a record, kept in ``<table>_history`` with each page.

Three levels. The version rules of ``mirror.history`` as properties over any sequence of
observations. Each backend (a SQLite file, a PostgreSQL schema) applying them, page by page
and reconcile by reconcile, with history switched off and on, checked after every step with
plain SQL: every live row has exactly one open version holding its values, a row gone has
none, versions never overlap. And
the whole sync against the simulator: renames, deletes, history turned on over an existing
mirror and off again, ``clear`` and ``user remove``.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.mirror.base import Page, ReconcilePage
from odoo_sync_cli.mirror.history import Latest, closed_at, history_time, on_stored
from odoo_sync_cli.models import FULL, RECONCILE, Lease, ModulePlan, PlannedBatch, SecretLocation
from odoo_sync_cli.progress import Note, RecordingReporter
from odoo_sync_cli.simulator.testing import Simulator
from tests.backends import BACKENDS, POSTGRESQL, SQLITE, Backend
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


# --------------------------------------------------------------------------- the backends

FIELDS = {"id": "integer", "name": "char", "write_date": "datetime", "parent_id": "many2one"}
OWNER = "test-host:1:owner"
TTL = 600.0
LEASE = Lease("alice", OWNER, TTL)


def open_store(place: Backend) -> Mirror:
    store = place.open(create=True)
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


def planned(store: Mirror, kind: str) -> Any:
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


def store_page(store: Mirror, records: list[dict[str, Any]]) -> None:
    batch, spec = planned(store, FULL)
    top = max([r["id"] for r in records], default=0)
    store.write_page(Page(LEASE, batch, spec, records, cursor=top, done=True))


def reconcile(store: Mirror, listed: list[int], *, hard_delete: bool = False) -> int:
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


def version_count(place: Backend, table: str = "res_partner") -> int:
    if not place.columns(f"{table}_history"):
        return 0
    return int(place.sql(f"SELECT count(*) FROM {table}_history")[0][0])


def tables(place: Backend) -> set[str]:
    """The tables of the mirror (not its views)."""
    if place.is_postgres:
        rows = place.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND table_type = 'BASE TABLE'",
            (place.schema,),
        )
    else:
        rows = place.sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


# Versions as text on both backends (PostgreSQL's bounds are timestamps).
VERSIONS = (
    "SELECT id, _version, name, parent_id, CAST(_valid_from AS TEXT), CAST(_valid_to AS TEXT) "
    "FROM res_partner_history ORDER BY id, _version"
)

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


@pytest.fixture(params=BACKENDS)
def places(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Backend]]:
    """Fresh mirrors of one backend, as many as the test asks for (one per example); the
    PostgreSQL schemas are dropped afterwards."""
    made: list[Backend] = []

    def make() -> Backend:
        if request.param == SQLITE:
            place = Backend(SQLITE, str(tmp_path_factory.mktemp("history") / "odoosync.db"))
        else:
            cluster = request.getfixturevalue("postgres")
            place = Backend(POSTGRESQL, cluster.url(), f"t_{uuid.uuid4().hex[:16]}")
        made.append(place)
        return place

    yield make
    for place in made:
        place.drop()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step_strategy, min_size=1, max_size=12))
def test_history_agrees_with_the_mirror_after_every_commit(
    places: Callable[[], Backend], steps: list[tuple[str, list[Any]]]
) -> None:
    db = places()
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
                assert history_diff(db.where, "alice") == (0, []), (kind, arg)


def test_a_version_per_change_the_same_write_date_and_a_return_after_a_tombstone(
    backend: Backend,
) -> None:
    with open_store(backend) as store:
        assert store.start_history("alice", "res_partner") == 0
        assert store.start_history("alice", "res_partner") is None  # on already
        store_page(store, [partner(1, "Ann", stamp(0)), partner(2, "Bob", stamp(0))])
        store_page(store, [partner(1, "Ann", stamp(0))])  # read again, unchanged
        store_page(store, [partner(1, "Anne", stamp(10))])  # a change Odoo dated
        # The parent's name changed: the row's values change, its write_date does not.
        store_page(store, [partner(2, "Bob", stamp(0), parent=1)])
        reconcile(store, [2])  # 1 is gone
        store_page(store, [partner(1, "Anne", stamp(10))])  # back, without a write
    rows = backend.sql(VERSIONS)
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
    assert history_diff(backend.where, "alice") == (0, [])


def history_then_a_change(place: Backend) -> None:
    """A mirror keeping history of partner 1 ("Ann"), and a running batch to store it again."""
    with open_store(place) as store:
        store.start_history("alice", "res_partner")
        store_page(store, [partner(1, "Ann", stamp(0))])
        planned(store, FULL)


def store_the_change(store: Mirror) -> None:
    # A PostgreSQL lease is held by a connection: this one takes it back.
    store.acquire_lease("alice", OWNER, TTL)
    batch = store.next_batch("alice")
    assert batch is not None
    spec = store.table_spec("res_partner", list(FIELDS))
    store.write_page(Page(LEASE, batch, spec, [partner(1, "Anne", stamp(5))], cursor=1, done=True))


def assert_nothing_stored(place: Backend) -> None:
    """The page left nothing: not the row, not its versions, not the cursor."""
    assert place.sql("SELECT name, _version, _valid_to FROM res_partner_history") == [
        ("Ann", 1, None)
    ]
    with place.open() as store:
        assert store.table_rows("alice", "res_partner")[0]["name"] == "Ann"
        batch = store.next_batch("alice")
        assert batch is not None and (batch.cursor, batch.synced) == (0, 0)
    assert history_diff(place.where, "alice") == (0, [])


# Where a failure is injected while a page changes a record: the new version, or the cursor.
AT_VERSIONS = ("res_partner_history", "INSERT")
AT_CURSOR = ("_odoosync_batches", "UPDATE")


def inject(place: Backend, table: str, event: str, action: str) -> None:
    """A trigger that runs ``action`` (SQLite: an expression; PostgreSQL: a PL/pgSQL
    statement) after ``event`` on ``table`` of the mirror."""
    if place.is_postgres:
        place.sql(
            "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {action}; RETURN NULL; END $$"
        )
        place.sql(
            f"CREATE TRIGGER injected AFTER {event} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION injected()"
        )
        return
    place.sql(f"CREATE TRIGGER injected AFTER {event} ON {table} BEGIN SELECT {action}; END")


def uninject(place: Backend, table: str) -> None:
    place.sql(f"DROP TRIGGER injected{' ON ' + table if place.is_postgres else ''}")


@pytest.mark.parametrize("where", [AT_VERSIONS, AT_CURSOR], ids=["at-versions", "at-cursor"])
def test_a_failure_inside_the_page_leaves_neither_versions_nor_rows_nor_cursor(
    backend: Backend, where: tuple[str, str]
) -> None:
    history_then_a_change(backend)
    table, event = where
    fail = (
        "RAISE EXCEPTION 'injected failure'"
        if backend.is_postgres
        else "RAISE(ABORT, 'injected failure')"
    )
    inject(backend, table, event, fail)
    with backend.open() as store, pytest.raises(StoreError, match="injected failure"):
        store_the_change(store)
    uninject(backend, table)
    assert_nothing_stored(backend)


KILLED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from backends import SQLITE, Backend
    from test_history import store_the_change

    place = Backend(*{place!r})
    with place.open() as store:
        if place.name == SQLITE:  # the trigger on the history table calls it
            store.conn.create_function("die", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
        store_the_change(store)
    print("the page was stored: the kill never came")
    """
)


def test_a_kill_while_the_versions_are_written_leaves_nothing_of_the_page(
    backend: Backend,
) -> None:
    """The writer is killed while its page's versions are being written: on SQLite by a
    trigger on the history table that kills the process; on PostgreSQL from outside, while
    the server holds the transaction in a trigger on the history table (the connection goes
    with the process, and the server rolls the transaction back)."""
    history_then_a_change(backend)
    if backend.is_postgres:
        inject(backend, "res_partner_history", "INSERT", "PERFORM pg_sleep(60)")
    else:
        # die() is a function only the child's connection knows.
        inject(backend, "res_partner_history", "INSERT", "die()")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_CHILD.format(
                tests=str(Path(__file__).parent),
                place=(backend.name, backend.db, backend.schema),
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if backend.is_postgres:
        pid = wait_for_sleeper(backend, child)
        child.kill()
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, out
    if backend.is_postgres:
        # The server notices the client gone when the statement ends; it need not wait.
        backend.sql("SELECT pg_terminate_backend(?)", (pid,))
        wait_gone(backend, pid)
    uninject(backend, "res_partner_history")
    assert_nothing_stored(backend)


def wait_for_sleeper(place: Backend, child: subprocess.Popen[str]) -> int:
    """The server process of the child's session once it sleeps in the trigger."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = place.sql(
            "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        )
        if rows:
            return int(rows[0][0])
        assert child.poll() is None, child.communicate()[0]
        time.sleep(0.05)
    raise AssertionError("the child never reached the trigger")


def wait_gone(place: Backend, pid: int) -> None:
    deadline = time.monotonic() + 30
    while place.sql("SELECT 1 FROM pg_stat_activity WHERE pid = ?", (pid,)):
        assert time.monotonic() < deadline, "the killed session stayed"
        time.sleep(0.05)


def test_widening_the_table_widens_its_history(backend: Backend) -> None:
    with open_store(backend) as store:
        store.start_history("alice", "res_partner")
        store_page(store, [partner(1, "Ann", stamp(0))])
        store.ensure_table("res.partner", {**FIELDS, "email": "char"})
    columns = backend.columns("res_partner_history")
    assert "email" in columns and "_synced_at" not in columns and "_deleted_at" not in columns
    assert history_diff(backend.where, "alice") == (0, [])


# --------------------------------------------------------------------------- the whole sync


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(records=240, seed=15)


NO_INVOICES: dict[str, dict[str, Any]] = {
    "invoices": {"enabled": False},
    "invoice_lines": {"enabled": False},
}


def make_settings(place: Backend, **values: Any) -> Settings:
    values.setdefault("lookback", 0)
    values.setdefault("modules", NO_INVOICES)
    return place.settings(**values)


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


def versions_of(place: Backend, rid: int, user: str = "alice") -> list[tuple[Any, ...]]:
    return place.sql(
        "SELECT _version, name, CAST(_write_date AS TEXT), CAST(_valid_from AS TEXT), "
        'CAST(_valid_to AS TEXT) FROM res_partner_history WHERE "user" = ? AND id = ? '
        "ORDER BY _version",
        (user, rid),
    )


def lonely_partner(sim: Simulator) -> int:
    """A partner of its own making: renaming or deleting it changes no other record."""
    return sim.create("res.partner", [{"name": "Original name", "email": "h@example.com"}])[0]


def test_renames_between_syncs_close_the_original_and_open_the_last(
    backend: Backend, sim: Simulator
) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(backend, history=True)
    add_user(settings, sim)
    sync(settings)
    assert history_diff(backend.where, "alice") == (0, [])
    count = version_count(backend)
    assert count == len(sim.store.ids("res.partner"))
    [first] = versions_of(backend, pid)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    sim.store.write("res.partner", [pid], {"name": "Second name"}, at=now + timedelta(seconds=1))
    sim.store.write("res.partner", [pid], {"name": "Final name"}, at=now + timedelta(seconds=2))
    sync(settings)
    original, final = versions_of(backend, pid)
    final_date = (now + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert original == (1, "Original name", first[2], first[2], final_date)
    assert final == (2, "Final name", final_date, final_date, None)
    # Only the renamed partner got a version: the others were read again unchanged, or not at all.
    assert version_count(backend) == count + 1
    sync(settings, full=True)  # everything read again: nothing changed, no version
    assert version_count(backend) == count + 1
    assert history_diff(backend.where, "alice") == (0, [])


@pytest.mark.parametrize("hard_delete", [False, True], ids=["tombstone", "hard-delete"])
def test_a_record_deleted_in_odoo_closes_its_last_version(
    backend: Backend, sim: Simulator, hard_delete: bool
) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(backend, history=True, hard_delete=hard_delete)
    add_user(settings, sim)
    sync(settings)
    sim.unlink("res.partner", [pid])
    sync(settings)
    [(number, name, _, _, valid_to)] = versions_of(backend, pid)
    assert (number, name) == (1, "Original name") and valid_to is not None
    rows = backend.sql("SELECT _deleted_at FROM res_partner WHERE id = ?", (pid,))
    if hard_delete:
        assert rows == []
    else:
        [(deleted_at,)] = rows
        if isinstance(deleted_at, datetime):  # PostgreSQL's timestamptz
            deleted_at = deleted_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert valid_to == history_time(deleted_at)
    assert history_diff(backend.where, "alice") == (0, [])


def test_history_off_writes_no_history(backend: Backend, sim: Simulator) -> None:
    pid = lonely_partner(sim)
    settings = make_settings(backend)
    add_user(settings, sim)
    sync(settings)
    sim.store.write("res.partner", [pid], {"name": "Renamed"})
    sim.unlink("res.partner", [lonely_partner(sim)])
    sync(settings)
    assert backend.sql("SELECT count(*) FROM _odoosync_history") == [(0,)]
    assert not [
        t for t in tables(backend) if t.endswith("_history") and not t.startswith("_odoosync")
    ]


def test_history_turned_on_over_a_mirror_starts_from_it_and_off_keeps_it(
    backend: Backend, sim: Simulator
) -> None:
    pid, gone = lonely_partner(sim), lonely_partner(sim)
    settings = make_settings(backend)
    add_user(settings, sim)
    sync(settings)
    sim.unlink("res.partner", [gone])
    sync(settings)  # gone is tombstoned before history starts
    on = make_settings(backend, modules={**NO_INVOICES, "contacts": {"history": True}})
    notes = [e.message for e in sync(on).events if isinstance(e, Note)]
    live = len(sim.store.ids("res.partner"))
    opened = f"({live} version(s) opened from the mirror as it is)"
    assert f"contacts: history on, kept in res_partner_history {opened}" in notes
    # One open version per live row, from its write_date; none for the tombstoned one.
    assert (
        backend.sql(
            "SELECT count(*) FROM res_partner t JOIN res_partner_history h "
            'ON h."user" = t."user" AND h.id = t.id AND h._valid_from = t._write_date '
            "AND h._valid_to IS NULL AND t._deleted_at IS NULL"
        )[0][0]
        == live
        == version_count(backend)
    )
    assert not backend.sql("SELECT 1 FROM res_partner_history WHERE id = ?", (gone,))
    assert not [
        t
        for t in tables(backend)
        if t.endswith("_history") and t not in ("res_partner_history", "_odoosync_history")
    ], "history only where the settings ask for it"
    # Off: the table stays, no more versions.
    notes = [e.message for e in sync(settings).events if isinstance(e, Note)]
    assert "contacts: history off; res_partner_history is kept" in notes
    sim.store.write("res.partner", [pid], {"name": "Renamed while off"})
    sync(settings)
    assert version_count(backend) == live
    # On again: the version the pause left stale closes, the current values open.
    sync(on)
    assert [v[1] for v in versions_of(backend, pid)] == ["Original name", "Renamed while off"]
    assert history_diff(backend.where, "alice") == (0, [])


def test_clear_and_user_remove_clear_history(backend: Backend, sim: Simulator) -> None:
    settings = make_settings(backend, history=True)
    add_user(settings, sim)
    add_user(settings, sim, "bob")
    sync(settings)
    sync(settings, "bob")
    partners = len(sim.store.ids("res.partner"))
    orders = len(sim.store.ids("sale.order"))

    def per_user(table: str) -> dict[str, int]:
        return dict(backend.sql(f'SELECT "user", count(*) FROM {table} GROUP BY "user"'))

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
    assert history_diff(backend.where, "alice") == (0, [])

"""The sync engine against the simulator over HTTP, on both backends (a SQLite file and a
schema of a real PostgreSQL).

The mirror must equal the simulator's data (DESIGN.md §5): after a full sync, after changes made
during and between syncs (late commits included), and after failures that are retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine, mirror, planner
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import (
    AuthenticationError,
    ConfigError,
    LeaseError,
    OdooSyncError,
    ServiceUnavailableError,
)
from odoo_sync_cli.mirror.base import lease_owner_id
from odoo_sync_cli.progress import Note, PageStored, RecordingReporter
from odoo_sync_cli.simulator.testing import Simulator
from tests.backends import Backend

DEFAULT_MODULES = (
    "contacts",
    "sale_orders",
    "invoices",
    "employees",
    "order_lines",
    "invoice_lines",
)
ALL_FIELDS = {name: {"exclude": []} for name in DEFAULT_MODULES}
FAST_RETRY = {"retry": {"attempts": 2, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}


def make_settings(backend: Backend, **values: Any) -> Settings:
    values.setdefault("http", FAST_RETRY)
    return backend.settings(**values)


def add_user(
    settings: Settings, sim: Simulator, name: str, database: str | None = None, **kw: Any
) -> None:
    creds = sim.credentials(database)
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(kw.pop("secret", creds.api_key))),
        **kw,
    )


def sync(settings: Settings, *users: str, full: bool = False) -> engine.StepReport:
    engine.prepare(settings, users=list(users) or None, full=full)
    report = engine.step(settings, users=list(users) or None)
    for name in users:
        assert engine.user_get(settings, name).status == "done", report
    return report


def mirror_vs_server(
    settings: Settings, user: str, sim: Simulator, database: str | None = None
) -> Iterable[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per module: the mirror's live records, and the server's, in the same fields, by id.

    A many2one whose comodel a module of the user mirrors is kept without its name.
    """
    sim_store = sim.stores[database or sim.database]
    mirrored = {m.model for m in settings.for_user(user).modules}
    with mirror.open_mirror(settings) as store:
        for module in settings.for_user(user).modules:
            mine = store.read_records(user, module.table)
            ids = set(
                sim_store.search(module.model, module.domain_list(), context={"active_test": False})
            )
            fields = list(mine[0]) if mine else ["id"]
            specs = sim_store.registry[module.model].fields
            unnamed = {
                f for f in fields if specs[f].type == "many2one" and specs[f].relation in mirrored
            }
            theirs = [
                {f: [row[f][0], None] if f in unnamed and row[f] else row[f] for f in fields}
                for row in sim_store.exact_rows(module.model)
                if row["id"] in ids
            ]
            yield module.name, mine, theirs


def assert_mirror_equals(
    settings: Settings, user: str, sim: Simulator, database: str | None = None
) -> None:
    for module, mine, theirs in mirror_vs_server(settings, user, sim, database):
        assert len(mine) == len(theirs), module
        for a, b in zip(mine, theirs, strict=True):
            assert a == b, (module, a["id"], {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})


def lonely_partners(sim: Simulator) -> list[int]:
    """Partners nothing points at and that point at nothing: changing them changes no other row."""
    store = sim.store
    referenced: set[int] = set()
    for model in (
        "res.partner",
        "sale.order",
        "account.move",
        "hr.employee",
        "sale.order.line",
        "account.move.line",
    ):
        spec = store.fields_get(model, attributes=["type", "relation"])
        rel = [f for f, a in spec.items() if a.get("relation") == "res.partner"]
        for row in store.exact_rows(model):
            for f in rel:
                value = row.get(f)
                if isinstance(value, list) and value and isinstance(value[0], int):
                    targets = value if spec[f]["type"] != "many2one" else value[:1]
                    referenced.update(
                        t for t in targets if (model, t) != ("res.partner", row["id"])
                    )
    return [
        row["id"]
        for row in store.exact_rows("res.partner")
        if row["id"] not in referenced
        and not row["parent_id"]
        and not row["child_ids"]
        and row["commercial_partner_id"][:1] == [row["id"]]
        and not row["is_company"]
    ]


# --- full sync ----------------------------------------------------------------------------------


def test_full_sync_of_two_users_equals_the_server_every_field(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(databases={"acme": 700, "globex": 450}, seed=3)
    settings = make_settings(backend, page_size=97, batch_size=300, modules=ALL_FIELDS)
    add_user(settings, sim, "alice", "acme")
    add_user(settings, sim, "bob", "globex")
    assert [u.status for u in engine.user_list(settings)] == ["not_started", "not_started"]
    reporter = RecordingReporter()
    results = engine.prepare(settings, reporter=reporter)
    assert [r.user for r in results] == ["alice", "bob"]
    contacts = results[0].modules[0]
    assert (contacts.kind, contacts.batches, contacts.expected) == ("full", 3, 700)
    assert contacts.fields == 82  # every stored, non-binary field of res.partner
    report = engine.step(settings, reporter=reporter)
    assert not report.errors
    assert [u.status for u in report.users] == ["done", "done"]
    assert_mirror_equals(settings, "alice", sim, "acme")
    assert_mirror_equals(settings, "bob", sim, "globex")
    with mirror.open_mirror(settings) as store:
        partners = store.read_records("alice", "res_partner")
        assert any(p["active"] is False for p in partners), "archived records are mirrored"
        assert store.mirrored_count("bob", "res_partner") == 450
    # Every non-empty page moved its batch's cursor strictly forward.
    last: dict[tuple[str, int], int] = {}
    for page in reporter.of(PageStored):
        batch = page.batch
        key = (page.user, batch.id)
        if page.records:
            assert batch.cursor > last.get(key, batch.lo_id)
        last[key] = batch.cursor
    statuses = engine.status(settings)
    for s in statuses:
        data = s.to_json()
        assert data["syncStatus"] == "done"
        assert data["progress"]["percent"] == 100.0
        assert data["progress"]["recordsSynced"] == data["progress"]["recordsExpected"]
        assert data["connectionInfoAvailable"] is True


def test_default_fields_leave_out_chatter_and_keep_the_essentials(
    backend: Backend, simulator: Simulator
) -> None:
    settings = make_settings(backend, modules={"sale_orders": {"enabled": False}})
    add_user(settings, simulator, "alice")
    sync(settings, "alice")
    assert_mirror_equals(settings, "alice", simulator)
    columns = backend.columns("res_partner")
    assert {
        "id",
        "user",
        "write_date",
        "active",
        "name",
        "parent_id",
        "parent_id_name",
    } <= columns
    assert {"_write_date", "_synced_at", "_deleted_at", "child_ids"} <= columns
    leaked = [
        c
        for c in columns
        if c.startswith(("message_", "activity_", "rtc_", "channel_")) or c == "website_message_ids"
    ]
    assert leaked == []
    assert not backend.columns("sale_order")


# --- changes during and between syncs --------------------------------------------------------


def test_changes_during_and_between_syncs_are_caught(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=1200, seed=5)
    modules = {"sale_orders": {"enabled": False}, "invoices": {"enabled": False}}
    settings = make_settings(
        backend,
        page_size=100,
        batch_size=400,
        modules=modules,
        users={"nolook": {"lookback": 0, "reconcile": "never"}},
    )
    add_user(settings, sim, "alice")
    add_user(settings, sim, "nolook")
    spare = lonely_partners(sim)
    assert len(spare) >= 12
    early, late_read, archived, gone_read, gone_unread, renamed, *rest = spare
    late_read = max(spare)  # read by the last batch, after the change below
    assert early <= 100 and gone_read <= 100, "both lie in the first page of 100"
    # A write just before prepare puts the high-water mark at "now".
    sim.write("res.partner", [renamed], {"name": "Renamed before sync 1"})
    engine.prepare(settings)

    # Sync 1, with changes between its pages.
    engine.step(settings, users=["alice"], max_pages=1)
    engine.step(settings, users=["nolook"], max_pages=1)
    sim.write("res.partner", [early], {"email": "early@example.com"})  # already read
    sim.write("res.partner", [late_read], {"email": "late@example.com"})  # not read yet
    sim.archive("res.partner", [archived])
    sim.unlink("res.partner", [gone_read, gone_unread])
    created_during = sim.create("res.partner", [{"name": "Created during sync 1"}])
    sync_report = engine.step(settings)
    assert not sync_report.errors
    with mirror.open_mirror(settings) as store:
        alice = {r["id"]: r for r in store.read_records("alice", "res_partner")}
    assert created_during[0] in alice, "the open-ended last range reads new records"
    assert alice[late_read]["email"] == "late@example.com"
    assert gone_read not in alice and gone_unread not in alice, "reconcile ran after sync 1"

    # Between syncs: ordinary changes, a late commit inside the look-back, and a record whose
    # transaction started before even the look-back could see.
    a, b, c, d = rest[:4]
    sim.write("res.partner", [a], {"name": "Changed between syncs", "phone": "+1 555"})
    sim.archive("res.partner", [b])
    sim.unarchive("res.partner", [archived])
    sim.unlink("res.partner", [c])
    sim.create("res.partner", [{"name": "New between syncs", "email": "new@example.com"}])
    sim.late_commit("res.partner", seconds_ago=300, ids=[d], vals={"name": "Late inside look-back"})
    hidden = sim.late_commit(
        "res.partner", seconds_ago=3600, vals_list=[{"name": "Committed long after it began"}]
    )

    results = engine.prepare(settings)
    alice_plan = {m.module: m for m in results[0].modules}
    assert alice_plan["contacts"].kind == "incremental"
    assert alice_plan["contacts"].reconcile
    assert alice_plan["contacts"].expected < 20, "the window holds only recent changes"
    engine.step(settings)
    assert_mirror_equals(settings, "alice", sim)

    # The same changes through a user without look-back and reconcile show why both exist.
    with mirror.open_mirror(settings) as store:
        nolook = {r["id"]: r for r in store.read_records("nolook", "res_partner")}
        deleted = {r["id"] for r in store.table_rows("alice", "res_partner") if r["_deleted_at"]}
    assert nolook[d]["name"] != "Late inside look-back"
    assert hidden[0] not in nolook
    assert c in nolook, "without reconcile a deletion stays unseen"
    assert {gone_read, c} <= deleted, "deleted records are kept as tombstones"


def reconcile_restored(backend: Backend, user: str) -> dict[str, int]:
    """Per module: records the reconcile of the user's last plan had to read back."""
    rows = backend.sql(
        'SELECT module, sum(restored) FROM _odoosync_batches WHERE "user" = ? '
        "AND kind = 'reconcile' GROUP BY module",
        (user,),
    )
    return {module: int(n) for module, n in rows}


def test_no_record_needs_restoring_after_a_quiet_sync(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    """With nothing changing while they run, the data batches read every record once: reconcile
    restores none after a full sync, and after an incremental one only those committed later
    than the look-back. A data path that drops records is repaired by reconcile, so the mirror
    alone would not show it; what reconcile had to restore does."""
    sim = make_simulator(records=600, seed=11)
    settings = make_settings(backend, page_size=40, batch_size=150)
    add_user(settings, sim, "alice")
    spare = lonely_partners(sim)
    sim.archive("res.partner", spare[:5])  # archived records are mirrored too

    sync(settings, "alice")
    modules = [m.name for m in settings.for_user("alice").modules]
    assert {"contacts", "order_lines", "invoice_lines"} <= set(modules)
    assert reconcile_restored(backend, "alice") == dict.fromkeys(modules, 0)
    assert_mirror_equals(settings, "alice", sim)
    status = engine.status(settings)[0]
    assert status.records_synced == status.records_expected, "a record was read twice"

    sim.write("res.partner", spare[5:60], {"comment": "Changed between syncs"})
    sim.archive("res.partner", spare[60:65])
    sim.create("res.partner", [{"name": f"New {i}"} for i in range(70)])
    late = sim.late_commit(
        "res.partner", seconds_ago=3600, vals_list=[{"name": "Late 1"}, {"name": "Late 2"}]
    )
    results = engine.prepare(settings)
    assert {m.kind for m in results[0].modules} == {"incremental"}
    engine.step(settings)
    assert reconcile_restored(backend, "alice") == {
        **dict.fromkeys(modules, 0),
        "contacts": len(late),
    }
    assert_mirror_equals(settings, "alice", sim)
    status = engine.status(settings)[0]
    assert status.records_synced == status.records_expected, "a record was read twice"


def test_a_sync_planned_again_starts_from_the_old_mark(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    """The high-water mark moves when a sync is done, not when it is planned: a sync planned
    again before it ended (``prepare --restart``) still reads everything changed since the last
    sync that ended."""
    sim = make_simulator(records=200, seed=13)
    only_contacts = {
        "contacts": {"fields": ["name", "email"]},
        **{m: {"enabled": False} for m in ("sale_orders", "invoices", "employees")},
    }
    settings = make_settings(backend, lookback=0, reconcile="never", modules=only_contacts)
    add_user(settings, sim, "alice")
    sync(settings, "alice")
    first, second = lonely_partners(sim)[:2]
    now = datetime.now(UTC).replace(tzinfo=None)
    sim.write("res.partner", [first], {"email": "first@example.com"}, at=now - timedelta(seconds=5))
    sim.write("res.partner", [second], {"email": "second@example.com"}, at=now)
    engine.prepare(settings)
    engine.prepare(settings, users=["alice"], restart=True)
    engine.step(settings)
    with mirror.open_mirror(settings) as store:
        emails = {r["id"]: r["email"] for r in store.read_records("alice", "res_partner")}
    assert (emails[first], emails[second]) == ("first@example.com", "second@example.com")


def test_reconcile_every_nth_sync(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=300, seed=7)
    settings = make_settings(
        backend, reconcile={"every_n": 2}, modules={"sale_orders": {"enabled": False}}
    )
    add_user(settings, sim, "alice")
    plans = []
    for _ in range(4):
        results = engine.prepare(settings)
        plans.append(results[0].modules[0].reconcile)
        engine.step(settings)
    assert plans == [False, True, False, True]


def test_auto_reconcile_spaces_a_big_module(
    backend: Backend, make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the default policy a module above the size bound reconciles only when its last
    reconcile is old enough for its duration; the sync in between says so, and a deletion
    shows at the next reconcile."""
    monkeypatch.setattr(planner, "AUTO_RECONCILE_RECORDS", 100)
    sim = make_simulator(records=300, seed=11)
    settings = make_settings(backend, modules={"contacts": {"fields": ["name"]}})
    add_user(settings, sim, "alice")

    def contacts_reconcile(reporter: RecordingReporter | None = None) -> bool:
        results = engine.prepare(settings, reporter=reporter or RecordingReporter())
        engine.step(settings)
        return {m.module: m for m in results[0].modules}["contacts"].reconcile

    def last_reconcile() -> dict[str, Any]:
        status = engine.status(settings, user="alice")[0].to_json()
        return {m["module"]: m for m in status["progress"]["modules"]}["contacts"]

    assert contacts_reconcile(), "a first sync reconciles"
    first = last_reconcile()
    assert first["lastReconciled"] is not None and first["reconcileSeconds"] >= 0
    # As if that reconcile had taken 10 minutes: the next one waits 100.
    backend.sql("UPDATE _odoosync_modules SET reconcile_seconds = 600 WHERE module = 'contacts'")
    gone = sim.stores[sim.database].search("res.partner", [], limit=1)[0]
    sim.unlink("res.partner", [gone])
    reporter = RecordingReporter()
    assert not contacts_reconcile(reporter)
    notes = [n.message for n in reporter.of(Note)]
    assert any("contacts: reconcile put off for 1" in n and "took 600 s" in n for n in notes)
    # Small modules still reconcile every sync.
    status = engine.status(settings, user="alice")[0].to_json()
    orders = {m["module"]: m for m in status["progress"]["modules"]}["sale_orders"]
    assert orders["lastReconciled"] is not None
    with mirror.open_mirror(settings) as store:
        live = {r["id"] for r in store.table_rows("alice", "res_partner") if not r["_deleted_at"]}
    assert gone in live, "no reconcile: the deletion is not seen yet"

    backend.sql(
        "UPDATE _odoosync_modules SET reconciled_at = ? WHERE module = 'contacts'",
        ((datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),),
    )
    assert contacts_reconcile(), "the last reconcile is over ten times its duration old"
    with mirror.open_mirror(settings) as store:
        deleted = {r["id"] for r in store.table_rows("alice", "res_partner") if r["_deleted_at"]}
    assert gone in deleted
    assert last_reconcile()["reconcileSeconds"] != 600, "the reconcile that ran is recorded"


def test_a_missing_model_is_reported_and_skipped(backend: Backend, simulator: Simulator) -> None:
    settings = make_settings(
        backend,
        modules={
            "leads": {"model": "crm.lead"},
            "sale_orders": {"enabled": False},
            "invoices": {"enabled": False},
        },
    )
    add_user(settings, simulator, "alice")
    reporter = RecordingReporter()
    results = engine.prepare(settings, reporter=reporter)
    leads = {m.module: m for m in results[0].modules}["leads"]
    assert leads.skipped is not None and "not installed" in leads.skipped
    assert any("crm.lead" in e.message for e in reporter.of(Note))
    engine.step(settings)
    status = engine.status(settings, user="alice")[0].to_json()
    assert status["syncStatus"] == "done"
    modules = {m["module"]: m for m in status["progress"]["modules"]}
    assert modules["leads"]["state"] == "missing"
    assert modules["contacts"]["mirrored"] == 2000


def test_unknown_configured_field_fails_the_prepare_clearly(
    backend: Backend, simulator: Simulator
) -> None:
    settings = make_settings(backend, modules={"contacts": {"fields": ["name", "shoe_size"]}})
    add_user(settings, simulator, "alice")
    with pytest.raises(ConfigError, match=r"res\.partner has no field 'shoe_size'"):
        engine.prepare(settings, users=["alice"])
    user = engine.user_get(settings, "alice")
    assert user.status == "failed"
    assert user.last_error is not None and "shoe_size" in user.last_error


# --- failures -----------------------------------------------------------------------------------


def test_retriable_failure_keeps_the_cursor_and_retry_resumes(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=600, seed=11)
    settings = make_settings(backend, page_size=100, modules={"sale_orders": {"enabled": False}})
    add_user(settings, sim, "alice")
    engine.prepare(settings)
    engine.step(settings, max_pages=3)
    sim.script_faults(["503"] * 4, match={"method": "web_search_read"})
    with pytest.raises(ServiceUnavailableError) as info:
        engine.step(settings, users=["alice"])
    assert "alice" in str(info.value)
    user = engine.user_get(settings, "alice")
    assert user.status == "failed" and user.last_error and "503" in user.last_error
    with mirror.open_mirror(settings) as store:
        failed = [b for b in store.batches("alice") if b.status == "failed"]
        assert len(failed) == 1 and failed[0].cursor == 300 and failed[0].synced == 300
    # step leaves a failed user alone until its work is re-queued.
    assert engine.step(settings).pages == 0
    sim.clear_faults()
    assert [r.requeued_batches for r in engine.retry(settings)] == [1]
    report = engine.step(settings)
    assert not report.errors and report.users[0].status == "done"
    assert_mirror_equals(settings, "alice", sim)
    progress = engine.status(settings)[0].to_json()["progress"]
    assert progress["recordsSynced"] == progress["recordsExpected"], "no page stored twice"


def test_rejected_key_names_the_user_and_the_way_out(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=200, seed=13)
    settings = make_settings(backend)
    add_user(settings, sim, "alice")
    engine.prepare(settings)
    engine.user_set_secret(
        settings, "alice", secret=NewSecret(SecretStr("expired-key-0000")), check=False
    )
    with pytest.raises(AuthenticationError) as info:
        engine.step(settings, users=["alice"])
    message = str(info.value)
    assert "alice" in message and "odoosync user set-secret alice" in message
    assert "expired-key-0000" not in message
    assert engine.user_get(settings, "alice").status == "failed"
    with pytest.raises(AuthenticationError):
        engine.user_set_secret(settings, "alice", secret=NewSecret(SecretStr("still-wrong")))
    engine.user_set_secret(settings, "alice", secret=NewSecret(SecretStr(sim.api_key)))
    engine.retry(settings, users=["alice"])
    assert engine.step(settings).users[0].status == "done"
    assert_mirror_equals(settings, "alice", sim)


def test_failure_of_one_user_does_not_stop_the_others(
    backend: Backend, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=150, seed=17)
    settings = make_settings(backend)
    add_user(settings, sim, "alice")
    add_user(settings, sim, "bob")
    engine.user_set_secret(settings, "alice", secret=NewSecret(SecretStr("wrong")), check=False)
    results = engine.prepare(settings)
    assert isinstance(results[0].error, AuthenticationError)
    assert results[1].error is None
    report = engine.step(settings)
    assert [(u.user, u.status) for u in report.users] == [("bob", "done")]
    assert engine.user_get(settings, "alice").status == "failed"


def test_a_page_out_of_id_order_fails_the_batch_and_stores_nothing(
    backend: Backend, simulator: Simulator
) -> None:
    settings = make_settings(backend, page_size=50, modules={"contacts": {"fields": ["name"]}})
    add_user(settings, simulator, "alice")
    engine.prepare(settings)

    def shuffling(user: Any, s: Settings) -> Any:
        client = engine.make_client(user, s)
        read = client.read_page
        client.read_page = lambda *a, **k: list(reversed(read(*a, **k)))  # type: ignore[method-assign]
        return client

    with pytest.raises(OdooSyncError, match="out of id order"):
        engine.step(settings, users=["alice"], connect=shuffling)
    with mirror.open_mirror(settings) as store:
        assert store.mirrored_count("alice", "res_partner") == 0
        batch = store.batches("alice")[0]
        assert (batch.status, batch.cursor) == ("failed", 0)


# --- state rules -------------------------------------------------------------------------------


def test_prepare_refuses_a_user_in_progress_unless_restart(
    backend: Backend, simulator: Simulator
) -> None:
    settings = make_settings(backend, modules={"contacts": {"fields": ["name"]}})
    add_user(settings, simulator, "alice")
    engine.prepare(settings, users=["alice"])
    with pytest.raises(OdooSyncError, match=r"already in progress.*--restart"):
        engine.prepare(settings, users=["alice"])
    assert engine.prepare(settings)[0].refused  # with --all it is a note, not an error
    results = engine.prepare(settings, users=["alice"], restart=True)
    assert results[0].modules[0].kind == "full"


def test_two_processes_never_work_one_user(backend: Backend, simulator: Simulator) -> None:
    settings = make_settings(backend, modules={"contacts": {"fields": ["name"]}})
    add_user(settings, simulator, "alice")
    engine.prepare(settings)
    with mirror.open_mirror(settings) as store:
        store.acquire_lease("alice", lease_owner_id(), 60)  # a live process (this one) holds it
        with pytest.raises(LeaseError, match="another odoosync process"):
            engine.step(settings, users=["alice"])
        with pytest.raises(LeaseError):
            engine.clear(settings, user="alice")
        assert engine.step(settings).users[0].note  # with every user it is a note
        status = engine.status(settings, user="alice")[0].to_json()
        assert status["heldBy"]["pid"] == os.getpid()
    if backend.is_postgres:
        # The lease goes with the connection that held it (in SQLite, with its process).
        assert engine.status(settings, user="alice")[0].to_json()["heldBy"] is None


def test_step_budget_and_resume(backend: Backend, simulator: Simulator) -> None:
    settings = make_settings(
        backend, page_size=150, modules={"contacts": {"fields": ["name"]}, "sale_orders": {}}
    )
    add_user(settings, simulator, "alice")
    engine.prepare(settings)
    pages = 0
    for _ in range(50):
        report = engine.step(settings, max_pages=2)
        pages += report.pages
        assert report.pages <= 2
        if report.users[0].status == "done":
            break
    assert engine.user_get(settings, "alice").status == "done"
    assert pages > 10
    assert engine.step(settings).users == []  # nothing to do
    assert_mirror_equals(settings, "alice", simulator)


def test_clear_one_module_then_it_syncs_in_full_again(
    backend: Backend, simulator: Simulator
) -> None:
    settings = make_settings(backend, modules={"contacts": {"fields": ["name", "email"]}})
    add_user(settings, simulator, "alice")
    add_user(settings, simulator, "bob")
    sync(settings, "alice", "bob")
    results = engine.clear(settings, user="alice", module="contacts")
    assert results[0].counts.records == 2000
    with mirror.open_mirror(settings) as store:
        assert store.mirrored_count("alice", "res_partner") == 0
        assert store.mirrored_count("bob", "res_partner") == 2000
        assert store.mirrored_count("alice", "sale_order") > 0
    kinds = {m.module: m.kind for m in engine.prepare(settings, users=["alice"])[0].modules}
    assert kinds == {
        "contacts": "full",
        "sale_orders": "incremental",
        "invoices": "incremental",
        "employees": "incremental",
        "order_lines": "incremental",
        "invoice_lines": "incremental",
    }
    engine.step(settings)
    assert_mirror_equals(settings, "alice", simulator)
    engine.clear(settings, user="alice")
    assert engine.user_get(settings, "alice").status == "idle"
    assert [q.status for q in engine.queue(settings, users=["alice"])] == ["not_started"]
    with pytest.raises(ConfigError, match="unknown module 'nope'"):
        engine.clear(settings, user="alice", module="nope")

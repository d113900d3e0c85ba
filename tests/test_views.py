"""Views with current names: ``<table>_current`` joins each many2one's name from its comodel's
mirror table, and follows the tables as modules and fields change.

The names the views give are compared with the simulator's own display names (read past the
API), after renames that leave the referencing rows unread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.mirror.codec import FieldColumn
from odoo_sync_cli.mirror.views import MirrorTable, view_select
from odoo_sync_cli.simulator.testing import Simulator
from tests.backends import Backend

DOCUMENTS_ONLY: dict[str, dict[str, Any]] = {
    "contacts": {"enabled": False},
    "invoices": {"enabled": False},
    "employees": {"enabled": False},
    "invoice_lines": {"enabled": False},
}


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(records=240, seed=15)


def make_settings(place: Backend, modules: dict[str, dict[str, Any]], **values: Any) -> Settings:
    # No look-back: an incremental sync reads only what changed, so an order is not read again.
    return place.settings(lookback=0, modules=modules, **values)


def add_user(settings: Settings, sim: Simulator, name: str = "alice") -> None:
    engine.user_add(
        settings,
        name=name,
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=NewSecret(SecretStr(sim.api_key)),
    )


def sync(settings: Settings, user: str = "alice") -> None:
    engine.prepare(settings, users=[user])
    report = engine.step(settings, users=[user])
    assert not report.errors and engine.user_get(settings, user).status == "done"


def query(place: Backend, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return place.sql(sql, params)


def views(place: Backend) -> set[str]:
    if place.is_postgres:
        sql = "SELECT table_name FROM information_schema.views WHERE table_schema = ?"
        return {r[0] for r in query(place, sql, place.schema)}
    return {r[0] for r in query(place, "SELECT name FROM sqlite_master WHERE type = 'view'")}


def columns(place: Backend, name: str) -> list[str]:
    """The columns of a table or view, in order."""
    if place.is_postgres:
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position"
        )
        return [r[0] for r in query(place, sql, place.schema, name)]
    return [r[1] for r in query(place, f"PRAGMA table_info({name})")]


def child_contact_order(sim: Simulator) -> tuple[int, int, int]:
    """A company, a contact of it, and an order for the contact: (company, contact, order).

    A later order follows, so that the next sync's window (no look-back) starts after this one.
    """
    hour_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    [company] = sim.create("res.partner", [{"name": "Acme Tools", "is_company": True}])
    [contact] = sim.create("res.partner", [{"name": "Rita Ray", "parent_id": company}])
    [order] = sim.create("sale.order", [{"name": "SO-VIEW", "partner_id": contact}], at=hour_ago)
    sim.create(
        "sale.order",
        [{"name": "SO-LATER", "partner_id": company}],
        at=hour_ago + timedelta(minutes=30),
    )
    return company, contact, order


def test_the_views_give_current_names_without_reading_the_orders_again(
    backend: Backend, sim: Simulator
) -> None:
    company, contact, order = child_contact_order(sim)
    settings = make_settings(backend, {**DOCUMENTS_ONLY, "contacts": {}})
    add_user(settings, sim)
    sync(settings)
    assert {"res_partner_current", "sale_order_current", "sale_order_line_current"} <= views(
        backend
    )
    for name in ("res_partner", "sale_order", "sale_order_line"):
        assert columns(backend, f"{name}_current") == columns(backend, name)
    # A contact of a company is named as Odoo names it: its complete_name, "Company, Person".
    [(name,)] = query(backend, "SELECT partner_id_name FROM sale_order_current WHERE id = ?", order)
    assert name == "Acme Tools, Rita Ray"

    sim.store.write("res.partner", [company], {"name": "Acme Holdings"})
    sim.store.write("res.partner", [contact], {"name": "Rita Ray-Lopez"})
    sync(settings)
    [(stored, current)] = query(
        backend,
        "SELECT o.partner_id_name, v.partner_id_name FROM sale_order o "
        'JOIN sale_order_current v ON v."user" = o."user" AND v.id = o.id WHERE o.id = ?',
        order,
    )
    # The order was not read again, and its partner, a mirrored model, was read as a bare id
    # (no name asked of the server): only the view names it, as Odoo names it now.
    assert (stored, current) == (None, "Acme Holdings, Rita Ray-Lopez")
    # Every many2one to a mirrored model: the name Odoo gives now, row by row.
    for table, field, model in (
        ("sale_order", "partner_id", "res.partner"),
        ("sale_order", "partner_invoice_id", "res.partner"),
        ("res_partner", "parent_id", "res.partner"),
        ("res_partner", "commercial_partner_id", "res.partner"),
        ("sale_order_line", "order_id", "sale.order"),
    ):
        rows = query(backend, f"SELECT {field}, {field}_name FROM {table}_current")
        ids = [r[0] for r in rows if r[0] is not None]
        assert ids, (table, field)
        now = sim.store.display_names(model, ids)
        assert {r[0]: r[1] for r in rows if r[0] is not None} == now, (table, field)


def test_the_views_follow_the_modules_and_fields(backend: Backend, sim: Simulator) -> None:
    _, _, order = child_contact_order(sim)
    settings = make_settings(backend, DOCUMENTS_ONLY)
    add_user(settings, sim)
    sync(settings)
    # Orders point at no mirrored model; their lines point at orders.
    assert "sale_order_current" not in views(backend)
    assert "sale_order_line_current" in views(backend)

    # Contacts added, with `name` only: the views name partners by it.
    named = make_settings(
        backend, {**DOCUMENTS_ONLY, "contacts": {"fields": ["name", "parent_id"]}}
    )
    sync(named)
    assert "sale_order_current" in views(backend)
    sql = "SELECT partner_id_name FROM sale_order_current WHERE id = ?"
    assert query(backend, sql, order) == [("Rita Ray",)]

    # complete_name added: the table is widened and the views take the better name.
    complete = make_settings(
        backend,
        {**DOCUMENTS_ONLY, "contacts": {"fields": ["name", "parent_id", "complete_name", "email"]}},
    )
    sync(complete)
    assert "email" in columns(backend, "res_partner_current")
    assert query(backend, sql, order) == [("Acme Tools, Rita Ray",)]


def test_each_user_gets_names_from_its_own_mirror(backend: Backend, sim: Simulator) -> None:
    company, _, order = child_contact_order(sim)
    settings = make_settings(
        backend, {**DOCUMENTS_ONLY, "contacts": {}}, users={"bob": {"modules": ["sale_orders"]}}
    )
    add_user(settings, sim)
    add_user(settings, sim, "bob")
    sync(settings)
    sync(settings, "bob")
    sim.store.write("res.partner", [company], {"name": "Acme Holdings"})
    sync(settings)
    sync(settings, "bob")
    rows = dict(
        query(backend, 'SELECT "user", partner_id_name FROM sale_order_current WHERE id = ?', order)
    )
    # bob mirrors no contacts: its rows keep the name read with the order.
    assert rows == {"alice": "Acme Holdings, Rita Ray", "bob": "Acme Tools, Rita Ray"}


def test_a_name_read_after_the_comodel_row_wins_and_a_deleted_comodel_keeps_its_name(
    backend: Backend, sim: Simulator
) -> None:
    company, contact, order = child_contact_order(sim)
    settings = make_settings(backend, {**DOCUMENTS_ONLY, "contacts": {}})
    add_user(settings, sim)
    sync(settings)
    # Contacts are no longer synced: their rows stay as they were. The order, written since,
    # is read again with the name Odoo gives it now, and that one is the newer.
    dropped = make_settings(backend, DOCUMENTS_ONLY)
    # They were read a while ago (times are whole seconds, and this test is quick).
    backend.sql("UPDATE res_partner SET _synced_at = '2000-01-01T00:00:00Z'")
    sim.store.write("res.partner", [company], {"name": "Acme Holdings"})
    sim.store.write("sale.order", [order], {"client_order_ref": "PO-1"})
    sync(dropped)
    sql = "SELECT partner_id_name FROM sale_order_current WHERE id = ?"
    assert query(backend, sql, order) == [("Acme Holdings, Rita Ray",)]

    # A partner row marked deleted (Odoo can delete a record without writing the rows that
    # point at it): its last name is still the best there is.
    backend.sql(
        "UPDATE res_partner SET _deleted_at = '2099-01-01T00:00:00Z', complete_name = "
        "'Gone Ltd, Rita Ray', _synced_at = '2099-01-01T00:00:00Z' WHERE id = ?",
        (contact,),
    )
    assert query(backend, sql, order) == [("Gone Ltd, Rita Ray",)]


def test_the_view_sql_names_the_best_name_column_and_skips_what_it_cannot_join() -> None:
    partner = MirrorTable(
        "res_partner",
        "res.partner",
        ("user", "id", "name", "complete_name", "_write_date", "_synced_at", "_deleted_at"),
        (
            FieldColumn("id", "integer", "id"),
            FieldColumn("name", "char", "name"),
            FieldColumn("complete_name", "char", "complete_name"),
        ),
    )
    order = MirrorTable(
        "sale_order",
        "sale.order",
        ("user", "id", "partner_id", "partner_id_name", "team_id", "team_id_name", "_synced_at"),
        (
            FieldColumn("id", "integer", "id"),
            FieldColumn("partner_id", "many2one", "partner_id", "partner_id_name", "res.partner"),
            FieldColumn("team_id", "many2one", "team_id", "team_id_name", "crm.team"),
        ),
    )
    select = view_select(order, [partner, order])
    assert select is not None
    assert 'coalesce("c1"."complete_name", "c1"."name", t."partner_id_name")' in select
    assert 't."team_id_name" AS "team_id_name"' in select  # crm.team is not mirrored
    assert select.count("LEFT JOIN") == 1
    assert view_select(partner, [partner, order]) is None

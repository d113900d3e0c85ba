"""Order lines and invoice lines, the two default line modules, synced against the simulator.

``invoice_lines`` mirrors the journal items of invoices only (``move_id.move_type`` in the four
invoice types); an item whose move changes type leaves or enters that filter without being
written itself (its ``move_type`` is not stored), so only reconcile can see it move.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import INVOICE_TYPES, Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import unnamed_fields

ONLY_DOCUMENTS = {"contacts": {"enabled": False}, "employees": {"enabled": False}}
FAST_RETRY = {"retry": {"attempts": 2, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}
INVOICE_FILTER = [["move_id.move_type", "in", INVOICE_TYPES]]
# The models these settings mirror: a many2one to one of them is kept without its name (an
# order line's order_id), one to any other with it (contacts are off: partner_id is named).
MIRRORED = frozenset({"sale.order", "account.move", "sale.order.line", "account.move.line"})


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(records=1500, seed=24)


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("modules", ONLY_DOCUMENTS)
    return Settings(db=tmp_path / "odoosync.db", http=FAST_RETRY, **values)


def add_user(settings: Settings, sim: Simulator) -> None:
    engine.user_add(
        settings,
        name="alice",
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=NewSecret(SecretStr(sim.api_key)),
    )


def sync(settings: Settings) -> dict[str, engine.ModulePlanInfo]:
    plans = {m.module: m for m in engine.prepare(settings, users=["alice"])[0].modules}
    report = engine.step(settings, users=["alice"])
    assert not report.errors and engine.user_get(settings, "alice").status == "done"
    return plans


def live(settings: Settings, table: str) -> dict[int, dict[str, Any]]:
    with SqliteMirror.open(settings.db_path) as store:
        return {r["id"]: r for r in store.read_records("alice", table)}


def tombstoned(settings: Settings, table: str) -> set[int]:
    with SqliteMirror.open(settings.db_path) as store:
        return {r["id"] for r in store.table_rows("alice", table) if r["_deleted_at"]}


def server_rows(sim: Simulator, model: str, domain: list[Any]) -> dict[int, dict[str, Any]]:
    """The simulator's own rows matching ``domain``: the truth, read past the API."""
    wanted = set(sim.store.search(model, domain, context={"active_test": False}))
    return {r["id"]: r for r in sim.store.exact_rows(model) if r["id"] in wanted}


def assert_lines_equal(settings: Settings, sim: Simulator) -> None:
    for table, model, domain in (
        ("sale_order_line", "sale.order.line", []),
        ("account_move_line", "account.move.line", INVOICE_FILTER),
    ):
        mine, theirs = live(settings, table), server_rows(sim, model, domain)
        assert sorted(mine) == sorted(theirs), table
        unnamed = unnamed_fields(sim.store, model, MIRRORED)
        assert "order_id" in unnamed or "move_id" in unnamed
        assert "partner_id" not in unnamed
        for rid, row in mine.items():
            expected = {
                k: [theirs[rid][k][0], None] if k in unnamed and theirs[rid][k] else theirs[rid][k]
                for k in row
            }
            assert row == expected, (
                table,
                rid,
                {k: (row[k], expected[k]) for k in row if row[k] != expected[k]},
            )


def test_lines_sync_in_full_then_incrementally_with_deletes_found(
    tmp_path: Path, sim: Simulator
) -> None:
    settings = make_settings(tmp_path, page_size=15, batch_size=40)
    add_user(settings, sim)
    plans = sync(settings)
    assert plans["order_lines"].kind == "full" and plans["order_lines"].batches > 1
    assert plans["invoice_lines"].kind == "full"
    assert_lines_equal(settings, sim)
    items = sim.store.search("account.move.line", [], context={"active_test": False})
    mirrored = live(settings, "account_move_line")
    assert 0 < len(mirrored) < len(items), "entries' items are left out"
    assert plans["invoice_lines"].expected == len(mirrored)

    # Between syncs: a line edited, one added to an order, one deleted, an invoice deleted
    # with its items.
    orders = sim.store.search(
        "sale.order", [["state", "=", "draft"]], context={"active_test": False}
    )
    order = orders[0]
    lines = sim.store.read("sale.order", [order], ["order_line"])[0]["order_line"]
    sim.write("sale.order.line", [lines[0]], {"product_uom_qty": 42, "name": "Edited line"})
    (added,) = sim.create("sale.order.line", [{"order_id": order, "name": "Added line"}])
    sim.unlink("sale.order.line", [lines[-1]])
    invoice = sim.store.search("account.move", [["move_type", "=", "out_invoice"]])[0]
    gone = sim.store.read("account.move", [invoice], ["line_ids"])[0]["line_ids"]
    sim.unlink("account.move", [invoice])

    plans = sync(settings)
    assert plans["order_lines"].kind == "incremental"
    assert plans["order_lines"].expected < 10, "the window holds only what changed"
    assert plans["order_lines"].reconcile and plans["invoice_lines"].reconcile
    assert_lines_equal(settings, sim)
    mine = live(settings, "sale_order_line")
    assert mine[lines[0]]["product_uom_qty"] == 42 and added in mine
    assert {lines[-1]} <= tombstoned(settings, "sale_order_line")
    assert set(gone) <= tombstoned(settings, "account_move_line")
    # The order's own list of lines followed (its write_date moved with its amounts).
    orders_mirror = live(settings, "sale_order")
    assert added in orders_mirror[order]["order_line"]
    assert lines[-1] not in orders_mirror[order]["order_line"]


def test_items_leave_and_enter_the_invoice_filter_when_their_move_changes_type(
    tmp_path: Path, sim: Simulator
) -> None:
    settings = make_settings(tmp_path)
    add_user(settings, sim)
    sync(settings)
    bill = sim.store.search("account.move", [["move_type", "=", "in_invoice"]])[0]
    entry = sim.store.search("account.move", [["move_type", "=", "entry"]])[0]
    bill_items = sim.store.read("account.move", [bill], ["line_ids"])[0]["line_ids"]
    entry_items = sim.store.read("account.move", [entry], ["line_ids"])[0]["line_ids"]
    assert set(bill_items) <= set(live(settings, "account_move_line"))
    assert not set(entry_items) & set(live(settings, "account_move_line"))
    before = {r["id"]: r["write_date"] for r in sim.store.exact_rows("account.move.line")}

    sim.write("account.move", [bill], {"move_type": "entry"})
    sim.write("account.move", [entry], {"move_type": "out_invoice"})
    after = {r["id"]: r["write_date"] for r in sim.store.exact_rows("account.move.line")}
    assert all(after[i] == before[i] for i in bill_items + entry_items), "no item was written"
    sync(settings)
    assert_lines_equal(settings, sim)
    assert set(bill_items) <= tombstoned(settings, "account_move_line")
    assert set(entry_items) <= set(live(settings, "account_move_line"))

    sim.write("account.move", [bill], {"move_type": "in_invoice"})
    sync(settings)
    assert_lines_equal(settings, sim)
    assert set(bill_items) <= set(live(settings, "account_move_line")), "back from tombstones"


def test_a_line_joins_its_document_in_one_line_of_sql(tmp_path: Path, simulator: Simulator) -> None:
    sim = simulator
    settings = make_settings(tmp_path)
    add_user(settings, sim)
    sync(settings)
    conn = sqlite3.connect(settings.db_path)
    try:
        joined = conn.execute(
            "SELECT o.name, l.price_subtotal FROM sale_order_line l "
            "JOIN sale_order o ON o.user = l.user AND o.id = l.order_id"
        ).fetchall()
        invoiced = conn.execute(
            "SELECT m.move_type, count(*) FROM account_move_line l "
            "JOIN account_move m ON m.user = l.user AND m.id = l.move_id GROUP BY m.move_type"
        ).fetchall()
        line, item = (
            {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for table in ("sale_order_line", "account_move_line")
        )
    finally:
        conn.close()
    # The default fields: the document's id and what an analyst reads, not the costly copies.
    assert {"order_id", "order_id_name", "product_id", "price_subtotal", "tax_ids"} <= line
    assert not {"order_partner_id", "salesman_id", "create_uid", "invoice_lines"} & line
    assert {"move_id", "account_id", "balance", "sale_line_ids", "matching_number"} <= item
    assert not {"matched_debit_ids", "tax_tag_ids", "write_uid"} & item
    assert len(joined) == len(sim.store.search("sale.order.line", []))
    assert {t for t, _ in invoiced} <= set(INVOICE_TYPES)
    totals: dict[str, float] = {}
    for name, subtotal in joined:
        totals[name] = totals.get(name, 0.0) + subtotal
    orders = sim.store.exact_rows("sale.order")
    assert {o["name"]: pytest.approx(o["amount_untaxed"]) for o in orders} == totals


def test_test_complete_covers_the_line_modules(tmp_path: Path, simulator: Simulator) -> None:
    sim = simulator
    config = tmp_path / "odoosync.toml"
    config.write_text(
        f'db = "{tmp_path / "odoosync.db"}"\npage_size = 100\n'
        "[modules.contacts]\nenabled = false\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path)
    add_user(settings, sim)
    result = CliRunner().invoke(
        app, ["--config", str(config), "test-complete", "--yes", "--sample", "500"]
    )
    assert result.exit_code == 0, result.output
    table = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines()
    ]
    rows = {cells[1]: cells for cells in table if len(cells) == 11}
    for model, domain in (("sale.order.line", []), ("account.move.line", INVOICE_FILTER)):
        count = len(sim.store.search(model, domain, context={"active_test": False}))
        # records, in Odoo, sampled, result
        cells = rows[model]
        assert (cells[2], cells[3], cells[9], cells[10]) == (str(count),) * 3 + ("ok",), cells

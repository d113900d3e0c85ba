"""The simulator's lines: kept in step with their documents the way Odoo keeps them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from odoo_sync_cli.simulator.generator import populate
from odoo_sync_cli.simulator.models import builtin_models
from odoo_sync_cli.simulator.query import Semantics
from odoo_sync_cli.simulator.store import SimStore

INVOICE_TYPES = ["out_invoice", "out_refund", "in_invoice", "in_refund"]
ALL = {"active_test": False}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 10, 0, 0, 250000)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> Iterator[SimStore]:
    with SimStore(builtin_models(), semantics=Semantics(), clock=Clock()) as sim:
        populate(sim, 1500, seed=2)
        yield sim


def stamps(store: SimStore, model: str, ids: list[int]) -> dict[int, str]:
    return {r["id"]: r["write_date"] for r in store.read(model, ids, ["write_date"])}


def test_the_invoice_filter_reads_the_same_through_the_path_and_the_related_field(
    store: SimStore,
) -> None:
    by_path = store.search(
        "account.move.line", [["move_id.move_type", "in", INVOICE_TYPES]], order="id"
    )
    by_related = store.search("account.move.line", [["move_type", "in", INVOICE_TYPES]], order="id")
    entries = store.search("account.move", [["move_type", "=", "entry"]])
    assert entries, "the generated data holds entries, which the filter leaves out"
    everything = store.search("account.move.line", [], order="id")
    assert by_path == by_related
    assert 0 < len(by_path) < len(everything)
    outside = set(everything) - set(by_path)
    rows = store.read("account.move.line", sorted(outside), ["move_id"])
    assert {r["move_id"][0] for r in rows} <= set(entries)


def test_creating_and_deleting_lines_updates_and_stamps_their_document(store: SimStore) -> None:
    order = store.search("sale.order", [["state", "=", "draft"]], limit=1, context=ALL)[0]
    before = store.read("sale.order", [order], ["order_line", "write_date"])[0]
    (new,) = store.create(
        "sale.order.line", [{"order_id": order, "name": "Extra desk", "product_uom_qty": 2}]
    )
    after = store.read("sale.order", [order], ["order_line", "write_date"])[0]
    assert set(after["order_line"]) == set(before["order_line"]) | {new}
    assert after["write_date"] > before["write_date"]
    store.unlink("sale.order.line", [new, before["order_line"][0]])
    gone = store.read("sale.order", [order], ["order_line"])[0]["order_line"]
    assert set(gone) == set(before["order_line"][1:])


def test_a_document_deleted_takes_its_lines(store: SimStore) -> None:
    move = store.search("account.move", [["move_type", "=", "out_invoice"]], limit=1)[0]
    lines = store.read("account.move", [move], ["line_ids"])[0]["line_ids"]
    assert lines
    store.unlink("account.move", [move])
    assert store.search("account.move.line", [["id", "in", lines]]) == []


def test_confirming_an_order_rewrites_the_state_of_its_lines(store: SimStore) -> None:
    order = store.search("sale.order", [["state", "=", "draft"]], limit=1, context=ALL)[0]
    lines = store.read("sale.order", [order], ["order_line"])[0]["order_line"]
    before = stamps(store, "sale.order.line", lines)
    store.write("sale.order", [order], {"state": "sale"})
    rows = store.read("sale.order.line", lines, ["state", "write_date"])
    assert {r["state"] for r in rows} == {"sale"}
    assert all(r["write_date"] > before[r["id"]] for r in rows)
    # A change the lines do not copy leaves them alone.
    again = stamps(store, "sale.order.line", lines)
    store.write("sale.order", [order], {"client_order_ref": "PO-1"})
    assert stamps(store, "sale.order.line", lines) == again


def test_a_move_changing_type_leaves_its_lines_unstamped(store: SimStore) -> None:
    """The move_type of a line is not stored: the lines leave the filter without a write."""
    move = store.search("account.move", [["move_type", "in", INVOICE_TYPES]], limit=1)[0]
    lines = store.read("account.move", [move], ["line_ids"])[0]["line_ids"]
    before = stamps(store, "account.move.line", lines)
    store.write("account.move", [move], {"move_type": "entry"})
    assert stamps(store, "account.move.line", lines) == before
    inside = store.search("account.move.line", [["move_id.move_type", "in", INVOICE_TYPES]])
    assert not set(lines) & set(inside)


def test_moving_a_line_to_another_document_updates_both(store: SimStore) -> None:
    first, second = store.search("account.move", [["move_type", "=", "out_invoice"]], limit=2)
    lines = store.read("account.move", [first], ["line_ids", "invoice_line_ids"])[0]
    product = lines["invoice_line_ids"][0]
    store.write("account.move.line", [product], {"move_id": second})
    a, b = store.read("account.move", [first, second], ["line_ids", "invoice_line_ids"])
    assert product not in a["line_ids"] and product not in a["invoice_line_ids"]
    assert product in b["line_ids"] and product in b["invoice_line_ids"]
    store.write("account.move.line", [product], {"display_type": "line_note"})
    b = store.read("account.move", [second], ["invoice_line_ids"])[0]
    assert product in b["invoice_line_ids"], "a note is an invoice line too"
    store.write("account.move.line", [product], {"display_type": "tax"})
    b = store.read("account.move", [second], ["line_ids", "invoice_line_ids"])[0]
    assert product in b["line_ids"] and product not in b["invoice_line_ids"]

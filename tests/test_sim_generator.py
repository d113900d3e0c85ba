"""The data generator: deterministic, proportioned, consistent, and full of write_date traps."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import pytest

from odoo_sync_cli.simulator.generator import expected_sizes, generate, populate
from odoo_sync_cli.simulator.models import builtin_models
from odoo_sync_cli.simulator.testing import make_store

GENERATED = (
    "res.partner",
    "sale.order",
    "account.move",
    "hr.employee",
    "sale.order.line",
    "account.move.line",
)
LINES = ("sale.order.line", "account.move.line")
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")


def _collect(records: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for model, chunk in generate(records, seed=seed):
        rows[model].extend(chunk)
    return dict(rows)


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict[str, Any]]]:
    return _collect(5000, seed=7)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert _collect(800, seed=3) == _collect(800, seed=3)
    other = _collect(800, seed=4)["res.partner"]
    assert other != _collect(800, seed=3)["res.partner"]


def test_sizes_and_proportions(data: dict[str, list[dict[str, Any]]]) -> None:
    documents = {m: len(rows) for m, rows in data.items() if m not in LINES}
    assert documents == expected_sizes(5000)
    assert len(data["sale.order"]) <= len(data["sale.order.line"]) <= 6 * len(data["sale.order"])
    assert 2 * len(data["account.move"]) <= len(data["account.move.line"])
    assert len(data["account.move.line"]) <= 7 * len(data["account.move"])
    partners = data["res.partner"]
    assert [p["id"] for p in partners] == list(range(1, 5001))
    companies = sum(p["is_company"] for p in partners) / len(partners)
    archived = sum(not p["active"] for p in partners) / len(partners)
    with_parent = sum(bool(p["parent_id"]) for p in partners) / len(partners)
    assert 0.07 <= companies <= 0.13
    assert 0.16 <= archived <= 0.24
    assert 0.15 <= with_parent <= 0.45
    employees = data["hr.employee"]
    assert 0 < sum(not e["active"] for e in employees) < len(employees) / 4
    states = Counter(o["state"] for o in data["sale.order"])
    assert set(states) == {"draft", "sent", "sale", "cancel"}
    moves = data["account.move"]
    types = Counter(m["move_type"] for m in moves)
    assert {"out_invoice", "out_refund", "in_invoice", "in_refund", "entry"} <= set(types)
    drafts = [m for m in moves if m["state"] == "draft"]
    assert drafts and all(m["name"] is False for m in drafts)
    assert all(m["name"] for m in moves if m["state"] == "posted")


def test_every_link_resolves(data: dict[str, list[dict[str, Any]]]) -> None:
    registry = builtin_models()
    ids = {m: {r["id"] for r in rows} for m, rows in data.items()}
    display = {p["id"]: p["complete_name"] for p in data["res.partner"]}
    display_employee = {e["id"]: e["name"] for e in data["hr.employee"]}
    checked = 0
    for model, rows in data.items():
        fields = registry[model].fields
        for row in rows:
            for key, value in row.items():
                spec = fields.get(key)
                if spec is None or spec.relation not in GENERATED or not value:
                    continue
                if spec.type == "many2one":
                    target, name = value
                    assert target in ids[spec.relation], (model, row["id"], key, value)
                    if spec.relation == "res.partner":
                        assert name == display[target], (model, row["id"], key)
                    if spec.relation == "hr.employee":
                        assert name == display_employee[target]
                else:
                    assert set(value) <= ids[spec.relation], (model, row["id"], key)
                checked += 1
    assert checked > 5000


def test_families_are_consistent(data: dict[str, list[dict[str, Any]]]) -> None:
    partners = {p["id"]: p for p in data["res.partner"]}
    children: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in partners.values():
        if p["parent_id"]:
            children[p["parent_id"][0]].append(p)
    for p in partners.values():
        if p["parent_id"]:
            parent = partners[p["parent_id"][0]]
            assert p["complete_name"] == f"{parent['name']}, {p['name']}"
            assert p["commercial_partner_id"] == p["parent_id"]
        else:
            assert p["complete_name"] == p["name"]
        ordered = sorted(children[p["id"]], key=lambda c: (c["complete_name"].encode(), -c["id"]))
        expected = [c["id"] for c in ordered if c["active"]]
        assert p.get("child_ids", []) == expected
    # sale_order_ids mirror sale.order.partner_id.
    by_partner: dict[int, set[int]] = defaultdict(set)
    for order in data["sale.order"]:
        by_partner[order["partner_id"][0]].add(order["id"])
    for pid, orders in by_partner.items():
        assert set(partners[pid]["sale_order_ids"]) == orders


def test_timestamps(data: dict[str, list[dict[str, Any]]]) -> None:
    for model, rows in data.items():
        for row in rows:
            assert row["__create_date_us"] <= row["__write_date_us"], (model, row["id"])
            assert row["write_date"] == row["__write_date_us"][:19]
            assert row["create_date"] == row["__create_date_us"][:19]
    partners = data["res.partner"]
    years = {p["__write_date_us"][:4] for p in partners}
    assert len(years) >= 4  # spread over years


def test_bursts_and_crowded_seconds() -> None:
    partners = _collect(2000, seed=0)["res.partner"]
    shared = Counter(p["__write_date_us"] for p in partners)
    assert shared.most_common(1)[0][1] >= 100  # a bulk import: one exact write_date
    per_second: dict[str, set[str]] = defaultdict(set)
    for p in partners:
        per_second[p["write_date"]].add(p["__write_date_us"])
    crowded = [s for s, exact in per_second.items() if len(exact) > 1]
    assert crowded  # one displayed second, several transactions


def test_later_transactions_with_lower_ids_inside_one_second(
    data: dict[str, list[dict[str, Any]]],
) -> None:
    """The trap of a busy server: in one second, later transactions hold lower ids."""
    by_second: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for p in data["res.partner"]:
        by_second[p["write_date"]].append((p["__write_date_us"], p["id"]))
    inverted = 0
    for rows in by_second.values():
        ordered = [rid for _, rid in sorted(rows)]  # the server's write_date order
        inverted += sum(1 for a, b in pairwise(ordered) if b < a)
    assert inverted >= 200


def test_lines_add_up_to_their_documents(data: dict[str, list[dict[str, Any]]]) -> None:
    """Order lines sum to their order; an invoice's items balance; entries are there too."""
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in data["sale.order.line"]:
        lines[line["order_id"][0]].append(line)
    for order in data["sale.order"]:
        mine = lines[order["id"]]
        assert sorted(line["id"] for line in mine) == sorted(order["order_line"])
        assert sum(line.get("price_subtotal", 0.0) for line in mine) == pytest.approx(
            order["amount_untaxed"], abs=0.005
        )
        assert sum(line.get("price_tax", 0.0) for line in mine) == pytest.approx(
            order["amount_tax"], abs=0.005
        )
        assert all(line["state"] == order["state"] for line in mine)
        assert all(
            line["__write_date_us"] >= order["__create_date_us"] == line["__create_date_us"]
            for line in mine
        )
    kinds = Counter(line["display_type"] for line in data["sale.order.line"])
    assert kinds[False] > 10 * (kinds["line_section"] + kinds["line_note"]) > 0
    items: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in data["account.move.line"]:
        items[item["move_id"][0]].append(item)
    for move in data["account.move"]:
        mine = items[move["id"]]
        assert sorted(item["id"] for item in mine) == sorted(move["line_ids"])
        assert sum(item["balance"] for item in mine) == pytest.approx(0.0, abs=0.005)
        assert all(item["debit"] * item["credit"] == 0 for item in mine)
        assert all(item["parent_state"] == move["state"] for item in mine)
        if move["move_type"] in INVOICE_TYPES:
            products = [i["id"] for i in mine if i["display_type"] == "product"]
            assert products == move["invoice_line_ids"]
            term = [i for i in mine if i["display_type"] == "payment_term"]
            assert [abs(t["balance"]) for t in term] == [pytest.approx(move["amount_total"])]
    entries = [i for i in data["account.move.line"] if i["move_id"][0] in _entries(data)]
    assert 0.03 < len(entries) / len(data["account.move.line"]) < 0.2
    shared = Counter(i["__write_date_us"] for i in data["account.move.line"])
    assert shared.most_common(1)[0][1] >= 3  # written with their move: one transaction


def _entries(data: dict[str, list[dict[str, Any]]]) -> set[int]:
    return {m["id"] for m in data["account.move"] if m["move_type"] == "entry"}


def test_employee_skills_are_listed(data: dict[str, list[dict[str, Any]]]) -> None:
    skills = [e["employee_skill_ids"] for e in data["hr.employee"]]
    flat = [i for ids in skills for i in ids]
    assert len(flat) == len(set(flat)) > len(skills)  # one2many: each skill has one employee
    assert sum(len(ids) > 2 for ids in skills) > len(skills) / 4


def test_populate_loads_a_store() -> None:
    store = make_store()
    try:
        counts = populate(store, 600, seed=1)
        assert {m: n for m, n in counts.items() if m not in LINES} == expected_sizes(600)
        assert counts["sale.order.line"] >= counts["sale.order"]
        assert store.search_count("account.move.line", []) == counts["account.move.line"]
        assert store.search_count("res.partner", [], context={"active_test": False}) == 600
        assert store.search_count("res.partner", [["active", "=", False]]) > 0
        row = store.read("res.partner", [1], ["name", "child_ids"])[0]
        assert row["name"] == "YourCompany"
        assert row["child_ids"] == [6, 3]
    finally:
        store.close()


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        list(generate(5))

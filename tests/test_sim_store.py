"""SimStore against the recorded Odoo 19 dataset, and its create/write/unlink behaviour.

The dataset is loaded once for the module and only read. Tests that write use a fresh small
store (partners 1..100, all orders, moves and employees) with a clock they control.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from odoo_sync_cli.simulator.errors import OdooServerError
from odoo_sync_cli.simulator.models import builtin_models
from odoo_sync_cli.simulator.query import Semantics
from odoo_sync_cli.simulator.store import SimStore

DATASET = Path(__file__).resolve().parent.parent / "fixtures" / "odoo19" / "dataset"
COUNTS = {"res.partner": 20211, "sale.order": 320, "account.move": 276, "hr.employee": 171}
ADMIN = [2, "Mitchell Admin"]


def dataset_rows(model: str, limit: int | None = None) -> list[dict[str, Any]]:
    with gzip.open(DATASET / f"{model}.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in islice(handle, limit)]


def api_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("__")}


X2MANY = {
    (model, name)
    for model, spec in builtin_models().items()
    for name, fld in spec.fields.items()
    if fld.type in ("one2many", "many2many")
}


def as_sets(model: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its x2many values ascending: they are sets, read in no fixed order."""
    return {k: sorted(v) if (model, k) in X2MANY else v for k, v in row.items()}


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[SimStore, dict[str, int]]]:
    store = SimStore(builtin_models())
    counts = store.load_dataset(DATASET)
    yield store, counts
    store.close()


@pytest.fixture(scope="module")
def dataset_store(loaded: tuple[SimStore, dict[str, int]]) -> SimStore:
    return loaded[0]


ALL = {"active_test": False}


# --------------------------------------------------------------------------------------------
# the recorded dataset, read back


def test_load_counts(loaded: tuple[SimStore, dict[str, int]]) -> None:
    store, counts = loaded
    assert counts == COUNTS
    for model, count in COUNTS.items():
        assert store.ids(model) == list(range(1, count + 1))
        assert store.search_count(model, [], context=ALL) == count
    assert store.search_count("res.partner", []) == 16208
    assert store.search_count("res.partner", [("active", "=", False)]) == 4003
    assert store.search_count("hr.employee", []) == 171


@pytest.mark.parametrize("model", sorted(COUNTS))
def test_exact_rows_reproduce_the_dataset(dataset_store: SimStore, model: str) -> None:
    expected = [api_row(r) for r in dataset_rows(model)]
    got = dataset_store.exact_rows(model)
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        assert have == as_sets(model, want)
        # Same JSON types too: 0.0 stays a float, False stays a bool.
        assert {k: type(v) for k, v in have.items()} == {k: type(v) for k, v in want.items()}


def test_search_read_pages_reproduce_the_partners(dataset_store: SimStore) -> None:
    """Paged by id as the dataset was recorded: every row comes back field for field.

    x2many ids that tie in their comodel's order come back in any order (see the next test);
    with ties in a fixed order the store gives exactly the order the recorded server gave.
    """
    expected = iter(dataset_rows("res.partner"))
    cursor = pages = 0
    dataset_store.shuffle_ties = False
    try:
        while page := dataset_store.search_read(
            "res.partner", [("id", ">", cursor)], None, order="id asc", limit=2000, context=ALL
        ):
            pages += 1
            for row in page:
                assert row == api_row(next(expected))
            cursor = page[-1]["id"]
    finally:
        dataset_store.shuffle_ties = True
    assert pages == 11
    assert next(expected, None) is None


def test_rows_tied_under_the_order_come_back_in_changing_orders(dataset_store: SimStore) -> None:
    """No implicit id tiebreak: rows equal on every order term come back in any order."""
    domain = [("id", "<=", 300)]
    reads = [dataset_store.search("res.partner", domain, order="is_company desc") for _ in range(3)]
    assert reads[0] != reads[1] or reads[1] != reads[2]
    companies = set(dataset_store.search("res.partner", [*domain, ("is_company", "=", True)]))
    for ids in reads:
        assert sorted(ids) == sorted(reads[0])
        flags = [i in companies for i in ids]
        assert flags == sorted(flags, reverse=True)  # still sorted by the order asked for
    # An order ending in id leaves nothing tied: the same answer every time.
    total = [dataset_store.search("res.partner", domain, order="is_company desc, id") for _ in "ab"]
    assert total[0] == total[1]
    dataset_store.shuffle_ties = False
    try:
        fixed = [dataset_store.search("res.partner", domain, order="is_company desc") for _ in "ab"]
    finally:
        dataset_store.shuffle_ties = True
    assert fixed[0] == fixed[1]


def test_tied_x2many_ids_come_back_in_changing_orders(dataset_store: SimStore) -> None:
    """hr.employee.skill sorts by skill type and level: two reads can list ties differently."""
    ids = dataset_store.ids("hr.employee")
    fields = ["employee_skill_ids", "child_ids"]
    reads = [dataset_store.read("hr.employee", ids, fields) for _ in range(4)]
    first = {r["id"]: r for r in reads[0]}
    changed = set()
    for again in reads[1:]:
        for row in again:
            assert as_sets("hr.employee", row) == as_sets("hr.employee", first[row["id"]])
            if row["employee_skill_ids"] != first[row["id"]]["employee_skill_ids"]:
                changed.add(row["id"])
    assert len(changed) >= 3
    # The dataset's lists are one order the real server gave: ties in a fixed order give it.
    dataset_store.shuffle_ties = False
    try:
        fixed = dataset_store.read("hr.employee", ids, fields)
    finally:
        dataset_store.shuffle_ties = True
    recorded = {r["id"]: r for r in dataset_rows("hr.employee")}
    assert all(row[f] == recorded[row["id"]][f] for row in fixed for f in fields)


def test_stored_microseconds_read_back_in_seconds(dataset_store: SimStore) -> None:
    sample = dataset_rows("sale.order", 40)
    stored = dict(
        dataset_store.conn.execute("SELECT id, write_date FROM sale_order WHERE id <= 40")
    )
    for row in sample:
        assert stored[row["id"]] == row["__write_date_us"]
        assert row["__write_date_us"].startswith(row["write_date"])
    read = dataset_store.read("sale.order", [row["id"] for row in sample], ["write_date"])
    assert [r["write_date"] for r in read] == [row["write_date"] for row in sample]


def test_derived_values_agree_with_the_recording(dataset_store: SimStore) -> None:
    """The store's rules for complete_name and child_ids reproduce what Odoo stored."""
    spec = dataset_store.registry["res.partner"]
    ids = dataset_store.ids("res.partner")
    with dataset_store._lock, dataset_store._transaction():
        changed = dataset_store._recompute_partners(
            spec, ids, stamp=None, written=set(ids), descend=False
        )
        assert changed == set()
        for model in ("res.partner", "hr.employee"):
            before = dataset_store.exact_rows(model)
            parents = {r["parent_id"][0] for r in before if r["parent_id"]}
            dataset_store._refresh_children(dataset_store.registry[model], parents, set())
            assert dataset_store.exact_rows(model) == before


def test_id_paging_sees_every_row_once(dataset_store: SimStore) -> None:
    seen: list[int] = []
    cursor = 0
    while page := dataset_store.search(
        "res.partner", [("id", ">", cursor)], order="id asc", limit=1000, context=ALL
    ):
        seen.extend(page)
        cursor = page[-1]
    assert seen == list(range(1, 20212))


def test_write_date_keyset_repeats_and_skips(dataset_store: SimStore) -> None:
    """The (write_date, id) cursor built from values read back is wrong, as on Odoo."""

    def page(second: str, last_id: int) -> list[dict[str, Any]]:
        domain = [
            "|",
            ("write_date", ">", second),
            "&",
            ("write_date", "=", second),
            ("id", ">", last_id),
        ]
        return dataset_store.search_read(
            "res.partner",
            domain,
            ["write_date"],
            order="write_date asc, id asc",
            limit=100,
            context=ALL,
        )

    first = page("2026-11-28 18:55:13", 7794)
    second = page(first[-1]["write_date"], first[-1]["id"])
    third = page(second[-1]["write_date"], second[-1]["id"])
    ids = [r["id"] for r in first + second + third]
    assert len(ids) == 300
    assert len(set(ids)) == 172


def test_odoo17_compares_datetimes_at_full_precision() -> None:
    with SimStore(builtin_models(), semantics=Semantics(version=17), path=":memory:") as store:
        store.load_rows("sale.order", dataset_rows("sale.order"))
        # Odoo 19 answers 180 and 203 (see the recorded cases); <= 18 compares microseconds.
        assert store.search_count("sale.order", [("write_date", ">", "2026-11-28 18:55:23")]) == 203
        assert (
            store.search_count("sale.order", [("write_date", ">=", "2026-11-28 18:55:23")]) == 203
        )
        assert store.search_count("sale.order", [("write_date", "=", "2026-11-28 18:55:19")]) == 0


def test_read_and_search_read_details(dataset_store: SimStore) -> None:
    store = dataset_store
    assert [r["id"] for r in store.read("res.partner", [3, 999999, 1, 3], ["name"])] == [3, 1, 3]
    assert store.read("res.partner", [2], ["active"]) == [{"id": 2, "active": False}]
    assert store.read("res.partner", 1, ["name"]) == [{"id": 1, "name": "YourCompany"}]
    assert store.search_read("hr.employee", [], ["name"], order="id", limit=3, offset=500) == []
    assert len(store.search_read("hr.employee", [], ["name"], limit=0)) == 171
    assert store.search("hr.employee", [], order="id asc", limit=3, offset=2) == [3, 4, 5]
    assert store.search_count("res.partner", [], limit=10) == 10
    row = store.search_read(
        "res.partner",
        [("id", "=", 22)],
        ["display_name", "complete_name", "image_1920", "company_type", "tz_offset", "id"],
    )
    assert row == [
        {
            "id": 22,
            "display_name": "Ready Mat, Billy Fox",
            "complete_name": "Ready Mat, Billy Fox",
            "image_1920": False,
            "company_type": False,
            "tz_offset": False,
        }
    ]
    moves = store.search_read("account.move", [("id", "in", [1, 57])], ["display_name", "name"])
    assert sorted((m["id"], m["display_name"], m["name"]) for m in moves) == [
        (1, "INV/2026/00001", "INV/2026/00001"),
        (57, "Draft Credit Note (* 57)", False),
    ]


@pytest.mark.parametrize(
    ("call", "name", "message"),
    [
        (
            lambda s: s.search_read("res.partner", [], ["name", "no_such_field"]),
            "builtins.ValueError",
            "Invalid field 'no_such_field' on 'res.partner'",
        ),
        (
            lambda s: s.read("sale.order", [1], ["nope"]),
            "builtins.ValueError",
            "Invalid field 'nope' on 'sale.order'",
        ),
        (
            lambda s: s.search_read("no.such.model", []),
            "odoo.exceptions.UserError",
            "Object no.such.model doesn't exist",
        ),
        (
            lambda s: s.fields_get("no.such.model"),
            "odoo.exceptions.UserError",
            "Object no.such.model doesn't exist",
        ),
        (
            lambda s: s.search("res.partner", [], order="display_name"),
            "builtins.ValueError",
            "Cannot convert res.partner.display_name to SQL because it is not stored",
        ),
    ],
)
def test_read_errors(dataset_store: SimStore, call: Any, name: str, message: str) -> None:
    with pytest.raises(OdooServerError) as info:
        call(dataset_store)
    assert (info.value.name, info.value.message) == (name, message)


def test_fields_get(dataset_store: SimStore) -> None:
    got = dataset_store.fields_get(
        "hr.employee", ["name", "parent_id", "not_a_field"], ["type", "relation", "string"]
    )
    assert got == {
        "name": {"type": "char", "string": "Employee Name"},
        "parent_id": {"type": "many2one", "relation": "hr.employee", "string": "Manager"},
    }
    everything = dataset_store.fields_get("sale.order")
    assert len(everything) == len(builtin_models()["sale.order"].fields)
    everything["state"]["selection"].append(["x", "X"])
    assert ["x", "X"] not in dataset_store.fields_get("sale.order", ["state"])["state"]["selection"]


# --------------------------------------------------------------------------------------------
# writing


class Clock:
    """A controllable clock: naive UTC, microseconds kept."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 10, 0, 0, 123456)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> str:
        self.now += timedelta(seconds=seconds)
        return self.now.strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[SimStore]:
    with SimStore(builtin_models(), clock=clock) as small:
        small.load_rows("res.partner", dataset_rows("res.partner", 100))
        for model in ("sale.order", "account.move", "hr.employee"):
            small.load_rows(model, dataset_rows(model))
        yield small


def raw(store: SimStore, model: str, rid: int, column: str) -> Any:
    table = store.registry[model].table
    return store.conn.execute(f'SELECT "{column}" FROM "{table}" WHERE id = ?', [rid]).fetchone()[0]


def partner(store: SimStore, rid: int, *fields: str) -> dict[str, Any]:
    return store.read("res.partner", [rid], list(fields))[0]


def test_create_stamps_every_record_alike(store: SimStore, clock: Clock) -> None:
    stamp = clock.tick(0.5)
    ids = store.create("res.partner", [{"name": "Ann"}, {"name": "Ben", "email": "b@x.example"}])
    assert ids == [101, 102]
    for rid in ids:
        assert raw(store, "res.partner", rid, "write_date") == stamp
        assert raw(store, "res.partner", rid, "create_date") == stamp
    rows = store.read("res.partner", ids, ["write_date", "create_uid", "write_uid", "active"])
    assert rows == [
        {
            "id": rid,
            "write_date": stamp[:19],
            "create_uid": ADMIN,
            "write_uid": ADMIN,
            "active": True,
        }
        for rid in ids
    ]
    assert store.search("res.partner", [("write_date", "=", stamp[:19])], order="id") == ids
    assert store.search("res.partner", [("write_date", ">", stamp[:19])]) == []


def test_create_contact_computes_names_and_parent_children(store: SimStore, clock: Clock) -> None:
    parent_before = raw(store, "res.partner", 11, "write_date")
    (rid,) = store.create("res.partner", [{"name": "Zed Zulu", "parent_id": 11}])
    assert partner(store, rid, "complete_name", "commercial_partner_id") == {
        "id": rid,
        "complete_name": "Ready Mat, Zed Zulu",
        "commercial_partner_id": [11, "Ready Mat"],
    }
    children = partner(store, 11, "child_ids")["child_ids"]
    assert children == [22, 26, 38, 25, 37, 31, 39, rid]
    assert raw(store, "res.partner", 11, "write_date") == parent_before
    (order,) = store.create("sale.order", [{"name": "S99999", "partner_id": rid}])
    assert store.read("sale.order", [order], ["partner_id"])[0]["partner_id"] == [
        rid,
        "Ready Mat, Zed Zulu",
    ]


def test_write_shares_one_write_date(store: SimStore, clock: Clock) -> None:
    stamp = clock.tick(3.25)
    assert store.write("sale.order", [5, 6, 7], {"client_order_ref": "PO-1"}) is True
    assert {raw(store, "sale.order", i, "write_date") for i in (5, 6, 7)} == {stamp}
    found = store.search_read(
        "sale.order", [("write_date", ">=", stamp[:19])], ["client_order_ref"]
    )
    assert sorted((r["id"], r["client_order_ref"]) for r in found) == [
        (5, "PO-1"),
        (6, "PO-1"),
        (7, "PO-1"),
    ]
    assert raw(store, "sale.order", 8, "write_date") != stamp


def test_late_commit_lands_in_the_past(store: SimStore, clock: Clock) -> None:
    high_water = clock.tick(60)[:19]
    clock.tick(30)
    store.write("sale.order", [9], {"note": "late"}, at=datetime(2026, 12, 1, 10, 0, 30, 5))
    assert raw(store, "sale.order", 9, "write_date") == "2026-12-01 10:00:30.000005"
    # An incremental sync from the high-water mark does not see it; a look-back does.
    assert store.search("sale.order", [("write_date", ">=", high_water)]) == []
    assert store.search("sale.order", [("write_date", ">=", "2026-12-01 10:00:00")]) == [9]
    (late,) = store.create("hr.employee", [{"name": "Late Larry"}], at=datetime(2020, 1, 1))
    assert store.read("hr.employee", [late], ["create_date"])[0]["create_date"] == (
        "2020-01-01 00:00:00"
    )


def test_rename_company_restamps_its_contacts(store: SimStore, clock: Clock) -> None:
    untouched = raw(store, "sale.order", 2, "write_date")
    stamp = clock.tick()
    store.write("res.partner", [11], {"name": "Ready Mats"})
    assert partner(store, 11, "complete_name")["complete_name"] == "Ready Mats"
    contact = partner(store, 22, "complete_name", "commercial_company_name", "write_date")
    assert contact == {
        "id": 22,
        "complete_name": "Ready Mats, Billy Fox",
        "commercial_company_name": "Ready Mats",
        "write_date": stamp[:19],
    }
    assert raw(store, "res.partner", 22, "write_date") == stamp
    # Other records show the new display name without being written themselves.
    order = store.read("sale.order", [2], ["partner_id", "write_date"])[0]
    assert order["partner_id"] == [11, "Ready Mats"]
    assert raw(store, "sale.order", 2, "write_date") == untouched
    assert store.search("sale.order", [("partner_id", "ilike", "mats")], order="id") == [2, 3]


def test_write_parent_and_child_together(store: SimStore, clock: Clock) -> None:
    stamp = clock.tick()
    store.write("res.partner", [22, 11], {"name": "Zed"})
    assert partner(store, 22, "complete_name")["complete_name"] == "Zed, Zed"
    assert partner(store, 26, "complete_name")["complete_name"] == "Zed, Edith Sanchez"
    assert {raw(store, "res.partner", i, "write_date") for i in (11, 22, 26)} == {stamp}
    # complete_name is computed: a value written to it does not stick.
    store.write("res.partner", [26], {"complete_name": "Something else"})
    assert partner(store, 26, "complete_name")["complete_name"] == "Zed, Edith Sanchez"


def test_archive_and_unarchive_contact(store: SimStore) -> None:
    store.write("res.partner", [26], {"active": False})
    assert 26 not in partner(store, 11, "child_ids")["child_ids"]
    assert 26 not in store.search("res.partner", [("parent_id", "=", 11)])
    assert partner(store, 26, "active") == {"id": 26, "active": False}
    store.write("res.partner", [26], {"active": True})
    assert partner(store, 11, "child_ids")["child_ids"] == [22, 26, 38, 25, 37, 31, 39]


def test_unlink(store: SimStore, clock: Clock) -> None:
    assert store.unlink("res.partner", [38, 999999]) is True
    assert store.read("res.partner", [38], ["name"]) == []
    assert 38 not in store.search("res.partner", [], context=ALL)
    assert 38 not in partner(store, 11, "child_ids")["child_ids"]
    assert store.unlink("res.partner", [38]) is True
    store.unlink("res.partner", [100])
    # Ids are never reused, as with a PostgreSQL sequence.
    assert store.create("res.partner", [{"name": "New"}]) == [101]


def test_write_errors(store: SimStore) -> None:
    with pytest.raises(OdooServerError) as info:
        store.write("res.partner", [1, 424242], {"name": "x"})
    assert info.value.name == "odoo.exceptions.MissingError"
    assert info.value.message.startswith("Record does not exist or has been deleted.")
    assert partner(store, 1, "name")["name"] == "YourCompany"
    with pytest.raises(OdooServerError) as info:
        store.write("res.partner", [1], {"bogus": 1})
    assert (info.value.name, info.value.message) == (
        "builtins.ValueError",
        "Invalid field 'bogus' on model 'res.partner'",
    )
    with pytest.raises(OdooServerError):
        store.create("sale.order", [{"date_order": "2026-12-01T10:00:00"}])
    with pytest.raises(OdooServerError):
        store.write("res.partner", [1], {"category_id": [(0, 0, {"name": "new tag"})]})
    before = len(store.ids("sale.order"))
    with pytest.raises(OdooServerError):
        store.create("sale.order", [{"name": "ok"}, {"nope": 1}])
    assert len(store.ids("sale.order")) == before


def test_values_written_read_back(store: SimStore) -> None:
    (oid,) = store.create(
        "sale.order",
        [
            {
                "name": "S1",
                "date_order": "2026-12-01 09:30:00",
                "validity_date": "2026-12-31",
                "amount_total": 12,
                "locked": 1,
                "company_id": [1, "YourCompany"],
                "team_id": False,
                "customizable_pdf_form_fields": {"a": [1, 2]},
                "tag_ids": [3, 1],
                "signature": "aGVsbG8=",
            }
        ],
    )
    assert store.read(
        "sale.order",
        [oid],
        [
            "date_order",
            "validity_date",
            "amount_total",
            "locked",
            "company_id",
            "team_id",
            "customizable_pdf_form_fields",
            "tag_ids",
            "signature",
            "note",
        ],
    )[0] == {
        "id": oid,
        "date_order": "2026-12-01 09:30:00",
        "validity_date": "2026-12-31",
        "amount_total": 12.0,
        "locked": True,
        "company_id": [1, "YourCompany"],
        "team_id": False,
        "customizable_pdf_form_fields": {"a": [1, 2]},
        "tag_ids": [3, 1],
        "signature": False,
        "note": False,
    }
    steps: list[tuple[Any, list[int]]] = [
        ([(6, 0, [1, 2])], [1, 2]),
        ([(4, 3), (4, 1)], [1, 2, 3]),
        ([(3, 1)], [2, 3]),
        ([(5,)], []),
        ([7, 8], [7, 8]),
        (False, []),
    ]
    for command, expected in steps:
        store.write("sale.order", [oid], {"tag_ids": command})
        assert store.read("sale.order", [oid], ["tag_ids"])[0]["tag_ids"] == expected


def test_writing_child_ids_moves_children(store: SimStore, clock: Clock) -> None:
    stamp = clock.tick()
    store.write("res.partner", [8], {"child_ids": [(4, 22)]})
    assert partner(store, 22, "parent_id", "complete_name") == {
        "id": 22,
        "parent_id": [8, "Wood Corner"],
        "complete_name": "Wood Corner, Billy Fox",
    }
    assert raw(store, "res.partner", 22, "write_date") == stamp
    assert 22 in partner(store, 8, "child_ids")["child_ids"]
    assert 22 not in partner(store, 11, "child_ids")["child_ids"]
    (rid,) = store.create(
        "res.partner", [{"name": "Holding", "is_company": True, "child_ids": [25]}]
    )
    assert partner(store, 25, "complete_name")["complete_name"] == "Holding, Kim Snyder"
    assert partner(store, rid, "child_ids")["child_ids"] == [25]


def test_employee_children_follow_name_order(store: SimStore) -> None:
    (rid,) = store.create("hr.employee", [{"name": "Aaron Aardvark", "parent_id": 2}])
    assert store.read("hr.employee", [2], ["child_ids"])[0]["child_ids"] == [rid, 6, 7, 8, 9]
    (move,) = store.create("account.move", [{"move_type": "out_invoice", "state": "draft"}])
    assert store.read("account.move", [move], ["display_name"])[0]["display_name"] == (
        f"Draft Invoice (* {move})"
    )


def test_threads_share_one_store(store: SimStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for step in range(40):
                if step % 4 == 0:
                    store.write(
                        "sale.order", [worker + 1], {"client_order_ref": f"{worker}-{step}"}
                    )
                else:
                    rows = store.search_read(
                        "sale.order", [("id", "<=", 50)], ["name", "partner_id"], order="id"
                    )
                    assert len(rows) == 50
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    refs = store.read("sale.order", [1, 2, 3, 4], ["client_order_ref"])
    assert [r["client_order_ref"] for r in refs] == ["0-36", "1-36", "2-36", "3-36"]


def test_store_lifecycle(tmp_path: Path) -> None:
    temporary = SimStore(builtin_models())
    path = temporary._temp_path
    assert path is not None and os.path.exists(path)
    temporary.close()
    temporary.close()
    assert not os.path.exists(path)
    with pytest.raises(RuntimeError):
        temporary.search("res.partner", [])

    target = tmp_path / "sim.sqlite3"
    with SimStore(builtin_models(), path=str(target)) as first:
        first.load_rows("hr.employee", dataset_rows("hr.employee", 5))
    with SimStore(builtin_models(), path=target) as again:
        assert again.ids("hr.employee") == [1, 2, 3, 4, 5]
        assert again.read("hr.employee", [1], ["parent_id"])[0]["parent_id"] == [
            1,
            "Mitchell Admin",
        ]
    assert target.exists()

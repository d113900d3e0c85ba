"""Domain normalization and the SQL compilation of domains and order strings, on hand-made rows.

The rows below are small enough to work every expected answer out by hand. Items 1..6 cover
NULL and non-NULL values of each column type; item 4 is archived.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from odoo_sync_cli.simulator.errors import OdooServerError
from odoo_sync_cli.simulator.models import FieldSpec, ModelSpec
from odoo_sync_cli.simulator.query import (
    Semantics,
    compile_order,
    compile_where,
    like_to_glob,
    normalize_domain,
)
from odoo_sync_cli.simulator.store import SimStore

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456)


def _fields(**types: str | tuple[str, str]) -> dict[str, FieldSpec]:
    out = {"id": FieldSpec("id", "integer", True)}
    for name, kind in types.items():
        relation = None
        if isinstance(kind, tuple):
            kind, relation = kind
        store = not name.startswith("nostore_")
        attrs: dict[str, Any] = {"type": kind, "store": store, "searchable": True}
        if name == "nostore_label":
            attrs["searchable"] = False
        out[name] = FieldSpec(name, kind, store, relation, attrs)
    return out


REGISTRY = {
    "x.item": ModelSpec(
        name="x.item",
        fields=_fields(
            name="char",
            note="text",
            state="selection",
            qty="integer",
            price="float",
            amount="monetary",
            flag="boolean",
            active="boolean",
            day="date",
            stamp="datetime",
            write_date="datetime",
            partner_id=("many2one", "x.partner"),
            company_id=("many2one", "res.company"),
            main_tag_id=("many2one", "x.tag"),
            tag_ids=("many2many", "x.tag"),
            partner_ids=("many2many", "x.partner"),
            data="json",
            picture="binary",
            display_name="char",
            nostore_label="char",
            nostore_count="integer",
        ),
        order="name DESC, id",
    ),
    "x.partner": ModelSpec(
        name="x.partner",
        fields=_fields(
            name="char",
            email="char",
            active="boolean",
            parent_id=("many2one", "x.partner"),
            child_ids=("one2many", "x.partner"),
        ),
        order="name ASC, id DESC",
        rec_name_fields=("name", "email"),
    ),
}
# The registry's display_name and picture are not stored, as in Odoo.
for _name in ("display_name", "picture"):
    _f = REGISTRY["x.item"].fields[_name]
    REGISTRY["x.item"].fields[_name] = FieldSpec(_name, _f.type, False, None, {"store": False})
# An unstored related field, as account.move.line's move_type is move_id.move_type.
REGISTRY["x.item"].fields["partner_email"] = FieldSpec(
    "partner_email",
    "char",
    False,
    None,
    {"type": "char", "store": False, "searchable": True, "related": "partner_id.email"},
)

PARTNERS = [
    {"id": 1, "name": "Acme", "email": "info@acme.example", "active": True, "parent_id": False},
    {"id": 2, "name": "Bob", "email": "bob@acme.example", "active": True, "parent_id": [1, "Acme"]},
    {"id": 3, "name": "Carol", "email": False, "active": False, "parent_id": [1, "Acme"]},
    {
        "id": 4,
        "name": "Dora",
        "email": "dora@zeta.example",
        "active": True,
        "parent_id": [2, "Bob"],
    },
    {"id": 5, "name": "élan", "email": False, "active": True, "parent_id": False},
]
ITEMS = [
    {
        "id": 1,
        "name": "Ready Mat",
        "note": "alpha",
        "state": "draft",
        "qty": 0,
        "price": 0.0,
        "amount": 10.0,
        "flag": True,
        "active": True,
        "day": "2026-11-01",
        "stamp": "2026-11-28 10:00:00",
        "partner_id": [1, "Acme"],
        "company_id": [1, "YourCompany"],
        "main_tag_id": [1, "Red"],
        "tag_ids": [1, 2],
        "partner_ids": [2, 4],
        "data": {"a": 1},
    },
    {
        "id": 2,
        "name": "ready mat",
        "note": False,
        "state": "sale",
        "qty": 3,
        "price": 2.5,
        "amount": 0.0,
        "flag": False,
        "active": True,
        "day": "2026-11-02",
        "stamp": "2026-11-28 10:00:00.500000",
        "partner_id": [2, "Bob"],
        "company_id": False,
        "main_tag_id": [2, "Blue"],
        "tag_ids": [2],
        "partner_ids": [],
        "data": False,
    },
    {
        "id": 3,
        "name": "Rüdiger",
        "note": "",
        "state": False,
        "qty": False,
        "price": False,
        "amount": False,
        "flag": None,
        "active": True,
        "day": False,
        "stamp": "2026-11-28 10:00:01",
        "partner_id": False,
        "company_id": [2, "Other Co"],
        "main_tag_id": False,
        "tag_ids": [],
        "partner_ids": [3],
        "data": False,
    },
    {
        "id": 4,
        "name": "Name_with%percent*star",
        "note": "x",
        "state": "draft",
        "qty": 7,
        "price": -1.5,
        "amount": 5.0,
        "flag": True,
        "active": False,
        "day": "2026-10-30",
        "stamp": "2026-11-27 23:00:00",
        "partner_id": [3, "Carol"],
        "company_id": False,
        "main_tag_id": [3, "Green"],
        "tag_ids": [3],
        "partner_ids": [],
        "data": False,
    },
    {
        "id": 5,
        "name": False,
        "note": False,
        "state": "cancel",
        "qty": -2,
        "price": 100.0,
        "amount": 1.0,
        "flag": False,
        "active": True,
        "day": "2026-11-28",
        "stamp": False,
        "partner_id": [5, "élan"],
        "company_id": [1, "YourCompany"],
        "main_tag_id": False,
        "tag_ids": [1],
        "partner_ids": [1],
        "data": False,
    },
    {
        "id": 6,
        "name": "ÉCOLE",
        "note": "beta",
        "state": "sale",
        "qty": 5,
        "price": 0.0,
        "amount": 2.0,
        "flag": True,
        "active": True,
        "day": "2026-12-01",
        "stamp": "2026-11-28 09:59:59.999999",
        "partner_id": [4, "Dora"],
        "company_id": False,
        "main_tag_id": False,
        "tag_ids": [],
        "partner_ids": [],
        "data": False,
    },
]


def _make(version: int) -> SimStore:
    store = SimStore(
        REGISTRY, semantics=Semantics(version=version), path=":memory:", clock=lambda: NOW
    )
    store.load_rows("x.partner", [dict(r, child_ids=[]) for r in PARTNERS])
    store.load_rows("x.item", [dict(r) for r in ITEMS])
    return store


@pytest.fixture(scope="module")
def store19() -> Iterator[SimStore]:
    store = _make(19)
    yield store
    store.close()


@pytest.fixture(scope="module")
def store17() -> Iterator[SimStore]:
    store = _make(17)
    yield store
    store.close()


def ids(store: SimStore, domain: Any, model: str = "x.item", **context: Any) -> list[int]:
    """Matching ids, archived included unless the context says otherwise."""
    ctx = {"active_test": False, **context}
    return store.search(model, domain, order="id asc", context=ctx)


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(OdooServerError) as info:
        call()
    return info.value.name, info.value.message


# --------------------------------------------------------------------------------------------
# normalize_domain


A, B, C = ["name", "=", "a"], ["qty", ">", 1], ["flag", "=", True]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([], []),
        (True, []),
        ([A], [A]),
        ([A, B, C], ["&", "&", A, B, C]),
        (["|", A, B, C], ["&", "|", A, B, C]),
        ([A, "|", B, C], ["&", A, "|", B, C]),
        (["!", A, B], ["&", "!", A, B]),
        ([tuple(A), ("qty", "<>", 1)], ["&", A, ["qty", "!=", 1]]),
        ([("name", "ILIKE", "x")], [["name", "ilike", "x"]]),
        ([(1, "=", 1), [0, "=", 1]], ["&", [1, "=", 1], [0, "=", 1]]),
    ],
)
def test_normalize(domain: Any, expected: list[Any]) -> None:
    assert normalize_domain(domain) == expected
    assert normalize_domain(expected) == expected


def test_normalize_double_equals_only_in_19() -> None:
    assert normalize_domain([("qty", "==", 1)]) == [["qty", "=", 1]]
    assert error_of(lambda: normalize_domain([("qty", "==", 1)], version=17)) == (
        "builtins.ValueError",
        "Invalid leaf ('qty', '==', 1)",
    )


@pytest.mark.parametrize(
    ("domain", "name", "message"),
    [
        (["|", ["id", "=", 1]], "ValueError", "Domain() malformed domain ['|', ['id', '=', 1]]"),
        (["&"], "ValueError", "Domain() malformed domain ['&']"),
        ([["id", "=", 1], "!"], "ValueError", "Domain() malformed domain [['id', '=', 1], '!']"),
        ("name", "TypeError", "Domain() invalid argument type for domain: 'name'"),
        (None, "TypeError", "Domain() invalid argument type for domain: None"),
        ([["name", "="]], "ValueError", "Domain() invalid item in domain: ['name', '=']"),
        (["name"], "ValueError", "Domain() invalid item in domain: 'name'"),
        ([[1, "=", 2]], "TypeError", "Domain() invalid arguments: (1, '=', 2)"),
        ([["", "=", 2]], "TypeError", "Empty field name in condition ('', '=', 2)"),
        (
            [["name", "bogus", "x"]],
            "ValueError",
            "Invalid operator in condition ('name', 'bogus', 'x')",
        ),
        ([("name", None, "x")], "AttributeError", "'NoneType' object has no attribute 'lower'"),
        # Items are read from the end: the last bad one is the one named.
        ([["a", "bogus", 1], 5], "ValueError", "Domain() invalid item in domain: 5"),
        ([["a", "any!", []]], "ValueError", "Domain() invalid item in domain: ['a', 'any!', []]"),
    ],
)
def test_normalize_errors(domain: Any, name: str, message: str) -> None:
    assert error_of(lambda: normalize_domain(domain)) == (f"builtins.{name}", message)


@pytest.mark.parametrize(
    ("domain", "name", "message"),
    [
        (
            "name",
            "AssertionError",
            "Domains to normalize must have a 'domain' form: a list or tuple of domain components",
        ),
        ([["name", "="]], "ValueError", "not enough values to unpack (expected 3, got 2)"),
        (
            ["|", ["id", "=", 1]],
            "ValueError",
            "Domain ['|', ['id', '=', 1]] is syntactically not correct.",
        ),
        ([["name", "bogus", "x"]], "ValueError", "Invalid leaf ('name', 'bogus', 'x')"),
    ],
)
def test_normalize_errors_17(domain: Any, name: str, message: str) -> None:
    assert error_of(lambda: normalize_domain(domain, version=17)) == (f"builtins.{name}", message)


# --------------------------------------------------------------------------------------------
# leaves by type


def test_unknown_field_and_model(store19: SimStore) -> None:
    assert error_of(lambda: ids(store19, [("no_such_field", "=", 1)])) == (
        "builtins.ValueError",
        "Invalid field x.item.no_such_field in condition ('no_such_field', '=', 1)",
    )
    assert error_of(lambda: ids(store19, [("partner_id.nope", "=", 1)])) == (
        "builtins.ValueError",
        "Invalid field x.partner.nope in condition ('nope', '=', 1)",
    )
    assert error_of(lambda: ids(store19, [], model="no.such")) == (
        "odoo.exceptions.UserError",
        "Object no.such doesn't exist",
    )


@pytest.mark.parametrize(
    ("domain", "v19", "v17"),
    [
        ([("name", "=", "Ready Mat")], [1], [1]),
        ([("name", "!=", "Ready Mat")], [2, 3, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("name", "=", False)], [5], [5]),
        ([("note", "=", False)], [2, 3, 5], [2, 5]),
        ([("note", "=", "")], [2, 3, 5], [3]),
        ([("note", "!=", False)], [1, 4, 6], [1, 3, 4, 6]),
        ([("note", "in", ["alpha", False])], [1, 2, 3, 5], [1, 2, 5]),
        ([("note", "not in", ["alpha", False])], [4, 6], [3, 4, 6]),
        ([("note", "not in", ["alpha"])], [2, 3, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("note", "in", [])], [], []),
        ([("note", "not in", [])], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]),
        ([("note", ">", "b")], [4, 6], [4, 6]),
        ([("note", "<", False)], [], []),
        ([("state", "=", "draft")], [1, 4], [1, 4]),
        ([("state", "in", "draft")], [1, 4], [1, 4]),
        ([("state", "=", ["draft", "cancel"])], [1, 4, 5], [1, 4, 5]),
        ([("state", "!=", ["draft", "cancel"])], [2, 3, 6], [2, 3, 6]),
    ],
)
def test_text_and_null_rules(
    store19: SimStore, store17: SimStore, domain: Any, v19: list[int], v17: list[int]
) -> None:
    assert ids(store19, domain) == v19
    assert ids(store17, domain) == v17


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("name", "like", "Ready")], [1]),
        ([("name", "like", "ready")], [2]),
        ([("name", "ilike", "READY")], [1, 2]),
        ([("name", "like", "R_ady")], [1]),
        ([("name", "=like", "Ready%")], [1]),
        ([("name", "=like", "Ready")], []),
        ([("name", "=ilike", "ready mat")], [1, 2]),
        ([("name", "not like", "Ready")], [2, 3, 4, 5, 6]),
        ([("name", "not ilike", "ready")], [3, 4, 5, 6]),
        ([("name", "ilike", "école")], [6]),
        ([("name", "ilike", "RÜDIGER")], [3]),
        ([("name", "like", "école")], []),
        ([("name", "like", "%percent*")], [4]),
        ([("name", "like", "t*s")], [4]),
        ([("name", "like", "h\\%p")], [4]),
        ([("name", "like", "h\\_w")], []),
        ([("name", "ilike", "")], [1, 2, 3, 4, 5, 6]),
        ([("name", "like", False)], [1, 2, 3, 4, 5, 6]),
        ([("name", "not ilike", "")], []),
        ([("day", "like", "2026-11")], [1, 2, 5]),
        ([("qty", "like", "5")], [6]),
    ],
)
def test_pattern_operators(store19: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected


def test_like_to_glob() -> None:
    assert like_to_glob("%a_b*c?[d\\%") == "*a?b[*]c[?][[]d%"
    assert like_to_glob("end\\") == "end\\"


@pytest.mark.parametrize(
    ("domain", "v19", "v17"),
    [
        ([("qty", "=", 0)], [1, 3], [1]),
        ([("qty", "=", False)], [1, 3], [3]),
        ([("qty", "!=", 0)], [2, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("qty", "<", 5)], [1, 2, 3, 5], [1, 2, 5]),
        ([("qty", ">", -1)], [1, 2, 3, 4, 6], [1, 2, 4, 6]),
        ([("qty", ">=", 1)], [2, 4, 6], [2, 4, 6]),
        ([("qty", "in", [0, 7])], [1, 3, 4], [1, 4]),
        ([("qty", "in", [7, False])], [1, 3, 4], [3, 4]),
        ([("qty", "not in", [0])], [2, 4, 5, 6], [2, 3, 4, 5, 6]),
        (["!", ("qty", "<", 5)], [4, 6], [4, 6]),
        (["!", ("qty", ">", 3)], [1, 2, 3, 5], [1, 2, 5]),
        ([("price", "<", 1)], [1, 3, 4, 6], [1, 4, 6]),
        ([("price", ">", "2")], [2, 5], [2, 5]),
        ([("amount", "=", 0)], [2, 3], [2]),
        ([("id", "<", 3)], [1, 2], [1, 2]),
        ([("id", "in", [2, 99, False])], [2], [2]),
        ([("id", "=", False)], [], []),
        ([("id", "!=", False)], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]),
        ([("id", "=", "3")], [3], [3]),
    ],
)
def test_numbers(
    store19: SimStore, store17: SimStore, domain: Any, v19: list[int], v17: list[int]
) -> None:
    assert ids(store19, domain) == v19
    assert ids(store17, domain) == v17


def test_number_value_errors(store19: SimStore) -> None:
    assert error_of(lambda: ids(store19, [("price", ">", "abc")])) == (
        "builtins.ValueError",
        "could not convert string to float: 'abc'",
    )
    name, _ = error_of(lambda: ids(store19, [("qty", "=", "abc")]))
    assert name == "psycopg2.errors.InvalidTextRepresentation"


def test_large_in_list(store19: SimStore) -> None:
    many = [*range(1000, 2000), 2, 5]
    assert ids(store19, [("id", "in", many)]) == [2, 5]
    assert ids(store19, [("qty", "in", many)]) == [6]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("flag", "=", True)], [1, 4, 6]),
        ([("flag", "=", False)], [2, 3, 5]),
        ([("flag", "!=", True)], [2, 3, 5]),
        ([("flag", "!=", False)], [1, 4, 6]),
        ([("flag", "in", [True, False])], [1, 2, 3, 4, 5, 6]),
        ([("flag", "not in", [True])], [2, 3, 5]),
        ([("flag", "in", True)], [1, 4, 6]),
        ([("flag", "=", 1)], [1, 4, 6]),
    ],
)
def test_booleans(store19: SimStore, store17: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected
    assert ids(store17, domain) == expected


@pytest.mark.parametrize(
    ("domain", "v19", "v17"),
    [
        ([("qty", "=?", 0)], [1, 2, 3, 4, 5, 6], [1]),
        ([("qty", "=?", False)], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]),
        ([("name", "=?", "")], [1, 2, 3, 4, 5, 6], []),
        ([("qty", "=?", 7)], [4], [4]),
        ([("state", "=?", ["sale"])], [2, 6], [2, 6]),
        (["!", ("qty", "=?", 7)], [1, 2, 3, 5, 6], [1, 2, 3, 5, 6]),
        (["!", ("qty", "=?", False)], [], []),
    ],
)
def test_eq_or_unset(
    store19: SimStore, store17: SimStore, domain: Any, v19: list[int], v17: list[int]
) -> None:
    assert ids(store19, domain) == v19
    assert ids(store17, domain) == v17


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("day", "=", "2026-11-01")], [1]),
        ([("day", "<", "2026-11-02")], [1, 4]),
        ([("day", ">=", "2026-11-28")], [5, 6]),
        ([("day", "=", False)], [3]),
        ([("day", "!=", False)], [1, 2, 4, 5, 6]),
        ([("day", ">", False)], []),
        ([("day", "in", ["2026-11-01", "2026-11-28 18:00:00", False])], [1, 3, 5]),
        ([("day", "=", "today")], [5]),
        ([("day", ">", "today +1d")], [6]),
        ([("day", "<=", "today -4w")], [4]),
        ([("day", "=", "today =1d")], [1]),
        ([("day", "<", "now =11m -1d")], [4]),
    ],
)
def test_dates(store19: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected


def test_date_value_errors(store19: SimStore) -> None:
    assert error_of(lambda: ids(store19, [("day", "=", "not a date")])) == (
        "builtins.ValueError",
        "Invalid term 'not' in expression date: 'not a date'",
    )
    assert error_of(lambda: ids(store19, [("day", "=", "today +1q")])) == (
        "builtins.ValueError",
        "Invalid term '+1q' in expression date: 'today +1q'",
    )


# Stamps: 1 = 10:00:00.000000, 2 = 10:00:00.500000, 3 = 10:00:01, 4 = 2026-11-27 23:00:00,
# 5 = NULL, 6 = 09:59:59.999999 (all on 2026-11-28 unless said).
@pytest.mark.parametrize(
    ("domain", "v19", "v17"),
    [
        ([("stamp", "=", "2026-11-28 10:00:00")], [1, 2], [1]),
        ([("stamp", "!=", "2026-11-28 10:00:00")], [3, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("stamp", ">", "2026-11-28 10:00:00")], [3], [2, 3]),
        ([("stamp", ">=", "2026-11-28 10:00:00")], [1, 2, 3], [1, 2, 3]),
        ([("stamp", "<", "2026-11-28 10:00:00")], [4, 6], [4, 6]),
        ([("stamp", "<=", "2026-11-28 10:00:00")], [1, 2, 4, 6], [1, 4, 6]),
        ([("stamp", "=", "2026-11-28 10:00:00.700000")], [1, 2], []),
        ([("stamp", "=", "2026-11-28T10:00:00.5")], [1, 2], [2]),
        ([("stamp", "in", ["2026-11-28 10:00:01", "2026-11-28 09:59:59"])], [3, 6], [3]),
        ([("stamp", "in", ["2026-11-28 10:00:01", False])], [3, 5], [3, 5]),
        ([("stamp", "not in", ["2026-11-28 10:00:00"])], [3, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("stamp", "=", False)], [5], [5]),
        ([("stamp", "<", False)], [], []),
        (["!", ("stamp", ">", "2026-11-28 10:00:00")], [1, 2, 4, 6], [1, 4, 6]),
    ],
)
def test_datetimes(
    store19: SimStore, store17: SimStore, domain: Any, v19: list[int], v17: list[int]
) -> None:
    assert ids(store19, domain) == v19
    assert ids(store17, domain) == v17


@pytest.mark.parametrize(
    ("domain", "v19", "v17"),
    [
        # 2026-11-28 midnight in Brussels is 2026-11-27 23:00 UTC.
        ([("stamp", "=", "2026-11-28")], [4], []),
        ([("stamp", "<", "2026-11-28")], [], [4]),
        ([("stamp", ">=", "2026-11-28")], [1, 2, 3, 4, 6], [1, 2, 3, 6]),
        ([("stamp", ">", "2026-11-27")], [1, 2, 3, 4, 6], [1, 2, 3, 6]),
        ([("stamp", "<=", "2026-11-27")], [], [4]),
        ([("stamp", "<=", "2026-11-28")], [1, 2, 3, 4, 6], [1, 2, 3, 4, 6]),
    ],
)
def test_datetime_date_only(
    store19: SimStore, store17: SimStore, domain: Any, v19: list[int], v17: list[int]
) -> None:
    assert ids(store19, domain) == v19
    assert ids(store17, domain) == v17


def test_datetime_time_zones(store19: SimStore, store17: SimStore) -> None:
    # Midnight in Kiritimati (UTC+14) is 10:00 UTC the day before: every stamp is after it.
    assert ids(store19, [("stamp", ">=", "2026-11-28")], tz="Pacific/Kiritimati") == [1, 2, 3, 4, 6]
    assert ids(store19, [("stamp", "<", "2026-11-28")], tz="Pacific/Kiritimati") == []
    assert ids(store19, [("stamp", "<", "2026-11-28")], tz="No/Such_Zone") == [4]
    assert ids(store19, [("stamp", "<", "2026-11-28")], tz="UTC") == [4]
    assert error_of(lambda: ids(store19, [("stamp", ">=", "2026-11-28T10:00:00Z")])) == (
        "builtins.ValueError",
        "expecting only datetimes with no timezone: '2026-11-28T10:00:00Z'",
    )
    # Odoo <= 18 hands the string to PostgreSQL, which converts it.
    assert ids(store17, [("stamp", "=", "2026-11-28T11:00:00+01:00")]) == [1]


def test_datetime_relative(store19: SimStore) -> None:
    # NOW is 12:00:00.123 UTC; 'now -2H' is 10:00:00 (microseconds dropped).
    assert ids(store19, [("stamp", "=", "now -2H")]) == [1, 2]
    assert ids(store19, [("stamp", ">=", "today")]) == [1, 2, 3, 4, 6]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("partner_id", "=", 2)], [2]),
        ([("partner_id", "!=", 2)], [1, 3, 4, 5, 6]),
        ([("partner_id", "=", False)], [3]),
        ([("partner_id", "!=", False)], [1, 2, 4, 5, 6]),
        ([("partner_id", "in", [2, False])], [2, 3]),
        ([("partner_id", "not in", [2, False])], [1, 4, 5, 6]),
        ([("partner_id", "=", "Bob")], [2]),
        ([("partner_id", "ilike", "acme")], [1, 2]),
        ([("partner_id", "not ilike", "acme")], [3, 4, 5, 6]),
        ([("partner_id", "in", ["Carol", 5])], [4, 5]),
        ([("partner_id", "=", "dora@zeta.example")], [6]),
        ([("partner_id", ">", 3)], [5, 6]),
        ([("partner_id.email", "=", False)], [4, 5]),
        ([("partner_id.email", "!=", False)], [1, 2, 6]),
        ([("partner_id.parent_id.name", "=", "Acme")], [2, 4]),
        ([("partner_id.parent_id", "=", False)], [1, 5]),
        ([("partner_id", "any", [("email", "ilike", "acme")])], [1, 2]),
        ([("partner_id", "not any", [("email", "ilike", "acme")])], [3, 4, 5, 6]),
        ([("company_id", "=", "YourCompany")], [1, 5]),
        ([("company_id", "ilike", "co")], [1, 3, 5]),
        ([("company_id", "like", "Co")], [1, 3, 5]),
        ([("company_id", "=like", "%Co")], [3]),
        ([("company_id.name", "=", "Other Co")], [3]),
        ([("company_id.id", "=", 1)], [1, 5]),
    ],
)
def test_many2one(store19: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("tag_ids", "in", [1])], [1, 5]),
        ([("tag_ids", "=", 2)], [1, 2]),
        ([("tag_ids", "in", [3, 2])], [1, 2, 4]),
        ([("tag_ids", "not in", [1])], [2, 3, 4, 6]),
        ([("tag_ids", "=", False)], [3, 6]),
        ([("tag_ids", "!=", False)], [1, 2, 4, 5]),
        ([("tag_ids", "=", "Blue")], [1, 2]),
        ([("tag_ids", "ilike", "re")], [1, 4, 5]),
        ([("tag_ids", "ilike", "")], [1, 2, 3, 4, 5, 6]),
        ([("tag_ids", "not ilike", "re")], [2, 3, 6]),
        ([("tag_ids", "=", 9)], []),
        ([("partner_ids", "any", [("name", "=", "Dora")])], [1]),
        ([("partner_ids.name", "=", "Carol")], [3]),
        ([("partner_ids", "any", [("active", "=", False)])], [3]),
    ],
)
def test_x2many(store19: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([("partner_email", "=", "bob@acme.example")], [2]),
        ([("partner_email", "ilike", "acme")], [1, 2]),
        # An empty value also matches the records whose (optional) partner is empty, unlike
        # the path partner_id.email, which only looks at partners (test_many2one).
        ([("partner_email", "=", False)], [3, 4, 5]),
        ([("partner_email", "in", ["bob@acme.example", False])], [2, 3, 4, 5]),
        ([("partner_email", "!=", False)], [1, 2, 6]),
        # A negative operator on a value is the negation of the positive search.
        ([("partner_email", "not ilike", "acme")], [3, 4, 5, 6]),
        ([("partner_email", "not in", ["bob@acme.example"])], [1, 3, 4, 5, 6]),
        (["!", ("partner_email", "=", "bob@acme.example")], [1, 3, 4, 5, 6]),
    ],
)
def test_unstored_related_field_searches_its_path(
    store19: SimStore, domain: Any, expected: list[int]
) -> None:
    assert ids(store19, domain) == expected


def test_x2many_hop_follows_active_test(store19: SimStore) -> None:
    # Through an x2many, archived comodel records (Carol, partner 3) are hidden unless the
    # context says active_test False; through a many2one they always count.
    search = store19.search
    assert search("x.item", [("partner_ids.name", "=", "Carol")]) == []
    assert search("x.item", [("partner_ids", "any", [("name", "=", "Carol")])]) == []
    assert search(
        "x.item", [("partner_id.name", "=", "Carol")], context={"active_test": False}
    ) == [4]
    assert search(
        "x.item", [("partner_id.active", "=", False)], context={"active_test": False}
    ) == [4]


def test_hierarchy(store19: SimStore) -> None:
    partner = "x.partner"
    assert ids(store19, [("id", "child_of", 1)], model=partner) == [1, 2, 3, 4]
    assert ids(store19, [("id", "child_of", [2, 5])], model=partner) == [2, 4, 5]
    assert ids(store19, [("id", "parent_of", 4)], model=partner) == [1, 2, 4]
    assert ids(store19, [("id", "child_of", "Bob")], model=partner) == [2, 4]
    assert ids(store19, [("partner_id", "child_of", 2)]) == [2, 6]
    assert ids(store19, ["!", ("partner_id", "child_of", 2)]) == [1, 3, 4, 5]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (["|", ("qty", "=", 3), ("qty", "=", 5)], [2, 6]),
        (["!", ("name", "=", "Ready Mat")], [2, 3, 4, 5, 6]),
        (["!", "|", ("qty", ">", 4), ("flag", "=", True)], [2, 3, 5]),
        (["&", "!", ("state", "=", "draft"), ("qty", ">=", 3)], [2, 6]),
        ([("qty", ">", 0), "|", ("flag", "=", False), ("price", "<", 0)], [2, 4]),
        (["!", "!", ("qty", "=", 3)], [2]),
        ([(1, "=", 1)], [1, 2, 3, 4, 5, 6]),
        ([(0, "=", 1)], []),
        (["!", (0, "=", 1)], [1, 2, 3, 4, 5, 6]),
        (["|", (0, "=", 1), ("qty", "=", 7)], [4]),
    ],
)
def test_operators_and_constants(store19: SimStore, domain: Any, expected: list[int]) -> None:
    assert ids(store19, domain) == expected


def test_active_filter(store19: SimStore) -> None:
    def search(domain: Any, **context: Any) -> list[int]:
        return store19.search("x.item", domain, order="id asc", context=context)

    assert search([]) == [1, 2, 3, 5, 6]
    assert search([], active_test=False) == [1, 2, 3, 4, 5, 6]
    assert search([("active", "=", False)]) == [4]
    assert search([("active", "in", [True, False])]) == [1, 2, 3, 4, 5, 6]
    assert search(["!", ("active", "=", True)]) == [4]
    assert store19.search_count("x.item", []) == 5
    assert store19.search_count("x.item", [], limit=2) == 2
    assert [r["id"] for r in store19.read("x.item", [4, 1])] == [4, 1]


def test_unstored_fields(store19: SimStore) -> None:
    # A field Odoo cannot search is ignored; one the simulator does not store reads as empty.
    assert ids(store19, [("nostore_label", "=", "x")]) == [1, 2, 3, 4, 5, 6]
    assert ids(store19, [("nostore_count", "=", 0)]) == [1, 2, 3, 4, 5, 6]
    assert ids(store19, [("nostore_count", ">", 0)]) == []
    assert ids(store19, [("display_name", "ilike", "ready")]) == [1, 2]
    assert ids(store19, [("nostore_label", "!=", "x")]) == [1, 2, 3, 4, 5, 6]
    assert ids(store19, ["!", ("nostore_label", "=", "x")]) == []
    assert ids(store19, [("picture", "!=", False)]) == []
    assert ids(store19, [("picture", "=", False)]) == [1, 2, 3, 4, 5, 6]


def test_compile_where_is_sql_over_alias_t(store19: SimStore) -> None:
    where, params = compile_where(
        REGISTRY,
        "x.item",
        [("qty", ">", 1), ("partner_id", "ilike", "acme")],
        context={},
        semantics=Semantics(),
    )
    rows = store19.conn.execute(f'SELECT t.id FROM "x_item" AS t WHERE {where}', params)
    assert sorted(r[0] for r in rows) == [2]
    assert '"active" = 1' in where


# --------------------------------------------------------------------------------------------
# order


def order_ids(store: SimStore, order: str | None, model: str = "x.item") -> list[int]:
    return store.search(model, [], order=order, context={"active_test": False})


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("id desc", [6, 5, 4, 3, 2, 1]),
        ("qty asc, id", [5, 1, 2, 6, 4, 3]),
        ("qty desc", [3, 4, 6, 2, 1, 5]),
        ("qty asc nulls first", [3, 5, 1, 2, 6, 4]),
        ("qty DESC NULLS LAST", [4, 6, 2, 1, 5, 3]),
        ("name", [4, 1, 3, 2, 6, 5]),
        ("flag desc, id desc", [3, 6, 4, 1, 5, 2]),
        ("stamp asc", [4, 6, 1, 2, 3, 5]),
        ("partner_id asc, id asc", [1, 2, 4, 6, 5, 3]),
        ("partner_id desc, id asc", [3, 5, 6, 4, 2, 1]),
        ("partner_id asc nulls first, id", [3, 1, 2, 4, 6, 5]),
        ("company_id, id", [3, 1, 5, 2, 4, 6]),
        ("company_id desc, id", [2, 4, 6, 1, 5, 3]),
        (None, [5, 6, 2, 3, 1, 4]),
        ("  ", [5, 6, 2, 3, 1, 4]),
    ],
)
def test_order(store19: SimStore, order: str | None, expected: list[int]) -> None:
    assert order_ids(store19, order) == expected


def test_order_many2one_uses_comodel_order_reversed(store19: SimStore) -> None:
    # x.partner orders 'name ASC, id DESC'; a tie on name is broken by id reversed by 'desc'.
    store = _make(19)
    try:
        store.write("x.partner", [5], {"name": "Bob"})
        assert order_ids(store, "partner_id asc, id asc") == [1, 5, 2, 4, 6, 3]
        assert order_ids(store, "partner_id desc, id asc") == [3, 6, 4, 2, 5, 1]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("order", "name", "message"),
    [
        (
            "name ascending",
            "odoo.exceptions.UserError",
            'Invalid "order" specified (name ascending). A valid "order" specification is a '
            "comma-separated list of valid field names (optionally followed by asc/desc for the "
            "direction)",
        ),
        ("name,", "odoo.exceptions.UserError", None),
        ("name; drop table x", "odoo.exceptions.UserError", None),
        ("no_such_field", "builtins.ValueError", "Invalid field 'no_such_field' on model 'x.item'"),
        ("display_name", "builtins.ValueError", None),
        ("tag_ids", "builtins.ValueError", None),
    ],
)
def test_order_errors(store19: SimStore, order: str, name: str, message: str | None) -> None:
    got_name, got_message = error_of(lambda: order_ids(store19, order))
    assert got_name == name
    if message is not None:
        assert got_message == message


def test_order_by_id_walks_the_primary_key(store19: SimStore) -> None:
    where, params = compile_where(
        REGISTRY, "x.item", [("id", ">", 2)], context={}, semantics=Semantics()
    )
    order = compile_order(REGISTRY, "x.item", "id asc", semantics=Semantics())
    plan = store19.conn.execute(
        f'EXPLAIN QUERY PLAN SELECT t.id FROM "x_item" AS t WHERE {where} ORDER BY {order}',
        params,
    ).fetchall()
    details = " ".join(row[-1] for row in plan)
    assert "INTEGER PRIMARY KEY" in details
    assert "TEMP B-TREE" not in details

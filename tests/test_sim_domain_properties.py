"""Properties of domains: normalization, NULL rules, and SimStore.search against a plain evaluator.

The differential test draws rows with NULLs and random domains (leaves on char, integer, float,
boolean, many2one and datetime columns under random '&', '|', '!' nesting) and checks that
SimStore.search returns exactly the rows a small Python evaluator accepts. The evaluator below
encodes Odoo 19's rules on Python values, row by row, without SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odoo_sync_cli.simulator.models import FieldSpec, ModelSpec
from odoo_sync_cli.simulator.query import Semantics, normalize_domain
from odoo_sync_cli.simulator.store import SimStore

SETTINGS = settings(max_examples=150, deadline=None, database=None)


def _field(name: str, kind: str, relation: str | None = None) -> FieldSpec:
    return FieldSpec(name, kind, True, relation, {"type": kind, "store": True})


REGISTRY = {
    "p.rec": ModelSpec(
        "p.rec",
        {
            f.name: f
            for f in (
                _field("id", "integer"),
                _field("name", "char"),
                _field("qty", "integer"),
                _field("price", "float"),
                _field("flag", "boolean"),
                _field("active", "boolean"),
                _field("partner_id", "many2one", "p.partner"),
                _field("stamp", "datetime"),
            )
        },
    ),
    "p.partner": ModelSpec(
        "p.partner",
        {
            f.name: f
            for f in (_field("id", "integer"), _field("name", "char"), _field("email", "char"))
        },
        rec_name_fields=("name", "email"),
    ),
}
PARTNERS = {
    1: {"name": "Alpha", "email": "a@x.example"},
    2: {"name": "beta", "email": None},
    3: {"name": "Gamma", "email": "gamma@x.example"},
}
TZ = ZoneInfo("Europe/Brussels")

NAMES = [None, "", "a", "A", "ab", "Ab_c", "b%c", "x*y", "[z]", "é", "É", "ÉTÉ"]
PATTERNS = ["a", "A", "b", "_", "%", "b%", "*", "[", "é", "É", "a_", "%c", "", False]
QTYS = [None, 0, 1, -1, 5]
PRICES = [None, 0.0, 1.5, -2.0]
STAMPS = [
    None,
    "2026-11-28 10:00:00.000000",
    "2026-11-28 10:00:00.500000",
    "2026-11-28 10:00:01.000000",
    "2026-11-27 23:00:00.000000",
    "2026-11-28 09:59:59.999999",
]
STAMP_VALUES = [
    "2026-11-28 10:00:00",
    "2026-11-28 10:00:00.700000",
    "2026-11-28T09:59:59",
    "2026-11-28",
    "2026-11-27",
    False,
]
M2O_NAMES = ["Alpha", "beta", "BETA", "a", "x.example", "gam"]

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(NAMES),
            "qty": st.sampled_from(QTYS),
            "price": st.sampled_from(PRICES),
            "flag": st.sampled_from([None, True, False]),
            "active": st.booleans(),
            "partner_id": st.sampled_from([None, 1, 2, 3]),
            "stamp": st.sampled_from(STAMPS),
        }
    ),
    min_size=1,
    max_size=12,
)


def _leaf(field: str, ops: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(st.just(field), st.sampled_from(ops), values).map(list)


_EQ = ["=", "!=", "=?"]
_IN = ["in", "not in"]
_CMP = ["<", "<=", ">", ">="]
_LIKE = ["like", "not like", "ilike", "not ilike", "=like", "=ilike"]
leaf_strategy = st.one_of(
    _leaf("name", _EQ + _CMP, st.sampled_from([*NAMES[1:], False])),
    _leaf("name", _IN, st.lists(st.sampled_from([*NAMES[1:], False]), max_size=3)),
    _leaf("name", _LIKE, st.sampled_from(PATTERNS)),
    _leaf("qty", _EQ + _CMP, st.sampled_from([0, 1, -1, 5, 3, False])),
    _leaf("qty", _IN, st.lists(st.sampled_from([0, 1, 5, False]), max_size=3)),
    _leaf("price", _EQ + _CMP, st.sampled_from([0, 0.0, 1.5, -2, 1, False])),
    _leaf("flag", ["=", "!="], st.booleans()),
    _leaf("flag", _IN, st.lists(st.booleans(), max_size=2)),
    _leaf("active", ["=", "!="], st.booleans()),
    _leaf("partner_id", _EQ, st.sampled_from([1, 2, 3, False, *M2O_NAMES])),
    _leaf("partner_id", _IN, st.lists(st.sampled_from([1, 3, False, "beta", "Gamma"]), max_size=3)),
    _leaf("partner_id", ["ilike", "not ilike", "like"], st.sampled_from(M2O_NAMES)),
    _leaf("partner_id", _CMP, st.sampled_from([1, 2, 3])),
    _leaf("stamp", _EQ + _CMP, st.sampled_from(STAMP_VALUES)),
    _leaf("stamp", _IN, st.lists(st.sampled_from(STAMP_VALUES), max_size=3)),
)
expression_strategy = st.recursive(
    leaf_strategy.map(lambda leaf: [leaf]),
    lambda inner: st.one_of(
        inner.map(lambda d: ["!", *d]),
        st.tuples(st.sampled_from(["&", "|"]), inner, inner).map(lambda t: [t[0], *t[1], *t[2]]),
    ),
    max_leaves=6,
)
domain_strategy = st.lists(expression_strategy, min_size=0, max_size=3).map(
    lambda parts: [item for part in parts for item in part]
)


# --------------------------------------------------------------------------------------------
# The plain evaluator


NEGATION = {
    "=": "!=",
    "!=": "=",
    "in": "not in",
    "not in": "in",
    "like": "not like",
    "not like": "like",
    "ilike": "not ilike",
    "not ilike": "ilike",
    "=like": "not =like",
    "not =like": "=like",
    "=ilike": "not =ilike",
    "not =ilike": "=ilike",
    # '!' on an inequality becomes the opposite inequality: NULL matches neither.
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
}
POSITIVE = {k: v for k, v in NEGATION.items() if k.startswith(("!", "not"))}
COMPARE = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def like_match(text: str | None, op: str, value: Any) -> bool:
    if op in ("like", "ilike") and (value is False or value == ""):
        return True
    if text is None or value is False:
        return False
    pattern = f"%{value}%" if op in ("like", "ilike") else str(value)
    if op in ("ilike", "=ilike"):
        text, pattern = text.lower(), pattern.lower()
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def char_match(x: str | None, op: str, v: Any) -> bool:
    if op in ("like", "ilike", "=like", "=ilike"):
        return like_match(x, op, v)
    if op == "in":
        return any(char_match(x, "=", item) for item in v)
    if op == "=":
        if v is False or v == "":
            return x is None or x == ""
        return x == v
    if x is None or v is False:
        return False
    return bool(COMPARE[op](x, v))


def number_match(x: float | None, op: str, v: Any) -> bool:
    # Odoo 19: 0 is the "unset" number, so NULL behaves as 0 and False as 0.
    x = 0 if x is None else x
    if op == "in":
        return any(number_match(x, "=", item) for item in v)
    return bool(COMPARE[op](x, 0 if v is False else v))


def boolean_match(x: bool | None, op: str, v: Any) -> bool:
    if op == "in":
        return bool(x) in {bool(item) for item in v}
    return bool(x) == bool(v)


def partner_name_match(pid: int | None, op: str, v: Any) -> bool:
    if pid is None:
        return False
    partner = PARTNERS[pid]
    return any(char_match(partner[f], op, v) for f in ("name", "email"))


def many2one_match(x: int | None, op: str, v: Any) -> bool:
    if op == "in":
        return any(many2one_match(x, "=", item) for item in v)
    if op in ("like", "ilike", "=like", "=ilike") or isinstance(v, str):
        return partner_name_match(x, op, v)
    if v is False:
        return x is None if op == "=" else False
    return x is not None and bool(COMPARE[op](x, v))


def stamp_window(v: str, op: str) -> tuple[datetime | None, datetime | None]:
    """[low, high) of the stamps matching ``op v`` (Odoo 19 whole-second rules)."""
    if len(v) == 10:
        day = datetime.fromisoformat(v)
        start = day.replace(tzinfo=TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        after = (day + timedelta(days=1)).replace(tzinfo=TZ)
        end = after.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    else:
        start = datetime.fromisoformat(v).replace(microsecond=0)
        end = start + timedelta(seconds=1)
    return {
        "=": (start, start + timedelta(seconds=1)),
        "<": (None, start),
        ">=": (start, None),
        ">": (end, None),
        "<=": (None, end),
    }[op]


def stamp_match(x: str | None, op: str, v: Any) -> bool:
    if op == "in":
        return any(stamp_match(x, "=", item) for item in v)
    if v is False:
        return x is None if op == "=" else False
    if x is None:
        return False
    low, high = stamp_window(v, op)
    moment = datetime.fromisoformat(x)
    return (low is None or moment >= low) and (high is None or moment < high)


MATCHERS = {
    "name": char_match,
    "qty": number_match,
    "price": number_match,
    "flag": boolean_match,
    "active": boolean_match,
    "partner_id": many2one_match,
    "stamp": stamp_match,
}


def leaf_holds(row: dict[str, Any], field: str, op: str, value: Any) -> bool:
    if op in POSITIVE:
        return not leaf_holds(row, field, POSITIVE[op], value)
    if op == "=?":
        if not value:
            return True
        op = "="
    if op == "=" and isinstance(value, list):
        op = "in"
    if op == "in" and isinstance(value, bool):
        op = "="
    return MATCHERS[field](row[field], op, value)


def parse(items: list[Any], at: int) -> tuple[Any, int]:
    token = items[at]
    if token == "!":
        inner, end = parse(items, at + 1)
        return ("!", inner), end
    if token in ("&", "|"):
        left, mid = parse(items, at + 1)
        right, end = parse(items, mid)
        return (token, left, right), end
    return ("leaf", token), at + 1


def holds(node: Any, row: dict[str, Any], negate: bool) -> bool:
    if node[0] == "!":
        return holds(node[1], row, not negate)
    if node[0] in ("&", "|"):
        both = (node[0] == "&") != negate
        left, right = holds(node[1], row, negate), holds(node[2], row, negate)
        return (left and right) if both else (left or right)
    field, op, value = node[1]
    if negate:
        if op == "=?":
            if not value:
                return False
            op = "="
        op = NEGATION[op]
    return leaf_holds(row, field, op, value)


def evaluate(domain: list[Any], row: dict[str, Any], active_test: bool) -> bool:
    nodes, at = [], 0
    while at < len(domain):
        node, at = parse(domain, at)
        nodes.append(node)
    names_active = any(isinstance(i, list) and i[0] == "active" for i in domain)
    if active_test and not names_active and not row["active"]:
        return False
    return all(holds(node, row, False) for node in nodes)


# --------------------------------------------------------------------------------------------
# Properties


def make_store(rows: list[dict[str, Any]]) -> SimStore:
    store = SimStore(REGISTRY, semantics=Semantics(version=19), path=":memory:")
    store.load_rows("p.partner", [{"id": pid, **values} for pid, values in PARTNERS.items()])
    store.load_rows(
        "p.rec",
        [
            {
                "id": i,
                **row,
                "partner_id": row["partner_id"] or False,
                "name": False if row["name"] is None else row["name"],
            }
            for i, row in enumerate(rows, start=1)
        ],
    )
    # load_rows reads False as NULL for numbers: None and False both mean "no value" here.
    for i, row in enumerate(rows, start=1):
        for column in ("qty", "price", "flag", "stamp"):
            store.conn.execute(f'UPDATE p_rec SET "{column}" = ? WHERE id = ?', [row[column], i])
    return store


# Every value of every pool appears, in many combinations (the pool sizes are coprime-ish).
FIXED_ROWS = [
    {
        "name": NAMES[i % len(NAMES)],
        "qty": QTYS[i % len(QTYS)],
        "price": PRICES[i % len(PRICES)],
        "flag": [None, True, False][i % 3],
        "active": i % 7 != 0,
        "partner_id": [None, 1, 2, 3][(i // 2) % 4],
        "stamp": STAMPS[i % len(STAMPS)],
    }
    for i in range(60)
]


@pytest.fixture(scope="module")
def fixed_store() -> Iterator[SimStore]:
    with make_store(FIXED_ROWS) as store:
        yield store


def check(store: SimStore, rows: list[dict[str, Any]], domain: list[Any], active: bool) -> None:
    got = store.search("p.rec", domain, order="id", context={"active_test": active})
    expected = [i for i, row in enumerate(rows, start=1) if evaluate(domain, row, active)]
    assert got == expected, domain


@SETTINGS
@given(domains=st.lists(domain_strategy, min_size=5, max_size=25), active_test=st.booleans())
def test_search_matches_the_plain_evaluator(
    fixed_store: SimStore, domains: list[list[Any]], active_test: bool
) -> None:
    for domain in domains:
        check(fixed_store, FIXED_ROWS, domain, active_test)


def every_leaf() -> Iterator[list[Any]]:
    """Each operator of each column with each value of its pool (lists: a few subsets)."""
    text_values = [*NAMES[1:], False]
    yield from (["name", op, v] for op in _EQ + _CMP for v in text_values)
    yield from (["name", op, v] for op in _LIKE for v in PATTERNS)
    for field, values in (("qty", [0, 1, -1, 5, 3, False]), ("price", [0, 1.5, -2, 1, False])):
        yield from ([field, op, v] for op in _EQ + _CMP for v in values)
    yield from ([f, op, v] for f in ("flag", "active") for op in ("=", "!=") for v in (True, False))
    yield from (["partner_id", op, v] for op in _EQ for v in [1, 2, 3, False, *M2O_NAMES])
    yield from (["partner_id", op, v] for op in ("ilike", "not ilike", "like") for v in M2O_NAMES)
    yield from (["partner_id", op, v] for op in _CMP for v in (1, 2, 3))
    yield from (["stamp", op, v] for op in _EQ + _CMP for v in STAMP_VALUES)
    lists: list[tuple[str, list[Any]]] = [
        ("name", ["a", False]),
        ("name", ["", "é"]),
        ("name", []),
        ("qty", [0, 5]),
        ("qty", [1, False]),
        ("flag", [True, False]),
        ("flag", [False]),
        ("partner_id", [1, False]),
        ("partner_id", ["beta", 3]),
        ("stamp", ["2026-11-28 10:00:00", False]),
        ("stamp", ["2026-11-28", "2026-11-28T09:59:59"]),
    ]
    yield from ([field, op, value] for field, value in lists for op in _IN)


def test_every_leaf_matches_the_plain_evaluator(fixed_store: SimStore) -> None:
    for leaf in every_leaf():
        for domain in ([leaf], ["!", leaf]):
            for active in (True, False):
                check(fixed_store, FIXED_ROWS, domain, active)


@settings(max_examples=60, deadline=None, database=None)
@given(rows=rows_strategy, domains=st.lists(domain_strategy, min_size=1, max_size=5))
def test_search_matches_the_plain_evaluator_on_random_rows(
    rows: list[dict[str, Any]], domains: list[list[Any]]
) -> None:
    with make_store(rows) as store:
        for domain in domains:
            check(store, rows, domain, active=True)


@settings(max_examples=100, deadline=None, database=None)
@given(domain=domain_strategy)
def test_normalization_is_idempotent_and_explicit(domain: list[Any]) -> None:
    normalized = normalize_domain(domain)
    assert normalize_domain(normalized) == normalized
    # Explicit prefix form: it parses as exactly one expression.
    if normalized:
        _, end = parse(normalized, 0)
        assert end == len(normalized)


@settings(max_examples=60, deadline=None, database=None)
@given(rows=rows_strategy, domain=domain_strategy)
def test_normalization_preserves_meaning(rows: list[dict[str, Any]], domain: list[Any]) -> None:
    context = {"active_test": False}
    with make_store(rows) as store:
        assert store.search("p.rec", domain, order="id", context=context) == store.search(
            "p.rec", normalize_domain(domain), order="id", context=context
        )


POSITIVE_LEAVES = st.one_of(
    _leaf("name", ["=", "in", "like", "ilike", "=like"], st.sampled_from([*NAMES[1:], False])),
    _leaf("name", ["in"], st.lists(st.sampled_from([*NAMES[1:], False]), max_size=3)),
    _leaf("qty", ["=", "in"], st.sampled_from([0, 1, 5, [0, 1], [5, False]])),
    _leaf("partner_id", ["=", "in", "ilike"], st.sampled_from([1, False, "beta", [1, False]])),
    _leaf("stamp", ["=", "in"], st.sampled_from([*STAMP_VALUES, ["2026-11-28", False]])),
    _leaf("flag", ["="], st.booleans()),
)


@settings(max_examples=100, deadline=None, database=None)
@given(rows=rows_strategy, leaf=POSITIVE_LEAVES)
def test_negative_operators_complement_positive_ones(
    rows: list[dict[str, Any]], leaf: list[Any]
) -> None:
    """NULL rows fall on exactly one side: a negative operator matches what its positive misses."""
    field, op, value = leaf
    context = {"active_test": False}
    everything = list(range(1, len(rows) + 1))
    with make_store(rows) as store:
        matched = set(store.search("p.rec", [leaf], context=context))
        missed = set(store.search("p.rec", [[field, NEGATION[op], value]], context=context))
        negated = set(store.search("p.rec", ["!", leaf], context=context))
    assert matched | missed == set(everything)
    assert not matched & missed
    assert negated == missed


@settings(max_examples=60, deadline=None, database=None)
@given(rows=rows_strategy, op=st.sampled_from(_CMP), value=st.sampled_from([0, 1, 5, -1]))
def test_inequalities_on_numbers_treat_null_as_zero(
    rows: list[dict[str, Any]], op: str, value: int
) -> None:
    context = {"active_test": False}
    with make_store(rows) as store:
        got = store.search("p.rec", [("qty", op, value)], order="id", context=context)
        nulls = set(store.search("p.rec", [("qty", "=", False)], context=context))
    null_ids = {i for i, row in enumerate(rows, start=1) if row["qty"] in (None, 0)}
    assert nulls == null_ids
    assert all((i in got) == COMPARE[op](0, value) for i in null_ids)

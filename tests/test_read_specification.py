"""The pure half of read_page: specifications, answers reshaped, and the archive rewrite.

The rewrite's promise (a domain naming ``active`` finds, without ``active_test`` in the context,
what the original finds with ``active_test: False``) is checked against the simulator's store,
whose domain semantics the replay suite holds to real Odoo 19 and 17 answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odoo_sync_cli.odoo.specification import (
    NAMED,
    archived_by_domain,
    build_specification,
    named_pairs,
    without_names,
)
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.simulator.testing import build_store


@pytest.fixture(scope="module", params=[19, 17], ids=["odoo19", "odoo17"])
def store(request: pytest.FixtureRequest) -> Iterator[SimStore]:
    sim_store = build_store(300, seed=5, odoo_version=request.param)
    # Enough archived partners, with and without a parent, for the filter to matter.
    sim_store.write("res.partner", list(range(1, 300, 7)), {"active": False})
    yield sim_store
    sim_store.close()


def _types(store: SimStore, model: str) -> dict[str, str]:
    return {name: f.type for name, f in store.registry[model].fields.items()}


_LEAVES = st.sampled_from(
    [
        ["id", ">", 40],
        ["id", "<=", 250],
        ["id", "in", [3, 8, 15, 22, 29, 99]],
        ["is_company", "=", True],
        ["active", "=", True],
        ["active", "=", False],
        ["parent_id", "=", False],
        ["parent_id", "!=", False],
        ["customer_rank", ">", 0],
        ["type", "=", "contact"],
        ["name", "ilike", "a"],
        ["email", "=", False],
    ]
)


@st.composite
def _domains(draw: st.DrawFn) -> list[Any]:
    """A prefix-notation domain: operators and leaves, well formed."""
    count = draw(st.integers(0, 4))
    leaves = [draw(_LEAVES) for _ in range(count)]
    out: list[Any] = []
    for index, leaf in enumerate(leaves):
        if index < count - 1 and draw(st.booleans()):
            out.append(draw(st.sampled_from(["|", "&"])))
            if draw(st.booleans()):
                out.append("!")
        out.append(leaf)
    return out


@settings(max_examples=80, deadline=None)
@given(_domains())
def test_the_rewrite_finds_what_active_test_false_finds(store: SimStore, domain: list[Any]) -> None:
    types = _types(store, "res.partner")
    rewritten = archived_by_domain(domain, types)
    assert rewritten is not None
    want = store.search("res.partner", domain, order="id", context={"active_test": False})
    got = store.search("res.partner", rewritten, order="id")
    assert got == want


def test_the_rewrite_is_needed(store: SimStore) -> None:
    """Without it the same search would leave the archived partners out."""
    without = store.search("res.partner", [["id", "<", 30]], order="id")
    rewritten = archived_by_domain([["id", "<", 30]], _types(store, "res.partner"))
    assert rewritten is not None
    found = store.search("res.partner", rewritten, order="id")
    assert set(without) < set(found) == set(range(1, 30)) & set(store.ids("res.partner"))


@pytest.mark.parametrize(
    "term",
    [
        ["parent_id.name", "ilike", "a"],
        ["parent_id", "ilike", "Acme"],
        ["parent_id", "in", ["Acme"]],
        ["parent_id", "any", [["is_company", "=", True]]],
        ["child_ids", "!=", False],
        ["category_id", "in", [1]],
        ["id", "child_of", 5],
        ["id", "parent_of", 5],
        "garbage",
        [1, "=", 1],
        ["id", "="],
    ],
)
def test_terms_that_would_search_another_model_are_declined(store: SimStore, term: Any) -> None:
    types = _types(store, "res.partner")
    assert archived_by_domain([["id", ">", 0], "|", term, ["id", "=", 1]], types) is None


def test_many2one_compared_with_ids_is_kept(store: SimStore) -> None:
    types = _types(store, "res.partner")
    domain = [["parent_id", "in", [1, 2, False]], ["country_id", "=", 21]]
    assert archived_by_domain(domain, types) == [["active", "in", [True, False]], *domain]


def test_a_model_without_active_keeps_its_domain(store: SimStore) -> None:
    types = _types(store, "sale.order")
    assert "active" not in types
    assert archived_by_domain([["id", ">", 3]], types) == [["id", ">", 3]]
    assert archived_by_domain([], {"x_active": "boolean"}) == [["x_active", "in", [True, False]]]


def test_specification_names_only_what_is_asked() -> None:
    spec = build_specification(["name", "parent_id", "country_id", "child_ids"], {"country_id"})
    assert spec == {"name": {}, "parent_id": {}, "country_id": NAMED, "child_ids": {}}


def test_answers_take_search_read_shapes() -> None:
    rows = [
        {"id": 1, "parent_id": {"id": 9, "display_name": "Acme"}, "state_id": 4, "x": [1, 2]},
        {"id": 2, "parent_id": False, "state_id": False, "x": []},
    ]
    assert named_pairs(rows, ["parent_id"]) == [
        {"id": 1, "parent_id": [9, "Acme"], "state_id": 4, "x": [1, 2]},
        {"id": 2, "parent_id": False, "state_id": False, "x": []},
    ]
    read = [{"id": 1, "parent_id": [9, "Acme"], "state_id": [4, "Texas"]}]
    assert without_names(read, ["state_id"]) == [{"id": 1, "parent_id": [9, "Acme"], "state_id": 4}]

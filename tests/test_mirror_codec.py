"""The field-to-column mapping every backend shares (mirror/codec.py), as properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.codec import (
    RESERVED_COLUMNS,
    FieldColumn,
    encode,
    encoding,
    plan_columns,
    row_encoder,
    x2many_text,
)

TYPES = ["char", "text", "integer", "boolean", "float", "many2one", "many2many", "json", "date"]
# Names that collide on purpose: a reserved column, a many2one's name column, their suffixes.
NAMES = ["name", "user", "partner_id", "partner_id_name", "partner_id_name_2", "_synced_at", "x"]

schemas = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(TYPES), max_size=len(NAMES)),
    min_size=1,
    max_size=4,
)


def known_after(plans: list[dict[str, str]]) -> dict[str, FieldColumn]:
    """The columns a table has after the server's schemas were planned one after another."""
    known: dict[str, FieldColumn] = {}
    for fields in plans:
        try:
            plan = plan_columns("res.partner", known, fields)
        except StoreError:
            continue  # a field changed shape: the table would have to be rebuilt
        known = {**known, **{c.field: c for c in plan.new}}
        for name, ftype in plan.retyped:
            old = known[name]
            known[name] = FieldColumn(name, ftype, old.column, old.name_column)
    return known


@given(schemas)
def test_columns_never_collide_and_stay_put(plans: list[dict[str, str]]) -> None:
    known = known_after(plans)
    taken = [c.column for c in known.values()] + [
        c.name_column for c in known.values() if c.name_column
    ]
    assert len(taken) == len(set(taken))
    assert set(taken) & set(RESERVED_COLUMNS) <= {"id"}
    assert known["id"].column == "id"
    # Planned again, every field keeps its column: nothing new, nothing moved.
    again = plan_columns("res.partner", known, {f: c.type for f, c in known.items()})
    assert again.new == () and again.retyped == ()
    assert {c.field: c for c in again.spec.columns} == known


@given(schemas)
def test_the_spec_lists_id_then_the_fields_asked_for(plans: list[dict[str, str]]) -> None:
    known = known_after(plans[:-1])
    fields = plans[-1]
    try:
        plan = plan_columns("res.partner", known, fields)
    except StoreError:
        return
    assert plan.spec.table == "res_partner" and plan.spec.model == "res.partner"
    assert plan.spec.fields == ["id", *[f for f in fields if f != "id"]]
    for col in plan.spec.columns:
        assert (col.name_column is not None) == (col.type == "many2one")


def test_a_field_that_changes_shape_cannot_keep_its_column() -> None:
    first = plan_columns("res.partner", {}, {"ref": "char", "x": "integer"})
    known = {c.field: c for c in first.new}
    same_shape = plan_columns("res.partner", known, {"ref": "text", "x": "boolean"})
    assert set(same_shape.retyped) == {("ref", "text"), ("x", "boolean")}
    with pytest.raises(StoreError, match=r"res\.partner\.x changed type on the server"):
        plan_columns("res.partner", known, {"x": "many2one"})


x2many_values = st.one_of(
    st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=8),
    st.lists(st.one_of(st.integers(), st.booleans(), st.text(max_size=3), st.none()), max_size=4),
    st.sampled_from([False, None, {"a": 1}, "text"]),
)


@given(x2many_values)
def test_x2many_text_is_the_json_of_the_ids_ascending(value: object) -> None:
    """The hand-written text is byte for byte what ``json.dumps(sorted(ids))`` gives: an
    unchanged record must give the same bytes as rows stored before it."""
    got = x2many_text(value)
    if value is False or value is None:
        assert got is None
    elif isinstance(value, list) and all(type(i) is int for i in value):
        assert got == json.dumps(sorted(value))
    else:
        assert got == json.dumps(value)


# Every shape a field's value takes in an API answer (and a few it should not take).
any_value = st.one_of(
    st.just(False),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.lists(st.integers(min_value=1, max_value=50), max_size=4),
    st.tuples(st.integers(min_value=1), st.text(max_size=3)),
    st.lists(st.one_of(st.integers(), st.text(max_size=2)), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
# Field names as a server might spell them, quotes and backslashes included: they enter the
# generated encoder's source as literals.
field_names = st.text(alphabet="ab_'\"\\\n{}1", min_size=1, max_size=6).filter(
    lambda n: n not in ("id", "write_date")
)


@given(
    st.dictionaries(field_names, st.sampled_from([*TYPES, "one2many", "html"]), max_size=8),
    st.data(),
)
def test_the_row_encoder_is_encode_written_out(fields: dict[str, str], data: st.DataObject) -> None:
    spec = plan_columns("res.partner", {}, fields).spec
    present = data.draw(st.sets(st.sampled_from(["id", "write_date", *fields])))
    record = {name: data.draw(any_value) for name in sorted(present)}
    want = ("u", *encode(encoding(spec), record), "now", None)
    assert row_encoder(spec)(record, "u", "now") == want

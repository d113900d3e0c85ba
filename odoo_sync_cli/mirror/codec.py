"""From Odoo fields to mirror columns and back: pure, shared by every backend.

Column mapping from ``fields_get`` types: many2one -> ``<field>`` (the id) plus ``<field>_name``
(the display name when read); one2many/many2many -> a JSON array of the ids sorted ascending (an
x2many is a set: Odoo lists it in its comodel's order, and ids that tie there come back in any
order, so the mirror keeps one canonical form and an unchanged record always gives the same
bytes); json -> JSON text; integer/boolean -> an integer; float/monetary -> a real; the rest
(char, text, html, selection, date, datetime, reference) -> text, with Odoo's ``False`` stored
as NULL. Each field's column has a *storage* shape (``many2one``, ``json``, ``integer``,
``real``, ``text``); a backend picks its own SQL type for each shape.

Every table also has ``user`` and ``id`` (the primary key), ``_write_date``, ``_synced_at`` and
``_deleted_at`` (a tombstone). A field whose name is taken gets the next free ``<name>_<n>``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from odoo_sync_cli.errors import StoreError

RESERVED_COLUMNS = ("user", "id", "_write_date", "_synced_at", "_deleted_at")
X2MANY = frozenset({"one2many", "many2many"})
INTEGER_TYPES = frozenset({"integer", "many2one_reference"})
REAL_TYPES = frozenset({"float", "monetary"})
TEXT_TYPES = frozenset(
    {"char", "text", "html", "selection", "date", "datetime", "reference", "many2one"}
)
_KNOWN_TYPES = INTEGER_TYPES | REAL_TYPES | TEXT_TYPES | X2MANY | {"boolean", "json"}


def table_name(model: str) -> str:
    """The mirror table of a model: ``res.partner`` -> ``res_partner``."""
    return model.replace(".", "_")


@dataclass(frozen=True)
class FieldColumn:
    """Where one Odoo field lives in a mirror table."""

    field: str
    type: str
    column: str
    name_column: str | None = None
    # A many2one's comodel (``res.partner``), when known: the views join its table by it.
    relation: str | None = None

    @property
    def storage(self) -> str:
        """The shape of the stored value; two types of one shape can share columns."""
        if self.type == "many2one":
            return "many2one"
        if self.type in X2MANY or self.type == "json" or self.type not in _KNOWN_TYPES:
            return "json"
        if self.type in INTEGER_TYPES or self.type == "boolean":
            return "integer"
        if self.type in REAL_TYPES:
            return "real"
        return "text"


@dataclass(frozen=True)
class TableSpec:
    """The fields one module reads and the columns that hold them."""

    table: str
    model: str
    columns: tuple[FieldColumn, ...]

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.columns]


# --------------------------------------------------------------------------- columns of a table


def allocate_column(name: str, taken: set[str]) -> str:
    """``name``, or the first free ``name_2``, ``name_3``...; marked taken."""
    candidate = name
    n = 2
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


@dataclass(frozen=True)
class ColumnPlan:
    """What a table needs to hold a module's fields: the spec, and what changes to get there.

    ``new`` are columns to add (``id`` first when the table is new); ``retyped`` are fields whose
    type changed on the server to another of the same storage shape (name -> new type);
    ``relinked`` are many2one fields whose comodel is newly known or changed (name -> model).
    """

    spec: TableSpec
    new: tuple[FieldColumn, ...]
    retyped: tuple[tuple[str, str], ...]
    relinked: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the table's columns or what they point at change."""
        return bool(self.new or self.retyped or self.relinked)


def plan_columns(
    model: str,
    known: Mapping[str, FieldColumn],
    field_types: Mapping[str, str],
    relations: Mapping[str, str] | None = None,
) -> ColumnPlan:
    """The columns of ``field_types`` (name -> type) in a table that has ``known`` already;
    ``relations`` names the comodel of many2one fields (name -> model).

    A field whose type changed to another storage shape cannot be kept in its column: that is
    a StoreError saying to rebuild the table.
    """
    columns = dict(known)
    taken = set(RESERVED_COLUMNS)
    for col in known.values():
        taken.add(col.column)
        if col.name_column:
            taken.add(col.name_column)
    new: list[FieldColumn] = []
    retyped: list[tuple[str, str]] = []
    relinked: list[tuple[str, str]] = []
    relations = relations or {}
    for name, ftype in field_types.items():
        old = columns.get(name)
        relation = relations.get(name) if ftype == "many2one" else None
        if old is not None:
            if relation is not None and old.relation != relation:
                old = columns[name] = replace(old, relation=relation)
                relinked.append((name, relation))
            if old.type != ftype:
                changed = FieldColumn(name, ftype, old.column, old.name_column, old.relation)
                if changed.storage != old.storage:
                    raise StoreError(
                        f"{model}.{name} changed type on the server ({old.type} -> {ftype})",
                        hint=f"Clear the module of {model} (`odoosync clear --module "
                        "...`) so its table is rebuilt.",
                    )
                retyped.append((name, ftype))
                columns[name] = changed
            continue
        column = "id" if name == "id" else allocate_column(name, taken)
        name_column = None
        if ftype == "many2one":
            name_column = allocate_column(f"{name}_name", taken)
        col = FieldColumn(name, ftype, column, name_column, relation)
        columns[name] = col
        new.append(col)
    if "id" not in columns:
        columns["id"] = FieldColumn("id", "integer", "id")
        new.insert(0, columns["id"])
    order = ["id", *[f for f in field_types if f != "id"]]
    spec = TableSpec(table=table_name(model), model=model, columns=tuple(columns[f] for f in order))
    return ColumnPlan(spec, tuple(new), tuple(retyped), tuple(relinked))


# --------------------------------------------------------------------------- values


_PLAIN, _MANY2ONE, _JSON, _BOOLEAN, _X2MANY = range(5)
_SEQUENCES = (list, tuple)
Encoding = tuple[tuple[str, int, bool], ...]


def x2many_text(value: Any) -> str | None:
    """An x2many value as the mirror stores it: the JSON array of its ids, ascending.

    The text is ``json.dumps(sorted(ids))``'s, written out directly: most x2many values are
    empty or short, and a full sync encodes millions of them.
    """
    if value is False or value is None:
        return None
    if isinstance(value, list):
        if not value:
            return "[]"
        for i in value:
            if type(i) is not int:
                return json.dumps(value)
        return "[" + ", ".join(map(str, sorted(value))) + "]"
    return json.dumps(value)


def sorted_ids_text(text: str | None) -> str | None:
    """A stored x2many JSON text in the canonical form (for rows stored before it existed)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return x2many_text(value) if isinstance(value, list) else text


@functools.lru_cache(maxsize=256)
def encoding(spec: TableSpec) -> Encoding:
    """How to encode the records of ``spec``, worked out once per table.

    A page of 1,000 wide records would otherwise redo it per value.
    """
    plan: list[tuple[str, int, bool]] = []
    for col in spec.columns:
        storage = col.storage
        if storage == "many2one":
            kind = _MANY2ONE
        elif col.type in X2MANY:
            kind = _X2MANY
        elif storage == "json":
            kind = _JSON
        elif col.type == "boolean":
            kind = _BOOLEAN
        else:
            kind = _PLAIN
        plan.append((col.field, kind, col.name_column is not None))
    return tuple(plan)


def column_names(spec: TableSpec) -> list[str]:
    """The columns :func:`encode_record` fills, in its order."""
    names: list[str] = []
    for col in spec.columns:
        names.append(col.column)
        if col.name_column:
            names.append(col.name_column)
    names.append("_write_date")
    return names


def encode_record(spec: TableSpec, record: Mapping[str, Any]) -> list[Any]:
    """An API record (``search_read`` shape) as the values of :func:`column_names`."""
    return encode(encoding(spec), record)


def encode(plan: Encoding, record: Mapping[str, Any]) -> list[Any]:
    """:func:`encode_record` with the table's :func:`encoding` already in hand."""
    out: list[Any] = []
    append = out.append
    get = record.get
    for name, kind, named in plan:
        value = get(name, False)
        if kind == _PLAIN:
            append(None if value is False or value is None else value)
        elif kind == _MANY2ONE:
            if isinstance(value, list | tuple) and value:
                append(value[0])
                if named:
                    append(value[1] if len(value) > 1 else None)
            else:
                append(value if isinstance(value, int) and not isinstance(value, bool) else None)
                if named:
                    append(None)
        elif kind == _X2MANY:
            append(x2many_text(value))
        elif kind == _JSON:
            append(None if value is False or value is None else json.dumps(value))
        else:
            append(None if value is None else int(bool(value)))
    append(get("write_date") or None)
    return out


RowEncoder = Callable[[Mapping[str, Any], str, str], tuple[Any, ...]]


@functools.lru_cache(maxsize=256)
def row_encoder(spec: TableSpec) -> RowEncoder:
    """A function of ``(record, user, now)`` that gives the row a sink inserts: ``user``, the
    values of :func:`encode`, ``_synced_at = now`` and ``_deleted_at = NULL``.

    It is :func:`encode` written out for this table's columns, one statement per field: no loop
    over the plan and no branch on each value's kind, which halves the cost of encoding a wide
    page (a first sync encodes every record once). The field names enter the source as
    ``repr`` literals only; ``tests/test_mirror_codec.py`` holds it equal to :func:`encode`.
    """
    lines = ["def encode_row(record, user, now):", "    get = record.get"]
    values = ["user"]
    for i, (name, kind, named) in enumerate(encoding(spec)):
        v = f"v{i}"
        lines.append(f"    {v} = get({name!r}, False)")
        if kind == _PLAIN:
            values.append(f"(None if {v} is False or {v} is None else {v})")
        elif kind == _MANY2ONE:
            lines += [
                f"    if isinstance({v}, _SEQUENCES) and {v}:",
                f"        a{i} = {v}[0]",
                f"        b{i} = {v}[1] if len({v}) > 1 else None",
                "    else:",
                f"        a{i} = {v} if isinstance({v}, int) and not isinstance({v}, bool)"
                " else None",
                f"        b{i} = None",
            ]
            values += [f"a{i}", f"b{i}"] if named else [f"a{i}"]
        elif kind == _X2MANY:
            values.append(f"x2many_text({v})")
        elif kind == _JSON:
            values.append(f"(None if {v} is False or {v} is None else json.dumps({v}))")
        else:
            values.append(f"(None if {v} is None else (1 if {v} else 0))")
    values += ["(get('write_date') or None)", "now", "None"]
    lines.append(f"    return ({', '.join(values)},)")
    # Defined with this module's globals: it calls x2many_text and json.dumps as encode does.
    scope: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<row encoder of {spec.table}>", "exec"), globals(), scope)
    return cast("RowEncoder", scope["encode_row"])


def record_to_row(spec: TableSpec, record: Mapping[str, Any]) -> dict[str, Any]:
    """An API record (``search_read`` shape) as column values of ``spec.table``."""
    return dict(zip(column_names(spec), encode_record(spec, record), strict=True))


def row_to_record(spec: TableSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """A mirror row back in the shape ``search_read`` returns."""
    record: dict[str, Any] = {}
    for col in spec.columns:
        value = row[col.column]
        storage = col.storage
        if storage == "many2one":
            record[col.field] = False if value is None else [value, row[col.name_column or ""]]
        elif storage == "json":
            record[col.field] = False if value is None else json.loads(value)
        elif col.type == "boolean":
            record[col.field] = bool(value)
        else:
            record[col.field] = False if value is None else value
    return record

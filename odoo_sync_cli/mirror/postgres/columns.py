"""PostgreSQL column types for the codec's cells, and the cells back from what the server returns.

Pure: no driver here. The codec (``mirror/codec.py``) turns an API record into *cells*, the
values a SQLite row holds; this module says which PostgreSQL type holds each field and how a
cell crosses to it and back, so that every backend reads back the same cells (verification and
reconcile compare cells):

======================  ===============================  ========================================
Odoo type               column                           why
======================  ===============================  ========================================
integer                 ``bigint``                       ids and counts; room for any Odoo integer
many2one                ``bigint`` + ``<field>_name``    the id joins; the name as it was read
                        ``text``
one2many, many2many     ``bigint[]``, ids ascending      ``= ANY(col)`` and ``unnest`` in SQL;
                                                         one canonical form of the set
boolean                 ``boolean``
float                   ``double precision``             what the API gives: a binary double
monetary                ``numeric``                      exact sums of money: the API's double is
                                                         stored as its shortest decimal (the
                                                         amount Odoo shows), never through a
                                                         float8 cast, so ``sum()`` adds cents
                                                         exactly and the double reads back equal
date                    ``date``
datetime                ``timestamp`` (no time zone)     UTC, as Odoo itself stores it: the value
                                                         means what it means in Odoo's database,
                                                         whatever a session's TimeZone is
json (and unknown)      ``jsonb``
the rest                ``text``                         char, text, html, selection, reference
======================  ===============================  ========================================

odoosync's own instants (``_synced_at``, ``_deleted_at``) are ``timestamptz``; ``_write_date``
is Odoo's, a ``timestamp``. Cells go to the server as COPY text, which PostgreSQL parses by the
column's type (``1``/``0`` for a boolean, ISO dates, a double's shortest repr into
``numeric``); only an x2many needs rewriting, from a JSON array to an array literal. Back, the
connection loads ``jsonb``, ``date`` and ``timestamp`` as text (ISO) and ``numeric`` as a
double, and :func:`cell` does the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.codec import X2MANY, FieldColumn, TableSpec

BIGINT = "bigint"
IDS = "bigint[]"
BOOLEAN = "boolean"
DOUBLE = "double precision"
NUMERIC = "numeric"
DATE = "date"
TIMESTAMP = "timestamp"
INSTANT = "timestamptz"
JSONB = "jsonb"
TEXT = "text"

# PostgreSQL cuts identifiers longer than this (NAMEDATALEN - 1) without a word.
MAX_IDENTIFIER_BYTES = 63

# The columns every mirror table has besides the fields', and their types.
ROW_KEY = (("user", TEXT), ("id", BIGINT))
BOOKKEEPING = (("_write_date", TIMESTAMP), ("_synced_at", INSTANT), ("_deleted_at", INSTANT))


def sql_type(col: FieldColumn) -> str:
    """The PostgreSQL type of a field's (first) column."""
    if col.type == "many2one":
        return BIGINT
    if col.type in X2MANY:
        return IDS
    if col.type == "boolean":
        return BOOLEAN
    if col.type == "monetary":
        return NUMERIC
    if col.type == "float":
        return DOUBLE
    if col.type == "date":
        return DATE
    if col.type == "datetime":
        return TIMESTAMP
    if col.storage == "integer":
        return BIGINT
    if col.storage == "json":
        return JSONB
    return TEXT


def field_columns(col: FieldColumn) -> Iterator[tuple[str, str]]:
    """The columns one field fills, with their types: the id and the name of a many2one."""
    yield col.column, sql_type(col)
    if col.name_column:
        yield col.name_column, TEXT


def table_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """Every column of a mirror table holding ``spec``, in the codec's order, with its type."""
    out = list(ROW_KEY)
    for col in spec.columns:
        if col.column != "id":
            out.extend(field_columns(col))
    out.extend(BOOKKEEPING)
    return out


def check_identifier(name: str, what: str) -> None:
    """Refuse a name PostgreSQL would cut short (two long names could become one)."""
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise StoreError(
            f"{what} {name!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte limit "
            "for names",
            hint="Leave the field out of the module (`fields` or `exclude` in the settings).",
        )


# --------------------------------------------------------------------------- cells to the server


def ids_literal(text: str) -> str:
    """An x2many cell (a JSON array of ids, ``[3, 7]``) as an array literal (``{3, 7}``)."""
    if not (text.startswith("[") and text.endswith("]")):
        raise StoreError(f"an x2many value is not a list of ids: {text[:80]!r}")
    return "{" + text[1:-1] + "}"


def copy_plan(types: Sequence[str]) -> tuple[int, ...]:
    """The positions of a row whose cells need rewriting on the way to COPY (the x2many)."""
    return tuple(i for i, t in enumerate(types) if t == IDS)


def to_copy(row: list[Any], rewrite: tuple[int, ...]) -> list[Any]:
    """A row of cells as COPY text takes it: x2many cells become array literals, in place."""
    for i in rewrite:
        value = row[i]
        if value is not None:
            row[i] = ids_literal(value)
    return row


# --------------------------------------------------------------------------- cells back


def instant_text(value: datetime) -> str:
    """An odoosync instant as every odoosync timestamp is written: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell(sql: str, value: Any) -> Any:
    """What the server returned for a column of type ``sql``, as the codec's cell."""
    if value is None:
        return None
    if sql == BOOLEAN:
        return int(value)
    if sql == IDS:
        return json.dumps(list(value))
    if sql == INSTANT and isinstance(value, datetime):
        return instant_text(value)
    return value

"""Views with current names: each mirror table as ``<table>_current``, many2one names fresh.

A many2one's ``<field>_name`` column holds the comodel's display name as it was when the row
was read (or NULL where the sync did not ask Odoo for it, because the comodel is mirrored too).
When the comodel is mirrored, its own table knows the name now. ``<table>_current`` is the
table, every column in its place, with each such ``<field>_name`` taken from the comodel's row
of the same user and id:

- the comodel's name column is the first of ``display_name``, ``complete_name`` and ``name``
  that its table holds as text, which is how Odoo names records: ``display_name`` is stored
  only by some models and older servers; ``complete_name`` is the stored display name of
  res.partner ("Company, Person"), product.category, hr.department and their kind; the rest
  show their ``name``. Where a user does not read the first, the next one serves
  (``coalesce``);
- the row read more recently wins: the comodel's name, unless the referencing row was read
  after the comodel's row and carries a name of its own (a module no longer synced keeps its
  rows, and Odoo may have renamed the record since);
- a comodel row marked deleted still gives its last name: a many2one can keep pointing at a
  record Odoo deleted without writing the rows that point at it;
- where the comodel's table has no row (another user's mirror, a record outside its module's
  filter), the stored name stays.

A table gets a view when at least one of its many2one fields points at a mirrored model that
has a name column. The SQL is standard (double-quoted names, ``LEFT JOIN``, ``coalesce``,
``CASE``), so every backend creates the same views from :func:`view_select`; a backend drops
and creates them again, in the transaction that changes a table's columns, whenever a table
is created or widened or a many2one learns its comodel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from odoo_sync_cli.mirror.codec import FieldColumn

VIEW_SUFFIX = "_current"
# Odoo's display name, where a model stores it, then the names it is made of.
NAME_FIELDS = ("display_name", "complete_name", "name")
NAME_TYPES = frozenset({"char", "text"})


def view_name(table: str) -> str:
    """The view of a mirror table: ``sale_order`` -> ``sale_order_current``."""
    return f"{table}{VIEW_SUFFIX}"


def quote(name: str) -> str:
    """A name quoted for SQL, the standard way every backend reads."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class MirrorTable:
    """A mirror table as a view needs it: its columns in order, and the fields they hold."""

    table: str
    model: str
    columns: tuple[str, ...]
    fields: tuple[FieldColumn, ...]

    def name_columns(self) -> tuple[str, ...]:
        """The columns that name this table's records, best first."""
        by_field = {f.field: f for f in self.fields}
        return tuple(
            by_field[name].column
            for name in NAME_FIELDS
            if name in by_field
            and by_field[name].type in NAME_TYPES
            and by_field[name].column in self.columns
        )


def view_select(table: MirrorTable, tables: Sequence[MirrorTable]) -> str | None:
    """The SELECT of ``table``'s view over the mirror ``tables``; None when it needs none."""
    by_model: Mapping[str, MirrorTable] = {t.model: t for t in tables}
    fresh: dict[str, str] = {}
    joins: list[str] = []
    for col in table.fields:
        comodel = by_model.get(col.relation or "")
        if col.type != "many2one" or comodel is None or col.name_column is None:
            continue
        names = comodel.name_columns()
        if not names or col.name_column not in table.columns or col.column not in table.columns:
            continue
        alias = quote(f"c{len(joins) + 1}")
        joins.append(
            f"LEFT JOIN {quote(comodel.table)} AS {alias} "
            f'ON {alias}."user" = t."user" AND {alias}."id" = t.{quote(col.column)}'
        )
        stored = f"t.{quote(col.name_column)}"
        current = ", ".join([*(f"{alias}.{quote(n)}" for n in names), stored])
        fresh[col.name_column] = (
            f'CASE WHEN {alias}."id" IS NULL OR ({stored} IS NOT NULL '
            f'AND t."_synced_at" > {alias}."_synced_at") THEN {stored} '
            f"ELSE coalesce({current}) END"
        )
    if not joins:
        return None
    select = ",\n  ".join(
        f"{fresh[c]} AS {quote(c)}" if c in fresh else f"t.{quote(c)} AS {quote(c)}"
        for c in table.columns
    )
    return f"SELECT\n  {select}\nFROM {quote(table.table)} AS t\n" + "\n".join(joins)

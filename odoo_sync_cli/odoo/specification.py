"""Reading through ``web_search_read`` (Odoo 17+) while keeping ``search_read``'s answers.

Most of a real server's time in a page of records goes into formatting values, above all the
display names of many2one values. ``web_search_read(domain, specification, ...)`` reads only what
its field specification asks: a many2one whose spec is ``{}`` comes back as a bare id, one whose
spec is ``{"fields": {"display_name": {}}}`` as ``{"id", "display_name"}``. Every other field
reads as ``search_read`` reads it (checked field by field on real Odoo 17 and 19 servers: dates,
datetimes, selections, monetary, json, x2many id lists).

One difference matters. ``search_read`` drops ``active_test`` from the context before it reads,
so x2many values always leave out archived comodel records; ``web_search_read`` keeps it, so with
``active_test: False`` they list them (a partner's ``user_ids`` then shows archived users). The
way to find archived records and still read x2many values as ``search_read`` does is to say so in
the domain (``active in [True, False]``: a domain that names ``active`` turns the implicit filter
off) and to leave ``active_test`` out of the context. That is only the same search when nothing
else in the domain looks at another model, where ``active_test`` would apply too:
:func:`archived_by_domain` rewrites the domains for which it can promise that, and declines
the rest (the caller then uses ``search_read``).

The functions here are pure: they build the specification, rewrite the domain, and turn
answers into ``search_read``'s shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "NAMED",
    "active_field",
    "archived_by_domain",
    "build_specification",
    "named_pairs",
    "without_names",
]

# The spec of a many2one read as {id, display_name}; {} reads it as a bare id.
NAMED: dict[str, Any] = {"fields": {"display_name": {}}}

_RELATIONAL = frozenset({"many2one", "one2many", "many2many"})
_OPERATORS = frozenset({"&", "|", "!"})
# Comparing a many2one's column with ids is a plain SQL comparison, whatever the context says.
_COLUMN_OPERATORS = frozenset({"=", "!=", "in", "not in"})
# Operators that search the model itself or a comodel again (hierarchies, sub-domains).
_SEARCHING_OPERATORS = frozenset({"child_of", "parent_of", "any", "not any", "any!", "not any!"})


def build_specification(fields: Iterable[str], names: Collection[str]) -> dict[str, Any]:
    """Every field with an empty spec, except the many2one ``names``, read with display names."""
    return {f: (NAMED if f in names else {}) for f in fields}


def named_pairs(records: list[dict[str, Any]], names: Collection[str]) -> list[dict[str, Any]]:
    """Turn ``{"id", "display_name"}`` values of ``names`` into ``[id, display_name]``, in place."""
    if names:
        for record in records:
            for name in names:
                value = record.get(name)
                if isinstance(value, dict):
                    record[name] = [value.get("id"), value.get("display_name")]
    return records


def without_names(records: list[dict[str, Any]], many2one: Collection[str]) -> list[dict[str, Any]]:
    """Turn ``[id, name]`` values of the ``many2one`` fields into bare ids, in place."""
    if many2one:
        for record in records:
            for name in many2one:
                value = record.get(name)
                if isinstance(value, list | tuple) and value:
                    record[name] = value[0]
    return records


def active_field(types: Mapping[str, str]) -> str | None:
    """The field Odoo's implicit archive filter looks at (``active``, else ``x_active``)."""
    for name in ("active", "x_active"):
        if types.get(name) == "boolean":
            return name
    return None


def archived_by_domain(
    domain: Sequence[Any],
    types: Mapping[str, str],
    path_unfiltered: Callable[[str], bool] | None = None,
) -> list[Any] | None:
    """``domain`` made to find archived records without ``active_test: False`` in the context.

    ``types`` maps the model's fields to their types. Returns None when the domain has a term
    whose result could depend on ``active_test`` other than through the implicit filter: an
    x2many, a many2one compared with anything but ids, a hierarchy or ``any`` operator, or a
    path (``move_id.move_type``) unless ``path_unfiltered`` says that no model the path goes
    through has an archive filter (Odoo searches a path's comodel with the same context, so
    only a comodel without ``active`` answers the same either way).
    """
    for term in domain:
        if isinstance(term, str) and term in _OPERATORS:
            continue
        if not _plain_term(term, types, path_unfiltered):
            return None
    active = active_field(types)
    if active is None:
        return list(domain)
    # A leading term is ANDed with the whole domain, prefix operators included.
    return [[active, "in", [True, False]], *domain]


def _plain_term(
    term: Any, types: Mapping[str, str], path_unfiltered: Callable[[str], bool] | None
) -> bool:
    if not isinstance(term, list | tuple) or len(term) != 3:
        return False
    left, operator, right = term
    if not isinstance(left, str) or not isinstance(operator, str):
        return False
    if "." in left:
        head = left.partition(".")[0]
        return (
            types.get(head) == "many2one"
            and operator.lower() not in _SEARCHING_OPERATORS
            and path_unfiltered is not None
            and path_unfiltered(left)
        )
    kind = types.get(left)
    if kind not in _RELATIONAL:
        return operator.lower() not in _SEARCHING_OPERATORS
    if kind != "many2one" or operator not in _COLUMN_OPERATORS:
        return False
    values = right if isinstance(right, list | tuple) else [right]
    return all(v is False or v is None or type(v) is int for v in values)

"""``web_search_read`` and ``web_read``: reads shaped by a field specification (Odoo 17+).

A specification maps each field to read to its own spec. The record is first read as
``read(fields, load=None)`` gives it (a many2one as its bare id), then the specs reshape it, as
the web module of Odoo 17 and 19 does (``odoo/addons/web/models/models.py``):

- many2one: without ``fields`` the bare id stays; with ``fields`` the value becomes
  ``{"id", <those fields>, "display_name"?}`` (``{"id"}`` alone for ``{"fields": {}}``).
- one2many/many2many: an empty spec keeps the list of ids; ``order`` re-sorts it, ``fields``
  turns it into a list of ``{"id", <fields>}`` (``limit`` reads only the first ids).
- every other field ignores its spec.

The code follows Odoo's own steps on the decoded JSON values, so a spec of the wrong shape fails
with the very exception Python raises there (``'list' object has no attribute 'keys'``,
``argument of type 'bool' is not iterable``...). For comodels the simulator does not store it
knows only display names: asking such a comodel for another field reads as an unknown field.

``web_search_read`` answers ``{"length", "records"}``; ``length`` costs a count only when a
full page came back and ``count_limit`` is not already reached (see :func:`page_length`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .models import X2MANY_TYPES
from .store import SimStore

_SUBFIELDS_KNOWN_OFF_STORE = frozenset({"id", "display_name"})


def fields_to_read(specification: Any) -> list[str]:
    """The fields a read for ``specification`` asks for; ``id`` alone when it names none."""
    return list(specification) or ["id"]


def web_read(
    store: SimStore,
    model: str,
    ids: list[int],
    specification: Any,
    *,
    context: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """``records.web_read(specification)`` for the records ``ids`` (missing ones left out)."""
    fields = fields_to_read(specification)
    if fields == ["id"]:
        # Odoo builds these from the ids it holds, without reading (or checking) anything.
        return [{"id": i} for i in ids]
    rows = store.read(model, ids, fields, context=context, names_of_many2one=False)
    return apply_specification(store, model, rows, specification, context=context)


def apply_specification(
    store: SimStore,
    model: str,
    rows: list[dict[str, Any]],
    specification: Any,
    *,
    context: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Reshape rows read with bare many2one ids as ``specification`` asks."""
    if not rows:
        return rows
    registry = store.registry[model].fields
    for field_name, field_spec in specification.items():
        fld = registry.get(field_name)
        if fld is None:
            continue
        relation = fld.relation or ""
        if fld.type == "many2one":
            if "fields" not in field_spec:
                continue
            co_ids = _unique(r[field_name] for r in rows)
            extra = dict(field_spec["fields"])
            extra.pop("display_name", None)
            data = {v["id"]: v for v in _read_comodel(store, relation, co_ids, extra, context)}
            if "display_name" in field_spec["fields"]:
                for co_id, name in store.display_names(relation, co_ids).items():
                    data.setdefault(co_id, {"id": co_id})["display_name"] = name
            for row in rows:
                if row[field_name] is not False:
                    row[field_name] = data.get(row[field_name]) or {"id": row[field_name]}
        elif fld.type in X2MANY_TYPES:
            if not field_spec:
                continue
            # Not .get(): a spec that is no dict must fail as Odoo's ``in`` test fails.
            if "order" in field_spec and field_spec["order"]:  # noqa: RUF019
                _reorder(store, relation, rows, field_name, field_spec["order"], context)
            if "fields" in field_spec:
                wanted = _unique(i for r in rows for i in r[field_name])
                limit = field_spec.get("limit")
                if limit is not None:
                    wanted = _unique(i for r in rows for i in r[field_name][:limit])
                sub = field_spec["fields"]
                data = {v["id"]: v for v in _read_comodel(store, relation, wanted, sub, context)}
                for row in rows:
                    row[field_name] = [data.get(i) or {"id": i} for i in row[field_name]]
    return rows


def page_length(
    records: int,
    *,
    offset: int,
    limit: Any,
    count_limit: Any,
    context: Mapping[str, Any],
    count: Callable[[Any], int],
) -> tuple[int, bool]:
    """``length`` of a ``web_search_read`` answer, and whether it took a count.

    Odoo counts (``search_count(domain, limit=count_limit)``) only when the page came back full
    and ``count_limit`` is not reached yet, or when the context says ``force_search_count``:
    any ``count_limit`` between 1 and the records returned saves that query.
    """
    if not records:
        return 0, False
    current = records + offset
    limit_reached = records == limit
    count_limit_reached = count_limit and count_limit <= current
    if limit and ((limit_reached and not count_limit_reached) or context.get("force_search_count")):
        return count(count_limit), True
    return current, False


def _unique(values: Any) -> list[int]:
    seen: dict[int, None] = {}
    for value in values:
        if value is not False and value is not None:
            seen.setdefault(value, None)
    return list(seen)


def _read_comodel(
    store: SimStore,
    relation: str,
    ids: list[int],
    specification: Any,
    context: Mapping[str, Any],
) -> list[dict[str, Any]]:
    if relation in store.registry:
        return web_read(store, relation, ids, specification, context=context)
    fields = fields_to_read(specification)
    unknown = [f for f in fields if f not in _SUBFIELDS_KNOWN_OFF_STORE]
    if unknown:
        raise store.invalid_field(relation, unknown[0])
    names = store.display_names(relation, ids) if "display_name" in fields else {}
    return [{"id": i, **({"display_name": names[i]} if names else {})} for i in ids]


def _reorder(
    store: SimStore,
    relation: str,
    rows: list[dict[str, Any]],
    field_name: str,
    order: Any,
    context: Mapping[str, Any],
) -> None:
    """Sort x2many ids by ``order``; ids the search does not find are dropped, as in Odoo."""
    if relation not in store.registry:
        return
    every = _unique(i for r in rows for i in r[field_name])
    # Odoo 19 searches with active_test off; 17 keeps the read's context.
    search_context = {**context, "active_test": False} if store.semantics.version >= 19 else context
    found = store.search(relation, [["id", "in", every]], order=order, context=search_context)
    rank = {rid: index for index, rid in enumerate(found)}
    for row in rows:
        kept = [i for i in row[field_name] if i in rank]
        row[field_name] = sorted(kept, key=rank.__getitem__)

"""Model and field specifications the simulator serves, and how they map to its SQLite tables.

Storage contract (shared by the store, which writes rows, and the query compiler, which reads them):

- One table per model, named ``ModelSpec.table`` (``res.partner`` -> ``res_partner``), with
  ``id INTEGER PRIMARY KEY`` and one column per stored field, named as the field:
  char/text/html/selection/date -> TEXT (NULL when empty); datetime -> TEXT
  ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six digits of microseconds, UTC); integer -> INTEGER;
  float/monetary -> REAL; boolean -> INTEGER 0/1 (NULL possible); many2one -> INTEGER id (NULL);
  json -> TEXT holding JSON (NULL when empty); one2many/many2many -> TEXT holding a JSON array of
  ids in one order the comodel's ``_order`` allows (as recorded or written). ``read`` sorts the
  ids of a stored comodel by its ``_order`` again and shuffles those that tie, as it does those
  of the comodels in :data:`TIED_COMODEL_ORDERS`. Binary and properties fields have no column
  and read as False. An unstored field with a ``related`` path (recorded for the line models)
  is searched through that path, as Odoo does; a stored one follows its source when that
  changes (a line's ``state`` when its order is confirmed), stamping the lines it changes.
- Only ``id`` is indexed, as on Odoo's tables: ordering or filtering on write_date costs a scan.
- ``_sim_names(model TEXT, id INTEGER, name TEXT, PRIMARY KEY (model, id))`` holds the display
  name of every record a many2one can point at, for models the simulator stores and for those it
  does not (res.company, res.country, ...). A many2one reads as ``[id, name]`` from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

# Field types that have no column: they are not stored as values the API returns here.
UNSTORED_TYPES = frozenset({"binary", "properties", "properties_definition"})
X2MANY_TYPES = frozenset({"one2many", "many2many"})
TEXT_TYPES = frozenset({"char", "text", "html", "selection"})
NUMBER_TYPES = frozenset({"integer", "float", "monetary"})


@dataclass(frozen=True)
class FieldSpec:
    """One field as ``fields_get`` describes it."""

    name: str
    type: str
    store: bool
    relation: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def has_column(self) -> bool:
        return self.store and self.type not in UNSTORED_TYPES


@dataclass(frozen=True)
class ModelSpec:
    """One model: its fields, default order, and the fields a name search looks at."""

    name: str
    fields: dict[str, FieldSpec]
    order: str = "id"
    rec_name_fields: tuple[str, ...] = ("name",)

    @property
    def table(self) -> str:
        return self.name.replace(".", "_")

    @property
    def has_active(self) -> bool:
        f = self.fields.get("active")
        return f is not None and f.type == "boolean" and f.store

    def column_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.has_column]


# Default `_order` and name-search fields of the six models the simulator serves, as on Odoo 19.
MODEL_DEFAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "res.partner": (
        "complete_name ASC, id DESC",
        ("complete_name", "email", "ref", "vat", "company_registry"),
    ),
    "sale.order": ("date_order desc, id desc", ("name",)),
    "account.move": ("date desc, name desc, invoice_date desc, id desc", ("name",)),
    "hr.employee": ("name", ("name",)),
    "sale.order.line": ("order_id, sequence, id", ("name",)),
    "account.move.line": ("date desc, move_name desc, id", ("name",)),
}


# Lines and the one2many lists their document derives from them: (the lines' many2one to the
# document, ((document field, the display types it lists or None for all), ...)). The store
# keeps the lists in step when lines are created, moved or deleted, stamps the document as
# Odoo's recomputation of its amounts does, and deletes the lines with their document
# (ondelete='cascade').
DOCUMENT_LINES: dict[str, tuple[str, tuple[tuple[str, frozenset[str] | None], ...]]] = {
    "sale.order.line": ("order_id", (("order_line", None),)),
    "account.move.line": (
        "move_id",
        (
            ("line_ids", None),
            (
                "invoice_line_ids",
                frozenset({"product", "line_section", "line_subsection", "line_note"}),
            ),
        ),
    ),
}


# Comodels the six models' x2many fields point at that the simulator does not store, whose
# `_order` in Odoo 19 can tie (no `id` term, nor another unique one). Odoo reads an x2many in
# its comodel's `_order`, so two reads can list tied ids in different orders. The simulator
# knows only the ids of these records, not the values they sort by: see SimStore.
TIED_COMODEL_ORDERS: dict[str, str] = {
    "account.analytic.account": "plan_id, name asc",
    "account.payment": "date desc, name desc",
    "hr.employee.skill": "skill_type_id, skill_level_id",
    "hr.resume.line": "line_type_id, date_end desc, date_start desc",
    "hr.skill": "sequence, name",
    "hr.version": "date_version",
    "product.document": "sequence, name",
    "quotation.document": "document_type desc, sequence, name",
    "res.company": "sequence, name",
}


# How account.move names a draft entry that has no number yet.
DRAFT_MOVE_LABELS = {
    "out_invoice": "Draft Invoice",
    "out_refund": "Draft Credit Note",
    "in_invoice": "Draft Bill",
    "in_refund": "Draft Vendor Credit Note",
    "out_receipt": "Draft Sales Receipt",
    "in_receipt": "Draft Purchase Receipt",
    "entry": "Draft Entry",
}


def draft_move_name(row: Mapping[str, Any]) -> str:
    """The display name of an account.move in draft without a number."""
    label = DRAFT_MOVE_LABELS.get(str(row.get("move_type")), "Draft Entry")
    return f"{label} (* {row['id']})"


def load_field_specs(raw: dict[str, dict[str, Any]]) -> dict[str, FieldSpec]:
    return {
        name: FieldSpec(
            name=name,
            type=str(a["type"]),
            store=bool(a.get("store", False)),
            relation=a.get("relation"),
            attrs=dict(a),
        )
        for name, a in raw.items()
    }


def builtin_models() -> dict[str, ModelSpec]:
    """The six default models, with the field lists recorded from a real Odoo 19.0 server."""
    registry: dict[str, ModelSpec] = {}
    schema = resources.files("odoo_sync_cli.simulator") / "schema"
    for model, (order, rec_names) in MODEL_DEFAULTS.items():
        raw = json.loads((schema / f"{model}.fields.json").read_text(encoding="utf-8"))
        registry[model] = ModelSpec(
            name=model, fields=load_field_specs(raw), order=order, rec_name_fields=rec_names
        )
    return registry


def builtin_version() -> dict[str, Any]:
    schema = resources.files("odoo_sync_cli.simulator") / "schema"
    data: dict[str, Any] = json.loads((schema / "version.json").read_text(encoding="utf-8"))
    return data

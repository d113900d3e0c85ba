"""``test-complete``'s verification: the mirror of one user against a fresh look at Odoo.

Per module: the mirror's live rows (not marked deleted) must number what Odoo's
``search_count`` says with archived records included; the id sets must be equal (up to ten
missing and ten extra ids are listed); and a random sample of records must equal a fresh read
of them, field by field, read as the sync reads them (``OdooClient.read_page`` on their ids:
x2many values as ``search_read`` gives them, where Odoo's ``read`` would list an x2many's
archived records too; display names only for the many2one fields the module reads them for).

The sample is compared twice. First the fresh record goes through the mirror's own converter
(:func:`odoo_sync_cli.mirror.codec.record_to_row`) and must give the stored row column by
column: the same code path that wrote the row, so nothing differs by representation. But a bug in
that converter would then hide itself, so the many2one and x2many columns are also checked against
the raw API values directly: ``<field>`` against ``value[0]`` (or the bare id), ``<field>_name``
against ``value[1]``, and the JSON of an x2many against the id list. A many2one whose comodel the
user mirrors is read without its name, and its ``_name`` column is not compared (the current
name is in the comodel's own table).

An x2many is compared as a set, in both checks. Odoo lists its ids in the comodel's order, and
ids that tie there (skills of one type, tags of one name) come back in whatever order
PostgreSQL hands them over, so two reads of an unchanged record can disagree on the order; the
mirror stores them ascending.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from odoo_sync_cli.domain import NO_ACTIVE_TEST, ORDER_BY_ID
from odoo_sync_cli.errors import VerificationError
from odoo_sync_cli.mirror.base import RecordSink
from odoo_sync_cli.mirror.codec import X2MANY, FieldColumn, TableSpec, record_to_row
from odoo_sync_cli.models import MODULE_OK, RECONCILE, Batch, ModuleRow
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.planner import trusted_count
from odoo_sync_cli.progress import BatchFailed, Event, PageStored, Reporter, UserStarted
from odoo_sync_cli.runner import Reading, list_ids

DEFAULT_SAMPLE = 50
LISTED_IDS = 10
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class FieldMismatch:
    """One stored value that differs from what Odoo answers now."""

    model: str
    record_id: int
    field: str
    mirror: Any
    server: Any

    def describe(self) -> str:
        return (
            f"{self.model} id {self.record_id} field {self.field}: the mirror has "
            f"{self.mirror!r}, Odoo has {self.server!r}"
        )


@dataclass
class ModuleTiming:
    """What the sync did for one module, as the reporter saw it."""

    pages: int = 0
    records: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ModuleCheck:
    """The verdict on one module, with the figures of the sync that filled it."""

    module: str
    model: str
    table: str
    skipped: str | None = None
    server_count: int = 0
    mirror_count: int = 0
    missing: tuple[int, ...] = ()
    missing_total: int = 0
    extra: tuple[int, ...] = ()
    extra_total: int = 0
    sampled: int = 0
    mismatches: tuple[FieldMismatch, ...] = ()
    batches: int = 0
    pages: int = 0
    records: int = 0
    seconds: float = 0.0
    retries: int = 0
    # Why a figure was not taken as Odoo gave it (a count cut short, see trusted_count).
    note: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems()

    @property
    def rate(self) -> float | None:
        """Records per second of the sync, when it took measurable time."""
        return self.records / self.seconds if self.seconds > 0 else None

    def problems(self) -> list[str]:
        """Each mismatch as a sentence naming the model, and the record and field if any."""
        if self.skipped:
            return []
        out: list[str] = []
        if self.server_count != self.mirror_count:
            out.append(
                f"{self.model}: the mirror holds {self.mirror_count} record(s), Odoo counts "
                f"{self.server_count} (archived included)"
            )
        if self.missing_total:
            more = " ..." if self.missing_total > len(self.missing) else ""
            out.append(
                f"{self.model}: {self.missing_total} id(s) in Odoo are missing from the mirror: "
                + ", ".join(map(str, self.missing))
                + more
            )
        if self.extra_total:
            more = " ..." if self.extra_total > len(self.extra) else ""
            out.append(
                f"{self.model}: {self.extra_total} id(s) in the mirror are not in Odoo: "
                + ", ".join(map(str, self.extra))
                + more
            )
        out.extend(m.describe() for m in self.mismatches)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "model": self.model,
            "skipped": self.skipped,
            "passed": self.passed,
            "serverCount": self.server_count,
            "mirrorCount": self.mirror_count,
            "missing": list(self.missing),
            "missingTotal": self.missing_total,
            "extra": list(self.extra),
            "extraTotal": self.extra_total,
            "sampled": self.sampled,
            "mismatches": [
                {"id": m.record_id, "field": m.field, "mirror": m.mirror, "server": m.server}
                for m in self.mismatches
            ],
            "batches": self.batches,
            "pages": self.pages,
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "retries": self.retries,
            "note": self.note,
        }


@dataclass(frozen=True)
class CompletenessReport:
    """``test-complete``'s result for one user."""

    user: str
    modules: tuple[ModuleCheck, ...]
    synced: bool
    sync_seconds: float
    verify_seconds: float
    sample: int

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.modules)

    def problems(self) -> list[str]:
        return [p for m in self.modules for p in m.problems()]

    def error(self) -> VerificationError:
        """The error that ends ``test-complete`` when something differs."""
        problems = self.problems()
        return VerificationError(
            f"the mirror of user '{self.user}' differs from Odoo in {len(problems)} way(s); "
            f"the first: {problems[0] if problems else 'none'}",
            hint=f"Run `odoosync test-complete --user {self.user} --yes` again on a quiet server; "
            "a difference that stays is a bug worth reporting with these lines.",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "passed": self.passed,
            "synced": self.synced,
            "syncSeconds": round(self.sync_seconds, 3),
            "verifySeconds": round(self.verify_seconds, 3),
            "sample": self.sample,
            "modules": [m.to_dict() for m in self.modules],
        }


class SyncTimer:
    """A reporter that passes every event on and notes, per module, pages, records and time.

    Time between two events is charged to the module of the later one, so each module is
    charged for the requests that fetched its pages.
    """

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.modules: dict[str, ModuleTiming] = {}
        self._lock = threading.Lock()
        self._last: float | None = None

    def _charge(self, module: str, records: int = 0, pages: int = 0) -> None:
        now = time.monotonic()
        with self._lock:
            timing = self.modules.setdefault(module, ModuleTiming())
            if self._last is not None:
                timing.seconds += now - self._last
            timing.records += records
            timing.pages += pages
            self._last = now

    def emit(self, event: Event) -> None:
        match event:
            case UserStarted():
                with self._lock:
                    self._last = time.monotonic()
            case PageStored(batch=batch, records=records):
                self._charge(batch.module, 0 if batch.kind == RECONCILE else records, 1)
            case BatchFailed(batch=batch):
                self._charge(batch.module)
        self.inner.emit(event)


# --------------------------------------------------------------------------- verification


def verify_module(
    store: RecordSink,
    client: OdooClient,
    user: str,
    row: ModuleRow,
    *,
    sample: int,
    rng: random.Random,
    page_size: int,
    id_page_size: int,
) -> ModuleCheck:
    """Compare one module's mirror with Odoo: count, id sets, and a sample field by field."""
    if row.state != MODULE_OK:
        return ModuleCheck(row.module, row.model, row.table_name, skipped=row.note or row.state)
    domain = row.domain_list()
    count = client.search_count(row.model, domain, context=dict(NO_ACTIVE_TEST))
    theirs = set(list_ids(client, row.model, domain, id_page_size))
    count, note = trusted_count(count, len(theirs))
    mine = store.live_ids(user, row.table_name)
    mine_set = set(mine)
    missing = sorted(theirs - mine_set)
    extra = sorted(mine_set - theirs)
    common = [i for i in mine if i in theirs]
    chosen = sorted(rng.sample(common, min(sample, len(common))))
    spec = store.table_spec(row.table_name, row.fields)
    reading = Reading.of(spec, domain, row.names)
    mismatches: list[FieldMismatch] = []
    for start in range(0, len(chosen), page_size):
        chunk = chosen[start : start + page_size]
        # Read as the sync reads: x2many values leave out archived comodel records (a
        # partner's archived user), which ``read`` with active_test False would list.
        found = client.read_page(
            row.model,
            [["id", "in", chunk]],
            spec.fields,
            names=reading.names,
            order=ORDER_BY_ID,
            context=dict(NO_ACTIVE_TEST),
        )
        fresh = {int(r["id"]): r for r in found}
        stored = store.rows_by_ids(user, row.table_name, chunk)
        for rid in chunk:
            mismatches.extend(
                compare_record(spec, rid, stored.get(rid), fresh.get(rid), reading.names)
            )
    return ModuleCheck(
        module=row.module,
        model=row.model,
        table=row.table_name,
        server_count=count,
        mirror_count=len(mine),
        missing=tuple(missing[:LISTED_IDS]),
        missing_total=len(missing),
        extra=tuple(extra[:LISTED_IDS]),
        extra_total=len(extra),
        sampled=len(chosen),
        mismatches=tuple(mismatches),
        note=note,
    )


def compare_record(
    spec: TableSpec,
    rid: int,
    stored: dict[str, Any] | None,
    fresh: dict[str, Any] | None,
    names: Collection[str] | None = None,
) -> list[FieldMismatch]:
    """The differences between a stored row and a fresh API record of the same id.

    ``names``: the many2one fields read with their display name (None: all of them); the
    ``_name`` column of the others is not compared.
    """
    if fresh is None:  # deleted in Odoo since the id list was read
        return [FieldMismatch(spec.model, rid, "id", rid, None)]
    if stored is None:
        return [FieldMismatch(spec.model, rid, "id", None, rid)]
    found: dict[str, FieldMismatch] = {}
    expected = record_to_row(spec, fresh)
    for col in spec.columns:
        for column, label in _columns(col, names):
            a, b = stored.get(column), expected.get(column)
            if not _same(a, b, col):
                found.setdefault(label, FieldMismatch(spec.model, rid, label, a, b))
    if stored.get("_write_date") != expected.get("_write_date"):
        found.setdefault(
            "write_date",
            FieldMismatch(
                spec.model, rid, "write_date", stored.get("_write_date"), fresh.get("write_date")
            ),
        )
    for mismatch in _raw_checks(spec, rid, stored, fresh, names):
        found.setdefault(mismatch.field, mismatch)
    return list(found.values())


def _named(col: FieldColumn, names: Collection[str] | None) -> bool:
    return col.name_column is not None and (names is None or col.field in names)


def _columns(col: FieldColumn, names: Collection[str] | None) -> list[tuple[str, str]]:
    out = [(col.column, col.field)]
    if col.name_column and _named(col, names):
        out.append((col.name_column, f"{col.field} (display name)"))
    return out


def _same(a: Any, b: Any, col: FieldColumn) -> bool:
    if col.storage == "json" and isinstance(a, str) and isinstance(b, str):
        try:
            left, right = json.loads(a), json.loads(b)
        except ValueError:
            return a == b
        if col.type in X2MANY:
            return same_ids(left, right)
        return bool(left == right)
    return bool(a == b)


def same_ids(a: Any, b: Any) -> bool:
    """Two x2many values hold the same ids, whatever their order (each id counted)."""
    if isinstance(a, list) and isinstance(b, list):
        try:
            return sorted(a) == sorted(b)
        except TypeError:
            return a == b
    return bool(a == b)


def _raw_checks(
    spec: TableSpec,
    rid: int,
    stored: dict[str, Any],
    fresh: dict[str, Any],
    names: Collection[str] | None,
) -> Iterator[FieldMismatch]:
    """Check relational columns against the raw API values, without the store's converter."""
    for col in spec.columns:
        raw = fresh.get(col.field, False)
        if col.storage == "many2one":
            if isinstance(raw, list) and raw:
                want_id, want_name = raw[0], raw[1] if len(raw) > 1 else None
            elif type(raw) is int:
                want_id, want_name = raw, None
            else:
                want_id, want_name = None, None
            if stored.get(col.column) != want_id:
                yield FieldMismatch(spec.model, rid, col.field, stored.get(col.column), raw)
            name_column = col.name_column or ""
            if _named(col, names) and stored.get(name_column) != want_name:
                yield FieldMismatch(
                    spec.model,
                    rid,
                    f"{col.field} (display name)",
                    stored.get(name_column),
                    want_name,
                )
        elif col.type in X2MANY:
            text = stored.get(col.column)
            try:
                value = None if text is None else json.loads(text)
            except (TypeError, ValueError):
                value = text
            want = None if raw is False or raw is None else raw
            if not same_ids(value, want):
                yield FieldMismatch(spec.model, rid, col.field, value, raw)


@dataclass
class BatchFigures:
    """Batches, pages, records and retries of one module, from the stored batches."""

    batches: int = 0
    pages: int = 0
    records: int = 0
    retries: int = 0


def batch_figures(batches: Sequence[Batch]) -> dict[str, BatchFigures]:
    """Per module: how many batches and pages the sync took, records read, and retries."""
    out: dict[str, BatchFigures] = {}
    for b in batches:
        f = out.setdefault(b.module, BatchFigures())
        f.batches += 1
        f.pages += b.pages
        if b.kind != RECONCILE:
            f.records += b.synced
        f.retries += max(0, b.attempts - 1)
    return out

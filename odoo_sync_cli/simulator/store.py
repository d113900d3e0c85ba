"""SimStore: the simulator's records in SQLite, searched and read back the way Odoo 19 answers.

Records live in one SQLite database (a private temp file by default) laid out as
:mod:`odoo_sync_cli.simulator.models` describes: one table per model, only ``id`` indexed, and
``_sim_names`` holding the display name of every record a many2one can point at. Domains and
order strings go through :mod:`odoo_sync_cli.simulator.query`.

What the store keeps true, as Odoo does:

- Each ``create``/``write``/``unlink`` call is one transaction, and every record it touches
  shares one ``write_date``: the clock's "now" at the call, microseconds kept (``at=`` sets it
  in the past for a late commit). Reads cut datetimes to whole seconds.
- Display names follow the records: a partner's is its ``complete_name``, which the store
  recomputes (with the commercial partner fields) when names, parents or company flags change,
  stamping the contacts it rewrites. ``child_ids`` follows ``parent_id`` on models that have
  both as a self-relation: active children only, in the model's ``_order``.
- ``search``/``search_count``/``search_read`` hide archived rows unless asked; ``read`` never.
- Order ties are not deterministic, as on PostgreSQL: rows that tie under a search's order (one
  with no ``id`` term) and x2many ids that tie under their comodel's ``_order`` come back in an
  order drawn anew for every read, from a seeded generator (``tie_seed``) so a run can be
  replayed. An x2many of a stored comodel is sorted by that comodel's ``_order`` at each read;
  for a comodel in :data:`TIED_COMODEL_ORDERS` the store knows only the ids, in one order the
  real server gave or could give, and lets about one neighbour in two tie (drawn once per id).

One connection serves every thread, behind a re-entrant lock: simple, and SQLite serializes
writers anyway.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import os
import random
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from .errors import OdooServerError, value_error
from .models import (
    DOCUMENT_LINES,
    TIED_COMODEL_ORDERS,
    X2MANY_TYPES,
    FieldSpec,
    ModelSpec,
    draft_move_name,
)
from .query import (
    NAMES_TABLE,
    Semantics,
    compile_order,
    compile_where,
    format_datetime,
    get_field,
    model_spec,
    quote,
    sql_ilike,
)

ADMIN_UID = 2
ADMIN_NAME = "Mitchell Admin"
# Columns Odoo maintains itself; values given for them in create/write are ignored.
MAGIC_FIELDS = frozenset({"id", "create_date", "create_uid", "write_date", "write_uid"})
_LOAD_CHUNK = 5000
# Tied rows of a search are ordered by (id * salt) modulo this prime, a new salt per query.
_TIE_PRIME = 2_147_483_647
_READER_CACHE = 256
_SQL_TYPES = {
    "integer": "INTEGER",
    "boolean": "INTEGER",
    "many2one": "INTEGER",
    "float": "REAL",
    "monetary": "REAL",
}
# The stored columns a display name is made of (see SimStore._name_of).
_NAME_INPUTS = ("name", "complete_name", "state", "move_type")
# What an account.move without a number holds in name (stored NULL, read False, or Odoo's '/').
_NO_NAME = (None, False, "/")
# Partner fields whose change alters the stored names of the partner and its contacts.
_PARTNER_NAME_INPUTS = frozenset(
    {
        "name",
        "parent_id",
        "is_company",
        "company_name",
        # Computed by Odoo: a value written to them is recomputed away.
        "complete_name",
        "commercial_partner_id",
        "commercial_company_name",
    }
)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _json_list(ids: Iterable[int]) -> str:
    return _ids_text(list(ids))


def _datetime_text(value: Any) -> str | None:
    """A datetime value as the store keeps it: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value is None or value is False:
        return None
    if isinstance(value, datetime):
        return format_datetime(_naive_utc(value))
    text = str(value).replace("T", " ")
    if len(text) == 19:
        return text + ".000000"
    if len(text) == 10:
        return text + " 00:00:00.000000"
    return text


def _empty_value(fld: FieldSpec) -> Any:
    """What Odoo returns for a field without a value."""
    if fld.type == "integer":
        return 0
    if fld.type in ("float", "monetary"):
        return 0.0
    if fld.type in X2MANY_TYPES:
        return []
    return False


def _ids_text(ids: Any) -> str:
    """An x2many value as stored: a compact JSON list."""
    if not ids:
        return "[]"
    if all(type(i) is int for i in ids):
        return "[" + ",".join(map(str, ids)) + "]"
    return json.dumps(list(ids), separators=(",", ":"))


# How load_rows turns one value as search_read returns it into a column value.
_PLAIN, _MANY2ONE, _BOOLEAN, _X2MANY, _DATETIME, _JSON = range(6)
_LOAD_KINDS = {"many2one": _MANY2ONE, "boolean": _BOOLEAN, "datetime": _DATETIME, "json": _JSON}


@dataclass(frozen=True)
class _Layout:
    """The insert for rows with one sequence of keys, and how to encode their values."""

    insert: str
    plan: tuple[tuple[int, str], ...]  # per key of the row: (kind or -1 to skip, relation)
    tail: tuple[Any, ...]  # values for columns the rows lack (defaults)

    @classmethod
    def build(cls, spec: ModelSpec, keys: tuple[str, ...], stamp: str) -> _Layout:
        exact = {"__write_date_us": "write_date", "__create_date_us": "create_date"}
        columns: list[str] = []
        plan: list[tuple[int, str]] = []
        for key in keys:
            name = exact.get(key, key)
            fld = get_field(spec, name)
            shadowed = key in exact.values() and any(exact[k] == key for k in exact if k in keys)
            if fld is None or not fld.has_column or shadowed or name in columns:
                plan.append((-1, ""))
                continue
            columns.append(name)
            kind = _X2MANY if fld.type in X2MANY_TYPES else _LOAD_KINDS.get(fld.type, _PLAIN)
            plan.append((kind, fld.relation or ""))
        if "id" not in columns:
            raise value_error(f"Rows loaded into {spec.name} need an 'id'")
        tail: list[Any] = []
        defaults = {"active": 1 if spec.has_active else None, "write_date": stamp}
        defaults["create_date"] = stamp
        for name, value in defaults.items():
            fld = get_field(spec, name)
            if fld is not None and fld.has_column and name not in columns and value is not None:
                columns.append(name)
                tail.append(value)
        insert = (
            f"INSERT OR REPLACE INTO {quote(spec.table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        return cls(insert, tuple(plan), tuple(tail))

    def encode(
        self, rows: list[dict[str, Any]], names: dict[tuple[str, int], str]
    ) -> list[tuple[Any, ...]]:
        """Column values for rows of this layout, worked out one column at a time."""
        count = len(rows)
        columns: list[Sequence[Any]] = []
        for (kind, relation), column in zip(
            self.plan, zip(*(row.values() for row in rows), strict=True), strict=True
        ):
            if kind == _PLAIN:
                columns.append([None if v is False else v for v in column])
            elif kind == _MANY2ONE:
                pairs = [v for v in column if isinstance(v, list | tuple)]
                names.update(((relation, v[0]), v[1]) for v in pairs)
                columns.append(
                    [v[0] if isinstance(v, list | tuple) else (v or None) for v in column]
                )
            elif kind == _X2MANY:
                columns.append([_ids_text(v) for v in column])
            elif kind == _DATETIME:
                columns.append([_datetime_text(v) for v in column])
            elif kind == _BOOLEAN:
                columns.append([None if v is None else (1 if v else 0) for v in column])
            elif kind == _JSON:
                columns.append([None if v is None or v is False else json.dumps(v) for v in column])
        columns.extend([value] * count for value in self.tail)
        return list(zip(*columns, strict=True))


def _ties_with_next(relation: str, rid: int) -> bool:
    """Whether record ``rid`` of an unstored comodel ties with the id after it (one in two)."""
    return zlib.crc32(f"{relation}/{rid}".encode()) & 1 == 0


def _id_list(text: str | None) -> list[int]:
    """Decode a stored x2many value; the store writes them as compact JSON lists of ints."""
    if not text or text == "[]":
        return []
    try:
        return [int(part) for part in text[1:-1].split(",")]
    except ValueError:
        decoded: list[int] = json.loads(text)
        return decoded


def _format_column(
    kind: str,
    column: tuple[Any, ...],
    extra: Any,
    names: Mapping[str, Mapping[int, str]],
    model: str,
) -> list[Any]:
    """Format the stored values of one field as Odoo's read returns them."""
    if kind == "many2one":
        known = names[extra]
        return [False if v is None else [v, known.get(v) or f"{extra},{v}"] for v in column]
    if kind == "many2one_id":
        return [False if v is None else v for v in column]
    if kind in X2MANY_TYPES:
        return [_id_list(v) for v in column]
    if kind == "datetime":
        return [False if v is None else v[:19] for v in column]
    if kind == "boolean":
        return [bool(v) for v in column]
    if kind == "integer":
        return [0 if v is None else v for v in column]
    if kind in ("float", "monetary"):
        return [0.0 if v is None else float(v) for v in column]
    if kind == "json":
        return [False if v is None else json.loads(v) for v in column]
    if kind == "display_name":
        own = names[model]
        return [own.get(i) or f"{model},{i}" for i in column]
    if kind == "empty":
        return [copy.copy(extra) for _ in column]
    return [False if v is None else v for v in column]


@dataclass(frozen=True)
class _Reader:
    """How to select and format the fields of one read."""

    keys: tuple[str, ...]
    columns: tuple[str, ...]
    # (key, kind, index of the column in the selected row or -1, relation or empty value)
    plan: tuple[tuple[str, str, int, Any], ...]


class SimStore:
    """The simulator's records, with Odoo's search, read and write behaviour."""

    def __init__(
        self,
        registry: Mapping[str, ModelSpec],
        *,
        semantics: Semantics = Semantics(),  # noqa: B008 - frozen dataclass, safe to share
        path: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        shuffle_ties: bool = True,
        tie_seed: int = 0,
    ) -> None:
        self.registry = registry
        self.semantics = semantics
        self._clock = clock or _utc_now
        # Off only for a caller that needs one fixed order of tied rows; Odoo never gives one.
        self.shuffle_ties = shuffle_ties
        self._ties = random.Random(tie_seed)
        self._lock = threading.RLock()
        self._readers: dict[tuple[str, tuple[str, ...] | None], _Reader] = {}
        self._temp_path: str | None = None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="odoosync-sim-", suffix=".sqlite3")
            os.close(fd)
            self._temp_path = path
        target = os.fspath(path)
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None
        )
        if target != ":memory:":
            # The simulator's data is disposable: trade durability for load speed.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.create_function("sim_ilike", 2, sql_ilike, deterministic=True)
        self._create_tables()

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._temp_path is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._temp_path + suffix)
                self._temp_path = None

    def __enter__(self) -> SimStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the simulator store is closed")
        return self._conn

    def _create_tables(self) -> None:
        conn = self.conn
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {NAMES_TABLE} (model TEXT NOT NULL, id INTEGER NOT NULL, "
            "name TEXT, PRIMARY KEY (model, id)) WITHOUT ROWID"
        )
        for spec in self.registry.values():
            columns = ['"id" INTEGER PRIMARY KEY AUTOINCREMENT']
            for fld in spec.column_fields():
                if fld.name != "id":
                    columns.append(f"{quote(fld.name)} {_SQL_TYPES.get(fld.type, 'TEXT')}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(spec.table)} ({', '.join(columns)})")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _now(self, at: datetime | None) -> str:
        return format_datetime(_naive_utc(at if at is not None else self._clock()))

    # -- loading ----------------------------------------------------------------------------

    def load_rows(self, model: str, rows: Iterable[dict[str, Any]]) -> int:
        """Bulk-load rows shaped as search_read returns them, in one transaction.

        Rows may carry ``__write_date_us``/``__create_date_us`` (the exact stored stamps);
        without them the read-back values are used, and without those the load time. Keys
        that are not stored fields are ignored; a row whose id exists replaces it. Returns the
        number of rows loaded.
        """
        with self._lock:
            spec = model_spec(self.registry, model)
            layouts: dict[tuple[str, ...], _Layout] = {}
            seen_names: dict[tuple[str, int], str] = {}
            stamp = self._now(None)
            count = 0
            with self._transaction() as conn:
                iterator = iter(rows)
                while chunk := list(islice(iterator, _LOAD_CHUNK)):
                    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                    for row in chunk:
                        groups.setdefault(tuple(row), []).append(row)
                    for keys, group in groups.items():
                        layout = layouts.get(keys)
                        if layout is None:
                            layout = layouts[keys] = _Layout.build(spec, keys, stamp)
                        conn.executemany(layout.insert, layout.encode(group, seen_names))
                    conn.executemany(
                        f"INSERT OR REPLACE INTO {NAMES_TABLE} (model, id, name) VALUES (?, ?, ?)",
                        [(model, row["id"], self._name_of(spec, row)) for row in chunk],
                    )
                    count += len(chunk)
                conn.executemany(
                    f"INSERT OR IGNORE INTO {NAMES_TABLE} (model, id, name) VALUES (?, ?, ?)",
                    [(rel, rid, name) for (rel, rid), name in seen_names.items()],
                )
                self._fill_partner_names(spec)
            return count

    def load_dataset(self, directory: Path) -> dict[str, int]:
        """Load ``<model>.jsonl.gz`` of every registry model found in ``directory``."""
        counts: dict[str, int] = {}
        for model in self.registry:
            path = Path(directory) / f"{model}.jsonl.gz"
            if not path.exists():
                continue
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                counts[model] = self.load_rows(
                    model, (json.loads(ln) for ln in handle if ln.strip())
                )
        return counts

    def _fill_partner_names(self, spec: ModelSpec) -> None:
        """Compute ``complete_name`` for loaded partner rows that came without one."""
        if not self._has_partner_names(spec):
            return
        missing = [
            row[0]
            for row in self.conn.execute(
                f"SELECT id FROM {quote(spec.table)} "
                "WHERE complete_name IS NULL AND name IS NOT NULL"
            )
        ]
        if missing:
            self._recompute_partners(spec, missing, stamp=None, written=set(missing), descend=False)

    # -- display names ----------------------------------------------------------------------

    @staticmethod
    def _name_of(spec: ModelSpec, row: Mapping[str, Any]) -> str:
        name = row.get("name")
        if spec.name == "res.partner" and row.get("complete_name"):
            return str(row["complete_name"])
        if spec.name == "account.move" and row.get("state") == "draft" and name in _NO_NAME:
            return draft_move_name(row)
        if isinstance(name, str):
            return name
        return f"{spec.name},{row['id']}"

    def _refresh_names(self, spec: ModelSpec, ids: Iterable[int]) -> None:
        wanted = [c for c in _NAME_INPUTS if c in spec.fields]
        wanted = [c for c in wanted if spec.fields[c].has_column]
        select = ", ".join(["id", *(quote(c) for c in wanted)])
        cursor = self.conn.execute(
            f"SELECT {select} FROM {quote(spec.table)} "
            "WHERE id IN (SELECT value FROM json_each(?))",
            [_json_list(ids)],
        )
        rows = [dict(zip(["id", *wanted], values, strict=True)) for values in cursor]
        self.conn.executemany(
            f"INSERT OR REPLACE INTO {NAMES_TABLE} (model, id, name) VALUES (?, ?, ?)",
            [(spec.name, row["id"], self._name_of(spec, row)) for row in rows],
        )

    def _names(self, model: str, ids: Iterable[int]) -> dict[int, str]:
        cursor = self.conn.execute(
            f"SELECT id, name FROM {NAMES_TABLE} "
            "WHERE model = ? AND id IN (SELECT value FROM json_each(?))",
            [model, _json_list(ids)],
        )
        return dict(cursor.fetchall())

    # -- reading ----------------------------------------------------------------------------

    def invalid_field(self, model: str, name: object) -> OdooServerError:
        """The ValueError Odoo raises for a field ``model`` lacks, in its version's words."""
        where = f"on {model!r}" if self.semantics.version >= 19 else f"on model {model!r}"
        return value_error(f"Invalid field {name!r} {where}")

    def _reader(self, spec: ModelSpec, fields: list[str] | None) -> _Reader:
        for name in fields or ():
            if not isinstance(name, str) or get_field(spec, name) is None:
                raise self.invalid_field(spec.name, name)
        key = (spec.name, tuple(fields) if fields else None)
        cached = self._readers.get(key)
        if cached is not None:
            return cached
        if fields:
            names: list[str] = []
            for name in fields:
                if name != "id" and name not in names:
                    names.append(name)
        else:
            names = [f.name for f in spec.column_fields() if f.name != "id"]
        columns: list[str] = []
        plan: list[tuple[str, str, int, Any]] = []
        for name in names:
            fld = get_field(spec, name)
            assert fld is not None
            if fld.has_column:
                columns.append(name)
                relational = fld.type == "many2one" or fld.type in X2MANY_TYPES
                extra = fld.relation or "" if relational else None
                plan.append((name, fld.type, len(columns), extra))
            elif name == "display_name":
                plan.append((name, "display_name", -1, None))
            else:
                plan.append((name, "empty", -1, _empty_value(fld)))
        reader = _Reader(("id", *names), tuple(columns), tuple(plan))
        if len(self._readers) >= _READER_CACHE:
            self._readers.clear()
        self._readers[key] = reader
        return reader

    def _format(
        self,
        spec: ModelSpec,
        reader: _Reader,
        rows: list[tuple[Any, ...]],
        *,
        present: bool = True,
        active_test: bool = True,
        names_of_many2one: bool = True,
    ) -> list[dict[str, Any]]:
        """Turn selected rows into the dicts search_read returns, one field at a time.

        ``present``: x2many ids in their comodel's order, ties shuffled, and archived comodel
        records left out unless ``active_test`` is off, as a read gives them; otherwise
        ascending (the set the store holds, in one canonical order). ``names_of_many2one``
        off reads a many2one as its bare id and never looks its name up, as Odoo's
        ``read(load=None)`` does.
        """
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        ids = columns[0]
        names: dict[str, dict[int, str]] = {}
        wanted: dict[str, set[int]] = {}
        plan = reader.plan
        if not names_of_many2one:
            plan = tuple(
                (key, "many2one_id" if kind == "many2one" else kind, index, extra)
                for key, kind, index, extra in plan
            )
        for _, kind, index, relation in plan:
            if kind == "many2one":
                wanted.setdefault(relation, set()).update(
                    v for v in columns[index] if v is not None
                )
            elif kind == "display_name":
                wanted.setdefault(spec.name, set()).update(ids)
        for relation, wanted_ids in wanted.items():
            names[relation] = self._names(relation, wanted_ids) if wanted_ids else {}
        values: list[Sequence[Any]] = [ids]
        for _, kind, index, extra in plan:
            column = columns[index] if index >= 0 else ids
            formatted = _format_column(kind, column, extra, names, spec.name)
            if kind in X2MANY_TYPES:
                formatted = (
                    self._present_x2many(extra, formatted, active_test=active_test)
                    if present
                    else [sorted(ids) for ids in formatted]
                )
            values.append(formatted)
        return [dict(zip(reader.keys, record, strict=True)) for record in zip(*values, strict=True)]

    def _query(
        self,
        spec: ModelSpec,
        select: str,
        domain: object,
        *,
        context: Mapping[str, Any] | None,
        order: str | None,
        offset: int,
        limit: int | None,
    ) -> list[tuple[Any, ...]]:
        where, params = compile_where(
            self.registry,
            spec.name,
            domain,
            context=context or {},
            semantics=self.semantics,
            now=_naive_utc(self._clock()),
        )
        tiebreak = f"(t.id * ?) % {_TIE_PRIME}" if self.shuffle_ties else None
        order_by = compile_order(
            self.registry, spec.name, order, semantics=self.semantics, tiebreak=tiebreak
        )
        if tiebreak and order_by.endswith(tiebreak):
            params = [*params, self._ties.randrange(1, _TIE_PRIME)]
        sql = (
            f"SELECT {select} FROM {quote(spec.table)} AS t WHERE {where} "
            f"ORDER BY {order_by} LIMIT ? OFFSET ?"
        )
        # Odoo: a falsy limit means no limit at all.
        return self.conn.execute(sql, [*params, limit or -1, offset or 0]).fetchall()

    # -- x2many order -----------------------------------------------------------------------

    def _present_x2many(
        self, relation: str, lists: list[list[int]], *, active_test: bool = True
    ) -> list[list[int]]:
        """x2many values as a read gives them: in the comodel's ``_order``, ties shuffled.

        Archived records of a comodel that has ``active`` are left out unless the read's
        context says ``active_test: False`` (``search_read`` drops that key before it reads,
        so there they are always left out; ``read`` keeps it).
        """
        comodel = self.registry.get(relation)
        hide = comodel is not None and comodel.has_active and active_test
        if all(len(ids) < (1 if hide else 2) for ids in lists):
            return lists
        if comodel is not None:
            wanted = {i for ids in lists if len(ids) > (0 if hide else 1) for i in ids}
            ranks = self._ranks(comodel, wanted)
            if hide:
                archived = self._archived(comodel, wanted)
                lists = [[i for i in ids if i not in archived] for ids in lists]
            return [self._by_rank(ids, ranks) for ids in lists]
        if relation in TIED_COMODEL_ORDERS:
            return [self._shuffle_runs(relation, ids) for ids in lists]
        return lists

    def _ranks(self, comodel: ModelSpec, ids: set[int]) -> dict[int, int]:
        """Each id's rank under the comodel's ``_order``: tied records share one."""
        order = compile_order(self.registry, comodel.name, None, semantics=self.semantics)
        cursor = self.conn.execute(
            f"SELECT t.id, RANK() OVER (ORDER BY {order}) FROM {quote(comodel.table)} AS t "
            "WHERE t.id IN (SELECT value FROM json_each(?))",
            [_json_list(ids)],
        )
        return dict(cursor.fetchall())

    def _archived(self, comodel: ModelSpec, ids: set[int]) -> set[int]:
        cursor = self.conn.execute(
            f"SELECT t.id FROM {quote(comodel.table)} AS t "
            f"WHERE t.id IN (SELECT value FROM json_each(?)) AND NOT t.{quote('active')}",
            [_json_list(ids)],
        )
        return {row[0] for row in cursor}

    def _by_rank(self, ids: list[int], ranks: Mapping[int, int]) -> list[int]:
        # Ids the comodel no longer holds keep their place after the others.
        last = len(ranks) + 1
        ordered = sorted(ids, key=lambda i: ranks.get(i, last))
        runs: list[list[int]] = []
        previous: int | None = None
        for rid in ordered:
            rank = ranks.get(rid)
            if runs and rank is not None and rank == previous:
                runs[-1].append(rid)
            else:
                runs.append([rid])
            previous = rank
        return self._shuffled(runs)

    def _shuffle_runs(self, relation: str, ids: list[int]) -> list[int]:
        runs: list[list[int]] = []
        tie = False
        for rid in ids:
            if tie:
                runs[-1].append(rid)
            else:
                runs.append([rid])
            tie = _ties_with_next(relation, rid)
        return self._shuffled(runs)

    def _shuffled(self, runs: list[list[int]]) -> list[int]:
        out: list[int] = []
        for run in runs:
            if self.shuffle_ties and len(run) > 1:
                self._ties.shuffle(run)
            out.extend(run)
        return out

    @staticmethod
    def _select_list(reader: _Reader) -> str:
        return ", ".join(["t.id", *(f"t.{quote(c)}" for c in reader.columns)])

    def search(
        self,
        model: str,
        domain: object,
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[int]:
        with self._lock:
            spec = model_spec(self.registry, model)
            rows = self._query(
                spec, "t.id", domain, context=context, order=order, offset=offset, limit=limit
            )
            return [row[0] for row in rows]

    def search_count(
        self,
        model: str,
        domain: object,
        *,
        limit: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> int:
        with self._lock:
            spec = model_spec(self.registry, model)
            where, params = compile_where(
                self.registry,
                model,
                domain,
                context=context or {},
                semantics=self.semantics,
                now=_naive_utc(self._clock()),
            )
            sql = (
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {quote(spec.table)} AS t "
                f"WHERE {where} LIMIT ?)"
            )
            count: int = self.conn.execute(sql, [*params, limit or -1]).fetchone()[0]
            return count

    def search_read(
        self,
        model: str,
        domain: object = None,
        fields: list[str] | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            spec = model_spec(self.registry, model)
            reader = self._reader(spec, fields)
            rows = self._query(
                spec,
                self._select_list(reader),
                domain,
                context=context,
                order=order,
                offset=offset,
                limit=limit,
            )
            return self._format(spec, reader, rows)

    def web_fetch(
        self,
        model: str,
        domain: object,
        fields: list[str],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The first half of ``web_search_read``: search, then ``read(fields, load=None)``.

        Unlike ``search_read``, the read keeps the context's ``active_test``: with it off,
        x2many values include archived comodel records. Many2one values are bare ids.
        """
        active_test = bool((context or {}).get("active_test", True))
        with self._lock:
            spec = model_spec(self.registry, model)
            reader = self._reader(spec, fields)
            rows = self._query(
                spec,
                self._select_list(reader),
                domain,
                context=context,
                order=order,
                offset=offset,
                limit=limit,
            )
            return self._format(
                spec, reader, rows, active_test=active_test, names_of_many2one=False
            )

    def display_names(self, model: str, ids: Iterable[int]) -> dict[int, str]:
        """The display name of each of ``ids`` (``"model,id"`` for one the store never saw)."""
        wanted = list(ids)
        with self._lock:
            known = self._names(model, wanted) if wanted else {}
        return {i: known.get(i) or f"{model},{i}" for i in wanted}

    def read(
        self,
        model: str,
        ids: Iterable[int] | int,
        fields: list[str] | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        names_of_many2one: bool = True,
    ) -> list[dict[str, Any]]:
        """Read records by id, archived included; missing ids are dropped, order is kept.

        x2many values leave out archived comodel records unless ``active_test`` is False.
        """
        active_test = bool((context or {}).get("active_test", True))
        with self._lock:
            spec = model_spec(self.registry, model)
            reader = self._reader(spec, fields)
            wanted = [ids] if isinstance(ids, int) else [int(i) for i in ids]
            rows = self.conn.execute(
                f"SELECT {self._select_list(reader)} FROM {quote(spec.table)} AS t "
                "WHERE t.id IN (SELECT value FROM json_each(?))",
                [_json_list(wanted)],
            ).fetchall()
            by_id = {row[0]: row for row in rows}
            found = [by_id[i] for i in wanted if i in by_id]
            return self._format(
                spec, reader, found, active_test=active_test, names_of_many2one=names_of_many2one
            )

    def fields_get(
        self,
        model: str,
        allfields: list[str] | None = None,
        attributes: list[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        spec = model_spec(self.registry, model)
        result: dict[str, dict[str, Any]] = {}
        for name, fld in spec.fields.items():
            if allfields and name not in allfields:
                continue
            attrs = fld.attrs or {"type": fld.type, "store": fld.store}
            if attributes:
                attrs = {key: attrs[key] for key in attributes if key in attrs}
            result[name] = copy.deepcopy(attrs)
        return result

    def ids(self, model: str) -> list[int]:
        """Every id of ``model``, archived included, ascending."""
        with self._lock:
            spec = model_spec(self.registry, model)
            cursor = self.conn.execute(f"SELECT id FROM {quote(spec.table)} ORDER BY id")
            return [row[0] for row in cursor]

    def exact_rows(self, model: str) -> list[dict[str, Any]]:
        """Every row, archived included, as search_read returns all exported fields, by id.

        The truth tests compare against, in one canonical form: x2many values are sets, listed
        ascending (a read lists them in an order that can change from one read to the next).
        """
        with self._lock:
            spec = model_spec(self.registry, model)
            reader = self._reader(spec, None)
            rows = self.conn.execute(
                f"SELECT {self._select_list(reader)} FROM {quote(spec.table)} AS t ORDER BY t.id"
            ).fetchall()
            return self._format(spec, reader, rows, present=False)

    # -- writing ----------------------------------------------------------------------------

    def _field_for_write(self, spec: ModelSpec, name: str) -> FieldSpec | None:
        """The field ``name`` accepts a written value for, or None when the value is ignored."""
        fld = get_field(spec, name)
        if fld is None:
            raise value_error(f"Invalid field {name!r} on model {spec.name!r}")
        if name in MAGIC_FIELDS or not fld.has_column:
            return None
        return fld

    def _encode(self, fld: FieldSpec, value: Any, names: dict[tuple[str, int], str]) -> Any:
        """A value as create/write receive it, turned into the stored column value."""
        kind = fld.type
        empty = value is None or value is False
        try:
            if kind == "many2one":
                if empty:
                    return None
                if isinstance(value, list | tuple):
                    # Odoo accepts an (id, name) pair; the name helps for models not stored here.
                    if len(value) > 1 and fld.relation not in self.registry:
                        names[(fld.relation or "", int(value[0]))] = str(value[1])
                    return int(value[0])
                return int(value)
            if kind == "boolean":
                return 1 if value else 0
            if kind == "integer":
                return int(value or 0)
            if kind in ("float", "monetary"):
                return float(value or 0.0)
            if empty:
                return None
            if kind == "date":
                if isinstance(value, datetime):
                    return value.date().isoformat()
                if isinstance(value, date):
                    return value.isoformat()
                return date.fromisoformat(str(value)[:10]).isoformat()
            if kind == "datetime":
                if isinstance(value, datetime):
                    return format_datetime(_naive_utc(value).replace(microsecond=0))
                text = str(value)
                parsed = datetime.strptime(
                    text, "%Y-%m-%d" if len(text) == 10 else "%Y-%m-%d %H:%M:%S"
                )
                return format_datetime(parsed)
            if kind == "json":
                return json.dumps(value)
            return str(value)
        except (TypeError, ValueError) as exc:
            raise value_error(f"Wrong value for {fld.name}: {value!r} ({exc})") from None

    @staticmethod
    def _x2many(current: list[int], value: Any) -> list[int]:
        """Apply an x2many value (a list of ids, or Odoo's command triples) to ``current``."""
        if value is None or value is False:
            return []
        if not isinstance(value, list | tuple):
            raise value_error(f"Wrong value for an x2many field: {value!r}")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return list(value)
        result = list(current)
        for command in value:
            if not isinstance(command, list | tuple) or not command:
                raise value_error(f"Wrong x2many command: {command!r}")
            code = command[0]
            if code == 6:
                result = [int(i) for i in command[2]]
            elif code == 5:
                result = []
            elif code == 4 and command[1] not in result:
                result.append(int(command[1]))
            elif code in (2, 3) and command[1] in result:
                result.remove(command[1])
            elif code not in (2, 3, 4):
                raise value_error(
                    f"The simulator supports x2many commands 2 to 6 only, not {command!r}"
                )
        return result

    def _hierarchy(self, spec: ModelSpec) -> bool:
        """Whether ``spec`` links records to a parent of the same model with child_ids."""
        parent, children = spec.fields.get("parent_id"), spec.fields.get("child_ids")
        return (
            parent is not None
            and children is not None
            and parent.has_column
            and children.has_column
            and parent.relation == spec.name
            and children.relation == spec.name
        )

    @staticmethod
    def _has_partner_names(spec: ModelSpec) -> bool:
        return spec.name == "res.partner" and all(
            f in spec.fields and spec.fields[f].has_column
            for f in ("name", "complete_name", "parent_id", "is_company")
        )

    def _rows(
        self, spec: ModelSpec, ids: Iterable[int], columns: list[str]
    ) -> dict[int, dict[str, Any]]:
        select = ", ".join(["id", *(quote(c) for c in columns)])
        cursor = self.conn.execute(
            f"SELECT {select} FROM {quote(spec.table)} "
            "WHERE id IN (SELECT value FROM json_each(?))",
            [_json_list(ids)],
        )
        return {row[0]: dict(zip(["id", *columns], row, strict=True)) for row in cursor}

    def _update(self, spec: ModelSpec, rid: int, values: Mapping[str, Any]) -> None:
        if values:
            assignments = ", ".join(f"{quote(c)} = ?" for c in values)
            self.conn.execute(
                f"UPDATE {quote(spec.table)} SET {assignments} WHERE id = ?",
                [*values.values(), rid],
            )

    def _stamp(self, spec: ModelSpec, stamp: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "write_date" in spec.fields:
            values["write_date"] = stamp
        if "write_uid" in spec.fields:
            values["write_uid"] = ADMIN_UID
        return values

    def _ensure_admin_name(self) -> None:
        self.conn.execute(
            f"INSERT OR IGNORE INTO {NAMES_TABLE} (model, id, name) VALUES ('res.users', ?, ?)",
            [ADMIN_UID, ADMIN_NAME],
        )

    def create(
        self, model: str, vals_list: list[dict[str, Any]], *, at: datetime | None = None
    ) -> list[int]:
        """Create records in one transaction; they all get the same create and write date."""
        with self._lock:
            spec = model_spec(self.registry, model)
            if isinstance(vals_list, dict):
                vals_list = [vals_list]
            stamp = self._now(at)
            names: dict[tuple[str, int], str] = {}
            created: list[int] = []
            adopted: set[int] = set()
            parents_before: dict[int, Any] = {}
            with self._transaction() as conn:
                self._ensure_admin_name()
                for vals in vals_list:
                    values: dict[str, Any] = {}
                    for name, value in vals.items():
                        fld = self._field_for_write(spec, name)
                        if fld is None:
                            continue
                        if fld.type in X2MANY_TYPES:
                            values[name] = _json_list(self._x2many([], value))
                        else:
                            values[name] = self._encode(fld, value, names)
                    adopt = (
                        values.pop("child_ids", None)
                        if self._hierarchy(spec) and "child_ids" in vals
                        else None
                    )
                    if spec.has_active and "active" not in values:
                        values["active"] = 1
                    for column, value in (
                        ("create_date", stamp),
                        ("write_date", stamp),
                        ("create_uid", ADMIN_UID),
                        ("write_uid", ADMIN_UID),
                    ):
                        if column in spec.fields:
                            values[column] = value
                    columns = ", ".join(quote(c) for c in values)
                    placeholders = ", ".join("?" for _ in values)
                    sql = f"INSERT INTO {quote(spec.table)} ({columns}) VALUES ({placeholders})"
                    if not values:
                        sql = f"INSERT INTO {quote(spec.table)} DEFAULT VALUES"
                    cursor = conn.execute(sql, list(values.values()))
                    assert cursor.lastrowid is not None
                    created.append(cursor.lastrowid)
                    if adopt is not None:
                        adopted |= self._adopt(
                            spec, cursor.lastrowid, [], json.loads(adopt), stamp, parents_before
                        )
                self._remember_names(names)
                self._after_change(
                    spec,
                    created + sorted(adopted - set(created)),
                    _PARTNER_NAME_INPUTS,
                    stamp,
                    parents_before,
                    descend=bool(adopted),
                )
                self._refresh_documents(spec, self._documents_of(spec, created), stamp)
            return created

    def _remember_names(self, names: Mapping[tuple[str, int], str]) -> None:
        self.conn.executemany(
            f"INSERT OR REPLACE INTO {NAMES_TABLE} (model, id, name) VALUES (?, ?, ?)",
            [(model, rid, name) for (model, rid), name in names.items()],
        )

    def _missing(self, spec: ModelSpec, ids: list[int]) -> OdooServerError:
        shown = ", ".join(str(i) for i in ids)
        return OdooServerError(
            "odoo.exceptions.MissingError",
            "Record does not exist or has been deleted.\n"
            f"(Record: {spec.name}({shown},), User: {ADMIN_UID})",
        )

    def write(
        self,
        model: str,
        ids: Iterable[int] | int,
        vals: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> bool:
        """Write ``vals`` on every record of ``ids`` in one transaction, with one write_date."""
        with self._lock:
            spec = model_spec(self.registry, model)
            wanted = [ids] if isinstance(ids, int) else [int(i) for i in ids]
            stamp = self._now(at)
            fields = {name: self._field_for_write(spec, name) for name in vals}
            x2many = [n for n, f in fields.items() if f is not None and f.type in X2MANY_TYPES]
            hierarchy = self._hierarchy(spec)
            with self._transaction():
                current = self._rows(spec, wanted, [*x2many, *(["parent_id"] if hierarchy else [])])
                missing = [i for i in wanted if i not in current]
                if missing:
                    raise self._missing(spec, missing)
                documents = self._documents_of(spec, wanted)
                names: dict[tuple[str, int], str] = {}
                plain = {
                    name: self._encode(fld, vals[name], names)
                    for name, fld in fields.items()
                    if fld is not None and fld.type not in X2MANY_TYPES
                }
                stamped = self._stamp(spec, stamp)
                touched = set(wanted)
                parents_before = (
                    {rid: row.get("parent_id") for rid, row in current.items()} if hierarchy else {}
                )
                for rid in dict.fromkeys(wanted):
                    values = {**plain, **stamped}
                    for name in x2many:
                        old = json.loads(current[rid][name] or "[]")
                        new = self._x2many(old, vals[name])
                        if hierarchy and name == "child_ids":
                            touched |= self._adopt(spec, rid, old, new, stamp, parents_before)
                        else:
                            values[name] = _json_list(new)
                    self._update(spec, rid, values)
                self._remember_names(names)
                self._after_change(spec, sorted(touched), set(vals), stamp, parents_before)
                self._follow_related(spec, wanted, set(vals), stamp)
                if documents is not None and {"display_type", DOCUMENT_LINES[spec.name][0]} & set(
                    vals
                ):
                    documents |= self._documents_of(spec, wanted) or set()
                    self._refresh_documents(spec, documents, stamp)
            return True

    def _adopt(
        self,
        spec: ModelSpec,
        parent: int,
        old: list[int],
        new: list[int],
        stamp: str,
        parents_before: dict[int, Any],
    ) -> set[int]:
        """Writing ``child_ids`` moves children: it sets or clears their ``parent_id``."""
        moved: set[int] = set()
        for rid in (i for i in new if i not in old):
            moved.add(rid)
            moved_from = self._rows(spec, [rid], ["parent_id"]).get(rid)
            if moved_from is None:
                raise self._missing(spec, [rid])
            parents_before.setdefault(rid, moved_from["parent_id"])
            self._update(spec, rid, {"parent_id": parent, **self._stamp(spec, stamp)})
        for rid in (i for i in old if i not in new):
            moved.add(rid)
            parents_before.setdefault(rid, parent)
            self._update(spec, rid, {"parent_id": None, **self._stamp(spec, stamp)})
        return moved

    def unlink(self, model: str, ids: Iterable[int] | int) -> bool:
        """Delete records; ids already gone are not an error."""
        with self._lock:
            spec = model_spec(self.registry, model)
            wanted = [ids] if isinstance(ids, int) else [int(i) for i in ids]
            with self._transaction() as conn:
                parents: set[int] = set()
                if self._hierarchy(spec):
                    rows = self._rows(spec, wanted, ["parent_id"])
                    parents = {r["parent_id"] for r in rows.values() if r["parent_id"] is not None}
                documents = self._documents_of(spec, wanted)
                for line_model, (link, _) in DOCUMENT_LINES.items():
                    line_spec = self.registry.get(line_model)
                    if line_spec is not None and self._link_of(line_spec, link) == spec.name:
                        conn.execute(
                            f"DELETE FROM {quote(line_spec.table)} "
                            f"WHERE {quote(link)} IN (SELECT value FROM json_each(?))",
                            [_json_list(wanted)],
                        )
                conn.execute(
                    f"DELETE FROM {quote(spec.table)} WHERE id IN (SELECT value FROM json_each(?))",
                    [_json_list(wanted)],
                )
                self._refresh_children(spec, parents, set(wanted))
                self._refresh_documents(spec, documents, self._now(None))
            return True

    # -- documents and their lines ----------------------------------------------------------

    def _link_of(self, spec: ModelSpec, link: str) -> str | None:
        """The document model a line model's many2one ``link`` points at, if both are stored."""
        fld = spec.fields.get(link)
        if fld is None or not fld.has_column or fld.relation not in self.registry:
            return None
        return fld.relation

    def _documents_of(self, spec: ModelSpec, ids: Iterable[int]) -> set[int] | None:
        """The documents the lines ``ids`` belong to; None when ``spec`` is no line model."""
        line = DOCUMENT_LINES.get(spec.name)
        if line is None or self._link_of(spec, line[0]) is None:
            return None
        cursor = self.conn.execute(
            f"SELECT DISTINCT {quote(line[0])} FROM {quote(spec.table)} "
            "WHERE id IN (SELECT value FROM json_each(?))",
            [_json_list(ids)],
        )
        return {row[0] for row in cursor if row[0] is not None}

    def _refresh_documents(self, spec: ModelSpec, documents: set[int] | None, stamp: str) -> None:
        """Rebuild the line lists of ``documents`` from their lines; stamp those that change."""
        if not documents:
            return
        link, lists = DOCUMENT_LINES[spec.name]
        document = self.registry[str(self._link_of(spec, link))]
        kept = [(name, types) for name, types in lists if name in document.fields]
        kept = [(name, types) for name, types in kept if document.fields[name].has_column]
        if not kept:
            return
        typed = "display_type" in spec.fields and spec.fields["display_type"].has_column
        cursor = self.conn.execute(
            f"SELECT id, {quote(link)}, {quote('display_type') if typed else 'NULL'} "
            f"FROM {quote(spec.table)} WHERE {quote(link)} IN (SELECT value FROM json_each(?)) "
            "ORDER BY id",
            [_json_list(documents)],
        )
        lines: dict[int, list[tuple[int, Any]]] = {}
        for rid, owner, display_type in cursor:
            lines.setdefault(owner, []).append((rid, display_type))
        current = self._rows(document, documents, [name for name, _ in kept])
        for owner, row in current.items():
            values: dict[str, Any] = {}
            for name, types in kept:
                ids = [rid for rid, kind in lines.get(owner, []) if types is None or kind in types]
                if sorted(_id_list(row[name])) != ids:
                    values[name] = _json_list(ids)
            if values:
                self._update(document, owner, {**values, **self._stamp(document, stamp)})

    def _follow_related(
        self, spec: ModelSpec, ids: list[int], changed: set[str], stamp: str
    ) -> None:
        """Copy changed values of ``spec`` records into the stored related fields of their lines.

        A line's ``state`` is ``order_id.state``, its ``parent_state`` ``move_id.state``: Odoo
        recomputes them when the document changes and the lines it rewrites get its
        write_date.
        """
        for line_model, (link, _) in DOCUMENT_LINES.items():
            line = self.registry.get(line_model)
            if line is None or self._link_of(line, link) != spec.name:
                continue
            copies: dict[str, str] = {}
            for fld in line.column_fields():
                related = fld.attrs.get("related")
                if not isinstance(related, str) or not related.startswith(f"{link}."):
                    continue
                source = related[len(link) + 1 :]
                origin = spec.fields.get(source)
                if source in changed and origin is not None and origin.has_column:
                    copies[fld.name] = source
            if not copies:
                continue
            table, parent = quote(line.table), quote(spec.table)
            pulled = ", ".join(
                f"{quote(col)} = (SELECT p.{quote(src)} FROM {parent} AS p "
                f"WHERE p.id = {table}.{quote(link)})"
                for col, src in copies.items()
            )
            differs = " OR ".join(
                f"{quote(col)} IS NOT (SELECT p.{quote(src)} FROM {parent} AS p "
                f"WHERE p.id = {table}.{quote(link)})"
                for col, src in copies.items()
            )
            stamped = self._stamp(line, stamp)
            extra = "".join(f", {quote(c)} = ?" for c in stamped)
            self.conn.execute(
                f"UPDATE {table} SET {pulled}{extra} "
                f"WHERE {quote(link)} IN (SELECT value FROM json_each(?)) AND ({differs})",
                [*stamped.values(), _json_list(ids)],
            )

    # -- derived values ---------------------------------------------------------------------

    def _after_change(
        self,
        spec: ModelSpec,
        ids: list[int],
        changed: Iterable[str],
        stamp: str,
        parents_before: Mapping[int, Any],
        *,
        descend: bool = True,
    ) -> None:
        """Recompute what depends on the written records: names and parent's child lists."""
        changed = set(changed)
        touched = set(ids)
        if self._has_partner_names(spec) and changed & (_PARTNER_NAME_INPUTS | {"child_ids"}):
            touched |= self._recompute_partners(
                spec, ids, stamp=stamp, written=set(ids), descend=descend
            )
        self._refresh_names(spec, touched)
        if self._hierarchy(spec):
            rows = self._rows(spec, touched, ["parent_id"])
            parents = {r["parent_id"] for r in rows.values() if r["parent_id"] is not None}
            parents |= {p for p in parents_before.values() if p is not None}
            self._refresh_children(spec, parents, touched)

    def _refresh_children(self, spec: ModelSpec, parents: set[int], candidates: set[int]) -> None:
        """Rebuild ``child_ids`` of ``parents``: their active children in the model's order."""
        if not parents:
            return
        table = quote(spec.table)
        order = compile_order(self.registry, spec.name, None, semantics=self.semantics)
        active = f" AND t.{quote('active')} = 1" if spec.has_active else ""
        current = self._rows(spec, parents, ["child_ids"])
        for parent, row in current.items():
            pool = set(json.loads(row["child_ids"] or "[]")) | candidates
            cursor = self.conn.execute(
                f"SELECT t.id FROM {table} AS t WHERE t.id IN (SELECT value FROM json_each(?)) "
                f"AND t.parent_id = ?{active} ORDER BY {order}",
                [_json_list(pool), parent],
            )
            children = _json_list(r[0] for r in cursor)
            if children != (row["child_ids"] or "[]"):
                self._update(spec, parent, {"child_ids": children})

    def _recompute_partners(
        self,
        spec: ModelSpec,
        ids: list[int],
        *,
        stamp: str | None,
        written: set[int],
        descend: bool = True,
    ) -> set[int]:
        """Recompute the commercial partner fields and ``complete_name`` of partners.

        Contacts below a changed partner are recomputed too; those whose stored values change
        are stamped with ``stamp`` like Odoo's recomputation. Returns every changed id.
        """
        table = quote(spec.table)
        todo = list(dict.fromkeys(ids))
        frontier = todo
        # Finding contacts scans the table (parent_id has no index); new records have none.
        while descend and frontier:
            frontier = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM {table} WHERE parent_id IN (SELECT value FROM json_each(?))",
                    [_json_list(frontier)],
                )
                if r[0] not in written and r[0] not in todo
            ]
            todo.extend(frontier)
        optional = [
            c
            for c in ("company_name", "commercial_partner_id", "commercial_company_name")
            if c in spec.fields and spec.fields[c].has_column
        ]
        columns = ["name", "parent_id", "is_company", "complete_name", *optional]
        cache = self._rows(spec, todo, columns)
        while needed := {
            link
            for row in cache.values()
            for link in (row["parent_id"], row.get("commercial_partner_id"))
            if link is not None and link not in cache
        }:
            fetched = self._rows(spec, needed, columns)
            cache.update(fetched)
            cache.update(
                {rid: {"id": rid, **dict.fromkeys(columns)} for rid in needed - fetched.keys()}
            )
        before = {rid: dict(cache[rid]) for rid in todo if rid in cache}
        # A partner's values depend on its parent's: repeat until nothing moves (the depth of
        # the hierarchy bounds the rounds, whatever order the records come in).
        for _ in range(len(before) + 1):
            moved = False
            for rid in before:
                row = cache[rid]
                new = self._partner_names(row, cache.get(row["parent_id"]), cache)
                if any(row.get(k) != v for k, v in new.items()):
                    row.update(new)
                    moved = True
            if not moved:
                break
        changed: set[int] = set()
        for rid, old in before.items():
            diff = {k: v for k, v in cache[rid].items() if k != "id" and old.get(k) != v}
            if diff:
                if rid not in written and stamp is not None:
                    diff.update(self._stamp(spec, stamp))
                self._update(spec, rid, diff)
                changed.add(rid)
        if changed:
            self._refresh_names(spec, changed)
        return changed

    @staticmethod
    def _partner_names(
        row: Mapping[str, Any],
        parent: Mapping[str, Any] | None,
        cache: Mapping[int, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """commercial_partner_id, commercial_company_name and complete_name of one partner."""
        out: dict[str, Any] = {}
        if row["is_company"] or parent is None:
            commercial_id = row["id"]
        else:
            commercial_id = parent.get("commercial_partner_id") or parent["id"]
        commercial = row if commercial_id == row["id"] else cache.get(commercial_id, parent or row)
        company_name = commercial["name"] if commercial["is_company"] else row.get("company_name")
        if "commercial_partner_id" in row:
            out["commercial_partner_id"] = commercial_id
        if "commercial_company_name" in row:
            out["commercial_company_name"] = company_name
        name = row["name"]
        if (row.get("company_name") or parent is not None) and name and not row["is_company"]:
            prefix = company_name or (parent["name"] if parent is not None else None)
            out["complete_name"] = f"{prefix}, {name}" if prefix else name
        else:
            out["complete_name"] = name
        return out

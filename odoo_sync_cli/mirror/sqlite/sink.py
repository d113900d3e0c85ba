"""The SQLite backend's record sink: one mirror table per model, written a page at a time.

Each table has the primary key ``(user, id)`` and the columns ``mirror.codec`` maps from Odoo's
fields, recorded in ``_odoosync_fields`` so a table keeps its names as the server's fields come
and go. A page's records are encoded by :func:`encode_rows` before the writer is taken (the
file has one writer, and the threads of a loop queue for it: it is held for SQL only), written
by :meth:`SqliteSink._write_rows` and marked gone by :meth:`SqliteSink._mark_gone`, always inside
a transaction the caller holds with the cursor.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils.db import quote_identifier

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.codec import (
    FieldColumn,
    TableSpec,
    column_names,
    plan_columns,
    row_encoder,
    row_to_record,
    table_name,
)
from odoo_sync_cli.mirror.sqlite.connection import translated
from odoo_sync_cli.mirror.sqlite.history import SqliteHistory
from odoo_sync_cli.mirror.views import MirrorTable, view_name, view_select
from odoo_sync_cli.models import ClearCounts

_SQL_TYPE = {"many2one": "INTEGER", "json": "TEXT", "integer": "INTEGER", "real": "REAL"}


@dataclass(frozen=True)
class Rows:
    """Records of ``user`` encoded as rows of ``table``, with the statement that upserts them."""

    user: str
    table: str
    sql: str
    values: list[tuple[Any, ...]]
    ids: list[int]


@functools.lru_cache(maxsize=256)
def upsert_sql(spec: TableSpec) -> str:
    """The upsert of a row of ``spec.table``; a record stored again loses its tombstone."""
    names = ["user", *column_names(spec), "_synced_at", "_deleted_at"]
    placeholders = ", ".join("?" for _ in names)
    updates = ", ".join(
        f"{quote_identifier(c)} = excluded.{quote_identifier(c)}"
        for c in names
        if c not in ("user", "id")
    )
    return (
        f"INSERT INTO {quote_identifier(spec.table)} "
        f"({', '.join(quote_identifier(n) for n in names)}) VALUES ({placeholders}) "
        f"ON CONFLICT (user, id) DO UPDATE SET {updates}"
    )


def encode_rows(user: str, spec: TableSpec, records: Sequence[Mapping[str, Any]], now: str) -> Rows:
    """``records`` as the rows :meth:`SqliteSink._write_rows` stores (``now``: their
    ``_synced_at``); pure work, done before the writer is taken."""
    encode_row = row_encoder(spec)
    return Rows(
        user=user,
        table=spec.table,
        sql=upsert_sql(spec),
        values=[encode_row(r, user, now) for r in records],
        ids=[r["id"] for r in records],
    )


class SqliteSink(SqliteHistory):
    """The mirror tables of one SQLite file (see :class:`odoo_sync_cli.mirror.RecordSink`),
    their history tables and their views."""

    # ---- writing, inside a transaction the caller holds with the batch's cursor

    def _write_rows(self, rows: Rows, now: str) -> None:
        """Upsert ``rows``. With history on for their user in their table, the versions follow
        in the same transaction."""
        if not rows.values:
            return
        self.conn.executemany(rows.sql, rows.values)
        if self._history_on(rows.user, rows.table):
            self._versions_after_write(rows.user, rows.table, rows.ids, now)

    @translated
    def missing_ids(self, user: str, table: str, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` the mirror lacks or holds as deleted."""
        if not ids:
            return []
        sql = (
            "SELECT j.value FROM json_each(?) AS j "
            f"LEFT JOIN {quote_identifier(table)} AS t ON t.user = ? AND t.id = j.value "
            "WHERE t.id IS NULL OR t._deleted_at IS NOT NULL ORDER BY j.value"
        )
        return [r[0] for r in self.conn.execute(sql, (json.dumps(list(ids)), user))]

    # ---- mirror tables

    def _mirror_tables(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT table_name FROM _odoosync_fields")]

    @translated
    def table_spec(self, table: str, fields: Sequence[str]) -> TableSpec:
        """The columns of ``fields`` in an existing mirror table, in that order."""
        known = self._known_columns(table)
        missing = [f for f in fields if f not in known]
        if missing:
            raise StoreError(
                f"mirror table {table} has no column for {', '.join(missing)}",
                hint="Run `odoosync prepare --restart` so the table is brought up to date.",
            )
        return TableSpec(
            table=table, model=self._table_model(table), columns=tuple(known[f] for f in fields)
        )

    def _known_columns(self, table: str) -> dict[str, FieldColumn]:
        cur = self.conn.execute(
            "SELECT field, type, column_name, name_column, relation FROM _odoosync_fields "
            "WHERE table_name = ? ORDER BY rowid",
            (table,),
        )
        return {r[0]: FieldColumn(r[0], r[1], r[2], r[3], r[4]) for r in cur.fetchall()}

    @translated
    def ensure_table(
        self,
        model: str,
        field_types: Mapping[str, str],
        relations: Mapping[str, str] | None = None,
    ) -> TableSpec:
        """Create or widen the mirror table of ``model`` to hold ``field_types`` (name -> type;
        ``relations``: many2one name -> comodel), its history table with it, and the views."""
        table = table_name(model)
        plan = plan_columns(model, self._known_columns(table), field_types, relations)
        if not plan.changed:
            return plan.spec  # the usual case: a read, the writer is left to the pages
        with self._write():
            # Planned again in the transaction: another thread or process may have widened
            # the table since the read.
            plan = plan_columns(model, self._known_columns(table), field_types, relations)
            if not plan.changed:
                return plan.spec
            self.conn.executemany(
                "UPDATE _odoosync_fields SET type = ? WHERE table_name = ? AND field = ?",
                [(ftype, table, name) for name, ftype in plan.retyped],
            )
            self.conn.executemany(
                "UPDATE _odoosync_fields SET relation = ? WHERE table_name = ? AND field = ?",
                [(relation, table, name) for name, relation in plan.relinked],
            )
            self._create_or_alter(table, plan.new)
            self.conn.executemany(
                "INSERT INTO _odoosync_fields (table_name, model, field, type, column_name, "
                "name_column, relation) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (table, model, c.field, c.type, c.column, c.name_column, c.relation)
                    for c in plan.new
                ],
            )
            if self._has_history_table(table):
                self._ensure_history_table(table)
            self._refresh_views()
        return plan.spec

    def _refresh_views(self) -> None:
        """Drop and create again the ``<table>_current`` views of every mirror table."""
        tables = [
            MirrorTable(
                table=name,
                model=self._table_model(name),
                columns=tuple(self.db.table(name).columns_dict),
                fields=tuple(self._known_columns(name).values()),
            )
            for name in self._mirror_tables()
            if self.db.table(name).exists()
        ]
        mirror = {t.table for t in tables}
        for t in tables:
            view = view_name(t.table)
            if view in mirror:
                continue  # a mirrored model's table has that name: it keeps it
            self.conn.execute(f"DROP VIEW IF EXISTS {quote_identifier(view)}")
            select = view_select(t, tables)
            if select is not None:
                self.conn.execute(f"CREATE VIEW {quote_identifier(view)} AS {select}")

    def _table_model(self, table: str) -> str:
        row = self.conn.execute(
            "SELECT model FROM _odoosync_fields WHERE table_name = ? LIMIT 1", (table,)
        ).fetchone()
        return str(row[0])

    def _create_or_alter(self, table: str, new: Sequence[FieldColumn]) -> None:
        columns: dict[str, str] = {}
        for col in new:
            if col.column == "id":
                continue
            columns[col.column] = _SQL_TYPE.get(col.storage, "TEXT")
            if col.name_column:
                columns[col.name_column] = "TEXT"
        t = self.db.table(table)
        if not t.exists():
            spec: dict[str, Any] = {"user": "TEXT", "id": "INTEGER", **columns}
            spec.update({"_write_date": "TEXT", "_synced_at": "TEXT", "_deleted_at": "TEXT"})
            t.create(spec, pk=("user", "id"), not_null={"user", "id"})
            return
        existing = set(t.columns_dict)
        for name, sql_type in columns.items():
            if name not in existing:
                t.add_column(name, sql_type)

    @translated
    def read_records(
        self, user: str, table: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Every mirrored record of ``user`` in ``table``, shaped as ``search_read`` returns it."""
        spec = self.table_spec(table, list(self._known_columns(table)))
        where = "user = ?" + ("" if include_deleted else " AND _deleted_at IS NULL")
        cur = self.conn.execute(
            f"SELECT * FROM {quote_identifier(table)} WHERE {where} ORDER BY id", (user,)
        )
        names = [d[0] for d in cur.description]
        return [row_to_record(spec, dict(zip(names, row, strict=True))) for row in cur]

    @translated
    def table_rows(self, user: str, table: str) -> list[dict[str, Any]]:
        """Raw rows of a mirror table for one user, deleted ones included, by id."""
        if not self.db.table(table).exists():
            return []
        cur = self.conn.execute(
            f"SELECT * FROM {quote_identifier(table)} WHERE user = ? ORDER BY id", (user,)
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    @translated
    def mirrored_count(self, user: str, table: str) -> int:
        if not self.db.table(table).exists():
            return 0
        row = self.conn.execute(
            f"SELECT count(*) FROM {quote_identifier(table)} "
            "WHERE user = ? AND _deleted_at IS NULL",
            (user,),
        ).fetchone()
        return int(row[0])

    @translated
    def live_ids(self, user: str, table: str) -> list[int]:
        """The ids of ``user``'s records in ``table`` that are not marked deleted, ascending."""
        if not self.db.table(table).exists():
            return []
        cur = self.conn.execute(
            f"SELECT id FROM {quote_identifier(table)} "
            "WHERE user = ? AND _deleted_at IS NULL ORDER BY id",
            (user,),
        )
        return [int(r[0]) for r in cur]

    @translated
    def rows_by_ids(self, user: str, table: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Raw rows of ``user`` in ``table`` with these ids, deleted ones included, by id."""
        if not ids or not self.db.table(table).exists():
            return {}
        cur = self.conn.execute(
            f"SELECT * FROM {quote_identifier(table)} "
            "WHERE user = ? AND id IN (SELECT value FROM json_each(?))",
            (user, json.dumps(list(ids))),
        )
        names = [d[0] for d in cur.description]
        return {int(row[names.index("id")]): dict(zip(names, row, strict=True)) for row in cur}

    def _clear_rows(self, user: str, tables: Iterable[str]) -> ClearCounts:
        """Delete ``user``'s rows in ``tables``, their history, and its history switches."""
        counts = ClearCounts()
        tables = list(tables)
        for table in tables:
            if not self.db.table(table).exists():
                continue
            n = self.conn.execute(
                f"DELETE FROM {quote_identifier(table)} WHERE user = ?", (user,)
            ).rowcount
            counts.records += n
            counts.tables.append(table)
        counts.versions = self._clear_history(user, tables)
        return counts

    def _mark_gone(
        self,
        user: str,
        spec: TableSpec,
        *,
        after: int,
        hi_id: int | None,
        listed_ids: Sequence[int],
        now: str,
        hard_delete: bool,
    ) -> int:
        """Tombstone (or delete) ``user``'s rows with ids in ``(after, hi_id]`` not listed; with
        history on, their open versions close in the same transaction."""
        table = quote_identifier(spec.table)
        bounds = "user = ? AND id > ?" + (" AND id <= ?" if hi_id is not None else "")
        params: list[Any] = [user, after] + ([hi_id] if hi_id is not None else [])
        listed = "id NOT IN (SELECT value FROM json_each(?))"
        if hard_delete:
            gone = self.conn.execute(
                f"DELETE FROM {table} WHERE {bounds} AND {listed}",
                (*params, json.dumps(list(listed_ids))),
            ).rowcount
        else:
            gone = self.conn.execute(
                f"UPDATE {table} SET _deleted_at = ? WHERE {bounds} "
                f"AND _deleted_at IS NULL AND {listed}",
                (now, *params, json.dumps(list(listed_ids))),
            ).rowcount
        if self._history_on(user, spec.table):
            self._versions_after_gone(user, spec.table, after=after, hi_id=hi_id, now=now)
        return int(gone)

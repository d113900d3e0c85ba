"""The PostgreSQL backend's record sink: one mirror table per model, written a page at a time.

Each table has the primary key ``("user", id)`` and the columns ``mirror.codec`` maps from
Odoo's fields, typed as ``columns.py`` says and recorded in ``_odoosync_fields``. A page is
written by :meth:`PgSink._write_rows`: COPY into a temporary table of the session, then one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE``, which ``scripts/bench`` measured at 1.57 times
the speed of ``executemany`` of ``INSERT ... ON CONFLICT`` (pipelined by psycopg) on pages of
1,000 partners with every field (13,994 against 8,927 records/s), so it is the one kept.
Rows gone from the server are marked by :meth:`PgSink._mark_gone`. Both run inside the
transaction the caller holds with the batch's cursor.

Schema changes (a new table, new or retyped columns) take a transaction-level advisory lock, so
two workers planning at once take turns, and give up after ``lock_timeout`` rather than queue
every writer of the table behind a long read (a BI query) holding it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.codec import (
    FieldColumn,
    TableSpec,
    encode,
    encoding,
    plan_columns,
    row_to_record,
    table_name,
)
from odoo_sync_cli.mirror.history import history_table
from odoo_sync_cli.mirror.postgres.columns import (
    BOOKKEEPING,
    MAX_IDENTIFIER_BYTES,
    ROW_KEY,
    TEXT,
    cell,
    check_identifier,
    copy_plan,
    field_columns,
    sql_type,
    table_columns,
    to_copy,
)
from odoo_sync_cli.mirror.postgres.connection import lock_key, translated
from odoo_sync_cli.mirror.postgres.history import PgHistory
from odoo_sync_cli.mirror.views import MirrorTable, view_name, view_select
from odoo_sync_cli.models import ClearCounts

DDL_LOCK_TIMEOUT = "10s"
# How a column changes type when a field changes to another type of the same storage shape;
# any other pair is cast directly (``USING col::type``).
_CASTS = {
    ("bigint", "boolean"): "{c} <> 0",
    ("boolean", "bigint"): "{c}::integer",
    ("double precision", "numeric"): "{c}::text::numeric",
    ("bigint[]", "jsonb"): "to_jsonb({c})",
}
Q = sql.Identifier


class PgSink(PgHistory):
    """The mirror tables of a PostgreSQL schema (see :class:`odoo_sync_cli.mirror.RecordSink`),
    their history tables and their views."""

    # ---- writing, inside a transaction the caller holds with the batch's cursor

    def _stage(self, spec: TableSpec) -> tuple[str, list[str]]:
        """The session's temporary table for pages of ``spec.table``, and the columns to fill.

        Made outside the page's transaction (a rollback would take it away), once per session
        and table, again when the table's columns changed since.
        """
        columns = table_columns(spec)
        names = [name for name, _ in columns]
        staged = self._staging.get(spec.table)
        if staged is not None and set(columns) <= set(staged[1]):
            return staged[0], names
        stage = staged[0] if staged else f"odoosync_stage_{len(self._staging) + 1}"
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(Q(stage)))
        create = "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        self.conn.execute(sql.SQL(create).format(Q(stage), Q(self.schema, spec.table)))
        self._staging[spec.table] = (stage, tuple(columns))
        return stage, names

    def _write_rows(
        self,
        cur: psycopg.Cursor[Any],
        user: str,
        spec: TableSpec,
        records: Sequence[Mapping[str, Any]],
        now: str,
        stage: tuple[str, list[str]],
    ) -> None:
        """Upsert ``records``; a record stored again loses its tombstone. With history on for
        ``user`` in this table, the versions follow in the same transaction."""
        if not records:
            return
        name, names = stage
        types = [t for _, t in table_columns(spec)]
        rewrite = copy_plan(types)
        plan = encoding(spec)
        columns = sql.SQL(", ").join(map(Q, names))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(Q(name), columns)) as copy:
            for record in records:
                copy.write_row(to_copy([user, *encode(plan, record), now, None], rewrite))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(Q(n)) for n in names if n not in ("user", "id")
        )
        upsert = (
            'INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ("user", id) DO UPDATE SET {u}'
        )
        cur.execute(sql.SQL(upsert).format(t=Q(spec.table), c=columns, s=Q(name), u=updates))
        if self._history_on(cur, user, spec.table):
            self._versions_after_write(cur, user, spec.table, [r["id"] for r in records], now)

    def _mark_gone(
        self,
        cur: psycopg.Cursor[Any],
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
        bounds = sql.SQL('"user" = %s AND id > %s' + (" AND id <= %s" if hi_id is not None else ""))
        params: list[Any] = [user, after] + ([hi_id] if hi_id is not None else [])
        listed = sql.SQL("NOT (id = ANY(%s::bigint[]))")
        if hard_delete:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE {} AND {}").format(Q(spec.table), bounds, listed),
                (*params, list(listed_ids)),
            )
        else:
            tombstone = "UPDATE {} SET _deleted_at = %s WHERE {} AND _deleted_at IS NULL AND {}"
            cur.execute(
                sql.SQL(tombstone).format(Q(spec.table), bounds, listed),
                (now, *params, list(listed_ids)),
            )
        gone = int(cur.rowcount)
        if self._history_on(cur, user, spec.table):
            self._versions_after_gone(cur, user, spec.table, after=after, hi_id=hi_id, now=now)
        return gone

    @translated
    def missing_ids(self, user: str, table: str, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` the mirror lacks or holds as deleted."""
        if not ids:
            return []
        rows = self.conn.execute(
            sql.SQL(
                "SELECT j.id FROM unnest(%s::bigint[]) AS j(id) "
                'LEFT JOIN {} AS t ON t."user" = %s AND t.id = j.id '
                "WHERE t.id IS NULL OR t._deleted_at IS NOT NULL ORDER BY j.id"
            ).format(Q(table)),
            (list(ids), user),
        ).fetchall()
        return [int(r[0]) for r in rows]

    # ---- mirror tables

    def _mirror_tables(self) -> list[str]:
        rows = self.conn.execute("SELECT DISTINCT table_name FROM _odoosync_fields ORDER BY 1")
        return [r[0] for r in rows]

    def _exists(self, table: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, table),
        ).fetchone()
        return row is not None

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
        row = self.conn.execute(
            "SELECT model FROM _odoosync_fields WHERE table_name = %s LIMIT 1", (table,)
        ).fetchone()
        model = str(row[0]) if row else table
        return TableSpec(table=table, model=model, columns=tuple(known[f] for f in fields))

    def _known_columns(self, table: str) -> dict[str, FieldColumn]:
        rows = self.conn.execute(
            "SELECT field, type, column_name, name_column, relation FROM _odoosync_fields "
            "WHERE table_name = %s ORDER BY seq",
            (table,),
        ).fetchall()
        return {r[0]: FieldColumn(r[0], r[1], r[2], r[3], r[4]) for r in rows}

    def _column_types(self, table: str) -> dict[str, str]:
        types = dict(ROW_KEY) | dict(BOOKKEEPING)
        for col in self._known_columns(table).values():
            types.update(field_columns(col))
        return types

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
        check_identifier(table, "the table name")
        plan = plan_columns(model, self._known_columns(table), field_types, relations)
        if not plan.changed:
            return plan.spec  # the usual case: a read, no lock taken
        with self._tx() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
            # Schema changes take turns across processes; planned again under the lock.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "*ddl*"),))
            known = self._known_columns(table)
            plan = plan_columns(model, known, field_types, relations)
            if not plan.changed:
                return plan.spec
            for col in plan.new:
                for name, _ in field_columns(col):
                    check_identifier(name, f"the column of {model}.{col.field}")
            # A column a view reads cannot change type: the views go first, and come back.
            self._drop_views(cur)
            self._create_or_alter(cur, table, plan.new)
            history = self._has_history_table(cur, table)
            for name, ftype in plan.retyped:
                old = known[name]
                new = FieldColumn(name, ftype, old.column, old.name_column, old.relation)
                self._retype(cur, table, old, new)
                if history:
                    self._retype(cur, history_table(table), old, new)
            cur.executemany(
                "UPDATE _odoosync_fields SET type = %s WHERE table_name = %s AND field = %s",
                [(ftype, table, name) for name, ftype in plan.retyped],
            )
            cur.executemany(
                "UPDATE _odoosync_fields SET relation = %s WHERE table_name = %s AND field = %s",
                [(relation, table, name) for name, relation in plan.relinked],
            )
            cur.executemany(
                "INSERT INTO _odoosync_fields (table_name, model, field, type, column_name, "
                "name_column, relation) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (table, model, c.field, c.type, c.column, c.name_column, c.relation)
                    for c in plan.new
                ],
            )
            if history:
                self._ensure_history_table(cur, table)
            self._create_views(cur)
        return plan.spec

    def _view_tables(self, cur: psycopg.Cursor[Any]) -> list[MirrorTable]:
        tables = []
        for name in self._mirror_tables():
            columns = tuple(c for c, _ in self._typed_columns(cur, name))
            if not columns:
                continue
            row = cur.execute(
                "SELECT model FROM _odoosync_fields WHERE table_name = %s LIMIT 1", (name,)
            ).fetchone()
            model = str(row[0]) if row else name
            fields = tuple(self._known_columns(name).values())
            tables.append(MirrorTable(table=name, model=model, columns=columns, fields=fields))
        return tables

    def _our_views(self, cur: psycopg.Cursor[Any]) -> list[str]:
        """The ``<table>_current`` views of the mirror tables that exist now."""
        mirror = set(self._mirror_tables())
        return [
            view_name(t)
            for t in mirror
            if view_name(t) not in mirror and self._relation_kind(cur, view_name(t)) == "v"
        ]

    def _drop_views(self, cur: psycopg.Cursor[Any]) -> None:
        for view in self._our_views(cur):
            cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(Q(view)))

    def _create_views(self, cur: psycopg.Cursor[Any]) -> None:
        """Create the ``<table>_current`` views of every mirror table (mirror/views.py)."""
        tables = self._view_tables(cur)
        mirror = {t.table for t in tables}
        for t in tables:
            view = view_name(t.table)
            # A mirrored model's table of that name keeps it; a name PostgreSQL would cut
            # short gets no view rather than one named after another table.
            if view in mirror or len(view.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
                continue
            select = view_select(t, tables)
            if select is not None:
                cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(Q(view)))
                cur.execute(sql.SQL("CREATE VIEW {} AS ").format(Q(view)) + sql.SQL(select))

    def _create_or_alter(
        self, cur: psycopg.Cursor[Any], table: str, new: Sequence[FieldColumn]
    ) -> None:
        columns = [pair for col in new if col.column != "id" for pair in field_columns(col)]
        if not self._exists(table):
            defs = [*ROW_KEY, *columns, *BOOKKEEPING]
            cur.execute(
                sql.SQL('CREATE TABLE {} ({}, PRIMARY KEY ("user", id))').format(
                    Q(table),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}{}").format(
                            Q(name),
                            sql.SQL(sql_t),
                            sql.SQL(" NOT NULL" if name in ("user", "id") else ""),
                        )
                        for name, sql_t in defs
                    ),
                )
            )
            return
        for name, sql_t in columns:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    Q(table), Q(name), sql.SQL(sql_t)
                )
            )

    def _retype(
        self, cur: psycopg.Cursor[Any], table: str, old: FieldColumn, new: FieldColumn
    ) -> None:
        before, after = sql_type(old), sql_type(new)
        if before == after:
            return
        using = _CASTS.get((before, after), "{c}::" + after)
        try:
            cur.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
                    Q(table), Q(old.column), sql.SQL(after), sql.SQL(using).format(c=Q(old.column))
                )
            )
        except (
            psycopg.errors.DataError,
            psycopg.errors.CannotCoerce,
            psycopg.errors.DatatypeMismatch,
            psycopg.errors.FeatureNotSupported,
        ) as exc:
            raise StoreError(
                f"{table}.{old.column} cannot change from {before} to {after} for the field's "
                f"new type ({old.type} -> {new.type} on the server: {exc})",
                hint=f"Clear the module of {old.field}'s model (`odoosync clear --module ...`) "
                "so its table is rebuilt.",
            ) from None

    def _cells(self, table: str, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        types = self._column_types(table)
        return [{k: cell(types.get(k, TEXT), v) for k, v in row.items()} for row in rows]

    def _select(self, table: str, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                sql.SQL("SELECT * FROM {} WHERE " + where + " ORDER BY id").format(Q(table)),
                params,
            ).fetchall()
        return self._cells(table, rows)

    @translated
    def read_records(
        self, user: str, table: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Every mirrored record of ``user`` in ``table``, shaped as ``search_read`` returns it."""
        spec = self.table_spec(table, list(self._known_columns(table)))
        where = '"user" = %s' + ("" if include_deleted else " AND _deleted_at IS NULL")
        return [row_to_record(spec, row) for row in self._select(table, where, (user,))]

    @translated
    def table_rows(self, user: str, table: str) -> list[dict[str, Any]]:
        """Rows of a mirror table for one user, deleted ones included, by id, as cells."""
        if not self._exists(table):
            return []
        return self._select(table, '"user" = %s', (user,))

    @translated
    def mirrored_count(self, user: str, table: str) -> int:
        if not self._exists(table):
            return 0
        row = self.conn.execute(
            sql.SQL('SELECT count(*) FROM {} WHERE "user" = %s AND _deleted_at IS NULL').format(
                Q(table)
            ),
            (user,),
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def live_ids(self, user: str, table: str) -> list[int]:
        """The ids of ``user``'s records in ``table`` that are not marked deleted, ascending."""
        if not self._exists(table):
            return []
        rows = self.conn.execute(
            sql.SQL(
                'SELECT id FROM {} WHERE "user" = %s AND _deleted_at IS NULL ORDER BY id'
            ).format(Q(table)),
            (user,),
        )
        return [int(r[0]) for r in rows]

    @translated
    def rows_by_ids(self, user: str, table: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Rows of ``user`` in ``table`` with these ids, deleted ones included, as cells."""
        if not ids or not self._exists(table):
            return {}
        rows = self._select(table, '"user" = %s AND id = ANY(%s::bigint[])', (user, list(ids)))
        return {int(r["id"]): r for r in rows}

    def _clear_rows(
        self, cur: psycopg.Cursor[Any], user: str, tables: Iterable[str]
    ) -> ClearCounts:
        """Delete ``user``'s rows in ``tables``, their history, and its history switches."""
        counts = ClearCounts()
        tables = list(tables)
        for table in tables:
            if not self._exists(table):
                continue
            cur.execute(sql.SQL('DELETE FROM {} WHERE "user" = %s').format(Q(table)), (user,))
            counts.records += cur.rowcount
            counts.tables.append(table)
        counts.versions = self._clear_history(cur, user, tables)
        return counts

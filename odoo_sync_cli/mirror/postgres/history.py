"""The PostgreSQL backend's history tables: every version of a record, kept with the page.

The same tables as SQLite's (``mirror/sqlite/history.py``): ``<table>_history`` has the mirror
table's columns, with their types, without ``_synced_at`` and ``_deleted_at``, plus
``_version`` (integer), ``_valid_from`` and ``_valid_to``; primary key ``("user", id,
_version)`` and a unique index on ``("user", id)`` over the open versions. The bounds are
``timestamp`` (no time zone, UTC), the type of ``_write_date`` they are compared with, as
Odoo stores its datetimes. Which users keep history of which table is state
(``_odoosync_history``), read inside each page's transaction. The rules are
``mirror.history``'s; here is only how PostgreSQL applies them, a page's versions in three
statements whatever its size (a lookup, then the closes and the opens as arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.history import (
    UNVERSIONED_COLUMNS,
    VERSION_COLUMNS,
    Latest,
    closed_at,
    history_table,
    history_time,
    on_stored,
)
from odoo_sync_cli.mirror.postgres.columns import check_identifier, instant_text
from odoo_sync_cli.mirror.postgres.connection import PgBase, lock_key, translated
from odoo_sync_cli.models import utc_now

Q = sql.Identifier
Cursor = psycopg.Cursor[Any]
# Live ids per statement when history starts over a whole table.
_CHUNK = 5000
_HISTORY_BOUNDS = "_version integer NOT NULL, _valid_from timestamp NOT NULL, _valid_to timestamp"


class PgHistory(PgBase):
    """History tables of one PostgreSQL schema; every write inside a transaction the caller
    holds (but for the switches, which are transactions of their own)."""

    # ---- switching it on and off (the engine, at prepare)

    @translated
    def start_history(self, user: str, table: str) -> int | None:
        """Keep history of ``user``'s rows in ``table`` from now on, starting from the mirror's
        current state; the number of versions opened, or None when it was on already."""
        if self._history_on(self.conn, user, table):
            return None  # the usual case: a read, no lock taken
        with self._tx() as cur:
            # Creating the table is a schema change: it takes turns with the others.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "*ddl*"),))
            if self._history_on(cur, user, table):
                return None
            self._ensure_history_table(cur, table)
            opened = self._align_history(cur, user, table, utc_now())
            cur.execute(
                'INSERT INTO _odoosync_history ("user", table_name, since) VALUES (%s, %s, %s)',
                (user, table, utc_now()),
            )
        return opened

    @translated
    def stop_history(self, user: str, table: str) -> bool:
        """Stop keeping history of ``user``'s rows in ``table`` (the versions stay); whether it
        was on."""
        cur = self.conn.execute(
            'DELETE FROM _odoosync_history WHERE "user" = %s AND table_name = %s', (user, table)
        )
        return bool(cur.rowcount)

    def _history_on(self, cur: Cursor | psycopg.Connection[Any], user: str, table: str) -> bool:
        row = cur.execute(
            'SELECT 1 FROM _odoosync_history WHERE "user" = %s AND table_name = %s',
            (user, table),
        ).fetchone()
        return row is not None

    # ---- the table

    def _relation_kind(self, cur: Cursor, name: str) -> str | None:
        row = cur.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, name),
        ).fetchone()
        return None if row is None else str(row[0])

    def _typed_columns(self, cur: Cursor, table: str) -> list[tuple[str, str]]:
        """The columns of a table of the schema with their types, in order."""
        rows = cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (self.schema, table),
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def _ensure_history_table(self, cur: Cursor, table: str) -> None:
        """Create ``table``'s history table, or add the columns the mirror table gained."""
        name = history_table(table)
        check_identifier(name, "the history table")
        kind = self._relation_kind(cur, name)
        taken = cur.execute(
            "SELECT 1 FROM _odoosync_fields WHERE table_name = %s LIMIT 1", (name,)
        ).fetchone()
        if (kind is not None and kind != "r") or taken is not None:
            raise StoreError(
                f"cannot keep the history of {table}: the name {name} is taken by a mirror "
                "table or a view",
                hint="Turn history off for that module (`history = false` in its settings).",
            )
        columns = [
            (c, t) for c, t in self._typed_columns(cur, table) if c not in UNVERSIONED_COLUMNS
        ]
        if kind is None:
            defs = sql.SQL(", ").join(
                sql.SQL("{} {}{}").format(
                    Q(c), sql.SQL(t), sql.SQL(" NOT NULL" if c in ("user", "id") else "")
                )
                for c, t in columns
            )
            cur.execute(
                sql.SQL('CREATE TABLE {} ({}, {}, PRIMARY KEY ("user", id, _version))').format(
                    Q(name), defs, sql.SQL(_HISTORY_BOUNDS)
                )
            )
            # Unnamed: PostgreSQL picks a name that fits its 63-byte limit.
            cur.execute(
                sql.SQL('CREATE UNIQUE INDEX ON {} ("user", id) WHERE _valid_to IS NULL').format(
                    Q(name)
                )
            )
            return
        have = {c for c, _ in self._typed_columns(cur, name)}
        for column, sql_type in columns:
            if column not in have:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        Q(name), Q(column), sql.SQL(sql_type)
                    )
                )

    def _has_history_table(self, cur: Cursor, table: str) -> bool:
        return self._relation_kind(cur, history_table(table)) == "r"

    def _versioned_columns(self, cur: Cursor, table: str) -> list[str]:
        """The columns a version copies from the mirror row, ``user`` and ``id`` aside."""
        skip = {"user", "id", *VERSION_COLUMNS}
        return [c for c, _ in self._typed_columns(cur, history_table(table)) if c not in skip]

    # ---- versions, inside the page's transaction

    def _versions_after_write(
        self, cur: Cursor, user: str, table: str, ids: Sequence[int], now: str
    ) -> int:
        """Apply ``on_stored`` to the live rows of ``ids`` just written; versions opened."""
        if not ids:
            return 0
        h, t = Q(history_table(table)), Q(table)
        columns = self._versioned_columns(cur, table)
        same = sql.SQL(" AND ").join(
            sql.SQL("t.{0} IS NOT DISTINCT FROM h.{0}").format(Q(c)) for c in columns
        )
        # The latest version of each id by the primary key, one index probe per id.
        rows = cur.execute(
            sql.SQL(
                "SELECT t.id, t._write_date, h._version, h._valid_from, h._valid_to, {same} "
                "FROM unnest(%s::bigint[]) AS j(id) "
                'JOIN {t} AS t ON t."user" = %s AND t.id = j.id AND t._deleted_at IS NULL '
                "LEFT JOIN LATERAL (SELECT * FROM {h} AS v "
                'WHERE v."user" = t."user" AND v.id = t.id ORDER BY v._version DESC LIMIT 1) '
                "AS h ON true"
            ).format(same=same, t=t, h=h),
            (list(ids), user),
        ).fetchall()
        at = history_time(now)
        closes: list[tuple[int, int, str]] = []
        opens: list[tuple[int, int, str]] = []
        for rid, write_date, number, valid_from, valid_to, is_same in rows:
            latest = None if number is None else Latest(number, valid_from, valid_to, bool(is_same))
            new = on_stored(latest, write_date, at)
            if new is None:
                continue
            if new.closes:
                closes.append((rid, new.number - 1, new.valid_from))
            opens.append((rid, new.number, new.valid_from))
        if closes:
            cur.execute(
                sql.SQL(
                    "UPDATE {h} AS h SET _valid_to = c.at FROM "
                    "unnest(%s::bigint[], %s::integer[], %s::timestamp[]) AS c(id, n, at) "
                    'WHERE h."user" = %s AND h.id = c.id AND h._version = c.n'
                ).format(h=h),
                ([c[0] for c in closes], [c[1] for c in closes], [c[2] for c in closes], user),
            )
        if opens:
            names = sql.SQL(", ").join(Q(c) for c in ["user", "id", *columns])
            taken = sql.SQL(", ").join(
                sql.SQL("t.{}").format(Q(c)) for c in ["user", "id", *columns]
            )
            cur.execute(
                sql.SQL(
                    "INSERT INTO {h} ({names}, _version, _valid_from, _valid_to) "
                    "SELECT {taken}, o.n, o.at, NULL FROM "
                    "unnest(%s::bigint[], %s::integer[], %s::timestamp[]) AS o(id, n, at) "
                    'JOIN {t} AS t ON t."user" = %s AND t.id = o.id'
                ).format(h=h, names=names, taken=taken, t=t),
                ([o[0] for o in opens], [o[1] for o in opens], [o[2] for o in opens], user),
            )
        return len(opens)

    def _versions_after_gone(
        self, cur: Cursor, user: str, table: str, *, after: int, hi_id: int | None, now: str
    ) -> None:
        """Close the open versions of ids in ``(after, hi_id]`` whose row is gone or marked
        deleted: at the time it was marked, else ``now``."""
        h, t = Q(history_table(table)), Q(table)
        bound = sql.SQL("" if hi_id is None else " AND h.id <= %s")
        params: list[Any] = [user, after] + ([] if hi_id is None else [hi_id])
        rows = cur.execute(
            sql.SQL(
                "SELECT h.id, h._version, h._valid_from, t._deleted_at FROM {h} AS h "
                'LEFT JOIN {t} AS t ON t."user" = h."user" AND t.id = h.id '
                'WHERE h."user" = %s AND h._valid_to IS NULL AND h.id > %s{bound} '
                "AND (t.id IS NULL OR t._deleted_at IS NOT NULL)"
            ).format(h=h, t=t, bound=bound),
            params,
        ).fetchall()
        if not rows:
            return
        at = history_time(now)
        ends = [
            closed_at(valid_from, history_time(instant_text(deleted)) if deleted else at)
            for _, _, valid_from, deleted in rows
        ]
        cur.execute(
            sql.SQL(
                "UPDATE {h} AS h SET _valid_to = c.at FROM "
                "unnest(%s::bigint[], %s::integer[], %s::timestamp[]) AS c(id, n, at) "
                'WHERE h."user" = %s AND h.id = c.id AND h._version = c.n'
            ).format(h=h),
            ([r[0] for r in rows], [r[1] for r in rows], ends, user),
        )

    def _align_history(self, cur: Cursor, user: str, table: str, now: str) -> int:
        """Make ``user``'s history in ``table`` agree with the mirror; versions opened."""
        opened = last = 0
        while True:
            ids = [
                int(r[0])
                for r in cur.execute(
                    sql.SQL(
                        'SELECT id FROM {} WHERE "user" = %s AND id > %s '
                        "AND _deleted_at IS NULL ORDER BY id LIMIT %s"
                    ).format(Q(table)),
                    (user, last, _CHUNK),
                )
            ]
            if not ids:
                break
            opened += self._versions_after_write(cur, user, table, ids, now)
            last = ids[-1]
        self._versions_after_gone(cur, user, table, after=0, hi_id=None, now=now)
        return opened

    def _clear_history(self, cur: Cursor, user: str, tables: Sequence[str]) -> int:
        """Delete ``user``'s versions in the history of ``tables`` and forget its switches."""
        versions = 0
        for table in tables:
            if self._has_history_table(cur, table):
                cur.execute(
                    sql.SQL('DELETE FROM {} WHERE "user" = %s').format(Q(history_table(table))),
                    (user,),
                )
                versions += cur.rowcount
        cur.execute(
            'DELETE FROM _odoosync_history WHERE "user" = %s AND table_name = ANY(%s)',
            (user, list(tables)),
        )
        return versions

"""The SQLite backend's history tables: every version of a record, kept with the page.

``<table>_history`` has the mirror table's columns (without ``_synced_at`` and
``_deleted_at``) plus ``_version``, ``_valid_from`` and ``_valid_to``; primary key
``(user, id, _version)``, and a unique index on ``(user, id)`` over the open versions. Which
users keep history in which table is state (``_odoosync_history``), read inside each page's
transaction, so the engine never carries the setting and a page is written with the history
its commit finds. The rules are ``mirror.history``'s; here is only how SQLite applies them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlite_utils.db import quote_identifier as q

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
from odoo_sync_cli.mirror.sqlite.connection import SqliteBase, translated
from odoo_sync_cli.models import utc_now

# Live ids per statement when history starts over a whole table.
_CHUNK = 1000


class SqliteHistory(SqliteBase):
    """History tables of one SQLite file; every write inside a transaction the caller holds."""

    # ---- switching it on and off (the engine, at prepare)

    @translated
    def start_history(self, user: str, table: str) -> int | None:
        """Keep history of ``user``'s rows in ``table`` from now on, starting from the mirror's
        current state; the number of versions opened, or None when it was on already."""
        if self._history_on(user, table):
            return None  # the usual case, read without taking the write lock
        with self._write():
            if self._history_on(user, table):
                return None
            self._ensure_history_table(table)
            opened = self._align_history(user, table, utc_now())
            self.conn.execute(
                "INSERT INTO _odoosync_history (user, table_name, since) VALUES (?, ?, ?)",
                (user, table, utc_now()),
            )
        return opened

    @translated
    def stop_history(self, user: str, table: str) -> bool:
        """Stop keeping history of ``user``'s rows in ``table`` (the versions stay); whether it
        was on."""
        if not self._history_on(user, table):
            return False
        with self._write():
            return bool(
                self.conn.execute(
                    "DELETE FROM _odoosync_history WHERE user = ? AND table_name = ?",
                    (user, table),
                ).rowcount
            )

    def _history_on(self, user: str, table: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM _odoosync_history WHERE user = ? AND table_name = ?", (user, table)
        ).fetchone()
        return row is not None

    # ---- the table

    def _ensure_history_table(self, table: str) -> None:
        """Create ``table``'s history table, or add the columns the mirror table gained."""
        name = history_table(table)
        kind = self.conn.execute(
            "SELECT type FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()
        if (kind is not None and kind[0] != "table") or self._is_mirror_table(name):
            raise StoreError(
                f"cannot keep the history of {table}: the name {name} is taken by a mirror "
                "table or a view",
                hint="Turn history off for that module (`history = false` in its settings).",
            )
        columns = [
            (r[1], r[2])
            for r in self.conn.execute(f"PRAGMA table_info({q(table)})")
            if r[1] not in UNVERSIONED_COLUMNS
        ]
        if kind is None:
            defs = [f"{q(c)} {t}" for c, t in columns]
            defs += ["_version INTEGER NOT NULL", "_valid_from TEXT NOT NULL", "_valid_to TEXT"]
            self.conn.execute(
                f"CREATE TABLE {q(name)} ({', '.join(defs)}, PRIMARY KEY (user, id, _version))"
            )
            self.conn.execute(
                f"CREATE UNIQUE INDEX {q(name + '_open')} ON {q(name)} (user, id) "
                "WHERE _valid_to IS NULL"
            )
            return
        have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({q(name)})")}
        for column, sql_type in columns:
            if column not in have:
                self.conn.execute(f"ALTER TABLE {q(name)} ADD COLUMN {q(column)} {sql_type}")

    def _is_mirror_table(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM _odoosync_fields WHERE table_name = ? LIMIT 1", (name,)
        ).fetchone()
        return row is not None

    def _has_history_table(self, table: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (history_table(table),),
        ).fetchone()
        return row is not None

    def _versioned_columns(self, table: str) -> list[str]:
        """The columns a version copies from the mirror row, ``user`` and ``id`` aside."""
        skip = {"user", "id", *VERSION_COLUMNS}
        return [
            r[1]
            for r in self.conn.execute(f"PRAGMA table_info({q(history_table(table))})")
            if r[1] not in skip
        ]

    # ---- versions, inside the page's transaction

    def _versions_after_write(self, user: str, table: str, ids: Sequence[int], now: str) -> int:
        """Apply ``on_stored`` to the live rows of ``ids`` just written; versions opened."""
        if not ids:
            return 0
        h, t = q(history_table(table)), q(table)
        columns = self._versioned_columns(table)
        same = " AND ".join(f"t.{q(c)} IS h.{q(c)}" for c in columns)
        # CROSS JOIN keeps the page's ids outside: each is one lookup by primary key, where the
        # planner would otherwise walk every row of the user for each id.
        rows = self.conn.execute(
            f"""SELECT t.id, t._write_date, h._version, h._valid_from, h._valid_to, {same}
                FROM json_each(?) AS j
                CROSS JOIN {t} AS t ON t.user = ? AND t.id = j.value AND t._deleted_at IS NULL
                LEFT JOIN {h} AS h ON h.user = t.user AND h.id = t.id AND h._version =
                    (SELECT max(_version) FROM {h} WHERE user = t.user AND id = t.id)""",
            (json.dumps(list(ids)), user),
        ).fetchall()
        at = history_time(now)
        closes: list[tuple[Any, ...]] = []
        opens: list[tuple[Any, ...]] = []
        for rid, write_date, number, valid_from, valid_to, is_same in rows:
            latest = None if number is None else Latest(number, valid_from, valid_to, bool(is_same))
            new = on_stored(latest, write_date, at)
            if new is None:
                continue
            if new.closes:
                closes.append((new.valid_from, user, rid, new.number - 1))
            opens.append((new.number, new.valid_from, user, rid))
        self.conn.executemany(
            f"UPDATE {h} SET _valid_to = ? WHERE user = ? AND id = ? AND _version = ?", closes
        )
        names = ", ".join(q(c) for c in ["user", "id", *columns])
        self.conn.executemany(
            f"INSERT INTO {h} ({names}, _version, _valid_from, _valid_to) "
            f"SELECT {names}, ?, ?, NULL FROM {t} WHERE user = ? AND id = ?",
            opens,
        )
        return len(opens)

    def _versions_after_gone(
        self, user: str, table: str, *, after: int, hi_id: int | None, now: str
    ) -> None:
        """Close the open versions of ids in ``(after, hi_id]`` whose row is gone or marked
        deleted: at the time it was marked, else ``now``."""
        h, t = q(history_table(table)), q(table)
        bound = "" if hi_id is None else " AND h.id <= ?"
        params: list[Any] = [user, after] + ([] if hi_id is None else [hi_id])
        rows = self.conn.execute(
            f"""SELECT h.id, h._version, h._valid_from, t._deleted_at FROM {h} AS h
                LEFT JOIN {t} AS t ON t.user = h.user AND t.id = h.id
                WHERE h.user = ? AND h._valid_to IS NULL AND h.id > ?{bound}
                  AND (t.id IS NULL OR t._deleted_at IS NOT NULL)""",
            params,
        ).fetchall()
        at = history_time(now)
        self.conn.executemany(
            f"UPDATE {h} SET _valid_to = ? WHERE user = ? AND id = ? AND _version = ?",
            [
                (closed_at(valid_from, history_time(deleted) if deleted else at), user, rid, n)
                for rid, n, valid_from, deleted in rows
            ],
        )

    def _align_history(self, user: str, table: str, now: str) -> int:
        """Make ``user``'s history in ``table`` agree with the mirror; versions opened."""
        opened = cursor = 0
        while True:
            ids = [
                int(r[0])
                for r in self.conn.execute(
                    f"SELECT id FROM {q(table)} WHERE user = ? AND id > ? "
                    "AND _deleted_at IS NULL ORDER BY id LIMIT ?",
                    (user, cursor, _CHUNK),
                )
            ]
            if not ids:
                break
            opened += self._versions_after_write(user, table, ids, now)
            cursor = ids[-1]
        self._versions_after_gone(user, table, after=0, hi_id=None, now=now)
        return opened

    def _clear_history(self, user: str, tables: Sequence[str]) -> int:
        """Delete ``user``'s versions in the history of ``tables`` and forget its switches."""
        versions = 0
        for table in tables:
            if self._has_history_table(table):
                versions += self.conn.execute(
                    f"DELETE FROM {q(history_table(table))} WHERE user = ?", (user,)
                ).rowcount
            self.conn.execute(
                "DELETE FROM _odoosync_history WHERE user = ? AND table_name = ?", (user, table)
            )
        return versions

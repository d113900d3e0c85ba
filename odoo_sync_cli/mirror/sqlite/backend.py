"""The SQLite backend: one file holds the sync state and the mirror tables.

:class:`SqliteMirror` joins :class:`~odoo_sync_cli.mirror.sqlite.state.SqliteState` and
:class:`~odoo_sync_cli.mirror.sqlite.sink.SqliteSink` over one connection and holds what spans
both: a page and its cursor in one transaction, guarded by the user's lease and by the cursor
the page was read from, so a process killed at any instant leaves either both or neither, and a
second process can never commit a page of a batch another one works on. A page's rows are
encoded before the transaction begins: the file's one writer is held for SQL only.
"""

from __future__ import annotations

from pathlib import Path

from odoo_sync_cli.mirror.base import Page, ReconcilePage, module_progress
from odoo_sync_cli.mirror.sqlite.connection import connect, translated
from odoo_sync_cli.mirror.sqlite.migrations import migrate
from odoo_sync_cli.mirror.sqlite.sink import SqliteSink, encode_rows
from odoo_sync_cli.mirror.sqlite.state import SqliteState
from odoo_sync_cli.models import IDLE, ClearCounts, ModuleProgress, utc_now


class SqliteMirror(SqliteState, SqliteSink):
    """The odoosync database in one SQLite file: open with :meth:`open`, use as a context
    manager."""

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> SqliteMirror:
        """Open the database at ``path``; only ``create=True`` may make a new file."""
        path = path.expanduser()
        conn = connect(path, create=create)
        mirror = cls(path, conn)
        try:
            mirror.check_ours(create=create)
            mirror.configure()
            migrate(mirror, create=create)
        except BaseException:
            conn.close()
            raise
        return mirror

    # ---- pages: the rows and the cursor in one transaction

    @translated
    def write_page(self, page: Page) -> None:
        """Upsert a page and move the batch cursor, in one transaction.

        The update of the batch only applies if its cursor is still the one the page was read
        from, so a page can never be stored twice or over a newer one.
        """
        now = utc_now()
        user, records = page.lease.user, page.records
        rows = encode_rows(user, page.spec, records, now)
        with self._write():
            self._renew_lease(user, page.lease.owner, page.lease.ttl)
            self._write_rows(rows, now)
            self._advance(page.batch, page.cursor, len(records), page.done, now)

    @translated
    def reconcile_page(self, page: ReconcilePage) -> int:
        """Mark gone the mirror ids in ``(batch.cursor, hi_id]`` the server did not list, store
        the records that were missing (counted in the batch's ``restored``), and move the
        cursor; one transaction. Returns how many were marked (or deleted)."""
        now = utc_now()
        user, batch, records = page.lease.user, page.batch, page.records
        rows = encode_rows(user, page.spec, records, now)
        with self._write():
            self._renew_lease(user, page.lease.owner, page.lease.ttl)
            gone = self._mark_gone(
                user,
                page.spec,
                after=batch.cursor,
                hi_id=page.hi_id,
                listed_ids=page.server_ids,
                now=now,
                hard_delete=page.hard_delete,
            )
            self._write_rows(rows, now)
            self._advance(batch, page.cursor, len(page.server_ids), page.done, now)
            self._add_restored(batch, len(records))
        return gone

    # ---- what spans the state and the tables

    @translated
    def progress(self, user: str) -> list[ModuleProgress]:
        """Per module: batches and records of the current plan, and how many rows are mirrored."""
        return module_progress(
            self.module_rows(user),
            self._batch_totals(user),
            lambda table: self.mirrored_count(user, table),
        )

    @translated
    def clear(
        self, user: str, *, module: str | None = None, table: str | None = None
    ) -> ClearCounts:
        """Delete a user's mirrored records and batches: all, or one module's (and its table).

        Clearing everything resets the user to ``idle``; clearing one module forgets its
        high-water mark so its next sync is a full one.
        """
        with self._write():
            if module is None:
                counts = self._clear_rows(user, self._mirror_tables())
                counts.batches = self._forget_plans(user)
                self.conn.execute(
                    "UPDATE _odoosync_users SET status = ?, last_error = NULL, "
                    "last_error_at = NULL, prepared_at = NULL WHERE name = ?",
                    (IDLE, user),
                )
                return counts
            counts = self._clear_rows(user, [table] if table else [])
            counts.batches = self._forget_plans(user, module)
            return counts

    @translated
    def remove_user(self, name: str) -> ClearCounts:
        """Delete a user, its state and its mirrored records."""
        with self._write():
            counts = self._clear_rows(name, self._mirror_tables())
            counts.batches = self._forget_plans(name)
            self.conn.execute("DELETE FROM _odoosync_users WHERE name = ?", (name,))
        return counts

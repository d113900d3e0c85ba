"""The PostgreSQL backend: a schema of one database holds the sync state and the mirror tables.

:class:`PgMirror` joins :class:`~odoo_sync_cli.mirror.postgres.state.PgState` and
:class:`~odoo_sync_cli.mirror.postgres.sink.PgSink` over one connection and holds what spans
both: a page and its cursor in one transaction, guarded by the user's lease and by the cursor
the page was read from. When the connection is lost with the commit in flight (the server
restarted), the page is committed again on a new connection; if the first commit went
through, the batch already stands where the page puts it and nothing is written twice.
"""

from __future__ import annotations

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.base import Page, ReconcilePage, module_progress
from odoo_sync_cli.mirror.postgres.connection import Target, connect, translated
from odoo_sync_cli.mirror.postgres.migrations import migrate
from odoo_sync_cli.mirror.postgres.sink import PgSink
from odoo_sync_cli.mirror.postgres.state import PgState
from odoo_sync_cli.models import IDLE, ClearCounts, ModuleProgress, utc_now

# Kinds of relation pg_class lists that count as a table someone keeps in a schema.
_TABLE_KINDS = ("r", "p", "v", "m", "f")


class PgMirror(PgState, PgSink):
    """An odoosync mirror in a PostgreSQL schema: open with :meth:`open`, use as a context
    manager."""

    @classmethod
    def open(cls, url: str, *, schema: str, create: bool = False) -> PgMirror:
        """Open the mirror in ``schema``; only ``create=True`` may make it (schema included)."""
        target = Target(url, schema)
        mirror = cls(target, connect(target))
        try:
            mirror.check_ours(create=create)
            migrate(mirror, create=create)
        except BaseException:
            mirror.conn.close()
            raise
        return mirror

    @classmethod
    def exists(cls, url: str, *, schema: str) -> bool:
        """Whether ``schema`` holds an odoosync mirror."""
        target = Target(url, schema)
        mirror = cls(target, connect(target))
        try:
            return "_odoosync_migrations" in mirror._tables()
        finally:
            mirror.conn.close()

    @translated
    def _tables(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = ANY(%s) ORDER BY 1",
            (self.schema, list(_TABLE_KINDS)),
        )
        return [r[0] for r in rows]

    def check_ours(self, *, create: bool) -> None:
        """Refuse, before anything is written, a schema that holds another program's tables."""
        tables = self._tables()
        if "_odoosync_migrations" in tables or (create and not tables):
            self._check_usage()
            return
        where = self.target.shown
        if not tables:
            raise StoreError(
                f"there is no odoosync mirror at {where}",
                hint="Add a user first (`odoosync user add ...`), or point --db / ODOOSYNC_DB "
                "and pg_schema (ODOOSYNC_PG_SCHEMA) at the mirror.",
            )
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"the schema at {where} holds another program's tables ({shown}), not an odoosync "
            "mirror",
            hint="Give odoosync a schema of its own (pg_schema, or ODOOSYNC_PG_SCHEMA); it "
            "leaves this one alone.",
        )

    @translated
    def _check_usage(self) -> None:
        """Say plainly that the role may not use the schema (it would look empty to it)."""
        row = self.conn.execute(
            "SELECT has_schema_privilege(n.oid, 'USAGE') FROM pg_namespace n WHERE nspname = %s",
            (self.schema,),
        ).fetchone()
        if row is not None and not row[0]:
            raise StoreError(
                f"no permission on the mirror at {self.target.shown} (permission denied for "
                f"schema {self.schema})",
                hint=f"Grant the role what odoosync needs: `GRANT USAGE, CREATE ON SCHEMA "
                f"{self.schema} TO role` and rights on its tables.",
            )

    # ---- pages: the rows and the cursor in one transaction

    @translated
    def write_page(self, page: Page) -> None:
        """Upsert a page and move the batch cursor, in one transaction.

        The update of the batch only applies if its cursor is still the one the page was read
        from, so a page can never be stored twice or over a newer one.
        """
        now = utc_now()
        user, records = page.lease.user, page.records
        stage = self._stage(page.spec)
        with self._tx() as cur:
            self._renew_lease(cur, user, page.lease.owner, page.lease.ttl)
            # Rows first: if the first commit of this page went through before its connection
            # was lost, they are the same rows again and the batch is left as it stands.
            self._write_rows(cur, user, page.spec, records, now, stage)
            self._advance(cur, page.batch, page.cursor, len(records), page.done, now)

    @translated
    def reconcile_page(self, page: ReconcilePage) -> int:
        """Mark gone the mirror ids in ``(batch.cursor, hi_id]`` the server did not list, store
        the records that were missing (counted in the batch's ``restored``), and move the
        cursor; one transaction. Returns how many were marked (or deleted)."""
        now = utc_now()
        user, batch, records = page.lease.user, page.batch, page.records
        stage = self._stage(page.spec)
        with self._tx() as cur:
            self._renew_lease(cur, user, page.lease.owner, page.lease.ttl)
            gone = self._mark_gone(
                cur,
                user,
                page.spec,
                after=batch.cursor,
                hi_id=page.hi_id,
                listed_ids=page.server_ids,
                now=now,
                hard_delete=page.hard_delete,
            )
            self._write_rows(cur, user, page.spec, records, now, stage)
            if self._advance(cur, batch, page.cursor, len(page.server_ids), page.done, now):
                self._add_restored(cur, batch, len(records))
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

    @translated(retry=False)
    def clear(
        self, user: str, *, module: str | None = None, table: str | None = None
    ) -> ClearCounts:
        """Delete a user's mirrored records and batches: all, or one module's (and its table).

        Clearing everything resets the user to ``idle``; clearing one module forgets its
        high-water mark so its next sync is a full one.
        """
        with self._tx() as cur:
            if module is None:
                counts = self._clear_rows(cur, user, self._mirror_tables())
                counts.batches = self._forget_plans(cur, user)
                cur.execute(
                    "UPDATE _odoosync_users SET status = %s, last_error = NULL, "
                    "last_error_at = NULL, prepared_at = NULL WHERE name = %s",
                    (IDLE, user),
                )
                return counts
            counts = self._clear_rows(cur, user, [table] if table else [])
            counts.batches = self._forget_plans(cur, user, module)
            return counts

    @translated(retry=False)
    def remove_user(self, name: str) -> ClearCounts:
        """Delete a user, its state and its mirrored records."""
        with self._tx() as cur:
            counts = self._clear_rows(cur, name, self._mirror_tables())
            counts.batches = self._forget_plans(cur, name)
            cur.execute("DELETE FROM _odoosync_users WHERE name = %s", (name,))
        return counts

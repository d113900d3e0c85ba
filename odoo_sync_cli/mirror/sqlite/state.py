"""The SQLite backend's sync state: users, leases, plans, batches, secrets' locations.

Users keep where their secret is (credentials.py), never the secret; databases written before
that are cleaned on upgrade (:meth:`SqliteState.plain_secrets`, :meth:`SqliteState.scrub`). A
batch's cursor is checked against its bounds each time it is read back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from odoo_sync_cli.domain import CursorError, validate_cursor
from odoo_sync_cli.errors import LeaseError, StoreError
from odoo_sync_cli.mirror.base import owner_alive, owner_where
from odoo_sync_cli.mirror.sqlite.connection import SqliteBase, describe, translated
from odoo_sync_cli.mirror.sqlite.migrations import SCRUB_PENDING, drop_column
from odoo_sync_cli.models import (
    BATCH_DONE,
    DONE,
    FAILED,
    IN_PROGRESS,
    NOT_STARTED,
    RECONCILE,
    RUNNING,
    USER_STATUSES,
    Batch,
    ModulePlan,
    ModuleRow,
    PlannedBatch,
    SecretLocation,
    UserRecord,
    span_seconds,
    utc_now,
)


class SqliteState(SqliteBase):
    """odoosync's own tables in one SQLite file (see :class:`odoo_sync_cli.mirror.SyncState`)."""

    # ---- the database

    @translated
    def mirror_id(self) -> str:
        """This database's random id: it keeps two mirrors' secret entries apart."""
        value = self._meta("mirror_id")
        if value is None:
            raise StoreError(f"{self.path} has no mirror id (damaged _odoosync_meta table)")
        return value

    # ---- secrets written in clear by odoosync before m003

    def _has_plain_column(self) -> bool:
        return any(
            r[1] == "secret" for r in self.conn.execute("PRAGMA table_info(_odoosync_users)")
        )

    @translated
    def plain_secrets(self) -> list[tuple[str, SecretStr]]:
        """Users whose secret an older odoosync stored in clear, to be moved out now."""
        if not self._has_plain_column():
            return []
        rows = self.conn.execute(
            "SELECT name, secret FROM _odoosync_users WHERE secret IS NOT NULL AND secret != '' "
            "ORDER BY name"
        ).fetchall()
        return [(str(name), SecretStr(str(secret))) for name, secret in rows]

    @translated
    def drop_plain_secrets(self) -> None:
        """Drop the emptied clear-text column; :meth:`scrub` then rewrites the file."""
        self.conn.execute("PRAGMA secure_delete = ON")
        with self._write():
            if not self._has_plain_column():
                return
            left = self.conn.execute(
                "SELECT name FROM _odoosync_users WHERE secret IS NOT NULL AND secret != ''"
            ).fetchall()
            if left:
                raise StoreError(
                    f"{self.path}: the secrets of {', '.join(r[0] for r in left)} are still in "
                    "the database",
                    hint="Run the command again; odoosync moves them out first.",
                )
            drop_column(self.conn, "secret")
            self._set_meta(SCRUB_PENDING, "1")

    @translated
    def scrub_pending(self) -> bool:
        return self._meta(SCRUB_PENDING) is not None

    def scrub(self) -> bool:
        """Rewrite the file so no freed page keeps old bytes (a secret once stored in clear).

        ``secure_delete`` zeroes what is freed from now on; ``VACUUM`` rebuilds every page; the
        ``TRUNCATE`` checkpoint copies the rebuilt pages over the old ones and empties the WAL.
        A reader elsewhere can hold the checkpoint back: then the work is left marked pending
        and the next open tries again. True when done.
        """
        try:
            self.conn.execute("PRAGMA secure_delete = ON")
            self.conn.execute("VACUUM")
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                return False
            with self._write():
                self._set_meta(SCRUB_PENDING, None)
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                return False
            raise describe(exc, self.path) from exc
        finally:
            self.conn.execute("PRAGMA secure_delete = OFF")
        return not busy

    def applied_migrations(self) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT name FROM _odoosync_migrations ORDER BY name")
        ]

    # ---- users

    @translated
    def add_user(
        self,
        *,
        name: str,
        url: str,
        database: str,
        login: str,
        protocol: str,
        location: SecretLocation,
        server_version: str | None = None,
        protocol_used: str | None = None,
        insecure: bool = False,
    ) -> None:
        with self._write():
            if self._user_exists(name):
                raise StoreError(
                    f"user '{name}' already exists",
                    hint=f"Pick another name, or replace its secret with "
                    f"`odoosync user set-secret {name}`.",
                )
            self.conn.execute(
                """INSERT INTO _odoosync_users (name, url, database, login, protocol,
                   secret_store, secret_ref, status, server_version, protocol_used, created_at,
                   insecure)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    name,
                    url,
                    database,
                    login,
                    protocol,
                    location.store,
                    location.ref,
                    NOT_STARTED,
                    server_version,
                    protocol_used,
                    utc_now(),
                    int(insecure),
                ),
            )

    def _user_exists(self, name: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM _odoosync_users WHERE name = ?", (name,)).fetchone()
        return row is not None

    @translated
    def get_user(self, name: str) -> UserRecord | None:
        cur = self.conn.execute("SELECT * FROM _odoosync_users WHERE name = ?", (name,))
        row = cur.fetchone()
        return None if row is None else _user(cur, row)

    @translated
    def list_users(self) -> list[UserRecord]:
        cur = self.conn.execute("SELECT * FROM _odoosync_users ORDER BY name")
        return [_user(cur, row) for row in cur.fetchall()]

    @translated
    def set_secret_location(self, name: str, location: SecretLocation) -> None:
        """Record where a user's secret is now; a clear-text one left by an old version goes."""
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET secret_store = ?, secret_ref = ? WHERE name = ?",
                (location.store, location.ref, name),
            )
            if self._has_plain_column():
                self.conn.execute(
                    "UPDATE _odoosync_users SET secret = NULL WHERE name = ?", (name,)
                )

    @translated
    def set_server_info(self, name: str, *, server_version: str, protocol_used: str) -> None:
        """Record the server's version and protocol; what the user holds already is not
        written again (each prepare tells it, and SQLite has one writer)."""
        row = self.conn.execute(
            "SELECT server_version, protocol_used FROM _odoosync_users WHERE name = ?", (name,)
        ).fetchone()
        if row is not None and tuple(row) == (server_version, protocol_used):
            return
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET server_version = ?, protocol_used = ? WHERE name = ?",
                (server_version, protocol_used, name),
            )

    @translated
    def set_status(self, name: str, status: str, *, error: str | None = None) -> None:
        """Set a user's sync status; a failure records its message and time."""
        if status not in USER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._write():
            if status == FAILED:
                self.conn.execute(
                    "UPDATE _odoosync_users SET status = ?, last_error = ?, last_error_at = ? "
                    "WHERE name = ?",
                    (status, error, utc_now(), name),
                )
            else:
                self.conn.execute(
                    "UPDATE _odoosync_users SET status = ? WHERE name = ?", (status, name)
                )

    @translated
    def record_error(self, name: str, error: str) -> None:
        """Note an error without changing the status (a module skipped, a retry that passed)."""
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET last_error = ?, last_error_at = ? WHERE name = ?",
                (error, utc_now(), name),
            )

    # ---- leases

    @translated
    def acquire_lease(self, name: str, owner: str, ttl: float) -> None:
        """Take the user's lease, unless a live process holds an unexpired one."""
        now = time.time()
        with self._write():
            row = self.conn.execute(
                "SELECT lease_owner, lease_until FROM _odoosync_users WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise StoreError(f"user '{name}' does not exist")
            holder, until = row
            if (
                holder
                and holder != owner
                and until is not None
                and until > now
                and owner_alive(holder)
            ):
                host, pid = owner_where(holder)
                raise LeaseError(
                    f"user '{name}' is being worked on by another odoosync process "
                    f"(pid {pid} on {host})",
                    hint="Wait for it to finish, or stop it; its lease ends by itself if it dies.",
                )
            self.conn.execute(
                "UPDATE _odoosync_users SET lease_owner = ?, lease_until = ? WHERE name = ?",
                (owner, now + ttl, name),
            )

    @translated
    def release_lease(self, name: str, owner: str) -> None:
        row = self.conn.execute(
            "SELECT 1 FROM _odoosync_users WHERE name = ? AND lease_owner = ?", (name, owner)
        ).fetchone()
        if row is None:
            return  # released already (with the last commit of the turn), or taken over
        with self._write():
            self._release(name, owner)

    def _release(self, name: str, owner: str) -> None:
        self.conn.execute(
            "UPDATE _odoosync_users SET lease_owner = NULL, lease_until = NULL "
            "WHERE name = ? AND lease_owner = ?",
            (name, owner),
        )

    @translated
    def holders(self) -> dict[str, str]:
        """Unexpired leases whose process may still run (on another machine: until expiry)."""
        rows = self.conn.execute(
            "SELECT name, lease_owner FROM _odoosync_users "
            "WHERE lease_owner IS NOT NULL AND lease_until > ?",
            (time.time(),),
        ).fetchall()
        return {name: owner for name, owner in rows if owner_alive(owner)}

    def _renew_lease(self, name: str, owner: str, ttl: float) -> None:
        cur = self.conn.execute(
            "UPDATE _odoosync_users SET lease_until = ? WHERE name = ? AND lease_owner = ?",
            (time.time() + ttl, name, owner),
        )
        if cur.rowcount != 1:
            raise LeaseError(
                f"user '{name}' was taken over by another process; this page was not stored",
                hint="Only one process may sync a user at a time.",
            )

    # ---- modules and plans

    @translated
    def module_rows(self, user: str) -> list[ModuleRow]:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_modules WHERE user = ? ORDER BY rowid", (user,)
        )
        return [_module_row(cur, row) for row in cur.fetchall()]

    @translated
    def module_row(self, user: str, module: str) -> ModuleRow | None:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_modules WHERE user = ? AND module = ?", (user, module)
        )
        row = cur.fetchone()
        return None if row is None else _module_row(cur, row)

    @translated
    def save_plan(
        self,
        user: str,
        owner: str,
        ttl: float,
        modules: Sequence[ModulePlan],
        batches: Sequence[PlannedBatch],
        *,
        release: bool = False,
    ) -> None:
        """Replace the user's batches with a new plan and mark it ``in_progress``, atomically;
        with ``release`` the lease is handed back in the same transaction."""
        now = utc_now()
        with self._write():
            self._renew_lease(user, owner, ttl)
            self.conn.execute("DELETE FROM _odoosync_batches WHERE user = ?", (user,))
            self.conn.execute("UPDATE _odoosync_modules SET in_plan = 0 WHERE user = ?", (user,))
            for plan in modules:
                self.conn.execute(
                    """INSERT INTO _odoosync_modules (user, module, model, table_name, fields,
                           domain, state, note, candidate, last_count, names, in_plan)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                       ON CONFLICT (user, module) DO UPDATE SET
                           model = excluded.model, table_name = excluded.table_name,
                           fields = excluded.fields, domain = excluded.domain,
                           state = excluded.state, note = excluded.note,
                           candidate = excluded.candidate, last_count = excluded.last_count,
                           names = excluded.names, in_plan = 1""",
                    (
                        user,
                        plan.module,
                        plan.model,
                        plan.table_name,
                        json.dumps(list(plan.fields)),
                        json.dumps(list(plan.domain)),
                        plan.state,
                        plan.note,
                        plan.candidate,
                        plan.count,
                        json.dumps(list(plan.names)),
                    ),
                )
            self.conn.executemany(
                """INSERT INTO _odoosync_batches (user, module, model, seq, kind, lo_id, hi_id,
                       window_lo, cursor, expected, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        user,
                        b.module,
                        b.model,
                        seq,
                        b.kind,
                        b.lo_id,
                        b.hi_id,
                        b.window_lo,
                        b.lo_id,
                        b.expected,
                        now,
                    )
                    for seq, b in enumerate(batches, start=1)
                ],
            )
            self.conn.execute(
                "UPDATE _odoosync_users SET status = ?, prepared_at = ?, last_error = NULL, "
                "last_error_at = NULL WHERE name = ?",
                (IN_PROGRESS, now, user),
            )
            if release:
                self._release(user, owner)

    @translated
    def finish_sync(self, user: str, owner: str, ttl: float, *, release: bool = False) -> None:
        """All batches done: move each planned module's high-water mark; the user is ``done``.
        With ``release`` the lease is handed back in the same transaction."""
        now = utc_now()
        with self._write():
            self._renew_lease(user, owner, ttl)
            open_batches = self.conn.execute(
                "SELECT count(*) FROM _odoosync_batches WHERE user = ? AND status != 'done'",
                (user,),
            ).fetchone()[0]
            if open_batches:
                raise StoreError(f"user '{user}' still has {open_batches} unfinished batch(es)")
            reconciled = self.conn.execute(
                "SELECT module, started_at, finished_at FROM _odoosync_batches "
                "WHERE user = ? AND kind = ? AND status = 'done'",
                (user, RECONCILE),
            ).fetchall()
            self.conn.executemany(
                "UPDATE _odoosync_modules SET reconciled_at = ?, reconcile_seconds = ? "
                "WHERE user = ? AND module = ? AND in_plan = 1",
                [(ended, span_seconds(began, ended), user, m) for m, began, ended in reconciled],
            )
            self.conn.execute(
                """UPDATE _odoosync_modules SET
                       high_water = coalesce(candidate, high_water), candidate = NULL,
                       syncs = syncs + 1, last_synced_at = ?, in_plan = 0
                   WHERE user = ? AND in_plan = 1 AND state = 'ok'""",
                (now, user),
            )
            self.conn.execute(
                "UPDATE _odoosync_users SET status = ?, last_success = ?, last_error = NULL, "
                "last_error_at = NULL WHERE name = ?",
                (DONE, now, user),
            )
            if release:
                self._release(user, owner)

    # ---- batches

    @translated
    def batches(self, user: str) -> list[Batch]:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_batches WHERE user = ? ORDER BY seq", (user,)
        )
        return [_batch(cur, row) for row in cur.fetchall()]

    @translated
    def next_batch(self, user: str) -> Batch | None:
        """The first batch by plan order that is not done (a failed one blocks what follows)."""
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_batches WHERE user = ? AND status != 'done' "
            "ORDER BY seq LIMIT 1",
            (user,),
        )
        row = cur.fetchone()
        return None if row is None else _batch(cur, row)

    @translated
    def start_batch(self, batch_id: int, owner: str, user: str, ttl: float) -> None:
        with self._write():
            self._renew_lease(user, owner, ttl)
            self.conn.execute(
                """UPDATE _odoosync_batches SET status = 'running', attempts = attempts + 1,
                       started_at = coalesce(started_at, ?), updated_at = ?
                   WHERE id = ? AND status IN ('pending', 'running')""",
                (utc_now(), utc_now(), batch_id),
            )

    @translated
    def fail_batch(self, batch_id: int, user: str, error: str) -> None:
        """The batch failed (its cursor stays) and so did the user's sync."""
        now = utc_now()
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_batches SET status = 'failed', last_error = ?, updated_at = ? "
                "WHERE id = ?",
                (error, now, batch_id),
            )
            self.conn.execute(
                "UPDATE _odoosync_users SET status = ?, last_error = ?, last_error_at = ? "
                "WHERE name = ?",
                (FAILED, error, now, user),
            )

    @translated
    def requeue_failed(self, user: str) -> int:
        """Failed batches go back to pending with their cursor; the user is ``in_progress``."""
        with self._write():
            count = self.conn.execute(
                "UPDATE _odoosync_batches SET status = 'pending', updated_at = ? "
                "WHERE user = ? AND status IN ('failed', 'running')",
                (utc_now(), user),
            ).rowcount
            self.conn.execute(
                "UPDATE _odoosync_users SET status = ? WHERE name = ?", (IN_PROGRESS, user)
            )
        return count

    def _advance(self, batch: Batch, cursor: int, count: int, done: bool, now: str) -> None:
        cur = self.conn.execute(
            """UPDATE _odoosync_batches SET cursor = ?, synced = synced + ?, pages = pages + 1,
                   status = ?, finished_at = ?, updated_at = ?, last_error = NULL
               WHERE id = ? AND cursor = ? AND status = 'running'""",
            (
                cursor,
                count,
                BATCH_DONE if done else RUNNING,
                now if done else None,
                now,
                batch.id,
                batch.cursor,
            ),
        )
        if cur.rowcount != 1:
            raise StoreError(
                f"batch {batch.id} of user '{batch.user}' moved on while its page was read; "
                "the page was not stored",
                hint="Another process may be syncing this user; run `odoosync status`.",
            )

    def _add_restored(self, batch: Batch, count: int) -> None:
        self.conn.execute(
            "UPDATE _odoosync_batches SET restored = restored + ? WHERE id = ?",
            (count, batch.id),
        )

    def _batch_totals(self, user: str) -> dict[str, tuple[Any, ...]]:
        """Per module: batches, done, failed, records synced and expected (reconcile aside)."""
        return {
            r[0]: tuple(r)
            for r in self.conn.execute(
                """SELECT module, count(*), sum(status = 'done'), sum(status = 'failed'),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE synced END),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE expected END)
                   FROM _odoosync_batches WHERE user = ? GROUP BY module""",
                (user,),
            )
        }

    def _forget_plans(self, user: str, module: str | None = None) -> int:
        """Delete the user's batches and module states (all, or one module's); batches gone."""
        if module is None:
            batches = self.conn.execute(
                "DELETE FROM _odoosync_batches WHERE user = ?", (user,)
            ).rowcount
            self.conn.execute("DELETE FROM _odoosync_modules WHERE user = ?", (user,))
            return int(batches)
        batches = self.conn.execute(
            "DELETE FROM _odoosync_batches WHERE user = ? AND module = ?", (user, module)
        ).rowcount
        self.conn.execute(
            "DELETE FROM _odoosync_modules WHERE user = ? AND module = ?", (user, module)
        )
        return int(batches)

    @translated
    def queue(self, user: str) -> None:
        """Queue a user for a new sync: ``not_started`` is what the loop prepares."""
        self.set_status(user, NOT_STARTED)


def _dict(cur: sqlite3.Cursor, row: Sequence[Any]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def _user(cur: sqlite3.Cursor, row: Sequence[Any]) -> UserRecord:
    d = _dict(cur, row)
    # Left by SQLite before 3.35, which cannot drop them; empty, never read.
    d.pop("secret", None)
    d.pop("secret_env", None)
    d["insecure"] = bool(d.get("insecure"))
    return UserRecord(**d)


def _module_row(cur: sqlite3.Cursor, row: Sequence[Any]) -> ModuleRow:
    d = _dict(cur, row)
    d["fields"] = tuple(json.loads(d["fields"]))
    d["in_plan"] = bool(d["in_plan"])
    names = d.get("names")
    d["names"] = None if names is None else tuple(json.loads(names))
    return ModuleRow(**d)


def _batch(cur: sqlite3.Cursor, row: Sequence[Any]) -> Batch:
    d = _dict(cur, row)
    d.pop("updated_at", None)
    try:
        validate_cursor(d["cursor"], lo_id=d["lo_id"], hi_id=d["hi_id"])
    except CursorError as exc:
        raise StoreError(
            f"batch {d['seq']} ({d['module']}) of user '{d['user']}' is damaged: {exc}",
            hint=f"Plan it again with `odoosync prepare --user {d['user']} --restart`.",
        ) from exc
    return Batch(**d)

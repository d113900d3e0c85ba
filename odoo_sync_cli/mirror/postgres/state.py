"""The PostgreSQL backend's sync state: users, leases, plans and batches.

Leases are how many ``loop`` processes on many machines share the users. A process works a user
while it holds two things: a session-level advisory lock on the user (``pg_try_advisory_lock``
on a hash of schema and user, :func:`~odoo_sync_cli.mirror.postgres.connection.lock_key`), and
the lease row in ``_odoosync_users`` (owner ``host:pid:random``, expiry by the server's clock).

- The lock is the liveness: it belongs to the holder's connection, so a holder killed with
  SIGKILL, or a machine lost, frees its users as soon as the server sees the connection go (at
  once for a killed process; within about a minute of TCP keepalives for a machine gone).
- The row is the guard and the display: every commit renews it and checks the owner, so a
  process that lost the user commits nothing more; ``status`` shows its host and pid.
- Its expiry covers a holder that hangs with its connection open (stopped, stuck): a lock
  whose row has expired is taken from it (its session is ended with ``pg_terminate_backend``).

A batch's cursor is checked against its bounds each time it is read back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from odoo_sync_cli.domain import CursorError, validate_cursor
from odoo_sync_cli.errors import LeaseError, StoreError
from odoo_sync_cli.mirror.base import owner_where
from odoo_sync_cli.mirror.postgres.columns import instant_text
from odoo_sync_cli.mirror.postgres.connection import PgBase, lock_key, translated
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
    utc_now,
)

_USER_COLUMNS = (
    "name, url, database, login, protocol, secret_store, secret_ref, status, server_version, "
    "protocol_used, created_at, prepared_at, last_success, last_error, last_error_at, "
    "lease_owner, lease_until, insecure"
)
_MODULE_COLUMNS = (
    '"user", module, model, table_name, fields, domain, state, note, high_water, candidate, '
    "syncs, last_count, in_plan, last_synced_at, names, reconciled_at, reconcile_seconds"
)
_BATCH_COLUMNS = (
    'id, "user", module, model, seq, kind, lo_id, hi_id, window_lo, cursor, expected, synced, '
    "pages, status, attempts, last_error, started_at, finished_at, restored"
)
# How long a takeover waits for the lock of a hung holder whose session it ended.
TAKEOVER_SECONDS = 5.0
# The server's clock, in seconds: every process compares lease expiries with the same clock.
_NOW = "extract(epoch FROM clock_timestamp())"


def _texts(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with its instants written as every odoosync timestamp is."""
    return {k: instant_text(v) if isinstance(v, datetime) else v for k, v in row.items()}


class PgState(PgBase):
    """odoosync's own tables in a schema (see :class:`odoo_sync_cli.mirror.SyncState`)."""

    # ---- the database

    @translated
    def mirror_id(self) -> str:
        row = self.conn.execute("SELECT value FROM _odoosync_meta WHERE key = 'mirror_id'")
        found = row.fetchone()
        if found is None:
            raise StoreError(
                f"the mirror at {self.target.shown} has no mirror id (damaged _odoosync_meta)"
            )
        return str(found[0])

    @translated
    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM _odoosync_migrations ORDER BY 1")]

    # A PostgreSQL mirror never held a secret in clear: nothing to move out, nothing to scrub.

    def plain_secrets(self) -> list[tuple[str, SecretStr]]:
        return []

    def drop_plain_secrets(self) -> None:
        return None

    def scrub_pending(self) -> bool:
        return False

    def scrub(self) -> bool:
        return True

    # ---- users

    @translated(retry=False)
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
        with self._tx() as cur:
            cur.execute(
                """INSERT INTO _odoosync_users (name, url, database, login, protocol,
                       secret_store, secret_ref, status, server_version, protocol_used,
                       created_at, insecure)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (name) DO NOTHING""",
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
                    insecure,
                ),
            )
            if cur.rowcount != 1:
                raise StoreError(
                    f"user '{name}' already exists",
                    hint=f"Pick another name, or replace its secret with "
                    f"`odoosync user set-secret {name}`.",
                )

    @translated
    def get_user(self, name: str) -> UserRecord | None:
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_USER_COLUMNS} FROM _odoosync_users WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else UserRecord(**_texts(row))

    @translated
    def list_users(self) -> list[UserRecord]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {_USER_COLUMNS} FROM _odoosync_users ORDER BY name"
            ).fetchall()
        return [UserRecord(**_texts(r)) for r in rows]

    @translated
    def set_secret_location(self, name: str, location: SecretLocation) -> None:
        self.conn.execute(
            "UPDATE _odoosync_users SET secret_store = %s, secret_ref = %s WHERE name = %s",
            (location.store, location.ref, name),
        )

    @translated
    def set_server_info(self, name: str, *, server_version: str, protocol_used: str) -> None:
        self.conn.execute(
            "UPDATE _odoosync_users SET server_version = %s, protocol_used = %s WHERE name = %s "
            "AND (server_version IS DISTINCT FROM %s OR protocol_used IS DISTINCT FROM %s)",
            (server_version, protocol_used, name, server_version, protocol_used),
        )

    @translated
    def set_status(self, name: str, status: str, *, error: str | None = None) -> None:
        if status not in USER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if status == FAILED:
            self.conn.execute(
                "UPDATE _odoosync_users SET status = %s, last_error = %s, last_error_at = %s "
                "WHERE name = %s",
                (status, error, utc_now(), name),
            )
        else:
            self.conn.execute(
                "UPDATE _odoosync_users SET status = %s WHERE name = %s", (status, name)
            )

    @translated
    def record_error(self, name: str, error: str) -> None:
        self.conn.execute(
            "UPDATE _odoosync_users SET last_error = %s, last_error_at = %s WHERE name = %s",
            (error, utc_now(), name),
        )

    @translated
    def queue(self, user: str) -> None:
        self.set_status(user, NOT_STARTED)

    # ---- leases

    @translated
    def acquire_lease(self, name: str, owner: str, ttl: float) -> None:
        """Take the user's lock and lease row, unless another live session holds them."""
        mine = self._held.get(name)
        if mine is not None and mine[0] != owner:
            self._refuse(name, mine[0])
        row = self.conn.execute(
            "SELECT lease_owner, lease_until < " + _NOW + " FROM _odoosync_users WHERE name = %s",
            (name,),
        ).fetchone()
        if row is None:
            raise StoreError(f"user '{name}' does not exist")
        key = lock_key(self.schema, name)
        if mine is None and not self._try_lock(key):
            holder, expired = row
            if not (expired and self._take_from_hung_holder(key)):
                self._refuse(name, holder)
        self._held[name] = (owner, key)
        self.conn.execute(
            f"UPDATE _odoosync_users SET lease_owner = %s, lease_until = {_NOW} + %s "
            "WHERE name = %s",
            (owner, ttl, name),
        )

    def _try_lock(self, key: int) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        return bool(row and row[0])

    def _take_from_hung_holder(self, key: int) -> bool:
        """End the session holding ``key`` (its lease expired: it hangs), then take the lock."""
        try:
            self.conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE " + _LOCK_MATCH, (key,)
            )
        except psycopg.errors.InsufficientPrivilege:
            return False  # another role's session: only its expiry is shown
        deadline = time.monotonic() + TAKEOVER_SECONDS
        while time.monotonic() < deadline:
            if self._try_lock(key):
                return True
            time.sleep(0.1)
        return False

    def _refuse(self, name: str, holder: str | None) -> None:
        host, pid = owner_where(holder) if holder else ("another machine", "?")
        raise LeaseError(
            f"user '{name}' is being worked on by another odoosync process (pid {pid} on {host})",
            hint="Wait for it to finish, or stop it; its lease ends by itself if it dies.",
        )

    @translated
    def release_lease(self, name: str, owner: str) -> None:
        self.conn.execute(
            "UPDATE _odoosync_users SET lease_owner = NULL, lease_until = NULL "
            "WHERE name = %s AND lease_owner = %s",
            (name, owner),
        )
        held = self._held.get(name)
        if held is not None and held[0] == owner:
            del self._held[name]
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (held[1],))

    @translated
    def holders(self) -> dict[str, str]:
        """The users some session works now, with the owner its lease row names."""
        rows = self.conn.execute(
            "SELECT name, lease_owner FROM _odoosync_users WHERE lease_owner IS NOT NULL"
        ).fetchall()
        if not rows:
            return {}
        keys = {lock_key(self.schema, name): (name, owner) for name, owner in rows}
        locked = self.conn.execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE EXISTS "
            "(SELECT 1 FROM pg_locks WHERE " + _LOCK_MATCH_KEY + ")",
            (list(keys),),
        ).fetchall()
        return dict(keys[r[0]] for r in locked)

    def _renew_lease(self, cur: Any, name: str, owner: str, ttl: float) -> None:
        cur.execute(
            f"UPDATE _odoosync_users SET lease_until = {_NOW} + %s "
            "WHERE name = %s AND lease_owner = %s",
            (ttl, name, owner),
        )
        if cur.rowcount != 1:
            raise LeaseError(
                f"user '{name}' was taken over by another process; this page was not stored",
                hint="Only one process may sync a user at a time.",
            )

    # ---- modules and plans

    @translated
    def module_rows(self, user: str) -> list[ModuleRow]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f'SELECT {_MODULE_COLUMNS} FROM _odoosync_modules WHERE "user" = %s ORDER BY seq',
                (user,),
            ).fetchall()
        return [_module_row(r) for r in rows]

    @translated
    def module_row(self, user: str, module: str) -> ModuleRow | None:
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_MODULE_COLUMNS} FROM _odoosync_modules "
                'WHERE "user" = %s AND module = %s',
                (user, module),
            ).fetchone()
        return None if row is None else _module_row(row)

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
        then, with ``release``, hand the lease back."""
        now = utc_now()
        with self._tx() as cur:
            self._renew_lease(cur, user, owner, ttl)
            cur.execute('DELETE FROM _odoosync_batches WHERE "user" = %s', (user,))
            cur.execute('UPDATE _odoosync_modules SET in_plan = false WHERE "user" = %s', (user,))
            cur.executemany(
                """INSERT INTO _odoosync_modules ("user", module, model, table_name, fields,
                       domain, state, note, candidate, last_count, names, in_plan)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)
                   ON CONFLICT ("user", module) DO UPDATE SET
                       model = excluded.model, table_name = excluded.table_name,
                       fields = excluded.fields, domain = excluded.domain,
                       state = excluded.state, note = excluded.note,
                       candidate = excluded.candidate, last_count = excluded.last_count,
                       names = excluded.names, in_plan = true""",
                [
                    (
                        user,
                        plan.module,
                        plan.model,
                        plan.table_name,
                        Jsonb(list(plan.fields)),
                        Jsonb(list(plan.domain)),
                        plan.state,
                        plan.note,
                        plan.candidate,
                        plan.count,
                        Jsonb(list(plan.names)),
                    )
                    for plan in modules
                ],
            )
            cur.executemany(
                """INSERT INTO _odoosync_batches ("user", module, model, seq, kind, lo_id,
                       hi_id, window_lo, cursor, expected, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
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
            cur.execute(
                "UPDATE _odoosync_users SET status = %s, prepared_at = %s, last_error = NULL, "
                "last_error_at = NULL WHERE name = %s",
                (IN_PROGRESS, now, user),
            )
        if release:
            # Right after the commit: PostgreSQL has no single writer to spare a transaction
            # for, and the advisory lock is the session's, not the transaction's.
            self.release_lease(user, owner)

    @translated
    def finish_sync(self, user: str, owner: str, ttl: float, *, release: bool = False) -> None:
        """All batches done: move each planned module's high-water mark; the user is ``done``.
        Then, with ``release``, hand the lease back."""
        now = utc_now()
        with self._tx() as cur:
            self._renew_lease(cur, user, owner, ttl)
            row = cur.execute(
                "SELECT count(*) FROM _odoosync_batches WHERE \"user\" = %s AND status != 'done'",
                (user,),
            ).fetchone()
            if row and row[0]:
                raise StoreError(f"user '{user}' still has {row[0]} unfinished batch(es)")
            cur.execute(
                """UPDATE _odoosync_modules AS m SET reconciled_at = b.finished_at,
                       reconcile_seconds = extract(epoch FROM b.finished_at - b.started_at)::float8
                   FROM _odoosync_batches AS b
                   WHERE m."user" = %s AND m.in_plan AND b."user" = m."user"
                     AND b.module = m.module AND b.kind = %s AND b.status = 'done'""",
                (user, RECONCILE),
            )
            cur.execute(
                """UPDATE _odoosync_modules SET
                       high_water = coalesce(candidate, high_water), candidate = NULL,
                       syncs = syncs + 1, last_synced_at = %s, in_plan = false
                   WHERE "user" = %s AND in_plan AND state = 'ok'""",
                (now, user),
            )
            cur.execute(
                "UPDATE _odoosync_users SET status = %s, last_success = %s, last_error = NULL, "
                "last_error_at = NULL WHERE name = %s",
                (DONE, now, user),
            )
        if release:
            self.release_lease(user, owner)

    # ---- batches

    @translated
    def batches(self, user: str) -> list[Batch]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f'SELECT {_BATCH_COLUMNS} FROM _odoosync_batches WHERE "user" = %s ORDER BY seq',
                (user,),
            ).fetchall()
        return [_batch(r) for r in rows]

    @translated
    def next_batch(self, user: str) -> Batch | None:
        """The first batch by plan order that is not done (a failed one blocks what follows)."""
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_BATCH_COLUMNS} FROM _odoosync_batches "
                "WHERE \"user\" = %s AND status != 'done' ORDER BY seq LIMIT 1",
                (user,),
            ).fetchone()
        return None if row is None else _batch(row)

    @translated
    def start_batch(self, batch_id: int, owner: str, user: str, ttl: float) -> None:
        now = utc_now()
        with self._tx() as cur:
            self._renew_lease(cur, user, owner, ttl)
            cur.execute(
                """UPDATE _odoosync_batches SET status = 'running', attempts = attempts + 1,
                       started_at = coalesce(started_at, %s), updated_at = %s
                   WHERE id = %s AND status IN ('pending', 'running')""",
                (now, now, batch_id),
            )

    @translated
    def fail_batch(self, batch_id: int, user: str, error: str) -> None:
        """The batch failed (its cursor stays) and so did the user's sync."""
        now = utc_now()
        with self._tx() as cur:
            cur.execute(
                "UPDATE _odoosync_batches SET status = 'failed', last_error = %s, "
                "updated_at = %s WHERE id = %s",
                (error, now, batch_id),
            )
            cur.execute(
                "UPDATE _odoosync_users SET status = %s, last_error = %s, last_error_at = %s "
                "WHERE name = %s",
                (FAILED, error, now, user),
            )

    @translated
    def requeue_failed(self, user: str) -> int:
        """Failed batches go back to pending with their cursor; the user is ``in_progress``."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE _odoosync_batches SET status = 'pending', updated_at = %s "
                "WHERE \"user\" = %s AND status IN ('failed', 'running')",
                (utc_now(), user),
            )
            count = cur.rowcount
            cur.execute(
                "UPDATE _odoosync_users SET status = %s WHERE name = %s", (IN_PROGRESS, user)
            )
        return count

    def _advance(
        self, cur: Any, batch: Batch, cursor: int, count: int, done: bool, now: str
    ) -> bool:
        """Move the batch's cursor from the one the page was read at; False when the page was
        committed already (only when :attr:`retrying`)."""
        cur.execute(
            """UPDATE _odoosync_batches SET cursor = %s, synced = synced + %s, pages = pages + 1,
                   status = %s, finished_at = %s, updated_at = %s, last_error = NULL
               WHERE id = %s AND cursor = %s AND status = 'running'""",
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
        if cur.rowcount == 1:
            return True
        if self.retrying and self._landed(cur, batch, cursor, done):
            return False
        raise StoreError(
            f"batch {batch.id} of user '{batch.user}' moved on while its page was read; "
            "the page was not stored",
            hint="Another process may be syncing this user; run `odoosync status`.",
        )

    def _landed(self, cur: Any, batch: Batch, cursor: int, done: bool) -> bool:
        """Whether the batch stands where this page's commit would have put it: the commit
        whose answer the lost connection took with it went through."""
        row = cur.execute(
            "SELECT cursor, status, pages FROM _odoosync_batches WHERE id = %s", (batch.id,)
        ).fetchone()
        status = BATCH_DONE if done else RUNNING
        return row is not None and (row[0], row[1], row[2]) == (cursor, status, batch.pages + 1)

    def _add_restored(self, cur: Any, batch: Batch, count: int) -> None:
        cur.execute(
            "UPDATE _odoosync_batches SET restored = restored + %s WHERE id = %s",
            (count, batch.id),
        )

    def _batch_totals(self, user: str) -> dict[str, tuple[Any, ...]]:
        """Per module: batches, done, failed, records synced and expected (reconcile aside)."""
        return {
            r[0]: tuple(r)
            for r in self.conn.execute(
                """SELECT module, count(*), count(*) FILTER (WHERE status = 'done'),
                          count(*) FILTER (WHERE status = 'failed'),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE synced END),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE expected END)
                   FROM _odoosync_batches WHERE "user" = %s GROUP BY module""",
                (user,),
            )
        }

    def _forget_plans(self, cur: Any, user: str, module: str | None = None) -> int:
        """Delete the user's batches and module states (all, or one module's); batches gone."""
        if module is None:
            cur.execute('DELETE FROM _odoosync_batches WHERE "user" = %s', (user,))
            batches = cur.rowcount
            cur.execute('DELETE FROM _odoosync_modules WHERE "user" = %s', (user,))
            return int(batches)
        cur.execute(
            'DELETE FROM _odoosync_batches WHERE "user" = %s AND module = %s', (user, module)
        )
        batches = cur.rowcount
        cur.execute(
            'DELETE FROM _odoosync_modules WHERE "user" = %s AND module = %s', (user, module)
        )
        return int(batches)


# An advisory lock on a bigint key, as pg_locks shows it: the key's high and low 32 bits.
_LOCK_MATCH_KEY = (
    "locktype = 'advisory' AND granted AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((classid::bigint << 32) | objid::bigint) = k"
)
_LOCK_MATCH = _LOCK_MATCH_KEY[: -len("k")] + "%s"


def _module_row(row: Mapping[str, Any]) -> ModuleRow:
    d = _texts(row)
    d["fields"] = tuple(json.loads(d["fields"]))
    d["domain"] = json.dumps(json.loads(d["domain"]))
    names = d["names"]
    d["names"] = None if names is None else tuple(json.loads(names))
    return ModuleRow(**d)


def _batch(row: Mapping[str, Any]) -> Batch:
    d = _texts(row)
    try:
        validate_cursor(d["cursor"], lo_id=d["lo_id"], hi_id=d["hi_id"])
    except CursorError as exc:
        raise StoreError(
            f"batch {d['seq']} ({d['module']}) of user '{d['user']}' is damaged: {exc}",
            hint=f"Plan it again with `odoosync prepare --user {d['user']} --restart`.",
        ) from exc
    return Batch(**d)

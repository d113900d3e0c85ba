"""All of odoosync's SQL: the state tables, the mirror tables, and the migrations that make them.

The database is one SQLite file, created with mode 0600, in WAL mode with a busy timeout so a
reader never blocks the syncing process. It holds no usable secret: a user's row names where its
secret is kept (credentials.py); databases written before that are cleaned on upgrade
(:meth:`Store.plain_secrets`, :meth:`Store.scrub`). odoosync's own tables start with
``_odoosync_``; the mirror has one table per model (``res.partner`` -> ``res_partner``) with the
primary key ``(user, id)``.

Correctness rests on one habit: a page of records and the batch cursor that follows it are
written in one transaction (:meth:`Store.store_page`), guarded by the user's lease and by the
cursor the page was read from. A process killed at any instant leaves either both or neither,
and a second process can never commit a page of a batch another one works on.

Column mapping from ``fields_get`` types: many2one -> ``<field>`` INTEGER (the id) plus
``<field>_name`` TEXT (the display name when read); one2many/many2many -> a JSON array of the ids
sorted ascending, in TEXT (an x2many is a set: Odoo lists it in its comodel's order, and ids that
tie there come back in any order, so the mirror keeps one canonical form and an unchanged record
always gives the same bytes); json -> JSON text; integer/boolean -> INTEGER; float/monetary ->
REAL; the rest (char, text, html, selection, date, datetime, reference) -> TEXT, with Odoo's
``False`` stored as NULL.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import sqlite_utils
from pydantic import SecretStr
from sqlite_utils.db import quote_identifier

from odoo_sync_cli.domain import CursorError, validate_cursor
from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.models import (
    BATCH_DONE,
    DONE,
    FAILED,
    IDLE,
    IN_PROGRESS,
    NOT_STARTED,
    RUNNING,
    USER_STATUSES,
    Batch,
    ClearCounts,
    ModulePlan,
    ModuleProgress,
    ModuleRow,
    PlannedBatch,
    SecretLocation,
    UserRecord,
    utc_now,
)

BUSY_TIMEOUT_SECONDS = 10.0

RESERVED_COLUMNS = ("user", "id", "_write_date", "_synced_at", "_deleted_at")
X2MANY = frozenset({"one2many", "many2many"})
INTEGER_TYPES = frozenset({"integer", "many2one_reference"})
REAL_TYPES = frozenset({"float", "monetary"})
TEXT_TYPES = frozenset(
    {"char", "text", "html", "selection", "date", "datetime", "reference", "many2one"}
)

P = ParamSpec("P")
R = TypeVar("R")


# --------------------------------------------------------------------------- rows and specs


@dataclass(frozen=True)
class FieldColumn:
    """Where one Odoo field lives in a mirror table."""

    field: str
    type: str
    column: str
    name_column: str | None = None

    @property
    def storage(self) -> str:
        """The shape of the stored value; two types of one shape can share columns."""
        if self.type == "many2one":
            return "many2one"
        if self.type in X2MANY or self.type == "json" or self.type not in _KNOWN_TYPES:
            return "json"
        if self.type in INTEGER_TYPES or self.type == "boolean":
            return "integer"
        if self.type in REAL_TYPES:
            return "real"
        return "text"


_KNOWN_TYPES = INTEGER_TYPES | REAL_TYPES | TEXT_TYPES | X2MANY | {"boolean", "json"}
_SQL_TYPE = {"many2one": "INTEGER", "json": "TEXT", "integer": "INTEGER", "real": "REAL"}


@dataclass(frozen=True)
class TableSpec:
    """The fields one module reads and the columns that hold them."""

    table: str
    model: str
    columns: tuple[FieldColumn, ...]

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.columns]


_PLAIN, _MANY2ONE, _JSON, _BOOLEAN, _X2MANY = range(5)


def x2many_text(value: Any) -> str | None:
    """An x2many value as the mirror stores it: the JSON array of its ids, ascending."""
    if value is False or value is None:
        return None
    if isinstance(value, list) and all(type(i) is int for i in value):
        return json.dumps(sorted(value))
    return json.dumps(value)


def _sorted_ids_text(text: str | None) -> str | None:
    """A stored x2many JSON text in the canonical form (for rows stored before it existed)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return x2many_text(value) if isinstance(value, list) else text


@functools.lru_cache(maxsize=256)
def _encoding(spec: TableSpec) -> tuple[tuple[str, int, bool], ...]:
    # Worked out once per table: a page of 1,000 wide records would otherwise redo it per value.
    plan: list[tuple[str, int, bool]] = []
    for col in spec.columns:
        storage = col.storage
        if storage == "many2one":
            kind = _MANY2ONE
        elif col.type in X2MANY:
            kind = _X2MANY
        elif storage == "json":
            kind = _JSON
        elif col.type == "boolean":
            kind = _BOOLEAN
        else:
            kind = _PLAIN
        plan.append((col.field, kind, col.name_column is not None))
    return tuple(plan)


def column_names(spec: TableSpec) -> list[str]:
    """The columns :func:`encode_record` fills, in its order."""
    names: list[str] = []
    for col in spec.columns:
        names.append(col.column)
        if col.name_column:
            names.append(col.name_column)
    names.append("_write_date")
    return names


def encode_record(spec: TableSpec, record: Mapping[str, Any]) -> list[Any]:
    """An API record (``search_read`` shape) as the values of :func:`column_names`."""
    return _encode(_encoding(spec), record)


def _encode(plan: tuple[tuple[str, int, bool], ...], record: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for name, kind, named in plan:
        value = record.get(name, False)
        if kind == _PLAIN:
            append(None if value is False or value is None else value)
        elif kind == _MANY2ONE:
            if isinstance(value, list | tuple) and value:
                append(value[0])
                if named:
                    append(value[1] if len(value) > 1 else None)
            else:
                append(value if isinstance(value, int) and not isinstance(value, bool) else None)
                if named:
                    append(None)
        elif kind == _X2MANY:
            append(x2many_text(value))
        elif kind == _JSON:
            append(None if value is False or value is None else json.dumps(value))
        else:
            append(None if value is None else int(bool(value)))
    append(record.get("write_date") or None)
    return out


def record_to_row(spec: TableSpec, record: Mapping[str, Any]) -> dict[str, Any]:
    """An API record (``search_read`` shape) as column values of ``spec.table``."""
    return dict(zip(column_names(spec), encode_record(spec, record), strict=True))


def row_to_record(spec: TableSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """A mirror row back in the shape ``search_read`` returns."""
    record: dict[str, Any] = {}
    for col in spec.columns:
        value = row[col.column]
        storage = col.storage
        if storage == "many2one":
            record[col.field] = False if value is None else [value, row[col.name_column or ""]]
        elif storage == "json":
            record[col.field] = False if value is None else json.loads(value)
        elif col.type == "boolean":
            record[col.field] = bool(value)
        else:
            record[col.field] = False if value is None else value
    return record


# --------------------------------------------------------------------------- errors


def _describe(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    low = text.lower()
    if "not a database" in low or "file is encrypted" in low or "malformed" in low:
        return StoreError(
            f"{path} is not an odoosync database ({text})",
            hint="Point --db or ODOOSYNC_DB at an odoosync database, or at a new file.",
        )
    if "locked" in low or "busy" in low:
        return StoreError(
            f"{path} is locked by another process ({text})",
            hint="Another odoosync command is writing to it; try again in a moment.",
        )
    if "readonly" in low or "read-only" in low:
        return StoreError(
            f"{path} is read-only ({text})",
            hint="odoosync must write the file and its directory; check their permissions.",
        )
    if "full" in low:
        return StoreError(
            f"{path}: the disk is full ({text})",
            hint="Free some disk space, or move the database with --db.",
        )
    if "unable to open" in low:
        return StoreError(
            f"cannot open {path} ({text})",
            hint="Check that its directory exists and that you may write to it.",
        )
    if "i/o" in low:
        return StoreError(f"{path}: disk I/O error ({text})", hint="Check the disk and the file.")
    return StoreError(f"database error on {path}: {text}")


def _translated(
    method: Callable[Concatenate[Store, P], R],
) -> Callable[Concatenate[Store, P], R]:
    """Turn sqlite3 errors raised by ``method`` into a StoreError with a hint."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from exc

    return cast("Callable[Concatenate[Store, P], R]", wrapper)


# --------------------------------------------------------------------------- migrations


def m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE _odoosync_users (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            database TEXT NOT NULL,
            login TEXT NOT NULL,
            protocol TEXT NOT NULL DEFAULT 'auto',
            secret TEXT,
            secret_env TEXT,
            status TEXT NOT NULL DEFAULT 'not_started',
            server_version TEXT,
            protocol_used TEXT,
            created_at TEXT NOT NULL,
            prepared_at TEXT,
            last_success TEXT,
            last_error TEXT,
            last_error_at TEXT,
            lease_owner TEXT,
            lease_until REAL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE _odoosync_modules (
            user TEXT NOT NULL REFERENCES _odoosync_users(name) ON DELETE CASCADE,
            module TEXT NOT NULL,
            model TEXT NOT NULL,
            table_name TEXT NOT NULL,
            fields TEXT NOT NULL DEFAULT '[]',
            domain TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL DEFAULT 'ok',
            note TEXT,
            high_water TEXT,
            candidate TEXT,
            syncs INTEGER NOT NULL DEFAULT 0,
            last_count INTEGER,
            in_plan INTEGER NOT NULL DEFAULT 0,
            last_synced_at TEXT,
            PRIMARY KEY (user, module)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE _odoosync_batches (
            id INTEGER PRIMARY KEY,
            user TEXT NOT NULL REFERENCES _odoosync_users(name) ON DELETE CASCADE,
            module TEXT NOT NULL,
            model TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental', 'reconcile')),
            lo_id INTEGER NOT NULL DEFAULT 0,
            hi_id INTEGER,
            window_lo TEXT,
            cursor INTEGER NOT NULL DEFAULT 0,
            expected INTEGER NOT NULL DEFAULT 0,
            synced INTEGER NOT NULL DEFAULT 0,
            pages INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            started_at TEXT,
            finished_at TEXT,
            updated_at TEXT,
            UNIQUE (user, seq)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE _odoosync_fields (
            table_name TEXT NOT NULL,
            model TEXT NOT NULL,
            field TEXT NOT NULL,
            type TEXT NOT NULL,
            column_name TEXT NOT NULL,
            name_column TEXT,
            PRIMARY KEY (table_name, field)
        )
        """
    )


def m002_user_insecure(conn: sqlite3.Connection) -> None:
    # Set by `user add --insecure`: plain http to a remote host, no TLS certificate check.
    conn.execute("ALTER TABLE _odoosync_users ADD COLUMN insecure INTEGER NOT NULL DEFAULT 0")


def m003_secret_locations(conn: sqlite3.Connection) -> None:
    # Secrets leave the database: a row keeps only where its secret is (credentials.py). A
    # secret env variable becomes an `env` location; a secret stored in clear stays in the
    # `secret` column until the engine has moved it out (Store.plain_secrets), then the column
    # is dropped and the file rewritten (Store.drop_plain_secrets, Store.scrub).
    conn.execute("CREATE TABLE _odoosync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "INSERT INTO _odoosync_meta (key, value) VALUES ('mirror_id', ?)", (os.urandom(8).hex(),)
    )
    conn.execute("ALTER TABLE _odoosync_users ADD COLUMN secret_store TEXT NOT NULL DEFAULT 'none'")
    conn.execute("ALTER TABLE _odoosync_users ADD COLUMN secret_ref TEXT")
    conn.execute(
        "UPDATE _odoosync_users SET secret_store = 'env', secret_ref = secret_env "
        "WHERE secret_env IS NOT NULL AND secret_env != ''"
    )
    conn.execute("UPDATE _odoosync_users SET secret = NULL WHERE secret_store = 'env'")
    _drop_column(conn, "secret_env")
    if conn.execute("SELECT 1 FROM _odoosync_users WHERE secret IS NOT NULL").fetchone() is None:
        _drop_column(conn, "secret")


def _drop_column(conn: sqlite3.Connection, column: str) -> None:
    try:
        conn.execute(f"ALTER TABLE _odoosync_users DROP COLUMN {column}")
    except sqlite3.OperationalError:
        # SQLite before 3.35 cannot drop a column: it stays, empty, and is never read.
        conn.execute(f"UPDATE _odoosync_users SET {column} = NULL")


def m004_x2many_sorted(conn: sqlite3.Connection) -> None:
    # x2many columns hold their ids ascending from now on. Rows stored before kept Odoo's order,
    # which changes between reads: rewritten once here, so that every row is in the canonical
    # form, an unchanged record stays byte-identical and the next sync rewrites nothing of it.
    conn.create_function("odoosync_sorted_ids", 1, _sorted_ids_text, deterministic=True)
    columns = conn.execute(
        "SELECT table_name, column_name FROM _odoosync_fields "
        "WHERE type IN ('one2many', 'many2many') ORDER BY table_name, column_name"
    ).fetchall()
    for table, column in columns:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not exists:
            continue
        t, c = quote_identifier(table), quote_identifier(column)
        conn.execute(
            f"UPDATE {t} SET {c} = odoosync_sorted_ids({c}) "
            f"WHERE {c} IS NOT NULL AND {c} IS NOT odoosync_sorted_ids({c})"
        )


def m005_batch_restored(conn: sqlite3.Connection) -> None:
    # How many records a reconcile batch read back because the mirror lacked them: committed
    # with each page, so the figure survives a kill and a resume by another process.
    conn.execute("ALTER TABLE _odoosync_batches ADD COLUMN restored INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("m001_initial", m001_initial),
    ("m002_user_insecure", m002_user_insecure),
    ("m003_secret_locations", m003_secret_locations),
    ("m004_x2many_sorted", m004_x2many_sorted),
    ("m005_batch_restored", m005_batch_restored),
)
# Migrations after which an existing file is rewritten once: freed pages of a database written
# before them may still hold a secret in clear.
SCRUB_AFTER = frozenset({"m003_secret_locations"})


# --------------------------------------------------------------------------- leases


def lease_owner_id() -> str:
    """A name for this process, unique enough to tell two processes apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: only the lease's expiry can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_SCRUB_PENDING = "scrub_pending"


class LeaseError(StoreError):
    """Another live process holds the user's lease."""


# --------------------------------------------------------------------------- the store


class Store:
    """The odoosync database: open with :meth:`open`, use as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)

    # ---- opening

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        """Open the database at ``path``; only ``create=True`` may make a new file."""
        path = path.expanduser()
        if path.is_dir():
            raise StoreError(f"{path} is a directory", hint="Give --db the path of a file.")
        if not path.exists():
            if not create:
                raise StoreError(
                    f"database file {path} does not exist",
                    hint="Add a user first (`odoosync user add ...`), or point --db or "
                    "ODOOSYNC_DB at an existing odoosync database.",
                )
            _create_private_file(path)
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise _describe(exc, path) from exc
        store = cls(path, conn)
        try:
            store._check_ours(create=create)
            store._configure()
            store._migrate(create=create)
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_translated
    def _check_ours(self, *, create: bool) -> None:
        """Refuse, before changing a byte of it, a SQLite file that another program made."""
        # Switching to WAL rewrites the file header, and a migration would add our tables to
        # someone else's database: both wait until the file is known to be ours or empty.
        tables = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        if "_odoosync_migrations" in tables or (create and not tables):
            return
        if not create:
            raise StoreError(
                f"{self.path} is not an odoosync database",
                hint="Point --db or ODOOSYNC_DB at the file `odoosync user add` created.",
            )
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"{self.path} is not an odoosync database: it holds another program's tables ({shown})",
            hint="Point --db or ODOOSYNC_DB at a new file; odoosync leaves this one alone.",
        )

    @_translated
    def _configure(self) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch the database to WAL mode (got {mode})")
        # In WAL mode NORMAL loses nothing a killed process committed; only a power cut can.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")

    @_translated
    def _migrate(self, *, create: bool) -> None:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_odoosync_migrations'"
        ).fetchone()
        if not exists and not create:
            raise StoreError(
                f"{self.path} is not an odoosync database",
                hint="Point --db or ODOOSYNC_DB at the file `odoosync user add` created.",
            )
        known = {name for name, _ in MIGRATIONS}
        if exists:
            # Up to date is the usual case: a read, so `status` works while another process
            # holds the write lock.
            done = {r[0] for r in self.conn.execute("SELECT name FROM _odoosync_migrations")}
            if done == known:
                return
        with self._write():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS _odoosync_migrations "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in self.conn.execute("SELECT name FROM _odoosync_migrations")}
            unknown = done - known
            if unknown:
                raise StoreError(
                    f"{self.path} was written by a newer odoosync (migrations {sorted(unknown)})",
                    hint="Upgrade odoosync.",
                )
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                migration(self.conn)
                self.conn.execute(
                    "INSERT INTO _odoosync_migrations (name, applied_at) VALUES (?, ?)",
                    (name, utc_now()),
                )
            if exists and SCRUB_AFTER - done:
                self._set_meta(_SCRUB_PENDING, "1")

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM _odoosync_meta WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT OR REPLACE INTO _odoosync_meta (key, value) VALUES (?, ?)", (key, value)
            )

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM _odoosync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_translated
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

    @_translated
    def plain_secrets(self) -> list[tuple[str, SecretStr]]:
        """Users whose secret an older odoosync stored in clear, to be moved out now."""
        if not self._has_plain_column():
            return []
        rows = self.conn.execute(
            "SELECT name, secret FROM _odoosync_users WHERE secret IS NOT NULL AND secret != '' "
            "ORDER BY name"
        ).fetchall()
        return [(str(name), SecretStr(str(secret))) for name, secret in rows]

    @_translated
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
            _drop_column(self.conn, "secret")
            self._set_meta(_SCRUB_PENDING, "1")

    @_translated
    def scrub_pending(self) -> bool:
        return self._meta(_SCRUB_PENDING) is not None

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
                self._set_meta(_SCRUB_PENDING, None)
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                return False
            raise _describe(exc, self.path) from exc
        finally:
            self.conn.execute("PRAGMA secure_delete = OFF")
        return not busy

    def applied_migrations(self) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT name FROM _odoosync_migrations ORDER BY name")
        ]

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once so a reader upgrading to writer cannot deadlock."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # ---- users

    @_translated
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

    @_translated
    def get_user(self, name: str) -> UserRecord | None:
        cur = self.conn.execute("SELECT * FROM _odoosync_users WHERE name = ?", (name,))
        row = cur.fetchone()
        return None if row is None else _user(cur, row)

    @_translated
    def list_users(self) -> list[UserRecord]:
        cur = self.conn.execute("SELECT * FROM _odoosync_users ORDER BY name")
        return [_user(cur, row) for row in cur.fetchall()]

    @_translated
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

    @_translated
    def set_server_info(self, name: str, *, server_version: str, protocol_used: str) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET server_version = ?, protocol_used = ? WHERE name = ?",
                (server_version, protocol_used, name),
            )

    @_translated
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

    @_translated
    def record_error(self, name: str, error: str) -> None:
        """Note an error without changing the status (a module skipped, a retry that passed)."""
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET last_error = ?, last_error_at = ? WHERE name = ?",
                (error, utc_now(), name),
            )

    @_translated
    def remove_user(self, name: str) -> ClearCounts:
        """Delete a user, its state and its mirrored records."""
        with self._write():
            counts = self._clear_rows(name, self._mirror_tables())
            counts.batches = self.conn.execute(
                "DELETE FROM _odoosync_batches WHERE user = ?", (name,)
            ).rowcount
            self.conn.execute("DELETE FROM _odoosync_modules WHERE user = ?", (name,))
            self.conn.execute("DELETE FROM _odoosync_users WHERE name = ?", (name,))
        return counts

    # ---- leases

    @_translated
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
                and _owner_alive(holder)
            ):
                pid = holder.split(":")[1] if holder.count(":") >= 2 else "?"
                raise LeaseError(
                    f"user '{name}' is being worked on by another odoosync process "
                    f"(pid {pid} on {holder.split(':')[0]})",
                    hint="Wait for it to finish, or stop it; its lease ends by itself if it dies.",
                )
            self.conn.execute(
                "UPDATE _odoosync_users SET lease_owner = ?, lease_until = ? WHERE name = ?",
                (owner, now + ttl, name),
            )

    @_translated
    def release_lease(self, name: str, owner: str) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE _odoosync_users SET lease_owner = NULL, lease_until = NULL "
                "WHERE name = ? AND lease_owner = ?",
                (name, owner),
            )

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

    @_translated
    def module_rows(self, user: str) -> list[ModuleRow]:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_modules WHERE user = ? ORDER BY rowid", (user,)
        )
        return [_module_row(cur, row) for row in cur.fetchall()]

    @_translated
    def module_row(self, user: str, module: str) -> ModuleRow | None:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_modules WHERE user = ? AND module = ?", (user, module)
        )
        row = cur.fetchone()
        return None if row is None else _module_row(cur, row)

    @_translated
    def save_plan(
        self,
        user: str,
        owner: str,
        ttl: float,
        modules: Sequence[ModulePlan],
        batches: Sequence[PlannedBatch],
    ) -> None:
        """Replace the user's batches with a new plan and mark it ``in_progress``, atomically."""
        now = utc_now()
        with self._write():
            self._renew_lease(user, owner, ttl)
            self.conn.execute("DELETE FROM _odoosync_batches WHERE user = ?", (user,))
            self.conn.execute("UPDATE _odoosync_modules SET in_plan = 0 WHERE user = ?", (user,))
            for plan in modules:
                self.conn.execute(
                    """INSERT INTO _odoosync_modules (user, module, model, table_name, fields,
                           domain, state, note, candidate, last_count, in_plan)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                       ON CONFLICT (user, module) DO UPDATE SET
                           model = excluded.model, table_name = excluded.table_name,
                           fields = excluded.fields, domain = excluded.domain,
                           state = excluded.state, note = excluded.note,
                           candidate = excluded.candidate, last_count = excluded.last_count,
                           in_plan = 1""",
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

    @_translated
    def finish_sync(self, user: str, owner: str, ttl: float) -> None:
        """All batches done: move each planned module's high-water mark; the user is ``done``."""
        now = utc_now()
        with self._write():
            self._renew_lease(user, owner, ttl)
            open_batches = self.conn.execute(
                "SELECT count(*) FROM _odoosync_batches WHERE user = ? AND status != 'done'",
                (user,),
            ).fetchone()[0]
            if open_batches:
                raise StoreError(f"user '{user}' still has {open_batches} unfinished batch(es)")
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

    # ---- batches

    @_translated
    def batches(self, user: str) -> list[Batch]:
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_batches WHERE user = ? ORDER BY seq", (user,)
        )
        return [_batch(cur, row) for row in cur.fetchall()]

    @_translated
    def next_batch(self, user: str) -> Batch | None:
        """The first batch by plan order that is not done (a failed one blocks what follows)."""
        cur = self.conn.execute(
            "SELECT * FROM _odoosync_batches WHERE user = ? AND status != 'done' "
            "ORDER BY seq LIMIT 1",
            (user,),
        )
        row = cur.fetchone()
        return None if row is None else _batch(cur, row)

    @_translated
    def start_batch(self, batch_id: int, owner: str, user: str, ttl: float) -> None:
        with self._write():
            self._renew_lease(user, owner, ttl)
            self.conn.execute(
                """UPDATE _odoosync_batches SET status = 'running', attempts = attempts + 1,
                       started_at = coalesce(started_at, ?), updated_at = ?
                   WHERE id = ? AND status IN ('pending', 'running')""",
                (utc_now(), utc_now(), batch_id),
            )

    @_translated
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

    @_translated
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

    @_translated
    def store_page(
        self,
        *,
        user: str,
        owner: str,
        ttl: float,
        batch: Batch,
        spec: TableSpec,
        records: Sequence[Mapping[str, Any]],
        cursor: int,
        done: bool,
    ) -> None:
        """Upsert a page and move the batch cursor, in one transaction.

        The update of the batch only applies if its cursor is still the one the page was read
        from, so a page can never be stored twice or over a newer one.
        """
        now = utc_now()
        with self._write():
            self._renew_lease(user, owner, ttl)
            self._upsert(user, spec, records, now)
            self._advance(batch, cursor, len(records), done, now)

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

    def _upsert(
        self, user: str, spec: TableSpec, records: Sequence[Mapping[str, Any]], now: str
    ) -> None:
        if not records:
            return
        names = ["user", *column_names(spec), "_synced_at", "_deleted_at"]
        placeholders = ", ".join("?" for _ in names)
        updates = ", ".join(
            f"{quote_identifier(c)} = excluded.{quote_identifier(c)}"
            for c in names
            if c not in ("user", "id")
        )
        sql = (
            f"INSERT INTO {quote_identifier(spec.table)} "
            f"({', '.join(quote_identifier(n) for n in names)}) VALUES ({placeholders}) "
            f"ON CONFLICT (user, id) DO UPDATE SET {updates}"
        )
        plan = _encoding(spec)
        self.conn.executemany(sql, [(user, *_encode(plan, r), now, None) for r in records])

    @_translated
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

    @_translated
    def reconcile_page(
        self,
        *,
        user: str,
        owner: str,
        ttl: float,
        batch: Batch,
        spec: TableSpec,
        server_ids: Sequence[int],
        hi_id: int | None,
        records: Sequence[Mapping[str, Any]],
        cursor: int,
        done: bool,
        hard_delete: bool,
    ) -> int:
        """Mark gone the mirror ids in ``(batch.cursor, hi_id]`` the server did not list, store
        the records that were missing (counted in the batch's ``restored``), and move the
        cursor; one transaction. Returns how many were marked (or deleted)."""
        now = utc_now()
        table = quote_identifier(spec.table)
        bounds = "user = ? AND id > ?" + (" AND id <= ?" if hi_id is not None else "")
        params: list[Any] = [user, batch.cursor] + ([hi_id] if hi_id is not None else [])
        listed = "id NOT IN (SELECT value FROM json_each(?))"
        with self._write():
            self._renew_lease(user, owner, ttl)
            if hard_delete:
                gone = self.conn.execute(
                    f"DELETE FROM {table} WHERE {bounds} AND {listed}",
                    (*params, json.dumps(list(server_ids))),
                ).rowcount
            else:
                gone = self.conn.execute(
                    f"UPDATE {table} SET _deleted_at = ? WHERE {bounds} "
                    f"AND _deleted_at IS NULL AND {listed}",
                    (now, *params, json.dumps(list(server_ids))),
                ).rowcount
            self._upsert(user, spec, records, now)
            self._advance(batch, cursor, len(server_ids), done, now)
            self.conn.execute(
                "UPDATE _odoosync_batches SET restored = restored + ? WHERE id = ?",
                (len(records), batch.id),
            )
        return gone

    # ---- mirror tables

    def _mirror_tables(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT table_name FROM _odoosync_fields")]

    @_translated
    def table_spec(self, table: str, fields: Sequence[str]) -> TableSpec:
        """The columns of ``fields`` in an existing mirror table, in that order."""
        known = self._known_columns(table)
        missing = [f for f in fields if f not in known]
        if missing:
            raise StoreError(
                f"mirror table {table} has no column for {', '.join(missing)}",
                hint="Run `odoosync prepare --restart` so the table is brought up to date.",
            )
        model = self.conn.execute(
            "SELECT model FROM _odoosync_fields WHERE table_name = ? LIMIT 1", (table,)
        ).fetchone()
        return TableSpec(table=table, model=model[0], columns=tuple(known[f] for f in fields))

    def _known_columns(self, table: str) -> dict[str, FieldColumn]:
        cur = self.conn.execute(
            "SELECT field, type, column_name, name_column FROM _odoosync_fields "
            "WHERE table_name = ? ORDER BY rowid",
            (table,),
        )
        return {r[0]: FieldColumn(r[0], r[1], r[2], r[3]) for r in cur.fetchall()}

    @_translated
    def ensure_table(self, model: str, field_types: Mapping[str, str]) -> TableSpec:
        """Create or widen the mirror table of ``model`` to hold ``field_types`` (name -> type)."""
        table = model.replace(".", "_")
        with self._write():
            known = self._known_columns(table)
            taken = set(RESERVED_COLUMNS)
            for col in known.values():
                taken.add(col.column)
                if col.name_column:
                    taken.add(col.name_column)
            new: list[FieldColumn] = []
            for name, ftype in field_types.items():
                old = known.get(name)
                if old is not None:
                    if old.type != ftype:
                        changed = FieldColumn(name, ftype, old.column, old.name_column)
                        if changed.storage != old.storage:
                            raise StoreError(
                                f"{model}.{name} changed type on the server "
                                f"({old.type} -> {ftype})",
                                hint=f"Clear the module of {model} (`odoosync clear --module "
                                "...`) so its table is rebuilt.",
                            )
                        self.conn.execute(
                            "UPDATE _odoosync_fields SET type = ? WHERE table_name = ? "
                            "AND field = ?",
                            (ftype, table, name),
                        )
                        known[name] = changed
                    continue
                column = "id" if name == "id" else _allocate(name, taken)
                name_column = None
                if ftype == "many2one":
                    name_column = _allocate(f"{name}_name", taken)
                col = FieldColumn(name, ftype, column, name_column)
                known[name] = col
                new.append(col)
            if "id" not in known:
                known["id"] = FieldColumn("id", "integer", "id")
                new.insert(0, known["id"])
            self._create_or_alter(table, new)
            self.conn.executemany(
                "INSERT INTO _odoosync_fields (table_name, model, field, type, column_name, "
                "name_column) VALUES (?, ?, ?, ?, ?, ?)",
                [(table, model, c.field, c.type, c.column, c.name_column) for c in new],
            )
        order = ["id", *[f for f in field_types if f != "id"]]
        return TableSpec(table=table, model=model, columns=tuple(known[f] for f in order))

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

    @_translated
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

    @_translated
    def table_rows(self, user: str, table: str) -> list[dict[str, Any]]:
        """Raw rows of a mirror table for one user, deleted ones included, by id."""
        if not self.db.table(table).exists():
            return []
        cur = self.conn.execute(
            f"SELECT * FROM {quote_identifier(table)} WHERE user = ? ORDER BY id", (user,)
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    @_translated
    def mirrored_count(self, user: str, table: str) -> int:
        if not self.db.table(table).exists():
            return 0
        row = self.conn.execute(
            f"SELECT count(*) FROM {quote_identifier(table)} "
            "WHERE user = ? AND _deleted_at IS NULL",
            (user,),
        ).fetchone()
        return int(row[0])

    @_translated
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

    @_translated
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

    # ---- progress and clearing

    @_translated
    def progress(self, user: str) -> list[ModuleProgress]:
        """Per module: batches and records of the current plan, and how many rows are mirrored."""
        totals = {
            r[0]: r
            for r in self.conn.execute(
                """SELECT module, count(*), sum(status = 'done'), sum(status = 'failed'),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE synced END),
                          sum(CASE WHEN kind = 'reconcile' THEN 0 ELSE expected END)
                   FROM _odoosync_batches WHERE user = ? GROUP BY module""",
                (user,),
            )
        }
        result: list[ModuleProgress] = []
        for mod in self.module_rows(user):
            t = totals.get(mod.module)
            result.append(
                ModuleProgress(
                    module=mod.module,
                    model=mod.model,
                    batches_total=int(t[1]) if t else 0,
                    batches_done=int(t[2] or 0) if t else 0,
                    batches_failed=int(t[3] or 0) if t else 0,
                    records_synced=int(t[4] or 0) if t else 0,
                    records_expected=int(t[5] or 0) if t else 0,
                    mirrored=self.mirrored_count(user, mod.table_name),
                    state=mod.state,
                    note=mod.note,
                )
            )
        return result

    def _clear_rows(self, user: str, tables: Iterable[str]) -> ClearCounts:
        counts = ClearCounts()
        for table in tables:
            if not self.db.table(table).exists():
                continue
            n = self.conn.execute(
                f"DELETE FROM {quote_identifier(table)} WHERE user = ?", (user,)
            ).rowcount
            counts.records += n
            counts.tables.append(table)
        return counts

    @_translated
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
                counts.batches = self.conn.execute(
                    "DELETE FROM _odoosync_batches WHERE user = ?", (user,)
                ).rowcount
                self.conn.execute("DELETE FROM _odoosync_modules WHERE user = ?", (user,))
                self.conn.execute(
                    "UPDATE _odoosync_users SET status = ?, last_error = NULL, "
                    "last_error_at = NULL, prepared_at = NULL WHERE name = ?",
                    (IDLE, user),
                )
                return counts
            counts = self._clear_rows(user, [table] if table else [])
            counts.batches = self.conn.execute(
                "DELETE FROM _odoosync_batches WHERE user = ? AND module = ?", (user, module)
            ).rowcount
            self.conn.execute(
                "DELETE FROM _odoosync_modules WHERE user = ? AND module = ?", (user, module)
            )
            return counts

    @_translated
    def queue(self, user: str) -> None:
        """Queue a user for a new sync: ``not_started`` is what the loop prepares."""
        self.set_status(user, NOT_STARTED)


def _allocate(name: str, taken: set[str]) -> str:
    candidate = name
    n = 2
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _create_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:  # FileExistsError too: a file stands where a directory should be
        raise StoreError(
            f"cannot create the directory of database file {path} ({exc.strerror})",
            hint="Check that you may write there and that no file has a directory's name, "
            "or choose another --db.",
        ) from exc
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # another process created it first; it did so with the same mode
    except OSError as exc:
        raise StoreError(
            f"cannot create database file {path} ({exc.strerror})",
            hint="Check that you may write to its directory, or choose another --db.",
        ) from exc
    os.close(fd)


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

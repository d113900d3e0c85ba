"""The SQLite backend's migrations: ordered, named, each applied in one transaction.

The names are recorded in ``_odoosync_migrations``; a file with a name this version does not
know was written by a newer odoosync and is refused. The same named list serves every backend.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from sqlite_utils.db import quote_identifier

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.codec import sorted_ids_text
from odoo_sync_cli.mirror.sqlite.connection import SqliteBase, translated
from odoo_sync_cli.models import utc_now

# A rewrite of the whole file is due (see SqliteState.scrub).
SCRUB_PENDING = "scrub_pending"


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
    # `secret` column until the engine has moved it out (SqliteState.plain_secrets), then the column
    # is dropped and the file rewritten (SqliteState.drop_plain_secrets, SqliteState.scrub).
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
    drop_column(conn, "secret_env")
    if conn.execute("SELECT 1 FROM _odoosync_users WHERE secret IS NOT NULL").fetchone() is None:
        drop_column(conn, "secret")


def drop_column(conn: sqlite3.Connection, column: str) -> None:
    try:
        conn.execute(f"ALTER TABLE _odoosync_users DROP COLUMN {column}")
    except sqlite3.OperationalError:
        # SQLite before 3.35 cannot drop a column: it stays, empty, and is never read.
        conn.execute(f"UPDATE _odoosync_users SET {column} = NULL")


def m004_x2many_sorted(conn: sqlite3.Connection) -> None:
    # x2many columns hold their ids ascending from now on. Rows stored before kept Odoo's order,
    # which changes between reads: rewritten once here, so that every row is in the canonical
    # form, an unchanged record stays byte-identical and the next sync rewrites nothing of it.
    conn.create_function("odoosync_sorted_ids", 1, sorted_ids_text, deterministic=True)
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


def m006_history_and_comodels(conn: sqlite3.Connection) -> None:
    # A many2one's comodel, for the views with current names (mirror/views.py): NULL until the
    # next prepare reads the fields again. And which users keep history in which mirror table
    # (mirror/history.py): a page's commit reads it, so the engine never carries the setting.
    conn.execute("ALTER TABLE _odoosync_fields ADD COLUMN relation TEXT")
    conn.execute(
        """
        CREATE TABLE _odoosync_history (
            user TEXT NOT NULL REFERENCES _odoosync_users(name) ON DELETE CASCADE,
            table_name TEXT NOT NULL,
            since TEXT NOT NULL,
            PRIMARY KEY (user, table_name)
        )
        """
    )


def m007_module_names(conn: sqlite3.Connection) -> None:
    # The many2one fields a module reads with their display name, decided when it is planned;
    # NULL for plans made before, which read every name.
    conn.execute("ALTER TABLE _odoosync_modules ADD COLUMN names TEXT")


def m008_reconcile_timing(conn: sqlite3.Connection) -> None:
    # When each module last reconciled and how long that took: the "auto" reconcile policy
    # spaces a big module's reconciles by them. NULL: never reconciled since this migration.
    conn.execute("ALTER TABLE _odoosync_modules ADD COLUMN reconciled_at TEXT")
    conn.execute("ALTER TABLE _odoosync_modules ADD COLUMN reconcile_seconds REAL")


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("m001_initial", m001_initial),
    ("m002_user_insecure", m002_user_insecure),
    ("m003_secret_locations", m003_secret_locations),
    ("m004_x2many_sorted", m004_x2many_sorted),
    ("m005_batch_restored", m005_batch_restored),
    ("m006_history_and_comodels", m006_history_and_comodels),
    ("m007_module_names", m007_module_names),
    ("m008_reconcile_timing", m008_reconcile_timing),
)
# Migrations after which an existing file is rewritten once: freed pages of a database written
# before them may still hold a secret in clear.
SCRUB_AFTER = frozenset({"m003_secret_locations"})


@translated
def migrate(base: SqliteBase, *, create: bool) -> None:
    """Apply the migrations ``base`` lacks; a file that is not ours is refused first."""
    conn = base.conn
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_odoosync_migrations'"
    ).fetchone()
    if not exists and not create:
        raise StoreError(
            f"{base.path} is not an odoosync database",
            hint="Point --db or ODOOSYNC_DB at the file `odoosync user add` created.",
        )
    known = {name for name, _ in MIGRATIONS}
    if exists:
        # Up to date is the usual case: a read, so `status` works while another process
        # holds the write lock.
        done = {r[0] for r in conn.execute("SELECT name FROM _odoosync_migrations")}
        if done == known:
            return
    with base._write():
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _odoosync_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM _odoosync_migrations")}
        unknown = done - known
        if unknown:
            raise StoreError(
                f"{base.path} was written by a newer odoosync (migrations {sorted(unknown)})",
                hint="Upgrade odoosync.",
            )
        for name, migration in MIGRATIONS:
            if name in done:
                continue
            migration(conn)
            conn.execute(
                "INSERT INTO _odoosync_migrations (name, applied_at) VALUES (?, ?)",
                (name, utc_now()),
            )
        if exists and SCRUB_AFTER - done:
            base._set_meta(SCRUB_PENDING, "1")

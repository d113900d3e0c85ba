"""The two places a mirror can live, for tests that run against both: a SQLite file and a
schema of the session's throwaway PostgreSQL.

A test takes the ``backend`` fixture (conftest.py), parametrized over both. ``ODOOSYNC_DB``
and ``ODOOSYNC_PG_SCHEMA`` point at the test's own mirror, so settings, the command line and
subprocesses all find it; :meth:`Backend.sql` reads and writes it with plain SQL through the
backend's own driver, never through odoosync.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from odoo_sync_cli import mirror
from odoo_sync_cli.config import Settings
from odoo_sync_cli.mirror import Mirror
from torture.common import Where

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)


@dataclass(frozen=True)
class Backend:
    """Where one test's mirror is."""

    name: str
    db: str
    schema: str = "odoosync"

    @property
    def is_postgres(self) -> bool:
        return self.name == POSTGRESQL

    @property
    def path(self) -> Path:
        """The SQLite file (only for the SQLite backend)."""
        assert not self.is_postgres, "a PostgreSQL mirror has no file"
        return Path(self.db)

    @property
    def where(self) -> Where:
        """The same place as the torture harness names it (its checks read either backend)."""
        return Where(self.db, self.schema)

    def settings(self, **values: Any) -> Settings:
        values.setdefault("db", self.db)
        values.setdefault("pg_schema", self.schema)
        return Settings(**values)

    def open(self, *, create: bool = False) -> Mirror:
        return mirror.open_mirror(self.settings(), create=create)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` (``?`` placeholders, ``"user"`` quoted) in its own transaction."""
        if self.is_postgres:
            with psycopg.connect(self.db, autocommit=True) as conn:
                conn.execute(
                    pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema))
                )
                cur = conn.execute(query.replace("?", "%s"), params)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        conn = sqlite3.connect(self.db, isolation_level=None)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def columns(self, table: str) -> set[str]:
        """The columns of a table of the mirror (empty when it has no such table)."""
        if self.is_postgres:
            rows = self.sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                (self.schema, table),
            )
            return {r[0] for r in rows}
        return {r[1] for r in self.sql(f'PRAGMA table_info("{table}")')}

    def drop(self) -> None:
        """Remove the test's schema (PostgreSQL); a SQLite file goes with its temp dir."""
        if self.is_postgres:
            with psycopg.connect(self.db, autocommit=True) as conn:
                conn.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        pgsql.Identifier(self.schema)
                    )
                )

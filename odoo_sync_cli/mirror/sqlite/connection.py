"""Opening an odoosync SQLite file: private mode, ownership check, pragmas, error mapping.

The database is one SQLite file, created with mode 0600, in WAL mode with a busy timeout so a
reader never blocks the syncing process. Every sqlite3 error a method raises becomes one
:class:`StoreError` with a hint (:func:`translated`), here and nowhere else.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, Self, TypeVar, cast

import sqlite_utils

from odoo_sync_cli.errors import StoreError

BUSY_TIMEOUT_SECONDS = 10.0

# SQLite has one writer per file. Threads of one process (the loop's users, a user's streams)
# take turns at it on a lock per file: the next one wakes the moment the last one commits.
# Without it they would wait in SQLite's busy handler, which sleeps and polls (1 ms, then
# longer steps up to 100 ms): the writer would become a queue of sleepers. Other processes
# still meet the busy timeout.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def writer_lock(path: Path) -> threading.RLock:
    """The lock this process's connections to the file at ``path`` write under."""
    key = os.path.realpath(path)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.RLock())


P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B", bound="SqliteBase")


def describe(exc: sqlite3.Error, path: Path) -> StoreError:
    """A sqlite3 error as one readable StoreError naming the file and what to do."""
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


def translated(method: Callable[Concatenate[B, P], R]) -> Callable[Concatenate[B, P], R]:
    """Turn sqlite3 errors raised by ``method`` into a StoreError with a hint."""

    @functools.wraps(method)
    def wrapper(self: B, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc

    return cast("Callable[Concatenate[B, P], R]", wrapper)


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (and its directory, 0700)."""
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


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection to the file at ``path``; only ``create=True`` may make a new file."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory", hint="Give --db the path of a file.")
    if not path.exists():
        if not create:
            raise StoreError(
                f"database file {path} does not exist",
                hint="Add a user first (`odoosync user add ...`), or point --db or "
                "ODOOSYNC_DB at an existing odoosync database.",
            )
        create_private_file(path)
    try:
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise describe(exc, path) from exc


class SqliteBase:
    """One open odoosync SQLite file: the connection every part of the backend shares."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._writer = writer_lock(path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @translated
    def check_ours(self, *, create: bool) -> None:
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

    @translated
    def configure(self) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch the database to WAL mode (got {mode})")
        # In WAL mode NORMAL loses nothing a killed process committed; only a power cut can.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once so a reader upgrading to writer cannot deadlock;
        this process's threads take turns on :func:`writer_lock`."""
        with self._writer:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

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

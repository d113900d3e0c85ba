"""Connecting to PostgreSQL: where (shown without its password), session settings, errors, and
a connection that comes back.

The database setting is a libpq URL (``postgresql://user@host:5432/dbname``, several hosts,
``?sslmode=...``, ``postgresql:///?service=name``), passed to libpq as it is: the password may
be in it, or come from ``PGPASSWORD``, ``~/.pgpass`` or a service file, all libpq's own. odoosync
never shows the URL itself: :func:`describe_url` keeps the hosts, port and database name, and
every message built from a driver error has the password blanked out.

A connection is opened in autocommit mode, so a read leaves no transaction open; every write
is one explicit transaction. Its session reads in UTC and ISO dates, with the mirror's schema
first on the search path.

Every method of the backend that talks to the server is wrapped by :func:`translated`: a driver
error becomes one :class:`StoreError` naming the server and what to do, and a connection lost
(the server restarted, a network cut) is opened again, for up to :data:`RECONNECT_SECONDS`,
and the method's transaction run again from its start. A transaction lost with its connection
either committed or did not; the methods that run again are those for which both cases end the
same (the page commit checks which it was: :meth:`PgBase.retrying`).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Self, TypeVar, cast, overload

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.numeric import FloatLoader
from psycopg.types.string import TextLoader

from odoo_sync_cli.errors import LeaseError, StoreError, safe_url

RECONNECT_SECONDS = 30.0
# Set unless the URL says otherwise: a server that does not answer is reported in seconds, and
# a connection whose peer vanished (a machine lost) is noticed within about a minute.
CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "fallback_application_name": "odoosync",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
# SQLSTATE classes and codes of a connection that is gone: connection exceptions, and the
# server shutting down, crashing or still starting.
_LOST_CLASSES = ("08",)
_LOST_CODES = ("57P01", "57P02", "57P03")

P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B", bound="PgBase")


@dataclass(frozen=True)
class Target:
    """The server, database and schema of a PostgreSQL mirror."""

    url: str
    schema: str

    @property
    def shown(self) -> str:
        """Where the mirror is, fit for a message: never the password."""
        return f"{describe_url(self.url)} schema {self.schema}"

    def password(self) -> str | None:
        try:
            password = conninfo_to_dict(self.url).get("password")
        except psycopg.Error:
            return None
        return str(password) if password else None


def describe_url(url: str) -> str:
    """A libpq URL without its user, password and options: hosts, port and database."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "<invalid PostgreSQL URL>"
    if params.get("service") and not params.get("host"):
        return f"PostgreSQL service {params['service']}"
    shown = safe_url(url) or ""
    return shown if "//" in shown else "PostgreSQL (host and database from the environment)"


def lock_key(schema: str, user: str) -> int:
    """The advisory lock of one user of one mirror: 63 bits of a hash, the same everywhere."""
    digest = hashlib.blake2b(f"{schema}\n{user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _blank(text: str, target: Target) -> str:
    password = target.password()
    if password:
        text = text.replace(password, "**********")
    return text.replace(target.url, describe_url(target.url))


def lost(exc: psycopg.Error, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``exc`` means the connection is gone (rather than a statement that failed)."""
    code = exc.sqlstate or ""
    if code.startswith(_LOST_CLASSES) or code in _LOST_CODES:
        return True
    return isinstance(exc, psycopg.OperationalError) and (conn is None or conn.broken)


def describe(exc: psycopg.Error, target: Target) -> StoreError:
    """A driver error as one StoreError naming the server and what to do; never the password."""
    text = _blank(_first_line(str(exc)), target)
    low = text.lower()
    where = target.shown
    code = exc.sqlstate or ""
    if "password authentication failed" in low or "no password supplied" in low:
        return StoreError(
            f"PostgreSQL at {describe_url(target.url)} refused the login ({_short(text)})",
            hint="Check the user and password: in the URL, PGPASSWORD, ~/.pgpass or the "
            "service file.",
        )
    if "does not exist" in low and "database" in low and not code:
        return StoreError(
            f"PostgreSQL at {describe_url(target.url)}: {_short(text)}",
            hint="Create the database (`createdb NAME`) or fix its name in --db / ODOOSYNC_DB.",
        )
    if code == "42501" or "permission denied" in low:
        return StoreError(
            f"no permission on the mirror at {where} ({_short(text)})",
            hint=f"Grant the role what odoosync needs: `GRANT USAGE, CREATE ON SCHEMA "
            f"{target.schema} TO role` and rights on its tables (or CREATE on the database, "
            "to let odoosync make the schema).",
        )
    if isinstance(exc, psycopg.OperationalError) and not code:
        return StoreError(
            f"cannot reach PostgreSQL at {describe_url(target.url)} ({_short(text)})",
            hint="Check that the server runs and that the host, port and database in --db "
            "(or ODOOSYNC_DB) are right.",
        )
    return StoreError(
        f"PostgreSQL error on {where}: {_short(text)}",
        hint="Run again with --debug for the details.",
    )


def _first_line(text: str) -> str:
    # libpq writes "connection to server at ... failed: <why>" and a second line of advice
    # (``Is the server running...``); the why is what a one-line message needs.
    for marker in ("failed: FATAL:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
            break
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:1] + [line for line in lines[1:] if line.startswith(("DETAIL", "HINT"))])


def _short(text: str) -> str:
    # libpq prefixes "connection failed: connection to server at ... failed:"; the host is
    # named by the message already.
    for marker in ("failed: FATAL: ", "failed: "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return text.strip()


def connect(target: Target) -> psycopg.Connection[Any]:
    """A connection to the mirror's server, set up for odoosync (autocommit, UTC, ISO)."""
    try:
        params = conninfo_to_dict(target.url)
    except psycopg.Error as exc:
        raise StoreError(
            f"{describe_url(target.url)} is not a PostgreSQL URL odoosync can use "
            f"({_blank(str(exc), target)})",
            hint="Write it as postgresql://user@host:5432/dbname (see libpq's connection URIs).",
        ) from None
    missing = {k: v for k, v in CONNECT_DEFAULTS.items() if k not in params}
    try:
        conn = psycopg.connect(make_conninfo(target.url, **missing), autocommit=True)
    except psycopg.Error as exc:
        raise describe(exc, target) from None
    try:
        for name in ("jsonb", "json", "date", "timestamp"):
            conn.adapters.register_loader(name, TextLoader)
        conn.adapters.register_loader("numeric", FloatLoader)
        conn.execute(
            sql.SQL("SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO'; SET search_path TO {}").format(
                sql.Identifier(target.schema)
            )
        )
    except psycopg.Error as exc:
        conn.close()
        raise describe(exc, target) from None
    return conn


class PgBase:
    """One connection to a PostgreSQL mirror, and what comes back with it after a loss."""

    def __init__(self, target: Target, conn: psycopg.Connection[Any]) -> None:
        self.target = target
        self.conn = conn
        # Users whose lease this connection holds: name -> (owner, lock key).
        self._held: dict[str, tuple[str, int]] = {}
        # Temporary tables of this session that pages are copied into: mirror table -> the
        # temporary table's name and columns (name, type).
        self._staging: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self._attempt = 0

    @property
    def schema(self) -> str:
        return self.target.schema

    def close(self) -> None:
        try:
            for name, (owner, _) in list(self._held.items()):
                self.conn.execute(
                    "UPDATE _odoosync_users SET lease_owner = NULL, lease_until = NULL "
                    "WHERE name = %s AND lease_owner = %s",
                    (name, owner),
                )
        except psycopg.Error:
            pass  # the locks go with the connection; the rows expire
        finally:
            self._held.clear()
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def retrying(self) -> bool:
        """Whether the method running is a second attempt, after its connection was lost."""
        return self._attempt > 0

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction, and a cursor in it."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            yield cur

    def _reconnect(self, deadline: float, cause: psycopg.Error) -> None:
        """Open the connection again, and take back the leases it held, or raise."""
        self._staging.clear()
        held, self._held = self._held, {}
        self.conn.close()
        wait = 0.1
        while True:
            try:
                self.conn = connect(self.target)
                break
            except StoreError as exc:
                if time.monotonic() + wait > deadline:
                    raise StoreError(
                        f"lost the connection to PostgreSQL at {self.target.shown} and could "
                        f"not open it again within {RECONNECT_SECONDS:.0f} s ({exc.message})",
                        hint="Check the server; the sync resumes from its last commit when "
                        "run again.",
                    ) from cause
                time.sleep(wait)
                wait = min(wait * 2, 2.0)
        for name, (owner, key) in held.items():
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                raise LeaseError(
                    f"user '{name}' was taken over by another process while the connection to "
                    "PostgreSQL was down; this page was not stored",
                    hint="Only one process may sync a user at a time; the other one carries on.",
                )
            self._held[name] = (owner, key)


@overload
def translated(
    method: Callable[Concatenate[B, P], R], *, retry: bool = True
) -> Callable[Concatenate[B, P], R]: ...


@overload
def translated(
    method: None = None, *, retry: bool = True
) -> Callable[[Callable[Concatenate[B, P], R]], Callable[Concatenate[B, P], R]]: ...


def translated(method: Any = None, *, retry: bool = True) -> Any:
    """Turn driver errors into a StoreError; with ``retry``, run the method again on a new
    connection when the old one was lost."""

    def decorate(fn: Callable[Concatenate[B, P], R]) -> Callable[Concatenate[B, P], R]:
        @functools.wraps(fn)
        def wrapper(self: B, *args: P.args, **kwargs: P.kwargs) -> R:
            deadline: float | None = None
            outer = self._attempt
            try:
                while True:
                    try:
                        return fn(self, *args, **kwargs)
                    except psycopg.Error as exc:
                        if not (retry and outer == 0 and lost(exc, self.conn)):
                            raise describe(exc, self.target) from exc
                        if deadline is None:
                            deadline = time.monotonic() + RECONNECT_SECONDS
                        self._reconnect(deadline, exc)
                        self._attempt += 1
            finally:
                self._attempt = outer

        return cast("Callable[Concatenate[B, P], R]", wrapper)

    return decorate if method is None else decorate(method)

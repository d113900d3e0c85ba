"""Where the mirror lives: the backends behind the sync state and the record sink.

:func:`open_mirror` is the one place that picks a backend, from the database setting
(``--db``, ``ODOOSYNC_DB``, ``db`` in the settings file): a ``postgresql://`` (or
``postgres://``) URL is a schema of a PostgreSQL database (``pg_schema``, ``odoosync`` by
default), anything else the path of a SQLite file. The engine talks to what it returns through
:class:`~odoo_sync_cli.mirror.base.Mirror` and never names a backend.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from odoo_sync_cli.config import Settings
from odoo_sync_cli.mirror.base import Mirror, Page, ReconcilePage, RecordSink, SyncState

__all__ = [
    "Mirror",
    "Page",
    "ReconcilePage",
    "RecordSink",
    "SyncState",
    "describe",
    "is_server_url",
    "may_hold_plain_secrets",
    "mirror_exists",
    "open_mirror",
]

# URL schemes of a PostgreSQL database, as libpq reads them.
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_server_url(db: str | None) -> bool:
    """Whether the database setting names a PostgreSQL database (else it is a SQLite file)."""
    return urlsplit(str(db or "")).scheme.lower() in _POSTGRES_SCHEMES


def open_mirror(settings: Settings, *, create: bool = False) -> Mirror:
    """Open the mirror the settings name; only ``create=True`` may make a new one."""
    # Imported where the choice is made: a backend's driver loads only when chosen.
    if is_server_url(settings.db):
        from odoo_sync_cli.mirror.postgres import PgMirror

        return PgMirror.open(str(settings.db), schema=settings.pg_schema, create=create)
    from odoo_sync_cli.mirror.sqlite import SqliteMirror

    return SqliteMirror.open(settings.db_path, create=create)


def mirror_exists(settings: Settings) -> bool:
    """Whether the mirror the settings name has been created."""
    if is_server_url(settings.db):
        from odoo_sync_cli.mirror.postgres import PgMirror

        return PgMirror.exists(str(settings.db), schema=settings.pg_schema)
    return settings.db_path.exists()


def may_hold_plain_secrets(settings: Settings) -> bool:
    """Whether the mirror may be one an older odoosync kept secrets in, in clear: an existing
    SQLite file (a PostgreSQL mirror never held one)."""
    return not is_server_url(settings.db) and settings.db_path.exists()


def describe(settings: Settings) -> str:
    """Where the mirror is, fit for a message: a file's path, or a server without password."""
    if is_server_url(settings.db):
        from odoo_sync_cli.mirror.postgres import Target

        return Target(str(settings.db), settings.pg_schema).shown
    return str(settings.db_path)

"""Where the mirror lives: the backends behind the sync state and the record sink.

:func:`open_mirror` is the one place that picks a backend, from the database setting
(``--db``, ``ODOOSYNC_DB``, ``db`` in the settings file): a path is a SQLite file. The engine
talks to what it returns through :class:`~odoo_sync_cli.mirror.base.Mirror` and never names a
backend.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from odoo_sync_cli.config import Settings
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.mirror.base import Mirror, Page, ReconcilePage, RecordSink, SyncState

__all__ = [
    "Mirror",
    "Page",
    "ReconcilePage",
    "RecordSink",
    "SyncState",
    "mirror_exists",
    "open_mirror",
]

# URL schemes of database servers: no backend for them ships yet.
_SERVER_SCHEMES = ("postgresql", "postgres")


def _check_backend(settings: Settings) -> None:
    scheme = urlsplit(str(settings.db or "")).scheme.lower()
    if scheme in _SERVER_SCHEMES:
        raise ConfigError(
            "a PostgreSQL database was given as the mirror, and this odoosync keeps its mirror "
            "in a SQLite file only",
            hint="Give --db (or ODOOSYNC_DB, or db in the settings file) the path of a file.",
        )


def open_mirror(settings: Settings, *, create: bool = False) -> Mirror:
    """Open the mirror the settings name; only ``create=True`` may make a new one."""
    _check_backend(settings)
    # Imported here, where the choice is made: a backend's driver loads only when chosen.
    from odoo_sync_cli.mirror.sqlite import SqliteMirror

    return SqliteMirror.open(settings.db_path, create=create)


def mirror_exists(settings: Settings) -> bool:
    """Whether the mirror the settings name has been created."""
    _check_backend(settings)
    return settings.db_path.exists()

"""The SQLite backend, the embedded default: one file, WAL, mode 0600, through sqlite-utils."""

from odoo_sync_cli.mirror.sqlite.backend import SqliteMirror
from odoo_sync_cli.mirror.sqlite.connection import BUSY_TIMEOUT_SECONDS, describe
from odoo_sync_cli.mirror.sqlite.migrations import MIGRATIONS, SCRUB_AFTER

__all__ = ["BUSY_TIMEOUT_SECONDS", "MIGRATIONS", "SCRUB_AFTER", "SqliteMirror", "describe"]

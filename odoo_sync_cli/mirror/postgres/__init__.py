"""The PostgreSQL backend, for many workers on many machines and for BI tools: one schema of one
database, through psycopg 3."""

from odoo_sync_cli.mirror.postgres.backend import PgMirror
from odoo_sync_cli.mirror.postgres.connection import RECONNECT_SECONDS, Target, describe_url
from odoo_sync_cli.mirror.postgres.migrations import MIGRATIONS

__all__ = ["MIGRATIONS", "RECONNECT_SECONDS", "PgMirror", "Target", "describe_url"]

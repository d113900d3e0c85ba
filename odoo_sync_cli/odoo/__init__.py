"""Talking to Odoo: :class:`OdooClient` over a JSON-RPC or JSON-2 transport."""

from odoo_sync_cli.odoo.client import OdooClient
from odoo_sync_cli.odoo.retry import RetryPolicy
from odoo_sync_cli.odoo.transport import ClientStats, Connection, Protocol, Transport, WireProtocol

__all__ = [
    "ClientStats",
    "Connection",
    "OdooClient",
    "Protocol",
    "RetryPolicy",
    "Transport",
    "WireProtocol",
]

"""Talking to Odoo: :class:`OdooClient` over a transport of the protocol registry (JSON-RPC,
JSON-2)."""

from odoo_sync_cli.odoo.client import OdooClient
from odoo_sync_cli.odoo.protocols import AUTO, PROTOCOLS, TRANSPORTS, choices_text
from odoo_sync_cli.odoo.retry import RetryPolicy
from odoo_sync_cli.odoo.transport import (
    ClientStats,
    Connection,
    ProtocolSetting,
    Transport,
    WireProtocol,
)

__all__ = [
    "AUTO",
    "PROTOCOLS",
    "TRANSPORTS",
    "ClientStats",
    "Connection",
    "OdooClient",
    "ProtocolSetting",
    "RetryPolicy",
    "Transport",
    "WireProtocol",
    "choices_text",
]

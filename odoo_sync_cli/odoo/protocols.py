"""The wire protocols odoosync speaks, in one registry that the client, the engine and the CLI read.

A user's ``protocol`` setting is ``auto`` or a name of :data:`TRANSPORTS`. ``auto`` tries the
transports in :data:`AUTO_ORDER`, leaving out one the server is too old for
(``Transport.since``), and takes the first that accepts the secret. A new wire protocol is one
more transport class and one more entry here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from odoo_sync_cli.odoo.json2 import Json2Transport
from odoo_sync_cli.odoo.jsonrpc import JsonRpcTransport
from odoo_sync_cli.odoo.transport import ProtocolSetting, Transport

__all__ = ["AUTO", "AUTO_ORDER", "PROTOCOLS", "TRANSPORTS", "ProtocolSetting", "choices_text"]

AUTO = "auto"

TRANSPORTS: Mapping[str, type[Transport]] = {
    JsonRpcTransport.protocol: JsonRpcTransport,
    Json2Transport.protocol: Json2Transport,
}
# ``auto``'s preference: JSON-2 where the server has it (an API key, named arguments), else
# JSON-RPC, which every version serves and where the secret may be a password.
AUTO_ORDER: Sequence[str] = (Json2Transport.protocol, JsonRpcTransport.protocol)
PROTOCOLS: tuple[str, ...] = (AUTO, *TRANSPORTS)


def choices_text(names: Sequence[str] = PROTOCOLS) -> str:
    """``auto, jsonrpc or json2``: the choices, for a message."""
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]

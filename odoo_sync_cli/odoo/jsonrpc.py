"""JSON-RPC: ``POST /jsonrpc`` with the ``common`` and ``object`` services (every Odoo version).

Errors come back with HTTP 200 and an ``error`` object whose ``data.name`` is the Python exception
class on the server; :func:`~odoo_sync_cli.odoo.transport.classify_error` maps it. The password or
API key travels in every ``execute_kw`` body, which is why cassettes scrub bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from odoo_sync_cli.errors import AuthenticationError, OdooError, ServerError
from odoo_sync_cli.odoo.transport import (
    ErrorContext,
    Reply,
    Transport,
    classify_error,
    error_for_status,
    make_error,
    not_json_error,
    parse_retry_after,
)

__all__ = ["JsonRpcTransport"]

# Before Odoo 15.3 the first parameter of these methods was called ``args``, not ``domain``; sent
# positionally, the domain fits every version.
_DOMAIN_FIRST = frozenset({"search", "search_count"})


class JsonRpcTransport(Transport):
    """Odoo's JSON-RPC endpoint: authenticate once, then send uid and secret with each call."""

    protocol = "jsonrpc"
    title = "JSON-RPC"
    secret_as = "a password"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uid: int | None = None

    @property
    def uid(self) -> int | None:
        """The uid ``common.authenticate`` answered, once it has."""
        return self._uid

    def version(self) -> dict[str, Any]:
        ctx = self.session.context()
        result = self._rpc("common", "version", [], ctx)
        if not isinstance(result, dict) or "server_version" not in result:
            raise ServerError(
                "common.version did not answer a version; is this an Odoo server?",
                user=ctx.user,
                url=ctx.url,
            )
        return result

    def authenticate(self) -> int:
        conn = self.conn
        ctx = self.session.context()
        uid = self._rpc(
            "common",
            "authenticate",
            [conn.database, conn.login, conn.secret.get_secret_value(), {}],
            ctx,
        )
        # Odoo answers ``false`` (not an error) when the login or password is wrong.
        if isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
            raise AuthenticationError(
                f"the server refused login '{conn.login}' on database '{conn.database}' "
                "(wrong login, password or API key)",
                user=ctx.user,
                url=ctx.url,
            )
        self._uid = uid
        return uid

    def call(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        uid = self._uid if self._uid is not None else self.authenticate()
        positional: list[Any] = [list(ids)] if ids is not None else []
        positional.extend(args)
        named = dict(kwargs or {})
        if method in _DOMAIN_FIRST and not positional and "domain" in named:
            positional.append(named.pop("domain"))
        conn = self.conn
        return self._rpc(
            "object",
            "execute_kw",
            [
                conn.database,
                uid,
                conn.secret.get_secret_value(),
                model,
                method,
                positional,
                named,
            ],
            self.session.context(model, method),
        )

    def _rpc(self, service: str, method: str, args: list[Any], ctx: ErrorContext) -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        reply = self.session.request("POST", "/jsonrpc", ctx, json_body=body)
        data = reply.data
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self._error(data["error"], reply, ctx)
        if reply.status != 200:
            raise error_for_status(reply, ctx, database=self.conn.database)
        if not reply.is_json:
            raise not_json_error(reply, ctx)
        if not isinstance(data, dict):
            raise ServerError(
                "the answer to /jsonrpc is not a JSON-RPC envelope; is this an Odoo server?",
                user=ctx.user,
                url=ctx.url,
                model=ctx.model,
                method=ctx.method,
            )
        # Odoo leaves ``result`` out when the method returned None.
        return data.get("result")

    def _error(self, error: dict[str, Any], reply: Reply, ctx: ErrorContext) -> OdooError:
        details = error.get("data")
        name: str | None = None
        message = str(error.get("message") or "")
        if isinstance(details, dict):
            if isinstance(details.get("name"), str):
                name = details["name"]
            if details.get("message"):
                message = str(details["message"])
        return make_error(
            classify_error(reply.status, name, message),
            ctx,
            status=reply.status,
            name=name,
            message=message,
            retry_after=parse_retry_after(reply.headers.get("Retry-After")),
            database=self.conn.database,
        )

"""JSON-2 (Odoo 19+): ``POST /json/2/<model>/<method>`` with a bearer API key.

Arguments are named only; ``ids`` and ``context`` are reserved keys. Errors come back with a real
HTTP status and a bare ``{name, message, ...}`` body; an unknown database gets an HTML 404 page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from odoo_sync_cli.errors import AccessDeniedError, InvalidRequestError, OdooError, ServerError
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

__all__ = ["PROBE", "Json2Transport"]

# The cheapest call that proves a key works: a count over the primary key that matches nothing,
# on a model every internal user can read.
PROBE: tuple[str, str, dict[str, Any]] = (
    "res.partner",
    "search_count",
    {"domain": [["id", "=", 0]]},
)


class Json2Transport(Transport):
    """Odoo 19's JSON-2 endpoint; stateless, the API key goes with every request."""

    protocol = "json2"
    title = "JSON-2"
    secret_as = "an API key"
    since = 19

    def version(self) -> dict[str, Any]:
        ctx = self.session.context()
        reply = self.session.request("GET", "/web/version", ctx)
        if reply.status != 200:
            raise error_for_status(reply, ctx, database=self.conn.database)
        data = reply.data
        # Not JSON here is more likely a catch-all page than a cut-off answer: fall back, not retry.
        if not isinstance(data, dict) or "version" not in data:
            raise ServerError(
                "/web/version did not answer a version; is this an Odoo server?",
                user=ctx.user,
                url=ctx.url,
            )
        return {
            "server_version": data["version"],
            "server_version_info": data.get("version_info", []),
        }

    def authenticate(self) -> None:
        model, method, kwargs = PROBE
        try:
            self.call(model, method, kwargs=kwargs)
        except AccessDeniedError as exc:
            # Odoo checks model access after the key: its own AccessError proves the key is good.
            if exc.server_error != "odoo.exceptions.AccessError":
                raise
        return None

    def call(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        ctx = self.session.context(model, method)
        if args:
            raise InvalidRequestError(
                "JSON-2 takes named arguments only, and positional ones were given",
                user=ctx.user,
                url=ctx.url,
                model=model,
                method=method,
                hint="Pass the arguments by name (kwargs), or use the jsonrpc protocol.",
            )
        body: dict[str, Any] = dict(kwargs or {})
        if ids is not None:
            body["ids"] = list(ids)
        conn = self.conn
        headers = {
            "Authorization": f"bearer {conn.secret.get_secret_value()}",
            "X-Odoo-Database": conn.database,
        }
        path = f"/json/2/{quote(model, safe='.')}/{quote(method, safe='')}"
        reply = self.session.request("POST", path, ctx, json_body=body, headers=headers)
        if reply.status == 200:
            if not reply.is_json:
                raise not_json_error(reply, ctx)
            return reply.data
        raise self._error(reply, ctx)

    def _error(self, reply: Reply, ctx: ErrorContext) -> OdooError:
        data = reply.data
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            name: str = data["name"]
            message = str(data.get("message") or "")
            return make_error(
                classify_error(reply.status, name, message),
                ctx,
                status=reply.status,
                name=name,
                message=message,
                retry_after=parse_retry_after(reply.headers.get("Retry-After")),
                database=self.conn.database,
            )
        return error_for_status(reply, ctx, database=self.conn.database)

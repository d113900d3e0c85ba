"""The Odoo client the engine uses: one per Odoo user, over whichever transport fits the server.

``connect()`` reads the server version (``GET /web/version``, else ``common.version``), picks the
protocol and checks the credentials. With protocol ``auto`` a server of version 19 or later is
tried over JSON-2 with the secret as an API key; if the key is refused or JSON-2 is not served,
the client falls back to JSON-RPC, where the secret may be a password. The operations below do not
know which transport they run on, and every call is retried as :class:`RetryPolicy` allows.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import httpx

from odoo_sync_cli.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    OdooConfigError,
    OdooError,
    ServerError,
)
from odoo_sync_cli.odoo.protocols import AUTO, AUTO_ORDER, TRANSPORTS, choices_text
from odoo_sync_cli.odoo.retry import READ_METHODS, RetryPolicy, call_with_retries
from odoo_sync_cli.odoo.specification import (
    active_field,
    archived_by_domain,
    build_specification,
    named_pairs,
    without_names,
)
from odoo_sync_cli.odoo.transport import (
    ClientStats,
    Connection,
    HttpSession,
    ProtocolSetting,
    Transport,
    WireProtocol,
)

__all__ = ["ClientStats", "Connection", "OdooClient", "ProtocolSetting", "RetryPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# web_search_read takes a field specification from Odoo 17 on (16's took a list of fields).
WEB_READ_SINCE = 17


def _major(version: dict[str, Any]) -> int | None:
    """The major version number, from ``server_version_info`` or else ``server_version``."""
    info = version.get("server_version_info")
    if isinstance(info, list) and info:
        head = info[0]
        if isinstance(head, int) and not isinstance(head, bool):
            return head
        if isinstance(head, str) and (found := re.search(r"\d+", head)):
            return int(found.group())
    text = version.get("server_version")
    if isinstance(text, str) and (found := re.search(r"\d+", text)):
        return int(found.group())
    return None


class OdooClient:
    """Talk to one Odoo server as one user: version, credentials, searches and reads."""

    def __init__(
        self,
        conn: Connection,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008  (frozen, so one shared default is safe)
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        transports: Mapping[str, type[Transport]] = TRANSPORTS,
    ) -> None:
        """``transport`` replaces httpx's own (a test's ``MockTransport``); ``transports`` are
        the wire protocols by name, the registry of ``odoo.protocols`` unless a test hands in
        its own: the client never names one."""
        self.conn = conn
        self.retry = retry
        self.transports = transports
        self.stats = ClientStats()
        self._session = HttpSession(
            conn,
            timeout=timeout,
            connect_timeout=connect_timeout,
            verify=verify,
            transport=transport,
            stats=self.stats,
        )
        self._version: dict[str, Any] | None = None
        self._transport: Transport | None = None
        self._uid: int | None = None
        self._types: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        # Threads sharing the client (a user's streams) ask fields_get once between them.
        self._types_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OdooClient(user={self.conn.user!r}, url={self._session.base_url!r}, "
            f"protocol={self._transport.protocol if self._transport else None!r})"
        )

    # --- connection -------------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """The server version: ``server_version``, ``server_version_info``; needs no login."""
        if self._version is None:
            self._version = self._retrying(self._read_version)
        return dict(self._version)

    def connect(self) -> None:
        """Detect the version, choose the protocol and check the credentials; once."""
        if self._transport is not None:
            return
        self.version()
        self._transport = self._retrying(self._choose_transport)
        log.debug(
            "user %s: %s over %s", self.conn.user, self.server_version, self._transport.protocol
        )

    def check_credentials(self) -> None:
        """Ask the server whether the credentials are (still) good; AuthenticationError if not."""
        if self._transport is None:
            self.connect()
            return
        transport = self._transport
        uid = self._retrying(transport.authenticate)
        if uid is not None:
            self._uid = uid

    @property
    def protocol(self) -> WireProtocol:
        """The wire protocol in use (connects if needed)."""
        return self._connected().protocol

    @property
    def server_version(self) -> str:
        """The server's version string, e.g. ``"19.0"`` or ``"17.0+e"``."""
        return str(self.version().get("server_version", ""))

    @property
    def server_version_info(self) -> list[Any]:
        """The server's version tuple, e.g. ``[19, 0, 0, "final", 0, ""]``."""
        info = self.version().get("server_version_info")
        return list(info) if isinstance(info, list) else []

    @property
    def uid(self) -> int | None:
        """The user id JSON-RPC authentication answered; None over JSON-2 or before connecting."""
        return self._uid

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- operations -------------------------------------------------------------------------------

    def search(
        self,
        model: str,
        domain: Sequence[Any],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[int]:
        """Ids of the records matching ``domain``."""
        kwargs = _paging({"domain": list(domain)}, offset, limit, order, context)
        result = self.call(model, "search", kwargs=kwargs)
        if not isinstance(result, list) or not all(_is_int(i) for i in result):
            raise self._unexpected(model, "search", "a list of ids")
        return result

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``fields`` of the records matching ``domain``, in ``order``."""
        kwargs = _paging(
            {"domain": list(domain), "fields": list(fields)}, offset, limit, order, context
        )
        result = self.call(model, "search_read", kwargs=kwargs)
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise self._unexpected(model, "search_read", "a list of records")
        return result

    def read_page(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        names: Collection[str] = (),
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """What :meth:`search_read` returns, asking the server to format less.

        Only the many2one fields in ``names`` come back as ``[id, display_name]``; every other
        many2one comes back as its bare id (or False), without the server working out a name.
        Every other value is what ``search_read`` gives, x2many values included (archived
        comodel records left out, whatever ``active_test`` says).

        On Odoo 17 and later this is one ``web_search_read`` whose ``count_limit`` spares the
        server a count per page; see :mod:`odoo_sync_cli.odoo.specification` for how
        ``active_test: False`` is kept exact. Older servers, and domains whose meaning that
        rewrite could change, get ``search_read``, with the names left out afterwards.
        """
        if not fields:
            raise ValueError("read_page needs the fields to read")
        types = self.field_types(model)
        many2one = [f for f in dict.fromkeys(fields) if types.get(f) == "many2one"]
        wrong = [n for n in names if n not in many2one]
        if wrong:
            raise ValueError(f"names must be many2one fields among the fields read: {wrong}")
        ctx = dict(context or {})
        query = list(domain)
        web = (_major(self.version()) or 0) >= WEB_READ_SINCE
        if web and not ctx.get("active_test", True):
            rewritten = archived_by_domain(
                query, types, lambda path: self._path_unfiltered(model, path)
            )
            if rewritten is None:
                web = False
            else:
                query = rewritten
                del ctx["active_test"]
        if not web:
            rows = self.search_read(
                model, domain, fields, offset=offset, limit=limit, order=order, context=context
            )
            return without_names(rows, [f for f in many2one if f not in names])
        kwargs = _paging(
            {"domain": query, "specification": build_specification(fields, names)},
            offset,
            limit,
            order,
            ctx or None,
        )
        # Any count_limit the page's rows reach spares the count of every match Odoo makes
        # for a full page (its ``length``, which a keyset pager does not need).
        kwargs["count_limit"] = 1
        result = self.call(model, "web_search_read", kwargs=kwargs)
        records = result.get("records") if isinstance(result, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise self._unexpected(model, "web_search_read", "a page of records")
        return named_pairs(records, names)

    def field_types(self, model: str) -> Mapping[str, str]:
        """The type of each field of ``model`` (asked once per client and model)."""
        return MappingProxyType(self._field_info(model)[0])

    def _field_info(self, model: str) -> tuple[dict[str, str], dict[str, str]]:
        info = self._types.get(model)
        if info is not None:
            return info
        with self._types_lock:
            info = self._types.get(model)
            if info is None:
                fields = self.fields_get(model, attributes=["type", "relation"])
                types = {name: str(attrs.get("type", "")) for name, attrs in fields.items()}
                relations = {
                    name: str(attrs["relation"])
                    for name, attrs in fields.items()
                    if attrs.get("relation")
                }
                info = self._types[model] = (types, relations)
        return info

    def _path_unfiltered(self, model: str, path: str) -> bool:
        """Whether every model a dotted path searches lacks an archive filter.

        The path must go through many2one fields and end on a plain field: a relational last
        field would search one model more (by name, or through its lines).
        """
        *hops, last = path.split(".")
        for hop in hops:
            types, relations = self._field_info(model)
            if types.get(hop) != "many2one" or hop not in relations:
                return False
            model = relations[hop]
            if active_field(self._field_info(model)[0]) is not None:
                return False
        kind = self._field_info(model)[0].get(last)
        return kind is not None and kind not in ("many2one", "one2many", "many2many")

    def search_count(
        self,
        model: str,
        domain: Sequence[Any],
        *,
        limit: int | None = None,
        context: dict[str, Any] | None = None,
    ) -> int:
        """How many records match ``domain`` (counting stops at ``limit`` when given)."""
        kwargs: dict[str, Any] = {"domain": list(domain)}
        if limit is not None:
            kwargs["limit"] = limit
        if context is not None:
            kwargs["context"] = context
        result = self.call(model, "search_count", kwargs=kwargs)
        if not _is_int(result):
            raise self._unexpected(model, "search_count", "a number")
        return int(result)

    def read(
        self,
        model: str,
        ids: Sequence[int],
        fields: Sequence[str],
        *,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``fields`` of the records ``ids``; ids that no longer exist are left out."""
        kwargs: dict[str, Any] = {"fields": list(fields)}
        if context is not None:
            kwargs["context"] = context
        result = self.call(model, "read", ids=ids, kwargs=kwargs)
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise self._unexpected(model, "read", "a list of records")
        return result

    def fields_get(
        self,
        model: str,
        *,
        attributes: Sequence[str] | None = None,
        allfields: Sequence[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The model's fields and their ``attributes`` (all attributes when None)."""
        kwargs: dict[str, Any] = {}
        if allfields is not None:
            kwargs["allfields"] = list(allfields)
        if attributes is not None:
            kwargs["attributes"] = list(attributes)
        result = self.call(model, "fields_get", kwargs=kwargs)
        if not isinstance(result, dict) or not all(isinstance(v, dict) for v in result.values()):
            raise self._unexpected(model, "fields_get", "a mapping of fields")
        return result

    def call(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Call any public method; ``ids`` for a record method, keyword arguments by name."""
        transport = self._connected()
        return self._retrying(
            lambda: transport.call(model, method, ids=ids, args=args, kwargs=kwargs),
            read_only=method in READ_METHODS,
        )

    # --- internals --------------------------------------------------------------------------------

    def _retrying(self, fn: Callable[[], T], *, read_only: bool = True) -> T:
        return call_with_retries(fn, self.retry, self.stats, read_only=read_only)

    def _connected(self) -> Transport:
        if self._transport is None:
            self.connect()
        assert self._transport is not None
        return self._transport

    def _read_version(self) -> dict[str, Any]:
        *first, last = [self.transports[name] for name in AUTO_ORDER if name in self.transports]
        for cls in first:
            try:
                return cls(self._session).version()
            except (NotFoundError, InvalidRequestError, ServerError, OdooConfigError):
                # Servers before 19 may not serve /web/version (or send it to a login page);
                # common.version exists everywhere, and says so if the server redirects it too.
                continue
        return last(self._session).version()

    def _choose_transport(self) -> Transport:
        conn = self.conn
        major = _major(self._version or {})
        if conn.protocol != AUTO:
            cls = self.transports.get(conn.protocol)
            if cls is None:
                raise OdooConfigError(
                    f"unknown protocol '{conn.protocol}' (use {choices_text()})",
                    user=conn.user,
                    url=conn.url,
                )
            if not _serves(cls, major):
                others = [p for p in (AUTO, *self.transports) if p != conn.protocol]
                raise OdooConfigError(
                    f"the protocol is set to {conn.protocol}, but {cls.title} needs Odoo "
                    f"{cls.since} or later and this server runs {self.server_version}",
                    user=conn.user,
                    url=conn.url,
                    hint=f"Set the protocol of user {conn.user} to {choices_text(others)}.",
                )
            return self._authenticated(cls)
        *first, last = [
            cls
            for name in AUTO_ORDER
            if (cls := self.transports.get(name)) is not None and _serves(cls, major)
        ]
        refused: list[tuple[type[Transport], OdooError]] = []
        for cls in first:
            try:
                return self._authenticated(cls)
            except (AuthenticationError, NotFoundError) as exc:
                log.debug(
                    "user %s: %s not usable (%s); trying the next",
                    conn.user,
                    cls.title,
                    exc.message,
                )
                refused.append((cls, exc))
        try:
            return self._authenticated(last)
        except AuthenticationError as exc:
            if refused and all(isinstance(e, AuthenticationError) for _, e in refused):
                tried = " and ".join(
                    f"as {c.secret_as} ({c.title})" for c in [*(c for c, _ in refused), last]
                )
                raise AuthenticationError(
                    f"the secret was refused both {tried}",
                    user=conn.user,
                    url=conn.url,
                    hint=(
                        f"Create a new API key in Odoo for login '{conn.login}' and run "
                        f"`odoosync user set-secret {conn.user}`."
                    ),
                ) from exc
            raise

    def _authenticated(self, cls: type[Transport]) -> Transport:
        transport = cls(self._session)
        uid = transport.authenticate()
        if uid is not None:
            self._uid = uid
        return transport

    def _unexpected(self, model: str, method: str, expected: str) -> ServerError:
        return ServerError(
            f"the answer was not {expected}",
            user=self.conn.user,
            url=self.conn.url,
            model=model,
            method=method,
            hint="Is this an Odoo server? Run again with --debug and report it.",
        )


def _serves(cls: type[Transport], major: int | None) -> bool:
    """Whether a server of this major version (None: unknown) may serve ``cls``."""
    return cls.since is None or major is None or major >= cls.since


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _paging(
    kwargs: dict[str, Any],
    offset: int,
    limit: int | None,
    order: str | None,
    context: dict[str, Any] | None,
) -> dict[str, Any]:
    if offset:
        kwargs["offset"] = offset
    if limit is not None:
        kwargs["limit"] = limit
    if order:
        kwargs["order"] = order
    if context is not None:
        kwargs["context"] = context
    return kwargs

"""The interface every transport implements, and the HTTP plumbing they share.

A transport speaks one wire protocol (JSON-RPC or JSON-2) to one Odoo server for one user. It is
the only layer that sees httpx: :class:`HttpSession` sends the requests, and turns httpx
exceptions, HTTP statuses and Odoo error payloads into the tree of :mod:`odoo_sync_cli.errors`,
exactly once. :func:`classify_error` is the table drawn in that module's docstring.

Secrets: the password or API key is read from its ``SecretStr`` only where a request is built, and
any text a server sends back is blanked of it (:meth:`ErrorContext.redact`) before it reaches an
exception.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import html
import itertools
import json
import re
import ssl
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
import orjson
import pydantic

from odoo_sync_cli import __version__
from odoo_sync_cli.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConnectionLostError,
    DatabaseNotFoundError,
    InvalidRequestError,
    MethodNotFoundError,
    ModelNotFoundError,
    NotFoundError,
    OdooConfigError,
    OdooError,
    OdooTimeoutError,
    RateLimitedError,
    RetriableError,
    SerializationFailureError,
    ServerError,
    ServiceUnavailableError,
    TLSVerificationError,
    safe_url,
)

__all__ = [
    "USER_AGENT",
    "ClientStats",
    "Connection",
    "ErrorContext",
    "HttpSession",
    "ProtocolSetting",
    "Reply",
    "Transport",
    "WireProtocol",
    "classify_error",
    "make_error",
    "parse_retry_after",
    "translate_http_error",
]

# A user's protocol setting (``odoo.protocols`` holds the registry), and the wire in use.
ProtocolSetting = Literal["auto", "jsonrpc", "json2"]
WireProtocol = Literal["jsonrpc", "json2"]

USER_AGENT = f"odoosync/{__version__}"


@dataclass(frozen=True)
class Connection:
    """Where and as whom to talk to one Odoo server."""

    user: str
    url: str
    database: str
    login: str
    secret: pydantic.SecretStr
    protocol: ProtocolSetting = "auto"


@dataclass
class ClientStats:
    """Counters for one client: HTTP requests sent and retries made.

    Several threads may share a client (a user's streams), so the counts are taken under a lock.
    """

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1


@dataclass(frozen=True)
class ErrorContext:
    """What an error message needs to say where it happened; never shows the secret."""

    user: str | None = None
    url: str | None = None
    model: str | None = None
    method: str | None = None
    secret: pydantic.SecretStr | None = field(default=None, repr=False)

    def redact(self, text: str) -> str:
        """Blank out the secret from ``text`` (a server may echo what it was sent)."""
        if self.secret is None:
            return text
        value = self.secret.get_secret_value()
        return text.replace(value, "********") if value else text


# --- classification: the table in odoo_sync_cli.errors' docstring, row for row -------------------

_ANY = object()
_NO_NAME = object()


@dataclass(frozen=True)
class _Rule:
    status: int | None  # None: any status
    name: object  # a str, a frozenset of str, _ANY or _NO_NAME
    message: re.Pattern[str] | None
    error: type[OdooError]

    def matches(self, status: int, name: str | None, message: str) -> bool:
        if self.status is not None and status != self.status:
            return False
        if self.name is _NO_NAME:
            if name is not None:
                return False
        elif self.name is not _ANY:
            if name is None:
                return False
            if isinstance(self.name, frozenset):
                if name not in self.name:
                    return False
            elif name != self.name:
                return False
        return self.message is None or self.message.search(message) is not None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SERIALIZATION_NAMES = frozenset(
    {
        "psycopg2.errors.SerializationFailure",
        "psycopg2.errors.DeadlockDetected",
        "psycopg2.errors.LockNotAvailable",
        "psycopg2.extensions.TransactionRollbackError",
        "psycopg2.errors.TransactionRollback",
        "odoo.exceptions.LockError",
    }
)
_INVALID_NAMES = frozenset(
    {
        "odoo.exceptions.UserError",
        "odoo.exceptions.ValidationError",
        "odoo.exceptions.RedirectWarning",
        "builtins.ValueError",
        "builtins.TypeError",
        "builtins.KeyError",
        "builtins.AssertionError",
        "psycopg2.errors.InvalidTextRepresentation",
        "psycopg2.errors.InvalidDatetimeFormat",
        "psycopg2.errors.NumericValueOutOfRange",
        "psycopg2.errors.DatetimeFieldOverflow",
        "psycopg2.DataError",
    }
)

_RULES: tuple[_Rule, ...] = (
    # A proxy or the server says "not now": whatever the body, the request can be sent again.
    _Rule(429, _ANY, None, RateLimitedError),
    _Rule(502, _ANY, None, ServiceUnavailableError),
    _Rule(503, _ANY, None, ServiceUnavailableError),
    _Rule(504, _ANY, None, ServiceUnavailableError),
    _Rule(401, _ANY, None, AuthenticationError),
    _Rule(
        None,
        frozenset(
            {
                "odoo.exceptions.AccessDenied",
                "werkzeug.exceptions.Unauthorized",
                "odoo.http.SessionExpiredException",
            }
        ),
        None,
        AuthenticationError,
    ),
    _Rule(
        None,
        frozenset({"odoo.exceptions.AccessError", "werkzeug.exceptions.Forbidden"}),
        None,
        AccessDeniedError,
    ),
    _Rule(None, "odoo.exceptions.UserError", _re(r"^Object \S+ doesn't exist"), ModelNotFoundError),
    _Rule(
        None,
        "werkzeug.exceptions.NotFound",
        _re(r"^the model '.*' does not exist"),
        ModelNotFoundError,
    ),
    _Rule(
        None,
        frozenset({"werkzeug.exceptions.NotFound", "builtins.AttributeError"}),
        _re(r"^the method '.*' does not exist"),
        MethodNotFoundError,
    ),
    _Rule(
        None,
        frozenset({"werkzeug.exceptions.NotFound", "odoo.exceptions.MissingError"}),
        None,
        NotFoundError,
    ),
    _Rule(
        None,
        "psycopg2.OperationalError",
        _re(r'database ".*" does not exist'),
        DatabaseNotFoundError,
    ),
    _Rule(404, _NO_NAME, _re(r"no database"), DatabaseNotFoundError),
    _Rule(None, _SERIALIZATION_NAMES, None, SerializationFailureError),
    _Rule(
        None,
        _ANY,
        _re(r"could not serialize access|deadlock detected|could not obtain lock"),
        SerializationFailureError,
    ),
    _Rule(409, _ANY, None, SerializationFailureError),
    _Rule(None, _INVALID_NAMES, None, InvalidRequestError),
    _Rule(403, _ANY, None, AccessDeniedError),
    _Rule(404, _ANY, None, NotFoundError),
    _Rule(422, _ANY, None, InvalidRequestError),
    _Rule(400, _ANY, None, InvalidRequestError),
    _Rule(415, _ANY, None, InvalidRequestError),
)


def classify_error(status: int, name: str | None, message: str) -> type[OdooError]:
    """The exception class for an error answer: HTTP status, Odoo error name (or None), message."""
    for rule in _RULES:
        if rule.matches(status, name, message):
            return rule.error
    return ServerError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


_MAX_SERVER_TEXT = 300


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_SERVER_TEXT:
        text = text[: _MAX_SERVER_TEXT - 3] + "..."
    return text


def make_error(
    error: type[OdooError],
    ctx: ErrorContext,
    *,
    status: int | None,
    name: str | None,
    message: str,
    retry_after: float | None = None,
    database: str | None = None,
) -> OdooError:
    """Build the exception for an error answer, with a message that says what went wrong."""
    said = _one_line(ctx.redact(message))
    hint: str | None = None
    foreign = name is None and status is not None and 400 <= status < 500
    if foreign and error is not DatabaseNotFoundError:
        hint = (
            "The answer did not come from Odoo's API: check the server url (a proxy or another "
            "application may be answering)."
        )
    if error is AuthenticationError:
        if status == 401:
            text = f"the API key was rejected (expired or revoked?): {said}"
            who = ctx.user or "this user"
            hint = (
                f"Rotate the key for user {who}: create a new API key in Odoo and run "
                f"`odoosync user set-secret {who}`."
            )
        else:
            text = f"the server refused the login or its password/API key ({said})"
    elif error is ModelNotFoundError:
        text = f"model {ctx.model or '?'} does not exist on this server"
    elif error is MethodNotFoundError:
        text = f"this server has no such method ({said})"
    elif error is DatabaseNotFoundError:
        db = f"'{database}' " if database else ""
        text = f"database {db}does not exist on this server"
    elif error is NotFoundError and name is None:
        text = f"HTTP {status}: {said or 'not found'}"
    elif error is NotFoundError:
        text = f"not found: {said}"
    elif error is RateLimitedError:
        wait = f"; it asks to wait {retry_after:g} s" if retry_after is not None else ""
        text = f"the server is rate limiting requests (HTTP 429{wait})"
    elif error is ServiceUnavailableError:
        text = f"the server or its proxy is unavailable (HTTP {status})"
    elif error is SerializationFailureError:
        text = f"a concurrent update on the server made the request fail: {said}"
    elif error is AccessDeniedError:
        text = f"access denied: {said}"
    elif error is InvalidRequestError:
        text = f"the server rejected the request: {said}"
    elif error is ServerError and name is None:
        text = f"unexpected HTTP {status} answer: {said or '(empty body)'}"
    else:
        text = f"{name or 'error'}: {said}" if said else (name or f"HTTP {status}")
    kwargs: dict[str, Any] = {
        "user": ctx.user,
        "url": ctx.url,
        "model": ctx.model,
        "method": ctx.method,
        "hint": hint,
        "status": status,
        "server_error": name,
    }
    if issubclass(error, RetriableError):
        return error(text, retry_after=retry_after, **kwargs)
    return error(text, **kwargs)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return True
        current = current.__cause__ or current.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def _speaks_plain_http(exc: BaseException) -> bool:
    # What OpenSSL says when the first bytes back are not a TLS record, e.g. "HTTP/1.1 400".
    text = str(exc)
    return "WRONG_VERSION_NUMBER" in text or "wrong version number" in text


def translate_http_error(exc: Exception, ctx: ErrorContext) -> OdooError:
    """Turn an httpx exception into the odoosync error that says what happened and what to do."""
    common: dict[str, Any] = {
        "user": ctx.user,
        "url": ctx.url,
        "model": ctx.model,
        "method": ctx.method,
    }
    detail = _one_line(ctx.redact(str(exc))) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting to the server",
            httpx.ReadTimeout: "waiting for the answer",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "talking to the server")
        return OdooTimeoutError(f"timed out {phase}", **common)
    if isinstance(exc, httpx.ConnectError):
        if _speaks_plain_http(exc):
            return TLSVerificationError(
                f"the server does not speak TLS on this port: it answered like plain HTTP "
                f"({detail})",
                hint="Give the url as http://... if the server has no TLS on this port, or "
                "check the port.",
                **common,
            )
        if _is_tls_failure(exc):
            return TLSVerificationError(f"TLS verification failed: {detail}", **common)
        return ConnectionLostError(
            f"the server at {safe_url(ctx.url)} could not be reached ({detail})", **common
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return OdooConfigError(
            f"the url is not usable ({detail})",
            hint="Give the server's url as http://host[:port] or https://host[:port].",
            **common,
        )
    if isinstance(exc, httpx.TransportError):
        if _is_tls_failure(exc):
            return TLSVerificationError(f"TLS failure: {detail}", **common)
        return ConnectionLostError(
            f"the connection was lost before a complete answer ({detail})", **common
        )
    return ConnectionLostError(f"the HTTP exchange failed ({detail})", **common)


# --- the shared HTTP session ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers, and the body parsed as JSON when it is JSON, else its
    ``text``."""

    status: int
    headers: httpx.Headers
    text: str
    data: Any
    is_json: bool = True


def _check_url(conn: Connection) -> str:
    try:
        parts = urlsplit(conn.url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise OdooConfigError(
            "the url of this user is not a valid url",
            user=conn.user,
            hint="Give the server's url as http://host[:port] or https://host[:port].",
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OdooConfigError(
            f"the url {safe_url(conn.url)!s} is not an http(s) url",
            user=conn.user,
            hint="Give the server's url as http://host[:port] or https://host[:port].",
        )
    return conn.url.rstrip("/")


@functools.lru_cache(maxsize=2)
def _tls_context(verify: bool) -> ssl.SSLContext | bool:
    # Loading the trusted certificates costs tens of milliseconds; the loop makes a client per
    # user turn, so one context serves them all. Without verification httpx needs no context.
    return httpx.create_ssl_context(verify=True) if verify else False


class HttpSession:
    """One keep-alive ``httpx.Client`` for one user, shared by the transports of one client."""

    def __init__(
        self,
        conn: Connection,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        stats: ClientStats | None = None,
    ) -> None:
        self.conn = conn
        self.stats = stats if stats is not None else ClientStats()
        self.base_url = _check_url(conn)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": USER_AGENT},
            verify=_tls_context(verify),
            transport=transport,
            # A redirected POST may silently turn into a GET; better to say where the server went.
            follow_redirects=False,
        )

    def context(self, model: str | None = None, method: str | None = None) -> ErrorContext:
        """The error context for a request about ``model.method``."""
        return ErrorContext(
            user=self.conn.user,
            url=self.conn.url,
            model=model,
            method=method,
            secret=self.conn.secret,
        )

    def request(
        self,
        method: str,
        path: str,
        ctx: ErrorContext,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request; httpx failures and redirects raise odoosync errors, statuses do not."""
        content: bytes | None = None
        if json_body is not None:
            try:
                content = json.dumps(json_body, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(
                    f"the arguments cannot be sent as JSON ({exc})",
                    user=ctx.user,
                    url=ctx.url,
                    model=ctx.model,
                    method=ctx.method,
                    hint="Pass dates and datetimes as 'YYYY-MM-DD[ HH:MM:SS]' strings.",
                ) from None
        self.stats.count_request()
        try:
            if content is None:
                response = self._client.request(method, path, headers=headers)
            else:
                all_headers = {"Content-Type": "application/json", **(headers or {})}
                response = self._client.request(method, path, content=content, headers=all_headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise translate_http_error(exc, ctx) from None
        if response.is_redirect:
            location = safe_url(response.headers.get("Location", "")) or "elsewhere"
            raise OdooConfigError(
                f"the server redirects {path} to {location}",
                user=ctx.user,
                url=ctx.url,
                model=ctx.model,
                method=ctx.method,
                status=response.status_code,
                hint="Set the user's url to the address the server redirects to.",
            )
        try:
            # JSON is UTF-8: parsed from the bytes, a page's body is decoded once, and its text
            # is not kept beside the records (a page of 500 partners is about a megabyte).
            # orjson parses a page in half json's time; what it refuses (NaN, infinities,
            # bytes that are not UTF-8) is read by json below. It reads an integer beyond 64
            # bits as a float: no stored Odoo field holds one (its integers are 32-bit).
            return Reply(response.status_code, response.headers, "", orjson.loads(response.content))
        except ValueError:
            pass
        text = response.text  # decoded as httpx does, invalid bytes replaced
        try:
            return Reply(response.status_code, response.headers, "", json.loads(text))
        except ValueError:
            return Reply(response.status_code, response.headers, text, None, is_json=False)

    def close(self) -> None:
        self._client.close()


def error_for_status(reply: Reply, ctx: ErrorContext, *, database: str | None = None) -> OdooError:
    """The error for a non-200 answer whose body is not an Odoo error object."""
    text = reply.text if not reply.is_json else json.dumps(reply.data)
    if "html" in reply.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
        text = _html_text(text)
    return make_error(
        classify_error(reply.status, None, text),
        ctx,
        status=reply.status,
        name=None,
        message=text,
        retry_after=parse_retry_after(reply.headers.get("Retry-After")),
        database=database,
    )


_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)


def _html_text(page: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", page)).split())


def not_json_error(reply: Reply, ctx: ErrorContext) -> OdooError:
    """A 200 answer whose body is not JSON: most often cut short by a proxy or a dropped link."""
    return ConnectionLostError(
        f"the answer was not valid JSON ({len(reply.text)} characters; truncated?)",
        user=ctx.user,
        url=ctx.url,
        model=ctx.model,
        method=ctx.method,
        status=reply.status,
    )


# --- the transport interface ----------------------------------------------------------------------


class Transport(ABC):
    """One wire protocol to one server for one user; raises only odoosync errors."""

    protocol: ClassVar[WireProtocol]
    # In words, for messages: "JSON-2"; and what the secret is to it: "an API key".
    title: ClassVar[str]
    secret_as: ClassVar[str]
    # The first Odoo major version that serves it (None: every version).
    since: ClassVar[int | None] = None

    def __init__(self, session: HttpSession) -> None:
        self.session = session
        self.conn = session.conn
        self._ids = itertools.count(1)

    @abstractmethod
    def version(self) -> dict[str, Any]:
        """The server version: at least ``server_version`` and ``server_version_info``."""

    @abstractmethod
    def authenticate(self) -> int | None:
        """Check the credentials; return the uid when the protocol tells it."""

    @abstractmethod
    def call(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Call ``model.method`` on ``ids`` (a record method) or on the model (ids None)."""

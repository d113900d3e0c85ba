"""Every error odoosync raises, in one tree.

The command line has one handler: it prints ``str(error)`` (what went wrong, then what to
do) and exits with the ``exit_code`` of the error's class. The engine decides what to retry by
class: only ``RetriableError`` is worth trying again as is.

Hierarchy (exit code on the right; a subclass keeps its parent's code)::

    OdooSyncError                          any error odoosync raises on purpose          1
    ├── ConfigError                        bad settings file, key or value, unknown user 3
    │   ├── OdooConfigError                a user's settings do not fit its server
    │   │                                  (bad URL, JSON-2 on Odoo < 19); an OdooError too
    │   └── CredentialError                a secret store cannot give or keep a secret:
    │                                      keyring locked or absent, credentials file
    │                                      readable by others or bad TOML, key missing
    ├── StoreError                         the mirror database: not ours, locked,        7
    │   │                                  read-only, full, a damaged cursor
    │   └── LeaseError                     another process works on the user (or took
    │                                      it over while a page was read)
    ├── CursorError                        a page or a stored cursor breaks the paging   1
    │                                      rules (ids ascending past the cursor); the
    │                                      engine reports it as a ServerError or a
    │                                      StoreError, naming the user
    ├── VerificationError                  test-complete / validate-cursor mismatch      8
    └── OdooError                          talking to Odoo; names user, server, model    5
        ├── AuthenticationError            bad login or password, API key rejected       4
        ├── AccessDeniedError              no access to a model, field or method         5
        ├── TLSVerificationError           the server's certificate is not trusted       5
        ├── NotFoundError                  a record, or one of these:                    5
        │   ├── DatabaseNotFoundError
        │   ├── ModelNotFoundError
        │   └── MethodNotFoundError
        ├── InvalidRequestError            bad domain, field, order, value, arguments    5
        ├── ServerError                    any other failure on the server               6
        └── RetriableError                 worth retrying as is                          6
            ├── OdooTimeoutError           no answer within the timeout
            ├── ConnectionLostError        refused or dropped connection, cut-off body
            ├── RateLimitedError           HTTP 429 (``retry_after`` from Retry-After)
            ├── ServiceUnavailableError    HTTP 502, 503, 504
            └── SerializationFailureError  concurrent update, deadlock, lock not available

How the transports translate what a server answers
---------------------------------------------------
JSON-RPC answers errors with HTTP 200 and ``error.data.name``/``error.data.message``; JSON-2 answers
with an HTTP status and a body ``{name, message, ...}``. Both go through one function,
``odoo_sync_cli.odoo.transport.classify_error(status, name, message)``. Each row reads
``status  error-name  [message]  -> exception``; the first matching row wins. A ``*`` matches
anything, ``-`` means "no Odoo error in the body" (an HTML page, an empty or foreign body), and a
message, when given, is an example of the text that decides the row (other text does not match it).
The tests read these rows and check each one against that function::

    429  *                                                              -> RateLimitedError
    502  *                                                              -> ServiceUnavailableError
    503  *                                                              -> ServiceUnavailableError
    504  *                                                              -> ServiceUnavailableError
    401  *                                                              -> AuthenticationError
    *    odoo.exceptions.AccessDenied                                   -> AuthenticationError
    *    werkzeug.exceptions.Unauthorized                               -> AuthenticationError
    *    odoo.http.SessionExpiredException                              -> AuthenticationError
    *    odoo.exceptions.AccessError                                    -> AccessDeniedError
    *    werkzeug.exceptions.Forbidden                                  -> AccessDeniedError
    *    odoo.exceptions.UserError  Object no.such doesn't exist        -> ModelNotFoundError
    *    werkzeug.exceptions.NotFound  the model 'x' does not exist     -> ModelNotFoundError
    *    werkzeug.exceptions.NotFound  The method 'x.y' does not exist  -> MethodNotFoundError
    *    builtins.AttributeError  The method 'x.y' does not exist       -> MethodNotFoundError
    *    werkzeug.exceptions.NotFound                                   -> NotFoundError
    *    odoo.exceptions.MissingError                                   -> NotFoundError
    *    psycopg2.OperationalError  FATAL: database "x" does not exist  -> DatabaseNotFoundError
    404  -  No database is selected                                     -> DatabaseNotFoundError
    *    psycopg2.errors.SerializationFailure                           -> SerializationFailureError
    *    psycopg2.errors.DeadlockDetected                               -> SerializationFailureError
    *    psycopg2.errors.LockNotAvailable                               -> SerializationFailureError
    *    psycopg2.extensions.TransactionRollbackError                   -> SerializationFailureError
    *    odoo.exceptions.LockError                                      -> SerializationFailureError
    *    psycopg2.OperationalError  could not serialize access          -> SerializationFailureError
    409  *                                                              -> SerializationFailureError
    *    odoo.exceptions.UserError                                      -> InvalidRequestError
    *    odoo.exceptions.ValidationError                                -> InvalidRequestError
    *    odoo.exceptions.RedirectWarning                                -> InvalidRequestError
    *    builtins.ValueError                                            -> InvalidRequestError
    *    builtins.TypeError                                             -> InvalidRequestError
    *    builtins.KeyError                                              -> InvalidRequestError
    *    builtins.AssertionError                                        -> InvalidRequestError
    *    psycopg2.errors.InvalidTextRepresentation                      -> InvalidRequestError
    *    psycopg2.errors.InvalidDatetimeFormat                          -> InvalidRequestError
    *    psycopg2.errors.NumericValueOutOfRange                         -> InvalidRequestError
    403  *                                                              -> AccessDeniedError
    404  *                                                              -> NotFoundError
    422  *                                                              -> InvalidRequestError
    400  *                                                              -> InvalidRequestError
    415  *                                                              -> InvalidRequestError
    200  builtins.AttributeError                                        -> ServerError
    200  psycopg2.OperationalError                                      -> ServerError
    500  *                                                              -> ServerError

Failures below the Odoo protocol: httpx exceptions go through
``odoo_sync_cli.odoo.transport.translate_http_error``; bodies and answers are checked by the
transports. The tests check these rows too::

    httpx.ConnectTimeout                                                -> OdooTimeoutError
    httpx.ReadTimeout                                                   -> OdooTimeoutError
    httpx.WriteTimeout                                                  -> OdooTimeoutError
    httpx.PoolTimeout                                                   -> OdooTimeoutError
    httpx.ConnectError                                                  -> ConnectionLostError
    httpx.ConnectError with a certificate verify failure                -> TLSVerificationError
    httpx.ReadError                                                     -> ConnectionLostError
    httpx.WriteError                                                    -> ConnectionLostError
    httpx.RemoteProtocolError                                           -> ConnectionLostError
    httpx.UnsupportedProtocol                                           -> OdooConfigError
    httpx.InvalidURL                                                    -> OdooConfigError
    status 200 with a body that is not JSON                             -> ConnectionLostError
    JSON-RPC common.authenticate answers false                          -> AuthenticationError
    JSON-2 asked of a server older than 19                              -> OdooConfigError

Messages never contain a password or API key: the transports never pass one in, and they blank out
the secret from any text a server sends back before it reaches an exception.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConfigError",
    "ConnectionLostError",
    "CredentialError",
    "CursorError",
    "DatabaseNotFoundError",
    "InvalidRequestError",
    "LeaseError",
    "MethodNotFoundError",
    "ModelNotFoundError",
    "NotFoundError",
    "OdooConfigError",
    "OdooError",
    "OdooSyncError",
    "OdooTimeoutError",
    "RateLimitedError",
    "RetriableError",
    "SerializationFailureError",
    "ServerError",
    "ServiceUnavailableError",
    "StoreError",
    "TLSVerificationError",
    "VerificationError",
    "safe_url",
]


def safe_url(url: str | None) -> str | None:
    """Return ``url`` without user info, query or fragment, fit to show in a message."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        parts = None
    if parts is None or "," in parts.netloc:
        # A libpq URL may name several hosts (``h1:5432,h2:5433``), which urlsplit cannot
        # parse: keep what follows the last "@" when it holds only host-list characters, else
        # show nothing of it rather than risk echoing credentials embedded in it.
        try:
            parts = urlsplit(url)
        except ValueError:
            return "<invalid url>"
        hosts = parts.netloc.rpartition("@")[2].lower()
        if not _HOST_LIST.fullmatch(hosts):
            return "<invalid url>"
        return urlunsplit((parts.scheme, hosts, parts.path.rstrip("/"), "", ""))
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


_HOST_LIST = re.compile(r"[a-z0-9.\-_\[\]:,%]*")


class OdooSyncError(Exception):
    """Root of every error odoosync raises on purpose."""

    exit_code: ClassVar[int] = 1
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        super().__init__(message)

    def __str__(self) -> str:
        return _join(self.message, self.hint)


class ConfigError(OdooSyncError):
    """A settings file, key or value is wrong, or names an unknown user or module."""

    exit_code = 3
    default_hint = "Check the settings file and the command-line options."


class CredentialError(ConfigError):
    """A user's secret cannot be read from, or kept in, its store (never shows the secret)."""

    default_hint = "See `odoosync user set-secret --help` to keep the secret elsewhere."


class StoreError(OdooSyncError):
    """The mirror database cannot be used: not odoosync's, locked, read-only or full."""

    exit_code = 7
    default_hint = "Check the database path (--db), its permissions and the free disk space."


class LeaseError(StoreError):
    """Another live process holds the user's lease (or took it over meanwhile)."""


class CursorError(OdooSyncError):
    """A page or a stored cursor breaks the paging rules (ids ascending, past the cursor)."""


class VerificationError(OdooSyncError):
    """A consistency check (test-complete, validate-cursor) found a mismatch."""

    exit_code = 8


class OdooError(OdooSyncError):
    """Talking to an Odoo server failed; says which user, server, model and method."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        user: str | None = None,
        url: str | None = None,
        model: str | None = None,
        method: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        server_error: str | None = None,
    ) -> None:
        self.user = user
        self.url = safe_url(url)
        self.model = model
        self.method = method
        self.status = status
        self.server_error = server_error
        super().__init__(message, hint=hint)
        if hint is None:
            self.hint = self.default_hint.format(user=user or "this user", url=self.url or "")

    @property
    def where(self) -> str:
        """Who talked to which server about what: ``user 'a' on http://h:8069, res.partner``."""
        parts: list[str] = []
        if self.user:
            parts.append(f"user '{self.user}'")
        if self.url:
            parts.append(f"on {self.url}")
        head = " ".join(parts)
        target = ".".join(p for p in (self.model, self.method) if p)
        if target:
            head = f"{head}, {target}" if head else target
        return head

    def __str__(self) -> str:
        where = self.where
        text = f"{where}: {self.message}" if where else self.message
        return _join(text, self.hint)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, user={self.user!r}, url={self.url!r}, "
            f"model={self.model!r}, method={self.method!r}, status={self.status!r}, "
            f"server_error={self.server_error!r})"
        )


class OdooConfigError(ConfigError, OdooError):
    """A user's settings do not fit its server: bad URL, JSON-2 asked of a server older than 19."""

    exit_code = 3
    default_hint = "Fix the settings of {user}."


class AuthenticationError(OdooError):
    """The server refused the login, password or API key."""

    exit_code = 4
    default_hint = (
        "Check the login and the password or API key of {user}; to rotate the key, create a new "
        "one in Odoo and run `odoosync user set-secret {user}`."
    )


class AccessDeniedError(OdooError):
    """The user may not read this model, field or method."""

    default_hint = (
        "Give {user} read access to it in Odoo, or leave the model or field out of the settings."
    )


class TLSVerificationError(OdooError):
    """The server's TLS certificate could not be verified."""

    default_hint = (
        "The server's certificate is not trusted: give the server one from a trusted authority, "
        "or pass --insecure to `odoosync user add` to skip the check (then anyone on the way "
        "can read the secret)."
    )


class NotFoundError(OdooError):
    """Something the request names does not exist on the server (a record, at least)."""

    default_hint = "Check the names in the settings against the server."


class DatabaseNotFoundError(NotFoundError):
    """The database named in the settings does not exist on the server."""

    default_hint = "Check the database name of {user}."


class ModelNotFoundError(NotFoundError):
    """The model does not exist on the server (its module is not installed)."""

    default_hint = "Install the module that provides it in Odoo, or disable it in the settings."


class MethodNotFoundError(NotFoundError):
    """The model has no public method of that name."""

    default_hint = "This Odoo version (or its installed modules) does not offer it."


class InvalidRequestError(OdooError):
    """The server rejected the request: bad domain, field, order, value or arguments."""

    default_hint = "Check the fields, filter and order in the settings against the server."


class ServerError(OdooError):
    """The server failed in a way a retry will not fix."""

    exit_code = 6
    default_hint = "Look at the Odoo server log; run again with --debug for details."


class RetriableError(OdooError):
    """A passing failure: the same request may succeed later."""

    exit_code = 6
    default_hint = "It may pass by itself; odoosync retried, run again later."

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        user: str | None = None,
        url: str | None = None,
        model: str | None = None,
        method: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        server_error: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            user=user,
            url=url,
            model=model,
            method=method,
            hint=hint,
            status=status,
            server_error=server_error,
        )


class OdooTimeoutError(RetriableError):
    """The server did not answer within the timeout."""

    default_hint = "The server is slow or busy; raise the timeout or reduce the page size."


class ConnectionLostError(RetriableError):
    """The connection was refused, dropped, or the answer was cut short."""

    default_hint = "Check that the server is up and reachable at {url}."


class RateLimitedError(RetriableError):
    """The server (or a proxy) asked us to slow down (HTTP 429)."""

    default_hint = "Lower the number of parallel users or raise the loop interval."


class ServiceUnavailableError(RetriableError):
    """The server or its proxy is down or overloaded (HTTP 502, 503, 504)."""

    default_hint = "The server or its proxy is down or restarting; try again later."


class SerializationFailureError(RetriableError):
    """A concurrent update made the server's database refuse the transaction."""

    default_hint = "Another transaction touched the same rows; the request can simply be retried."


def _join(message: str, hint: str) -> str:
    message = message.rstrip()
    if not hint:
        return message
    if message and message[-1] not in ".!?":
        message += "."
    return f"{message} {hint}"

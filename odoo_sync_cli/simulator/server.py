"""The simulator's HTTP service: Odoo's external API on loopback, with knobs for trouble.

One :class:`SimulatorServer` serves one or more databases (each a :class:`SimDatabase`: a store
plus its users) the way an Odoo 19 server does, or an Odoo 17 one with ``odoo_version=17``.

Routes
------
``POST /jsonrpc``
    JSON-RPC 2.0; services ``common`` (version, login, authenticate, about, set_loglevel),
    ``object`` (execute_kw, execute) and ``db`` (db_exist, server_version; ``list`` refused as
    on a server with ``list_db = False``; the master-password methods refused). Errors answer
    HTTP 200 with an ``error`` object whose ``code`` is 0 (19) or 200 (17). Every error path
    (unknown service or method, arguments of the wrong shape or type, malformed domains, a
    wrong database or password, bad JSON) answers what Odoo answers, in the order Odoo checks:
    the replay suite holds it to answers recorded from real servers (``fixtures/``).
``GET /web/version`` (also ``/json/version``)
    ``{"version_info": [...], "version": "19.0"}``; no authentication. Odoo 17 has no such
    route (it came with 18) and answers 404.
``POST /web/webclient/version_info``
    A JSON-RPC route (body ``{"jsonrpc": "2.0", "params": {}}``), no authentication: the
    ``result`` is what ``common.version`` answers. Served by 17 and 19.
``POST /json/2/<model>/<method>``
    JSON-2 (19 only; a 17 server answers 404 as if the route did not exist). Header
    ``Authorization: bearer <api key>``; ``X-Odoo-Database`` when several databases are served.
    Errors are bare ``{name, message, arguments, context, debug}`` objects with HTTP statuses.

Every database has two users: the admin (uid 2, "Mitchell Admin"; login ``admin``, password
``admin`` and a fixed API key per database unless given) and ``demo`` (uid 5, "Marc Demo",
password ``demo``), who lacks HR rights and so reads only the public fields of hr.employee.
JSON-RPC takes the password or the API key as its password, JSON-2 the API key only, as in
Odoo; neither ever appears in an answer, a repr or a log line.

Methods served on every model: search, search_count, search_read, read, fields_get, create,
write, unlink, and the web module's web_search_read and web_read (reads shaped by a field
specification, see :mod:`odoo_sync_cli.simulator.web`). Arguments are bound to the same Python
signatures Odoo uses, so a bad call fails with the same TypeError text.

Knobs
-----
``latency`` (seconds slept before answering any API request), random faults (``rate`` and the
kinds to draw from) and scripted faults (a queue consumed one per matching request). Fault kinds:
``429`` (with ``Retry-After``), ``502``, ``503``, ``504`` (proxy pages), ``drop`` (the socket is
closed without an answer), ``slow`` (sleep, then answer), ``truncate`` (a complete HTTP answer
whose JSON body is cut in half), ``cut`` (the connection closes halfway through the body). A kind
takes a number after a colon: ``slow:2.5`` sleeps 2.5 s, ``429:7`` sends ``Retry-After: 7``.
Faults can be limited to requests matching a path prefix, service, model and/or method.
429/5xx/drop answer before the call runs; slow/truncate/cut run the call (a write is committed
even though the client never sees a clean answer, as when a proxy times out).

Control API
-----------
``POST /_sim/<action>`` from a loopback address only, with header ``X-Sim-Key: <control key>``
(by default the admin API key of the first database). The body is a JSON object; the answer is
``{"result": ...}`` (HTTP 200) or ``{"error": "..."}`` (HTTP 400, 403 or 404). Every action
takes an optional ``"database"`` (default: the first one). Control requests are never delayed,
faulted or counted.

==============  =================================================================================
action          body -> result
==============  =================================================================================
create          ``{"model", "vals_list": [{...}] | "vals": {...}, "at"?}`` -> list of new ids
write           ``{"model", "ids", "vals", "at"?}`` -> true
archive         ``{"model", "ids", "at"?}`` -> true (writes ``active: false``)
unarchive       ``{"model", "ids", "at"?}`` -> true (writes ``active: true``)
unlink          ``{"model", "ids"}`` -> true
late_commit     ``{"model", "seconds_ago" | "at", and "vals_list" (create) or "ids" + "vals"
                (write)}`` -> ids: a transaction that started ``seconds_ago`` earlier commits now,
                so its write_date lies in the past
faults          ``{"rate"?, "kinds"?, "match"?, "script"?, "clear"?}`` -> current fault settings;
                ``match`` is ``{"path"?, "service"?, "model"?, "method"?}``
latency         ``{"seconds"}`` -> seconds
stats           ``{}`` -> request counters, page log, fault counters
reset_stats     ``{}`` -> true
info            ``{}`` -> databases, record ids per model, version
==============  =================================================================================

``at`` is a UTC timestamp ``YYYY-MM-DD HH:MM:SS[.ffffff]``: the transaction start the write
carries as write_date.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import random
import socket
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from odoo_sync_cli.simulator import web
from odoo_sync_cli.simulator.errors import OdooServerError
from odoo_sync_cli.simulator.models import ModelSpec, builtin_version
from odoo_sync_cli.simulator.store import SimStore

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "odoo"
DEFAULT_LOGIN = "admin"
DEFAULT_PASSWORD = "admin"
ADMIN_UID = 2
ADMIN_NAME = "Mitchell Admin"
DEMO_UID = 5
DEMO_LOGIN = "demo"
DEMO_PASSWORD = "demo"
DEMO_NAME = "Marc Demo"
CONTROL_HEADER = "X-Sim-Key"

FAULT_KINDS = ("429", "502", "503", "504", "drop", "slow", "truncate", "cut")
DEFAULT_RANDOM_FAULTS = ("429", "502", "503", "504", "drop")


def default_api_key(database: str, login: str = DEFAULT_LOGIN) -> str:
    """The fixed API key (40 hex chars, like Odoo's) a simulated user gets unless told otherwise."""
    return hashlib.sha1(f"odoosync-simulator/{database}/{login}".encode()).hexdigest()


DEFAULT_API_KEY = default_api_key(DEFAULT_DATABASE)


# ---------------------------------------------------------------------------------------------
# Users and databases


@dataclass(frozen=True)
class SimUser:
    """One Odoo user: the password and the API key both authenticate it."""

    uid: int
    login: str
    name: str
    password: str = field(repr=False)
    api_key: str = field(repr=False)
    # Users without HR rights read hr.employee through its public profile only.
    employee_public_only: bool = False
    # Models this user has no read access to at all (no ir.model.access line for its groups).
    denied_models: frozenset[str] = frozenset()


# Fields of hr.employee a user without HR rights may read (those the public profile carries).
EMPLOYEE_PUBLIC_FIELDS = frozenset(
    {
        "id",
        "name",
        "display_name",
        "active",
        "company_id",
        "resource_id",
        "user_id",
        "work_phone",
        "mobile_phone",
        "work_email",
        "work_contact_id",
        "parent_id",
        "coach_id",
        "child_ids",
        "color",
        "create_uid",
        "create_date",
        "write_uid",
        "write_date",
        "image_1920",
        "image_1024",
        "image_512",
        "image_256",
        "image_128",
        "avatar_1920",
        "avatar_1024",
        "avatar_512",
        "avatar_256",
        "avatar_128",
        "department_id",
        "job_id",
        "job_title",
        "work_location_id",
        "today_location_name",
        "monday_location_id",
        "tuesday_location_id",
        "wednesday_location_id",
        "thursday_location_id",
        "friday_location_id",
        "saturday_location_id",
        "sunday_location_id",
    }
)


class SimDatabase:
    """One served database: its store (thread-safe on its own) and its users."""

    def __init__(
        self,
        name: str,
        store: SimStore,
        *,
        login: str = DEFAULT_LOGIN,
        password: str = DEFAULT_PASSWORD,
        api_key: str | None = None,
        users: Iterable[SimUser] | None = None,
    ) -> None:
        self.name = name
        self.store = store
        if users is None:
            users = [
                SimUser(
                    ADMIN_UID, login, ADMIN_NAME, password, api_key or default_api_key(name, login)
                ),
                SimUser(
                    DEMO_UID,
                    DEMO_LOGIN,
                    DEMO_NAME,
                    DEMO_PASSWORD,
                    default_api_key(name, DEMO_LOGIN),
                    employee_public_only=True,
                ),
            ]
        self.users = {u.uid: u for u in users}

    def __repr__(self) -> str:
        return f"SimDatabase({self.name!r}, users={sorted(u.login for u in self.users.values())})"

    @property
    def admin(self) -> SimUser:
        return self.users.get(ADMIN_UID) or next(iter(self.users.values()))

    @property
    def registry(self) -> Mapping[str, ModelSpec]:
        registry: Mapping[str, ModelSpec] = self.store.registry
        return registry

    def by_login(self, login: object) -> SimUser | None:
        return next((u for u in self.users.values() if u.login == login), None)

    def by_key(self, key: str) -> SimUser | None:
        return next((u for u in self.users.values() if u.api_key == key), None)

    def check_secret(self, user: SimUser | None, secret: object) -> bool:
        return user is not None and bool(secret) and secret in (user.password, user.api_key)


# ---------------------------------------------------------------------------------------------
# Versions


@dataclass(frozen=True)
class OdooVersion:
    """What differs between the Odoo versions the simulator can play."""

    major: int
    version: dict[str, Any]
    error_code: int
    json2: bool
    # GET /web/version: the route came with Odoo 18.
    web_version: bool = True

    @classmethod
    def of(cls, major: int) -> OdooVersion:
        if major == 19:
            return cls(19, builtin_version(), error_code=0, json2=True)
        if major == 17:
            version = {
                # The build the recorded Odoo 17 server runs (fixtures/odoo17).
                "server_version": "17.0-20240709",
                "server_version_info": [17, 0, 0, "final", 0, ""],
                "server_serie": "17.0",
                "protocol_version": 1,
            }
            return cls(17, version, error_code=200, json2=False, web_version=False)
        raise ValueError(f"the simulator plays Odoo 19 or 17, not {major}")


# ---------------------------------------------------------------------------------------------
# Faults, latency and statistics


@dataclass(frozen=True)
class Fault:
    """One injected fault; ``seconds`` is the delay of ``slow`` or the Retry-After of ``429``."""

    kind: str
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")

    @classmethod
    def parse(cls, spec: Fault | str) -> Fault:
        """``"slow:2.5"`` -> Fault("slow", 2.5); ``"429"`` -> Fault("429", 1.0)."""
        if isinstance(spec, Fault):
            return spec
        kind, _, arg = str(spec).partition(":")
        default = {"slow": 5.0, "429": 1.0}.get(kind, 0.0)
        return cls(kind, float(arg) if arg else default)

    def __str__(self) -> str:
        return f"{self.kind}:{self.seconds:g}" if self.kind in ("slow", "429") else self.kind


@dataclass(frozen=True)
class CallInfo:
    """What a request asks for, as far as faults and counters care."""

    path: str
    service: str
    model: str | None = None
    method: str | None = None
    database: str | None = None


@dataclass(frozen=True)
class FaultMatch:
    """Which requests a fault applies to; an unset attribute matches anything."""

    path: str | None = None
    service: str | None = None
    model: str | None = None
    method: str | None = None

    @classmethod
    def parse(cls, raw: FaultMatch | Mapping[str, Any] | None) -> FaultMatch:
        if isinstance(raw, FaultMatch):
            return raw
        raw = raw or {}
        unknown = set(raw) - {"path", "service", "model", "method"}
        if unknown:
            raise ValueError(f"unknown fault match keys: {sorted(unknown)}")
        return cls(**{k: (None if v is None else str(v)) for k, v in raw.items()})

    def matches(self, call: CallInfo) -> bool:
        return (
            (self.path is None or call.path.startswith(self.path))
            and (self.service is None or call.service == self.service)
            and (self.model is None or call.model == self.model)
            and (self.method is None or call.method == self.method)
        )

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


class FaultInjector:
    """Decides, per request, whether to misbehave: a scripted queue first, then a random draw."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rate = 0.0
        self.kinds: tuple[Fault, ...] = tuple(Fault.parse(k) for k in DEFAULT_RANDOM_FAULTS)
        self.rate_match = FaultMatch()
        self._script: deque[Fault | None] = deque()
        self.script_match = FaultMatch()

    def set_rate(
        self,
        rate: float,
        kinds: Iterable[Fault | str] | None = None,
        *,
        match: FaultMatch | Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        """Fail matching requests with probability ``rate``, a kind drawn from ``kinds``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must lie in [0, 1], not {rate}")
        parsed = tuple(Fault.parse(k) for k in kinds) if kinds is not None else None
        if parsed is not None and not parsed:
            raise ValueError("give at least one fault kind")
        with self._lock:
            self.rate = rate
            if parsed is not None:
                self.kinds = parsed
            self.rate_match = FaultMatch.parse(match)
            if seed is not None:
                self._rng = random.Random(seed)

    def script(
        self,
        faults: Iterable[Fault | str | None],
        *,
        match: FaultMatch | Mapping[str, Any] | None = None,
    ) -> None:
        """Queue faults for the next matching requests, in order; ``None`` answers normally."""
        parsed = [None if f is None else Fault.parse(f) for f in faults]
        with self._lock:
            self._script = deque(parsed)
            self.script_match = FaultMatch.parse(match)

    def clear(self) -> None:
        with self._lock:
            self.rate = 0.0
            self._script.clear()
            self.rate_match = FaultMatch()
            self.script_match = FaultMatch()

    @property
    def pending(self) -> int:
        """Scripted entries not consumed yet."""
        with self._lock:
            return len(self._script)

    def pick(self, call: CallInfo) -> Fault | None:
        with self._lock:
            if self._script and self.script_match.matches(call):
                return self._script.popleft()
            if self.rate > 0 and self.rate_match.matches(call) and self._rng.random() < self.rate:
                return self._rng.choice(self.kinds)
        return None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate": self.rate,
                "kinds": [str(k) for k in self.kinds],
                "match": self.rate_match.as_dict(),
                "script": [None if f is None else str(f) for f in self._script],
                "script_match": self.script_match.as_dict(),
            }


@dataclass(frozen=True)
class PageCall:
    """One search or search_read the server answered: enough to count and check pages."""

    database: str
    protocol: str
    model: str
    method: str
    domain: Any
    offset: Any
    limit: Any
    order: Any
    fields: Any
    rows: int
    # web_search_read only: whether answering ``length`` took a count query.
    counted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class SimStats:
    """Request counters by (service, model, method), injected faults, and the page log."""

    PAGE_LOG_SIZE = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str | None, str | None]] = Counter()
        self.faults: Counter[str] = Counter()
        # The same faults by (kind, service, method): which calls met which trouble.
        self.fault_calls: Counter[tuple[str, str, str | None]] = Counter()
        self._pages: deque[PageCall] = deque(maxlen=self.PAGE_LOG_SIZE)

    def record_request(self, call: CallInfo) -> None:
        with self._lock:
            self.requests[(call.service, call.model, call.method)] += 1

    def record_fault(self, fault: Fault, call: CallInfo | None = None) -> None:
        with self._lock:
            self.faults[fault.kind] += 1
            if call is not None:
                self.fault_calls[(fault.kind, call.service, call.method)] += 1

    def record_page(self, page: PageCall) -> None:
        with self._lock:
            self._pages.append(page)

    def count(
        self, service: str | None = None, model: str | None = None, method: str | None = None
    ) -> int:
        """Requests received that match every given attribute."""
        with self._lock:
            return sum(
                n
                for (s, m, meth), n in self.requests.items()
                if (service is None or s == service)
                and (model is None or m == model)
                and (method is None or meth == method)
            )

    def pages(self, model: str | None = None, method: str | None = "search_read") -> list[PageCall]:
        """The page calls answered of ``method`` (None: search, search_read, web_search_read)."""
        with self._lock:
            return [
                p
                for p in self._pages
                if (model is None or p.model == model) and (method is None or p.method == method)
            ]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.fault_calls.clear()
            self._pages.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": [
                    {"service": s, "model": m, "method": meth, "count": n}
                    for (s, m, meth), n in sorted(
                        self.requests.items(), key=lambda kv: tuple(str(x) for x in kv[0])
                    )
                ],
                "total_requests": sum(self.requests.values()),
                "faults": dict(self.faults),
                "pages": [p.as_dict() for p in self._pages],
            }


# ---------------------------------------------------------------------------------------------
# Method signatures, named as in Odoo so that Python itself words the TypeErrors


class BaseModel:
    """Signatures of the model methods the simulator serves (bodies only collect the arguments)."""

    def search(
        self, domain: Any, offset: Any = 0, limit: Any = None, order: Any = None
    ) -> dict[str, Any]:
        return {"domain": domain, "offset": offset, "limit": limit, "order": order}

    def search_count(self, domain: Any, limit: Any = None) -> dict[str, Any]:
        return {"domain": domain, "limit": limit}

    def search_read(
        self,
        domain: Any = None,
        fields: Any = None,
        offset: Any = 0,
        limit: Any = None,
        order: Any = None,
        **read_kwargs: Any,
    ) -> dict[str, Any]:
        return {
            "domain": domain,
            "fields": fields,
            "offset": offset,
            "limit": limit,
            "order": order,
            "read_kwargs": read_kwargs,
        }

    def _read_format(self, fnames: Any, load: Any = "_classic_read") -> dict[str, Any]:
        return {"fields": fnames, "load": load}

    def read(self, fields: Any = None, load: Any = "_classic_read") -> dict[str, Any]:
        return {"fields": fields, "load": load}

    def fields_get(self, allfields: Any = None, attributes: Any = None) -> dict[str, Any]:
        return {"allfields": allfields, "attributes": attributes}

    def create(self, vals_list: Any) -> dict[str, Any]:
        return {"vals_list": vals_list}

    def write(self, vals: Any) -> dict[str, Any]:
        return {"vals": vals}

    def unlink(self) -> dict[str, Any]:
        return {}


class Base(BaseModel):
    """The web module's methods, defined in Odoo on the ``Base`` model that extends BaseModel."""

    def web_search_read(
        self,
        domain: Any,
        specification: Any,
        offset: Any = 0,
        limit: Any = None,
        order: Any = None,
        count_limit: Any = None,
    ) -> dict[str, Any]:
        return {
            "domain": domain,
            "specification": specification,
            "offset": offset,
            "limit": limit,
            "order": order,
            "count_limit": count_limit,
        }

    def web_read(self, specification: Any) -> dict[str, Any]:
        return {"specification": specification}


# Public methods, and whether each works on the model (True) or on records given by ids (False).
MODEL_METHODS: dict[str, bool] = {
    "search": True,
    "search_count": True,
    "search_read": True,
    "fields_get": True,
    "create": True,
    "web_search_read": True,
    "read": False,
    "write": False,
    "unlink": False,
    "web_read": False,
}

_SIGNATURES = Base()


class JSONRPC:
    """The ``/jsonrpc`` controller's signature: Odoo passes the ``params`` by name."""

    def jsonrpc(self, service: Any, method: Any, args: Any) -> dict[str, Any]:
        return {"service": service, "method": method, "args": args}


def exp_version() -> dict[str, Any]:
    return {}


def exp_login(db: Any, login: Any, password: Any) -> dict[str, Any]:
    return {"db": db, "login": login, "password": password}


def exp_authenticate(db: Any, login: Any, password: Any, user_agent_env: Any) -> dict[str, Any]:
    return {"db": db, "login": login, "password": password}


def exp_about(extended: Any = False) -> dict[str, Any]:
    return {"extended": extended}


def exp_set_loglevel(loglevel: Any, logger: Any = None) -> dict[str, Any]:
    return {}


def exp_db_exist(db_name: Any) -> dict[str, Any]:
    return {"db": db_name}


def exp_list(document: Any = False) -> dict[str, Any]:
    return {}


def exp_server_version() -> dict[str, Any]:
    return {}


_COMMON: dict[str, Callable[..., dict[str, Any]]] = {
    "version": exp_version,
    "login": exp_login,
    "authenticate": exp_authenticate,
    "about": exp_about,
    "set_loglevel": exp_set_loglevel,
}
_DB_OPEN: dict[str, Callable[..., dict[str, Any]]] = {
    "db_exist": exp_db_exist,
    "list": exp_list,
    "server_version": exp_server_version,
}
# db methods that need the master password, which the simulator never accepts.
_DB_MASTER = frozenset(
    {
        "create_database",
        "duplicate_database",
        "drop",
        "dump",
        "restore",
        "rename",
        "change_admin_password",
        "migrate_databases",
        "list_countries",
    }
)

# Python words a TypeError after the function's module and qualified name ("odoo.service.
# common.exp_version() argument after * must be an iterable"): give the holders Odoo's.
for _function in _COMMON.values():
    _function.__module__ = "odoo.service.common"
for _function in _DB_OPEN.values():
    _function.__module__ = "odoo.service.db"
for _member in vars(BaseModel).values():
    if callable(_member):
        _member.__module__ = "odoo.orm.models"
for _member in vars(Base).values():
    if callable(_member):
        _member.__module__ = "odoo.addons.web.models.models"
JSONRPC.jsonrpc.__module__ = "odoo.addons.rpc.controllers.jsonrpc"


def _bind(func: Callable[..., dict[str, Any]], args: Any, kwargs: Any) -> dict[str, Any]:
    """Call a signature holder; its TypeError is the one Odoo's method would raise."""
    try:
        return func(*args, **kwargs)
    except TypeError as exc:
        raise OdooServerError("builtins.TypeError", _exception_message(exc)) from None


def _json2_bind(func: Callable[..., dict[str, Any]], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Bind JSON-2 named arguments the way Odoo's JSON-2 route checks them: 422 on mismatch."""
    try:
        inspect.signature(func).bind(**kwargs)
    except TypeError as exc:
        raise _http_error(422, "UnprocessableEntity", str(exc)) from None
    return _bind(func, (), kwargs)


# ---------------------------------------------------------------------------------------------
# Errors as the wire shows them


_HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
}


class _HttpError(OdooServerError):
    """A werkzeug HTTP exception: it carries its own status and ``[message, status]`` args."""

    def __init__(self, status: int, cls_name: str, message: str) -> None:
        super().__init__(f"werkzeug.exceptions.{cls_name}", message, [message, status])
        self.status = status

    @property
    def json2_status(self) -> int:
        return self.status


def _http_error(status: int, cls_name: str, message: str) -> _HttpError:
    return _HttpError(status, cls_name, message)


def _exception_name(exc: BaseException) -> str:
    module = type(exc).__module__
    return f"{module}.{type(exc).__qualname__}"


def _exception_message(exc: BaseException) -> str:
    """The ``message`` Odoo sends: the exception's arguments one per line, else its text."""
    if exc.args:
        return "\n".join(map(str, exc.args))
    return str(exc)


def _as_server_error(exc: Exception) -> OdooServerError:
    if isinstance(exc, OdooServerError):
        return exc
    log.debug("simulator call failed", exc_info=exc)
    args = [a if isinstance(a, str | int | float | bool) or a is None else str(a) for a in exc.args]
    return OdooServerError(_exception_name(exc), _exception_message(exc), args)


def _debug_line(err: OdooServerError) -> str:
    """The last line of the traceback Odoo would send, without any credential."""
    if isinstance(err, _HttpError):
        reason = _HTTP_REASONS.get(err.status, "")
        return f"{err.name}: {err.status} {reason}: {err.message}"
    short = err.name.removeprefix("builtins.")
    return f"{short}: {err.message}"


def _error_data(err: OdooServerError) -> dict[str, Any]:
    return {
        "name": err.name,
        "message": err.message,
        "arguments": err.arguments,
        "context": {},
        "debug": _debug_line(err),
    }


def _operational_error(db: object) -> OdooServerError:
    message = (
        f'connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "{db}" '
        "does not exist\n"
    )
    return OdooServerError("psycopg2.OperationalError", message)


def _access_denied() -> OdooServerError:
    return OdooServerError("odoo.exceptions.AccessDenied", "Access Denied")


def _private_method(model: str, method: str) -> OdooServerError:
    return OdooServerError(
        "odoo.exceptions.AccessError",
        f"Private methods (such as '{model}.{method}') cannot be called remotely.",
    )


def _missing_method_message(model: str, method: str, major: int = 19) -> str:
    if major < 19:
        return f"The method '{method}' does not exist on the model '{model}'"
    return f"The method '{model}.{method}' does not exist"


# ---------------------------------------------------------------------------------------------
# Canned HTTP bodies


HTML_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n"
)
HTML_NO_DATABASE = (
    "<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>No database is selected and the requested URL was not found in the server-wide "
    "controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try "
    "again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n"
)
HTML_415_JSON2 = (
    "<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n"
    "<h1>Unsupported Media Type</h1>\n<p>Request inferred type is compatible with "
    "[&#39;http&#39;] but &#39;/json/2/&lt;__model__&gt;/&lt;__method__&gt;&#39; is "
    "type=&#39;json2&#39;.<br><br>Please verify the Content-Type request header and try "
    "again.</p>\n"
)
HTML_415 = (
    "<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n"
    "<h1>Unsupported Media Type</h1>\n<p>Request inferred type is compatible with "
    "[&#39;http&#39;, &#39;json2&#39;] but &#39;/jsonrpc&#39; is type=&#39;jsonrpc&#39;."
    "<br><br>Please verify the Content-Type request header and try again.</p>\n"
)


def _nginx_page(status: int, reason: str) -> str:
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> _Response:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, "application/json; charset=utf-8", headers or {})

    @classmethod
    def text(
        cls, status: int, text: str, content_type: str = "text/html; charset=utf-8"
    ) -> _Response:
        return cls(status, text.encode(), content_type)


def _fault_response(fault: Fault) -> _Response:
    if fault.kind == "429":
        resp = _Response.text(429, _nginx_page(429, "Too Many Requests"))
        resp.headers["Retry-After"] = f"{max(0, round(fault.seconds))}"
        return resp
    if fault.kind == "502":
        return _Response.text(502, _nginx_page(502, "Bad Gateway"))
    if fault.kind == "503":
        return _Response.text(503, "Service Unavailable\n", "text/plain; charset=utf-8")
    return _Response.text(504, _nginx_page(504, "Gateway Time-out"))


# ---------------------------------------------------------------------------------------------
# The server


def _parse_at(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("'at' must be a 'YYYY-MM-DD HH:MM:SS[.ffffff]' string (UTC)")
    return datetime.fromisoformat(value).replace(tzinfo=None)


class SimulatorServer(ThreadingHTTPServer):
    """The HTTP server; start it with :meth:`serve_forever` (or ``testing.start_simulator``)."""

    # Handler threads are daemons (a forgotten server never blocks interpreter exit); close()
    # joins them itself, after ending their connections.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Connections waiting to be accepted, as Odoo's own server allows (werkzeug listens with
    # 128). socketserver's default, 5, drops the connections of a burst of clients (a loop
    # starting 50 users), which then wait a second to try again: a stall no real server has.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (killed, timed out) is routine, not a server bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def __init__(
        self,
        databases: Mapping[str, SimStore | SimDatabase],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        odoo_version: int = 19,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        fail_kinds: Iterable[Fault | str] | None = None,
        fault_seed: int | None = None,
        control_key: str | None = None,
    ) -> None:
        if not databases:
            raise ValueError("the simulator needs at least one database")
        self.databases: dict[str, SimDatabase] = {
            name: db if isinstance(db, SimDatabase) else SimDatabase(name, db)
            for name, db in databases.items()
        }
        self.version = OdooVersion.of(odoo_version)
        self.latency = 0.0
        self.set_latency(latency)
        self.faults = FaultInjector(seed=fault_seed)
        if fail_rate or fail_kinds is not None:
            self.faults.set_rate(fail_rate, fail_kinds)
        self.stats = SimStats()
        self.control_key = control_key or self.primary.admin.api_key
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._handler_threads: set[threading.Thread] = set()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    # -- public knobs ------------------------------------------------------------------------

    @property
    def primary(self) -> SimDatabase:
        return next(iter(self.databases.values()))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, not {seconds}")
        self.latency = float(seconds)

    def close(self) -> None:
        """Stop serving, drop open connections and wait for their threads."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            conns = list(self._connections)
            threads = list(self._handler_threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)

    # -- connection bookkeeping (so close() can end keep-alive connections) -------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._process_tracked,
            args=(request, client_address),
            name=f"odoo-simulator-{self.server_address[1]}-conn-{client_address[1]}",
            daemon=True,
        )
        with self._connections_lock:
            self._handler_threads.add(thread)
        thread.start()

    def _process_tracked(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._handler_threads.discard(threading.current_thread())

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- mutation helpers shared by the control API and testing.py ----------------------------

    def database(self, name: str | None = None) -> SimDatabase:
        if name is None:
            return self.primary
        try:
            return self.databases[name]
        except KeyError:
            raise KeyError(f"no database {name!r}; served: {sorted(self.databases)}") from None

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    # -- request handling ------------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def handle_api(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        """Answer one API request (no faults, no latency: the handler applies those)."""
        route = path.split("?", 1)[0]
        if route == "/jsonrpc":
            if method != "POST":
                return _Response.text(415, HTML_415)
            return self._jsonrpc(body)
        if route in ("/web/version", "/json/version"):
            if not self.version.web_version:
                return _Response.text(404, HTML_404)
            info = self.version.version
            return _Response.json(
                200, {"version_info": info["server_version_info"], "version": info["server_serie"]}
            )
        if route == "/web/webclient/version_info":
            if method != "POST":
                return _Response.text(415, HTML_415.replace("/jsonrpc", route))
            return self._jsonrpc(body, lambda params: dict(self.version.version))
        if route.startswith("/json/2/") or route == "/json/2":
            if not self.version.json2:
                return _Response.text(404, HTML_404)
            return self._json2(method, route, headers, body)
        return _Response.text(404, HTML_404)

    def describe_call(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> CallInfo:
        """Best-effort reading of what a request asks, for counters and fault matching."""
        route = path.split("?", 1)[0]
        if route == "/jsonrpc":
            try:
                params = json.loads(body)["params"]
                service = str(params["service"])
                rpc_method = str(params["method"])
                args = params.get("args") or []
                if service == "object" and len(args) >= 5:
                    return CallInfo(route, "object", str(args[3]), str(args[4]), str(args[0]))
                db = str(args[0]) if service == "common" and args else None
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                return CallInfo(route, "jsonrpc")
            return CallInfo(route, service, None, rpc_method, db)
        if route.startswith("/json/2/"):
            parts = route[len("/json/2/") :].split("/")
            model = parts[0] or None
            meth = parts[1] if len(parts) > 1 else None
            return CallInfo(route, "json2", model, meth, headers.get("X-Odoo-Database"))
        if route in ("/web/version", "/json/version", "/web/webclient/version_info"):
            return CallInfo(route, "web", None, "version")
        return CallInfo(route, "http", None, method)

    # JSON-RPC -------------------------------------------------------------------------------

    def _jsonrpc(
        self, body: bytes, endpoint: Callable[[dict[str, Any]], Any] | None = None
    ) -> _Response:
        """A ``type='jsonrpc'`` route: Odoo's JsonRPCDispatcher around ``endpoint(params)``."""
        try:
            payload = json.loads(body)
        except ValueError:
            return _Response.text(400, "Invalid JSON data")
        if not isinstance(payload, dict):
            return _Response.text(400, "Invalid JSON-RPC data")
        envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": payload.get("id")}
        try:
            # Odoo builds the controller's keyword arguments with dict(params): a list or a
            # string fails there with Python's own words.
            params = dict(payload.get("params", {}))
            result = (endpoint or self._dispatch_rpc)(params)
        except Exception as exc:
            err = _as_server_error(exc)
            code, message = self.version.error_code, "Odoo Server Error"
            if err.name == "werkzeug.exceptions.NotFound":
                code, message = 404, "404: Not Found"
            envelope["error"] = {"code": code, "message": message, "data": _error_data(err)}
        else:
            if result is not None:
                envelope["result"] = result
        return _Response.json(200, envelope)

    def _dispatch_rpc(self, params: dict[str, Any]) -> Any:
        # Odoo drops unknown keys before calling the controller.
        known = {k: v for k, v in params.items() if k in ("service", "method", "args")}
        call = _bind(JSONRPC().jsonrpc, (), known)
        service, method, args = call["service"], call["method"], call["args"]
        if service == "common":
            return self._common(method, args)
        if service == "object":
            return self._object(method, args)
        if service == "db":
            return self._db_service(method, args)
        raise KeyError(service)

    def _common(self, method: Any, args: Any) -> Any:
        holder = _COMMON.get(method) if isinstance(method, str) else None
        if holder is None:
            raise Exception(f"Method not found: {method}")
        bound = holder(*args)
        if method == "version":
            return dict(self.version.version)
        if method == "about":
            info = "See http://openerp.com"
            return [info, self.version.version["server_version"]] if bound["extended"] else info
        if method == "set_loglevel":
            return True
        db = self.databases.get(bound["db"]) if isinstance(bound["db"], str) else None
        if db is None:
            raise _operational_error(bound["db"])
        user = db.by_login(bound["login"])
        if user is not None and db.check_secret(user, bound["password"]):
            return user.uid
        return False

    def _db_service(self, method: Any, args: Any) -> Any:
        holder = _DB_OPEN.get(method) if isinstance(method, str) else None
        if holder is not None:
            bound = holder(*args)
            if method == "list":
                # As on a server started with list_db = False (both recorded servers were).
                raise _access_denied()
            if method == "server_version":
                return self.version.version["server_version"]
            return bound["db"] in self.databases
        if method in _DB_MASTER:
            args[0]
            raise _access_denied()
        raise KeyError(f"Method not found: {method}")

    def _object(self, method: Any, params: Any) -> Any:
        # Odoo's odoo.service.model.dispatch, step by step, so each mistake fails where it does.
        db_name, uid, secret, model, name, *args = params
        uid = int(uid)
        if not secret:
            raise _access_denied()
        db = self.databases.get(db_name) if isinstance(db_name, str) else None
        if db is None:
            raise _operational_error(db_name)
        if method == "execute":
            kw: Any = {}
        elif method == "execute_kw":
            if len(args) == 1:
                args += ({},)
            args, kw = args
            if kw is None:
                kw = {}
        else:
            raise NameError(f"Method not available {method}")
        user = db.users.get(uid)
        if not db.check_secret(user, secret):
            raise _access_denied()
        assert user is not None
        if not isinstance(model, str) or model not in db.registry:
            raise OdooServerError("odoo.exceptions.UserError", f"Object {model} doesn't exist")
        self._check_method(model, name, missing="builtins.AttributeError")
        ids: list[int] | None = None
        if not MODEL_METHODS[name]:
            ids, args = _browse(args[0]), args[1:]
        kwargs = dict(kw)
        context = kwargs.pop("context", None) or {}
        result = self.call_model(
            db,
            user,
            model,
            name,
            ids=ids,
            args=args,
            kwargs=kwargs,
            context=context,
            protocol="jsonrpc",
        )
        if name == "create" and args and isinstance(args[0], dict):
            return result[0]
        return result

    def _check_method(self, model: str, name: object, *, missing: str) -> None:
        if not isinstance(name, str):
            raise OdooServerError(
                missing, _missing_method_message(model, str(name), self.version.major)
            )
        if name.startswith("_"):
            raise _private_method(model, name)
        if name not in MODEL_METHODS:
            message = _missing_method_message(model, name, self.version.major)
            if missing == "werkzeug.exceptions.NotFound":
                raise _http_error(404, "NotFound", message)
            raise OdooServerError(missing, message)

    # JSON-2 ----------------------------------------------------------------------------------

    def _json2(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> _Response:
        """A ``type='json2'`` route, checked in Odoo's order: database, content type, body,
        route, key, then the model, the method and its arguments."""
        db_header = headers.get("X-Odoo-Database")
        if db_header is not None:
            db = self.databases.get(db_header)
        elif len(self.databases) == 1:
            db = self.primary
        else:
            db = None
        if db is None:
            return _Response.text(404, HTML_NO_DATABASE)
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body and content_type != "application/json":
            return _Response.text(415, HTML_415_JSON2)
        try:
            result = self._json2_call(db, method, route, headers, body)
        except Exception as exc:
            err = _as_server_error(exc)
            extra = {"WWW-Authenticate": "bearer"} if err.json2_status == 401 else {}
            return _Response.json(err.json2_status, _error_data(err), extra)
        return _Response.json(200, result)

    def _json2_call(
        self, db: SimDatabase, method: str, route: str, headers: Mapping[str, str], body: bytes
    ) -> Any:
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError as exc:
                message = f"could not parse the body as json: {exc.args[0]}"
                raise _http_error(400, "BadRequest", message) from None
        # Odoo merges the body into the route's arguments; a body that is not an object adds
        # nothing (and then a required argument is missing).
        params: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
        parts = route[len("/json/2/") :].split("/") if route.startswith("/json/2/") else []
        if method != "POST" or len(parts) != 2 or not all(parts):
            raise _http_error(404, "NotFound", "Did you mean POST /json/2/<model>/<method>?")
        model, name = parts
        scheme, _, key = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _http_error(
                401,
                "Unauthorized",
                "User not authenticated, use an API Key with a Bearer Authorization header.",
            )
        user = db.by_key(key.strip())
        if user is None:
            raise _http_error(401, "Unauthorized", "Invalid apikey")
        if model not in db.registry:
            raise _http_error(404, "NotFound", f"the model '{model}' does not exist")
        ids_raw = params.pop("ids", ())
        # Odoo's with_context(context) makes a dict of it before it looks at the method.
        context = dict(params.pop("context", {}))
        self._check_method(model, name, missing="werkzeug.exceptions.NotFound")
        api_model = MODEL_METHODS[name]
        if api_model and ids_raw:
            raise _http_error(422, "UnprocessableEntity", f"cannot call {model}.{name} with ids")
        ids = None if api_model else _browse(ids_raw)
        _json2_bind(getattr(_SIGNATURES, name), params)
        return self.call_model(
            db,
            user,
            model,
            name,
            ids=ids,
            args=[],
            kwargs=params,
            context=context,
            protocol="json2",
        )

    # The methods themselves ------------------------------------------------------------------

    def call_model(
        self,
        db: SimDatabase,
        user: SimUser,
        model: str,
        name: str,
        *,
        ids: list[int] | None,
        args: list[Any],
        kwargs: dict[str, Any],
        context: Any,
        protocol: str,
    ) -> Any:
        """Run one public model method for ``user`` after binding its arguments."""
        # Odoo's with_context(context) makes a dict of it, failing as dict() fails.
        context = dict(context)
        bound = _bind(getattr(_SIGNATURES, name), args, kwargs)
        for key in ("limit", "offset"):
            if key in bound:
                bound[key] = _sql_bigint(bound[key])
        if model in user.denied_models and name != "fields_get":
            # Odoo checks model access before anything else; fields_get stays open, as in Odoo.
            raise OdooServerError(
                "odoo.exceptions.AccessError",
                f"You are not allowed to access '{model}' records.",
            )
        store = db.store
        if name == "search_read":
            read = _bind(
                _SIGNATURES._read_format, (), {"fnames": bound["fields"], **bound["read_kwargs"]}
            )
            self._check_read_access(db, user, model, bound["fields"])
            rows = store.search_read(
                model,
                bound["domain"] or [],
                bound["fields"],
                offset=bound["offset"],
                limit=bound["limit"],
                order=bound["order"],
                context=context,
            )
            self._log_page(db, protocol, model, name, bound, len(rows))
            return self._apply_load(db, model, rows, read["load"])
        if name == "search":
            found = store.search(
                model,
                bound["domain"],
                offset=bound["offset"],
                limit=bound["limit"],
                order=bound["order"],
                context=context,
            )
            self._log_page(db, protocol, model, name, {**bound, "fields": None}, len(found))
            return found
        if name == "search_count":
            return store.search_count(model, bound["domain"], limit=bound["limit"], context=context)
        if name == "read":
            self._check_read_access(db, user, model, bound["fields"])
            assert ids is not None
            rows = store.read(model, ids, bound["fields"], context=context)
            return self._apply_load(db, model, rows, bound["load"])
        if name == "web_search_read":
            return self._web_search_read(db, user, model, bound, context, protocol)
        if name == "web_read":
            fields = web.fields_to_read(bound["specification"])
            self._check_read_access(db, user, model, fields)
            assert ids is not None
            return web.web_read(store, model, ids, bound["specification"], context=context)
        if name == "fields_get":
            return store.fields_get(model, bound["allfields"], bound["attributes"])
        if name == "create":
            vals_list = bound["vals_list"]
            if isinstance(vals_list, dict):
                vals_list = [vals_list]
            return store.create(model, vals_list)
        if name == "write":
            assert ids is not None
            return store.write(model, ids, bound["vals"])
        if name == "unlink":
            assert ids is not None
            return store.unlink(model, ids)
        raise OdooServerError("builtins.AttributeError", _missing_method_message(model, name))

    def _web_search_read(
        self,
        db: SimDatabase,
        user: SimUser,
        model: str,
        bound: dict[str, Any],
        context: dict[str, Any],
        protocol: str,
    ) -> dict[str, Any]:
        """Odoo's steps: fields from the spec's keys, search and read, reshape, then length."""
        store = db.store
        specification = bound["specification"]
        fields = web.fields_to_read(specification.keys())
        self._check_read_access(db, user, model, fields)
        rows = store.web_fetch(
            model,
            bound["domain"],
            fields,
            offset=bound["offset"],
            limit=bound["limit"],
            order=bound["order"],
            context=context,
        )
        records = web.apply_specification(store, model, rows, specification, context=context)
        length, counted = web.page_length(
            len(records),
            offset=bound["offset"],
            limit=bound["limit"],
            count_limit=bound["count_limit"],
            context=context,
            count=lambda limit: store.search_count(
                model, bound["domain"], limit=limit, context=context
            ),
        )
        self._log_page(
            db,
            protocol,
            model,
            "web_search_read",
            {**bound, "fields": fields},
            len(records),
            counted=counted,
        )
        return {"length": length, "records": records}

    def _check_read_access(self, db: SimDatabase, user: SimUser, model: str, fields: Any) -> None:
        if not (user.employee_public_only and model == "hr.employee"):
            return
        requested = list(fields) if fields else list(db.registry[model].fields)
        private = [f for f in requested if f in db.registry[model].fields]
        private = [f for f in private if f not in EMPLOYEE_PUBLIC_FIELDS]
        if private:
            names = ", ".join(f"“{f}”" for f in private)
            raise OdooServerError(
                "odoo.exceptions.AccessError",
                f"The fields {names}, which you are trying to read, are not available for "
                "employee public profiles.",
            )

    def _apply_load(
        self, db: SimDatabase, model: str, rows: list[dict[str, Any]], load: Any
    ) -> list[dict[str, Any]]:
        if load == "_classic_read":
            return rows
        # Any other ``load`` reads a many2one as its bare id.
        spec = db.registry[model].fields
        for row in rows:
            for key, value in row.items():
                f = spec.get(key)
                if f is not None and f.type == "many2one" and isinstance(value, list):
                    row[key] = value[0]
        return rows

    def _log_page(
        self,
        db: SimDatabase,
        protocol: str,
        model: str,
        method: str,
        bound: dict[str, Any],
        rows: int,
        *,
        counted: bool = False,
    ) -> None:
        self.stats.record_page(
            PageCall(
                database=db.name,
                protocol=protocol,
                model=model,
                method=method,
                domain=bound["domain"],
                offset=bound["offset"],
                limit=bound["limit"],
                order=bound["order"],
                fields=bound.get("fields"),
                rows=rows,
                counted=counted,
            )
        )

    # Control API -----------------------------------------------------------------------------

    def handle_control(
        self, action: str, headers: Mapping[str, str], body: bytes, client: str
    ) -> _Response:
        if not _is_loopback(client):
            return _Response.json(403, {"error": "the control API answers loopback clients only"})
        if headers.get(CONTROL_HEADER) != self.control_key:
            return _Response.json(403, {"error": f"missing or wrong {CONTROL_HEADER} header"})
        handler = _CONTROL_ACTIONS.get(action)
        if handler is None:
            return _Response.json(
                404, {"error": f"unknown action {action!r}; one of {sorted(_CONTROL_ACTIONS)}"}
            )
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            result = handler(self, payload)
        except OdooServerError as exc:
            return _Response.json(400, {"error": f"{exc.name}: {exc.message}"})
        except (ValueError, KeyError, TypeError) as exc:
            return _Response.json(400, {"error": f"{type(exc).__name__}: {exc}"})
        return _Response.json(200, {"result": result})

    def mutate(
        self,
        action: str,
        model: str,
        *,
        ids: Iterable[int] | None = None,
        vals: Mapping[str, Any] | None = None,
        vals_list: Iterable[Mapping[str, Any]] | None = None,
        at: datetime | None = None,
        database: str | None = None,
    ) -> Any:
        """Change records as another Odoo user would, while clients are syncing."""
        db = self.database(database)
        store = db.store
        id_list = [int(i) for i in ids] if ids is not None else []
        if action == "create":
            if vals_list is None:
                vals_list = [vals or {}]
            return store.create(model, [dict(v) for v in vals_list], at=at)
        if action == "write":
            return store.write(model, id_list, dict(vals or {}), at=at)
        if action in ("archive", "unarchive"):
            return store.write(model, id_list, {"active": action == "unarchive"}, at=at)
        if action == "unlink":
            return store.unlink(model, id_list)
        raise ValueError(f"unknown mutation {action!r}")

    def late_commit(
        self,
        model: str,
        *,
        seconds_ago: float | None = None,
        at: datetime | None = None,
        ids: Iterable[int] | None = None,
        vals: Mapping[str, Any] | None = None,
        vals_list: Iterable[Mapping[str, Any]] | None = None,
        database: str | None = None,
    ) -> list[int]:
        """Commit now a transaction that began earlier: its write_date lies in the past."""
        if at is None:
            if seconds_ago is None:
                raise ValueError("late_commit needs 'seconds_ago' or 'at'")
            at = self.now() - timedelta(seconds=seconds_ago)
        if vals_list is not None:
            created: list[int] = self.mutate(
                "create", model, vals_list=vals_list, at=at, database=database
            )
            return created
        if ids is None:
            raise ValueError("late_commit needs 'vals_list' (create) or 'ids' and 'vals' (write)")
        id_list = [int(i) for i in ids]
        self.mutate("write", model, ids=id_list, vals=vals or {}, at=at, database=database)
        return id_list


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1", "localhost")


def _sql_bigint(value: Any) -> Any:
    """A limit or offset as PostgreSQL takes it: a number, or a string that spells one."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise OdooServerError(
        "psycopg2.errors.InvalidTextRepresentation",
        f'invalid input syntax for type bigint: "{value}"',
    )


def _browse(ids: Any) -> list[int]:
    """The id list a record method receives, as Odoo's ``browse`` makes it.

    Falsy is no record, an int one; anything else is iterated. Ids that are not numbers reach
    PostgreSQL in Odoo, which refuses them: the simulator refuses them with its words.
    """
    if not ids:
        return []
    if type(ids) is int:
        return [ids]
    found = list(ids)
    for rid in found:
        if type(rid) is not int:
            raise OdooServerError(
                "psycopg2.errors.InvalidTextRepresentation",
                f'invalid input syntax for type integer: "{rid}"',
            )
    return found


# Control actions: each takes the server and the JSON body, and returns a JSON value.


def _ctl_mutation(action: str) -> Callable[[SimulatorServer, dict[str, Any]], Any]:
    def run(server: SimulatorServer, body: dict[str, Any]) -> Any:
        at = _parse_at(body["at"]) if body.get("at") is not None else None
        return server.mutate(
            action,
            str(body["model"]),
            ids=body.get("ids"),
            vals=body.get("vals"),
            vals_list=body.get("vals_list"),
            at=at,
            database=body.get("database"),
        )

    return run


def _ctl_late_commit(server: SimulatorServer, body: dict[str, Any]) -> Any:
    at = _parse_at(body["at"]) if body.get("at") is not None else None
    seconds = body.get("seconds_ago")
    return server.late_commit(
        str(body["model"]),
        seconds_ago=None if seconds is None else float(seconds),
        at=at,
        ids=body.get("ids"),
        vals=body.get("vals"),
        vals_list=body.get("vals_list"),
        database=body.get("database"),
    )


def _ctl_faults(server: SimulatorServer, body: dict[str, Any]) -> Any:
    if body.get("clear"):
        server.faults.clear()
    if "rate" in body or "kinds" in body:
        server.faults.set_rate(
            float(body.get("rate", server.faults.rate)),
            body.get("kinds"),
            match=body.get("match"),
            seed=body.get("seed"),
        )
    if "script" in body:
        server.faults.script(body["script"], match=body.get("script_match", body.get("match")))
    return server.faults.describe()


def _ctl_latency(server: SimulatorServer, body: dict[str, Any]) -> Any:
    server.set_latency(float(body["seconds"]))
    return server.latency


def _ctl_stats(server: SimulatorServer, body: dict[str, Any]) -> Any:
    return server.stats.snapshot()


def _ctl_reset_stats(server: SimulatorServer, body: dict[str, Any]) -> Any:
    server.stats.reset()
    return True


def _ctl_info(server: SimulatorServer, body: dict[str, Any]) -> Any:
    out: dict[str, Any] = {"odoo_version": server.version.major, "databases": {}}
    for name, db in server.databases.items():
        out["databases"][name] = {m: len(db.store.ids(m)) for m in db.registry}
    return out


_CONTROL_ACTIONS: dict[str, Callable[[SimulatorServer, dict[str, Any]], Any]] = {
    "create": _ctl_mutation("create"),
    "write": _ctl_mutation("write"),
    "archive": _ctl_mutation("archive"),
    "unarchive": _ctl_mutation("unarchive"),
    "unlink": _ctl_mutation("unlink"),
    "late_commit": _ctl_late_commit,
    "faults": _ctl_faults,
    "latency": _ctl_latency,
    "stats": _ctl_stats,
    "reset_stats": _ctl_reset_stats,
    "info": _ctl_info,
}


# ---------------------------------------------------------------------------------------------
# The request handler


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "Werkzeug/3.0.1"
    sys_version = "Python/3.12"
    # An idle keep-alive connection is closed after this long, freeing its thread.
    timeout = 300

    _MAX_BODY: ClassVar[int] = 128 * 1024 * 1024

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold the second one back ~40 ms on every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > self._MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(_Response.text(400, "Bad request body", "text/plain; charset=utf-8"))
            return
        path = self.path
        headers = {k: v for k, v in self.headers.items()}
        # Header names are case-insensitive; keep a normalized view of those we read.
        for name in ("Authorization", "X-Odoo-Database", "Content-Type", CONTROL_HEADER):
            value = self.headers.get(name)
            if value is not None:
                headers[name] = value
        if path.startswith("/_sim/"):
            action = path.split("?", 1)[0][len("/_sim/") :]
            if method != "POST":
                self._send(_Response.json(405, {"error": "use POST"}))
                return
            self._send(self.server.handle_control(action, headers, body, self.client_address[0]))
            return
        server = self.server
        call = server.describe_call(method, path, headers, body)
        server.stats.record_request(call)
        fault = server.faults.pick(call)
        server.wait(server.latency)
        if fault is not None:
            server.stats.record_fault(fault, call)
            if fault.kind == "drop":
                self.close_connection = True
                return
            if fault.kind in ("429", "502", "503", "504"):
                self._send(_fault_response(fault))
                return
            if fault.kind == "slow":
                server.wait(fault.seconds)
        if server.stopping.is_set():
            self.close_connection = True
            return
        response = server.handle_api(method, path, headers, body)
        if fault is not None and fault.kind == "truncate":
            response.body = response.body[: len(response.body) // 2]
        self._send(response, cut=fault is not None and fault.kind == "cut")

    def _send(self, response: _Response, *, cut: bool = False) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if cut:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

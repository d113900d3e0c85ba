"""The error tables in the docstring of ``odoo_sync_cli.errors`` match the code, row by row."""

from __future__ import annotations

import inspect
import json
import re
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest

from odoo_sync_cli import errors
from odoo_sync_cli.odoo import Connection, OdooClient, RetryPolicy
from odoo_sync_cli.odoo import transport as transport_module
from odoo_sync_cli.odoo.jsonrpc import JsonRpcTransport
from odoo_sync_cli.odoo.transport import (
    ErrorContext,
    HttpSession,
    classify_error,
    translate_http_error,
)

DOC = errors.__doc__ or ""
ROW = re.compile(r"^ {4}(?P<left>\S.*?)\s+-> (?P<error>\w+)\s*$")

SECRET = "errors-table-secret-9b1e"
CONN = Connection(
    user="tabby",
    url="http://odoo.test:8069",
    database="db",
    login="admin",
    secret=pydantic.SecretStr(SECRET),
)
CTX = ErrorContext(user="tabby", url="http://odoo.test:8069", secret=CONN.secret)
NO_RETRY = RetryPolicy(attempts=1)


def _rows(section_start: str, section_end: str | None) -> list[tuple[str, str]]:
    start = DOC.index(section_start)
    end = DOC.index(section_end, start) if section_end else len(DOC)
    rows = []
    for line in DOC[start:end].splitlines():
        if (found := ROW.match(line)) is not None:
            rows.append((found["left"], found["error"]))
    return rows


PAYLOAD_ROWS = _rows("How the transports translate", "Failures below the Odoo protocol")
FAILURE_ROWS = _rows("Failures below the Odoo protocol", "Messages never contain")


def _error_class(name: str) -> type[errors.OdooError]:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.OdooError)
    return cls  # type: ignore[no-any-return]


def test_the_tables_are_there() -> None:
    assert len(PAYLOAD_ROWS) >= 40
    assert len(FAILURE_ROWS) >= 14


@pytest.mark.parametrize(
    ("left", "error"), PAYLOAD_ROWS, ids=[f"{a}->{b}" for a, b in PAYLOAD_ROWS]
)
def test_payload_row(left: str, error: str) -> None:
    status_text, name_text, *message_words = left.split(None, 2)
    message = message_words[0] if message_words else "boom"
    statuses = [200, 500] if status_text == "*" else [int(status_text)]
    if name_text == "*":
        names: list[str | None] = [None, "builtins.RuntimeError"]
    elif name_text == "-":
        names = [None]
    else:
        names = [name_text]
    expected = _error_class(error)
    for status in statuses:
        for name in names:
            assert classify_error(status, name, message) is expected, (status, name, message)


def test_every_class_the_classifier_returns_has_a_row() -> None:
    returned = {rule.error.__name__ for rule in transport_module._RULES} | {"ServerError"}
    assert returned == {error for _, error in PAYLOAD_ROWS}


def _session(handler: Callable[[httpx.Request], httpx.Response]) -> HttpSession:
    return HttpSession(CONN, transport=httpx.MockTransport(handler))


def _truncated_body() -> errors.OdooError:
    cut_short = b'{"jsonrpc": "2.0", "id": 1, "re'
    session = _session(lambda request: httpx.Response(200, content=cut_short))
    with pytest.raises(errors.OdooError) as caught:
        JsonRpcTransport(session).version()
    return caught.value


def _authenticate_false() -> errors.OdooError:
    refused = {"jsonrpc": "2.0", "id": 1, "result": False}
    session = _session(lambda request: httpx.Response(200, json=refused))
    with pytest.raises(errors.OdooError) as caught:
        JsonRpcTransport(session).authenticate()
    return caught.value


def _json2_on_17() -> errors.OdooError:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/web/version":
            info = [17, 0, 0, "final", 0, ""]
            return httpx.Response(200, json={"version": "17.0", "version_info": info})
        raise AssertionError(f"unexpected request {request.url.path}")

    conn = Connection(**{**CONN.__dict__, "protocol": "json2"})
    client = OdooClient(conn, transport=httpx.MockTransport(answer), retry=NO_RETRY)
    with client, pytest.raises(errors.OdooError) as caught:
        client.connect()
    return caught.value


def _tls_failure() -> errors.OdooError:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as exc:
        return translate_http_error(exc, CTX)


def _httpx(cls: type[Exception]) -> Callable[[], errors.OdooError]:
    return lambda: translate_http_error(cls("simulated failure"), CTX)


FAILURES: dict[str, Callable[[], errors.OdooError]] = {
    "httpx.ConnectTimeout": _httpx(httpx.ConnectTimeout),
    "httpx.ReadTimeout": _httpx(httpx.ReadTimeout),
    "httpx.WriteTimeout": _httpx(httpx.WriteTimeout),
    "httpx.PoolTimeout": _httpx(httpx.PoolTimeout),
    "httpx.ConnectError": _httpx(httpx.ConnectError),
    "httpx.ConnectError with a certificate verify failure": _tls_failure,
    "httpx.ReadError": _httpx(httpx.ReadError),
    "httpx.WriteError": _httpx(httpx.WriteError),
    "httpx.RemoteProtocolError": _httpx(httpx.RemoteProtocolError),
    "httpx.UnsupportedProtocol": _httpx(httpx.UnsupportedProtocol),
    "httpx.InvalidURL": _httpx(httpx.InvalidURL),
    "status 200 with a body that is not JSON": _truncated_body,
    "JSON-RPC common.authenticate answers false": _authenticate_false,
    "JSON-2 asked of a server older than 19": _json2_on_17,
}


@pytest.mark.parametrize(("failure", "error"), FAILURE_ROWS, ids=[a for a, _ in FAILURE_ROWS])
def test_failure_row(failure: str, error: str) -> None:
    produced = FAILURES[failure]()
    assert type(produced) is _error_class(error)
    assert "tabby" in str(produced)
    assert SECRET not in str(produced) and SECRET not in repr(produced)


def test_every_failure_builder_has_a_row() -> None:
    assert set(FAILURES) == {failure for failure, _ in FAILURE_ROWS}


# --- the tree itself ------------------------------------------------------------------------------


def test_tree_shape_and_exit_codes() -> None:
    expected: dict[str, tuple[str, int]] = {
        "ConfigError": ("OdooSyncError", 3),
        "CredentialError": ("ConfigError", 3),
        "StoreError": ("OdooSyncError", 7),
        "LeaseError": ("StoreError", 7),
        "CursorError": ("OdooSyncError", 1),
        "VerificationError": ("OdooSyncError", 8),
        "OdooError": ("OdooSyncError", 5),
        "AuthenticationError": ("OdooError", 4),
        "AccessDeniedError": ("OdooError", 5),
        "TLSVerificationError": ("OdooError", 5),
        "NotFoundError": ("OdooError", 5),
        "DatabaseNotFoundError": ("NotFoundError", 5),
        "ModelNotFoundError": ("NotFoundError", 5),
        "MethodNotFoundError": ("NotFoundError", 5),
        "InvalidRequestError": ("OdooError", 5),
        "ServerError": ("OdooError", 6),
        "RetriableError": ("OdooError", 6),
        "OdooTimeoutError": ("RetriableError", 6),
        "ConnectionLostError": ("RetriableError", 6),
        "RateLimitedError": ("RetriableError", 6),
        "ServiceUnavailableError": ("RetriableError", 6),
        "SerializationFailureError": ("RetriableError", 6),
    }
    assert errors.OdooSyncError.exit_code == 1
    for name, (parent, code) in expected.items():
        cls = getattr(errors, name)
        assert cls.__bases__ == (getattr(errors, parent),), name
        assert cls.exit_code == code, name
    assert issubclass(errors.OdooConfigError, errors.ConfigError)
    assert issubclass(errors.OdooConfigError, errors.OdooError)
    assert errors.OdooConfigError.exit_code == 3


def test_every_exported_class_is_drawn_in_the_docstring() -> None:
    tree = DOC[DOC.index("Hierarchy") : DOC.index("How the transports translate")]
    for name, value in inspect.getmembers(errors, inspect.isclass):
        if issubclass(value, errors.OdooSyncError):
            assert re.search(rf"\b{name}\b", tree), name


def drawn_tree() -> list[tuple[str, str | None, int]]:
    """(class, parent, exit code) for each class the docstring draws, in its order."""
    tree = DOC[DOC.index("Hierarchy") : DOC.index("How the transports translate")]
    entry = re.compile(r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z][A-Za-z]*Error)\b(?P<rest>.*)$")
    # The exit codes stand in one column, the one of the root's code.
    root = next(line for line in tree.splitlines() if line.startswith("    OdooSyncError"))
    column = len(root.rstrip()) - 1
    drawn: list[tuple[str, str | None, int]] = []
    path: list[tuple[str, int]] = []  # the classes above the current line, with their codes
    for line in tree.splitlines():
        found = entry.match(line)
        lead = found["lead"] if found else ""
        if found is None or not (lead == "    " or lead.endswith("── ")):
            continue  # a line that goes on with the text of the class above
        depth = (len(found["lead"]) - 4) // 4
        code = re.fullmatch(r"\s*(\d+)\s*", line[column - 1 :])
        path = path[:depth]
        parent = path[-1] if path else None
        exit_code = int(code.group(1)) if code else parent[1] if parent else 1
        drawn.append((found["name"], parent[0] if parent else None, exit_code))
        path.append((found["name"], exit_code))
    return drawn


def test_the_drawn_tree_matches_the_classes_row_by_row() -> None:
    drawn = drawn_tree()
    classes = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.OdooSyncError)
    }
    assert [name for name, _, _ in drawn if name in classes] == [name for name, _, _ in drawn]
    assert {name for name, _, _ in drawn} == classes
    for name, parent, code in drawn:
        cls = getattr(errors, name)
        if parent is None:
            assert cls is errors.OdooSyncError
        else:
            assert getattr(errors, parent) in cls.__bases__, (name, parent)
        assert cls.exit_code == code, name


def test_messages_name_user_server_model_and_say_what_to_do() -> None:
    exc = errors.AccessDeniedError(
        "access denied: no",
        user="bob",
        url="https://bob:hunter2@erp.example.com:8443/odoo/?db=x#frag",
        model="hr.employee",
        method="search_read",
    )
    text = str(exc)
    where = "user 'bob' on https://erp.example.com:8443/odoo, hr.employee.search_read:"
    assert text.startswith(where)
    assert "hunter2" not in text and "hunter2" not in repr(exc)
    assert "db=x" not in text
    assert exc.hint and exc.hint in text


def test_rate_limited_carries_retry_after() -> None:
    exc = errors.RateLimitedError("slow down", retry_after=2.5, user="bob")
    assert exc.retry_after == 2.5
    assert isinstance(exc, errors.RetriableError)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.25", 0.25), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert transport_module.parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    assert transport_module.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    far = transport_module.parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert far is not None and far > 10**8


def test_server_text_is_blanked_of_the_secret() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        params: dict[str, Any] = json.loads(request.content)["params"]
        echo = f"bad value {params['args']!r}"
        error = {"name": "builtins.ValueError", "message": echo, "arguments": [echo]}
        return httpx.Response(200, json={"jsonrpc": "2.0", "error": {"code": 0, "data": error}})

    session = _session(answer)
    transport = JsonRpcTransport(session)
    with pytest.raises(errors.InvalidRequestError) as caught:
        transport._rpc("common", "authenticate", ["db", "admin", SECRET, {}], session.context())
    assert "bad value" in str(caught.value)
    assert SECRET not in str(caught.value)

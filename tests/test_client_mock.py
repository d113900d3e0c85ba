"""OdooClient over httpx.MockTransport: protocol choice, request shapes, retries, edge answers."""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pydantic
import pytest

from odoo_sync_cli import errors
from odoo_sync_cli.odoo import Connection, OdooClient, ProtocolSetting, RetryPolicy

PASSWORD = "mock-password-31f"
API_KEY = "mock-key-0011223344556677889900aabbccddeeff"
FAST = RetryPolicy(attempts=4, total_timeout=10.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0)

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeOdoo:
    """Just enough of an Odoo server to drive the client; records what it was sent."""

    major: int = 19
    json2: bool = True
    web_version: bool = True
    uid: int = 2
    seen: list[httpx.Request] = field(default_factory=list)
    faults: list[httpx.Response] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.faults:
            return self.faults.pop(0)
        path = request.url.path
        if path == "/web/version" and self.web_version:
            info = [self.major, 0, 0, "final", 0, ""]
            return httpx.Response(200, json={"version": f"{self.major}.0", "version_info": info})
        if path == "/jsonrpc":
            return self._jsonrpc(json.loads(request.content))
        if path.startswith("/json/2/") and self.json2:
            return self._json2(request)
        return httpx.Response(404, text="<html><h1>Not Found</h1></html>", headers=_HTML)

    def _jsonrpc(self, body: dict[str, Any]) -> httpx.Response:
        params = body["params"]
        method, args = params["method"], params["args"]
        if method == "version":
            info = [self.major, 0, 0, "final", 0, ""]
            result: Any = {"server_version": f"{self.major}.0", "server_version_info": info}
        elif method == "authenticate":
            result = self.uid if args[2] in (PASSWORD, API_KEY) else False
        elif args[2] not in (PASSWORD, API_KEY):
            data = {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}
            return _rpc_error(body, data)
        else:
            result = self._answer(args[3], args[4], args[5], args[6])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})

    def _json2(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"bearer {API_KEY}":
            data = {"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey"}
            return httpx.Response(401, json=data)
        _, _, _, model, method = request.url.path.split("/")
        body = json.loads(request.content)
        ids = body.pop("ids", None)
        return httpx.Response(200, json=self._answer(model, method, [ids] if ids else [], body))

    def _answer(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method == "search":
            return [1, 2, 3]
        if method == "search_count":
            return 3
        if method in ("search_read", "read"):
            return [{"id": 1, "name": "A"}]
        if method == "fields_get":
            return {"name": {"type": "char"}}
        return {"model": model, "method": method, "args": args, "kwargs": kwargs}


_HTML = {"Content-Type": "text/html"}


def _rpc_error(body: dict[str, Any], data: dict[str, Any]) -> httpx.Response:
    error = {"code": 0, "message": "Odoo Server Error", "data": data}
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})


def _client(
    fake: Handler,
    *,
    secret: str = API_KEY,
    protocol: ProtocolSetting = "auto",
    retry: RetryPolicy = FAST,
    url: str = "http://odoo.test:8069",
) -> OdooClient:
    conn = Connection(
        user="mocky",
        url=url,
        database="odoo",
        login="admin",
        secret=pydantic.SecretStr(secret),
        protocol=protocol,
    )
    return OdooClient(conn, retry=retry, transport=httpx.MockTransport(fake))


def _paths(fake: FakeOdoo) -> list[str]:
    return [request.url.path for request in fake.seen]


# --- protocol choice ------------------------------------------------------------------------------


def test_auto_uses_json2_on_19_with_an_api_key() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        assert client.protocol == "json2"
        assert client.server_version == "19.0"
        assert client.server_version_info[0] == 19
        assert client.uid is None
        assert client.search_count("res.partner", []) == 3
    assert _paths(fake) == [
        "/web/version",
        "/json/2/res.partner/search_count",
        "/json/2/res.partner/search_count",
    ]
    probe = json.loads(fake.seen[1].content)
    assert probe == {"domain": [["id", "=", 0]]}
    assert fake.seen[1].headers["X-Odoo-Database"] == "odoo"
    assert fake.seen[1].headers["User-Agent"].startswith("odoosync/")


def test_auto_falls_back_to_jsonrpc_when_the_secret_is_a_password() -> None:
    fake = FakeOdoo()
    with _client(fake, secret=PASSWORD) as client:
        assert client.protocol == "jsonrpc"
        assert client.uid == 2
    assert _paths(fake) == ["/web/version", "/json/2/res.partner/search_count", "/jsonrpc"]


def test_auto_falls_back_to_jsonrpc_when_json2_is_not_served() -> None:
    fake = FakeOdoo(json2=False)
    with _client(fake) as client:
        assert client.protocol == "jsonrpc"


def test_auto_uses_jsonrpc_below_19_and_reads_common_version_without_web_version() -> None:
    fake = FakeOdoo(major=17, web_version=False)
    with _client(fake, secret=PASSWORD) as client:
        client.connect()
        assert client.protocol == "jsonrpc"
        assert client.server_version == "17.0"
    methods = [json.loads(r.content)["params"]["method"] for r in fake.seen[1:]]
    assert _paths(fake)[0] == "/web/version"
    assert methods == ["version", "authenticate"]


def test_auto_refused_both_ways_says_so() -> None:
    fake = FakeOdoo()
    with (
        _client(fake, secret="wrong") as client,
        pytest.raises(errors.AuthenticationError) as caught,
    ):
        client.connect()
    assert "both as an API key" in str(caught.value)
    assert "odoosync user set-secret mocky" in str(caught.value)


def test_forced_json2_bad_key_says_rotate_the_key() -> None:
    fake = FakeOdoo()
    client = _client(fake, secret="wrong", protocol="json2")
    with client, pytest.raises(errors.AuthenticationError) as caught:
        client.connect()
    text = str(caught.value)
    assert "expired or revoked" in text and "Rotate the key for user mocky" in text
    assert caught.value.exit_code == 4


def test_forced_jsonrpc_on_19() -> None:
    fake = FakeOdoo()
    with _client(fake, protocol="jsonrpc") as client:
        assert client.protocol == "jsonrpc"
        assert client.search("res.partner", [["id", ">", 0]]) == [1, 2, 3]


def test_forced_json2_below_19_is_a_config_error() -> None:
    fake = FakeOdoo(major=16)
    with _client(fake, protocol="json2") as client, pytest.raises(errors.OdooConfigError) as caught:
        client.connect()
    assert "needs Odoo 19" in str(caught.value)
    assert isinstance(caught.value, errors.ConfigError) and caught.value.exit_code == 3


def test_connect_is_idempotent() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        client.connect()
        assert client.protocol == "json2"
    assert len(fake.seen) == 2


def test_check_credentials_asks_again() -> None:
    fake = FakeOdoo()
    with _client(fake, protocol="jsonrpc", secret=PASSWORD) as client:
        client.connect()
        client.check_credentials()
    assert len(fake.seen) == 3


# --- request shapes -------------------------------------------------------------------------------


def _last_json2(fake: FakeOdoo) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.seen[-1].content)
    return body


def _last_execute_kw(fake: FakeOdoo) -> list[Any]:
    args: list[Any] = json.loads(fake.seen[-1].content)["params"]["args"]
    assert args[:3] == ["odoo", 2, PASSWORD]
    return args[3:]


def test_json2_request_shapes() -> None:
    fake = FakeOdoo()
    ctx = {"active_test": False}
    with _client(fake) as client:
        client.search_read(
            "res.partner", [["id", ">", 5]], ["name"], limit=10, order="id asc", context=ctx
        )
        assert _last_json2(fake) == {
            "domain": [["id", ">", 5]],
            "fields": ["name"],
            "limit": 10,
            "order": "id asc",
            "context": ctx,
        }
        client.search("res.partner", [], offset=20, limit=0)
        assert _last_json2(fake) == {"domain": [], "offset": 20, "limit": 0}
        client.read("res.partner", [3, 1], ["name"], context=ctx)
        assert _last_json2(fake) == {"fields": ["name"], "context": ctx, "ids": [3, 1]}
        client.search_count("res.partner", [], limit=5)
        assert _last_json2(fake) == {"domain": [], "limit": 5}
        client.fields_get("res.partner", attributes=["type"])
        assert _last_json2(fake) == {"attributes": ["type"]}
        assert fake.seen[-1].url.path == "/json/2/res.partner/fields_get"
        with pytest.raises(errors.InvalidRequestError, match="named arguments only"):
            client.call("res.partner", "name_search", args=["x"])


def test_jsonrpc_request_shapes() -> None:
    fake = FakeOdoo()
    with _client(fake, secret=PASSWORD, protocol="jsonrpc") as client:
        client.search("res.partner", [["id", ">", 5]], limit=3, order="id asc")
        # The domain goes positionally: its parameter was called ``args`` before Odoo 15.3.
        assert _last_execute_kw(fake) == [
            "res.partner",
            "search",
            [[["id", ">", 5]]],
            {"limit": 3, "order": "id asc"},
        ]
        client.search_count("res.partner", [])
        assert _last_execute_kw(fake) == ["res.partner", "search_count", [[]], {}]
        client.search_read("res.partner", [], ["name"], offset=4)
        assert _last_execute_kw(fake) == [
            "res.partner",
            "search_read",
            [],
            {"domain": [], "fields": ["name"], "offset": 4},
        ]
        client.read("res.partner", [3, 1], ["name"])
        assert _last_execute_kw(fake) == ["res.partner", "read", [[3, 1]], {"fields": ["name"]}]
        result = client.call("res.partner", "name_search", args=["Az"], kwargs={"limit": 2})
        assert result["args"] == ["Az"] and result["kwargs"] == {"limit": 2}
        assert _last_execute_kw(fake)[2:] == [["Az"], {"limit": 2}]


def test_jsonrpc_result_left_out_means_none() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["params"]["method"] == "authenticate":
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": 2})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"]})

    with _client(answer, secret=PASSWORD, protocol="jsonrpc") as client:
        client._version = {"server_version": "17.0", "server_version_info": [17]}
        assert client.call("res.partner", "write", ids=[1], kwargs={"vals": {}}) is None


def test_unexpected_answers_are_server_errors() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(200, json={"not": "a list"}))
        with pytest.raises(errors.ServerError, match="not a list of ids"):
            client.search("res.partner", [])
        fake.faults.append(httpx.Response(200, json=[1, "x"]))
        with pytest.raises(errors.ServerError):
            client.search("res.partner", [])
        fake.faults.append(httpx.Response(200, json=True))
        with pytest.raises(errors.ServerError):
            client.search_count("res.partner", [])


def read_answer(body: bytes, field: str) -> list[dict[str, Any]]:
    """What search_read makes of ``body`` as a 200 answer; it must not be asked again."""
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(200, content=body))
        rows = client.search_read("res.partner", [], [field])
        assert client.stats.retries == 0, "read as a cut answer and asked again"
    return rows


def test_a_json_answer_with_a_byte_that_is_not_utf8_is_read_with_it_replaced() -> None:
    # JSON is parsed from the body's bytes; one that is not valid UTF-8 is decoded as httpx
    # decodes text (the byte replaced).
    rows = read_answer(b'[{"id": 1, "name": "Caf\xe9"}]', "name")
    assert rows == [{"id": 1, "name": "Caf\ufffd"}]


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'[{"id": 1, "credit_limit": -Infinity}]', float("-inf")),
        (b'[{"id": 1, "credit_limit": 0.30000000000000004}]', 0.1 + 0.2),
        (b'[{"id": 1, "credit_limit": 1234.5678901234567}]', 1234.5678901234567),
    ],
)
def test_json_floats_are_read_exactly_and_nonfinite_ones_too(body: bytes, value: Any) -> None:
    # Pages are parsed by orjson; what it refuses (non-finite floats, which Odoo's json.dumps
    # writes) is read by Python's json.
    assert read_answer(body, "credit_limit") == [{"id": 1, "credit_limit": value}]


def test_a_json_answer_with_nan_is_read() -> None:
    [row] = read_answer(b'[{"id": 1, "credit_limit": NaN}]', "credit_limit")
    assert math.isnan(row["credit_limit"])


# --- retries --------------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(429, headers={"Retry-After": "0.2"}, text="slow down"))
        started = time.monotonic()
        assert client.search_count("res.partner", []) == 3
        assert time.monotonic() - started >= 0.2
        assert client.stats.retries == 1


def test_retry_after_beyond_the_time_budget_raises_at_once() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(429, headers={"Retry-After": "3600"}))
        with pytest.raises(errors.RateLimitedError) as caught:
            client.search_count("res.partner", [])
    assert caught.value.retry_after == 3600
    assert client.stats.retries == 0


def test_503_outlasting_the_attempts_raises_with_retries_counted() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        requests_before = client.stats.requests
        fake.faults.extend(httpx.Response(503, text="down") for _ in range(10))
        with pytest.raises(errors.ServiceUnavailableError) as caught:
            client.search_count("res.partner", [])
    assert caught.value.status == 503
    assert client.stats.retries == FAST.attempts - 1
    assert client.stats.requests - requests_before == FAST.attempts


def test_truncated_body_is_retried() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(200, content=b'[{"id": 1, "na'))
        assert client.search_read("res.partner", [], ["name"]) == [{"id": 1, "name": "A"}]
        assert client.stats.retries == 1


def test_writes_are_not_retried_after_a_lost_connection() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        if request.url.path == "/web/version":
            return httpx.Response(200, json={"version": "19.0", "version_info": [19, 0]})
        if request.url.path.endswith("/search_count"):
            return httpx.Response(200, json=0)
        calls += 1
        raise httpx.ReadError("connection reset")

    with _client(answer) as client:
        with pytest.raises(errors.ConnectionLostError):
            client.call("res.partner", "write", ids=[1], kwargs={"vals": {"name": "x"}})
        assert calls == 1
        with pytest.raises(errors.ConnectionLostError):
            client.call("res.partner", "read", ids=[1], kwargs={"fields": ["name"]})
        assert calls == 1 + FAST.attempts


def test_writes_are_retried_on_429() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        fake.faults.append(httpx.Response(429))
        assert (
            client.call("res.partner", "write", ids=[1], kwargs={"vals": {}})["method"] == "write"
        )
        assert client.stats.retries == 1


def test_non_retriable_errors_are_not_retried() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        data = {"name": "builtins.ValueError", "message": "Invalid field 'x'"}
        fake.faults.append(httpx.Response(500, json=data))
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [], ["x"])
        assert client.stats.retries == 0


def test_version_detection_is_retried() -> None:
    fake = FakeOdoo()
    fake.faults.append(httpx.Response(502, text="bad gateway"))
    with _client(fake) as client:
        assert client.server_version == "19.0"
        assert client.stats.retries == 1


# --- the edges of HTTP ----------------------------------------------------------------------------


def test_redirect_is_reported_not_followed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        location = f"https://odoo.test{request.url.path}?from=http"
        return httpx.Response(301, headers={"Location": location})

    with _client(answer) as client, pytest.raises(errors.OdooConfigError) as caught:
        client.connect()
    assert "redirects /jsonrpc to https://odoo.test/jsonrpc." in str(caught.value)
    assert caught.value.status == 301


@pytest.mark.parametrize("url", ["odoo.test:8069", "ftp://odoo.test", "http://", "http://h:99999"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(errors.OdooConfigError) as caught:
        _client(FakeOdoo(), url=url)
    assert caught.value.exit_code == 3


def test_connection_refused_says_the_server_could_not_be_reached() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = Connection("refused", f"http://127.0.0.1:{port}", "db", "admin", pydantic.SecretStr("x"))
    with (
        OdooClient(
            conn, retry=RetryPolicy(attempts=2, wait_initial=0.001, wait_jitter=0)
        ) as client,
        pytest.raises(errors.ConnectionLostError) as caught,
    ):
        client.connect()
    assert f"the server at http://127.0.0.1:{port} could not be reached" in str(caught.value)
    assert client.stats.retries == 1


def test_html_404_on_jsonrpc_points_at_the_url() -> None:
    fake = FakeOdoo(web_version=False)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jsonrpc":
            return httpx.Response(404, text="<h1>Not Found</h1>", headers=_HTML)
        return fake(request)

    with (
        _client(answer, protocol="jsonrpc") as client,
        pytest.raises(errors.NotFoundError) as caught,
    ):
        client.connect()
    assert "check the server url" in str(caught.value)


def test_repr_shows_no_secret() -> None:
    client = _client(FakeOdoo())
    assert API_KEY not in repr(client) and API_KEY not in repr(client.conn)
    assert "**********" in repr(client.conn)
    client.close()


def test_arguments_that_are_not_json_are_an_invalid_request() -> None:
    fake = FakeOdoo()
    with _client(fake) as client:
        client.connect()
        sent = len(fake.seen)
        with pytest.raises(errors.InvalidRequestError, match="cannot be sent as JSON"):
            client.search("res.partner", [["write_date", ">", dt.datetime(2026, 1, 1)]])
        assert len(fake.seen) == sent


def test_web_version_sent_to_a_login_page_falls_back_to_common_version() -> None:
    fake = FakeOdoo(major=16)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/web/version":
            return httpx.Response(303, headers={"Location": "/web/login"})
        return fake(request)

    with _client(answer, secret=PASSWORD) as client:
        assert client.server_version == "16.0"
        assert client.protocol == "jsonrpc"


# --- read_page before Odoo 17 ---------------------------------------------------------------------


@dataclass
class Odoo16(FakeOdoo):
    """An Odoo 16: its web_search_read takes a list of fields, not a specification."""

    major: int = 16
    json2: bool = False

    def _answer(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method == "fields_get":
            return {"name": {"type": "char"}, "parent_id": {"type": "many2one"}}
        if method == "search_read":
            return [{"id": 4, "name": "Ann", "parent_id": [9, "Acme"]}]
        if method == "web_search_read":
            raise AssertionError("Odoo 16's web_search_read does not take a specification")
        return super()._answer(model, method, args, kwargs)


def _methods(fake: FakeOdoo) -> list[str]:
    methods = []
    for request in fake.seen:
        params = json.loads(request.content).get("params", {}) if request.content else {}
        if params.get("method") == "execute_kw":
            methods.append(params["args"][4])
    return methods


def test_read_page_uses_search_read_before_17_and_leaves_names_out() -> None:
    fake = Odoo16()
    with _client(fake, secret=PASSWORD) as client:
        fields = ["name", "parent_id"]
        context = {"active_test": False}
        assert client.read_page("res.partner", [], fields, limit=5, context=context) == [
            {"id": 4, "name": "Ann", "parent_id": 9}
        ]
        named = client.read_page("res.partner", [], fields, names=["parent_id"], limit=5)
        assert named == [{"id": 4, "name": "Ann", "parent_id": [9, "Acme"]}]
    # The field types are asked once per model.
    assert _methods(fake) == ["fields_get", "search_read", "search_read"]

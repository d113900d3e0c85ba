"""OdooClient against the simulator over real HTTP: Odoo 19 and 17, both transports, every error."""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, get_args

import pydantic
import pytest

from odoo_sync_cli import errors
from odoo_sync_cli.odoo import (
    AUTO,
    PROTOCOLS,
    Connection,
    OdooClient,
    ProtocolSetting,
    RetryPolicy,
    Transport,
    WireProtocol,
    protocols,
)
from odoo_sync_cli.odoo.jsonrpc import JsonRpcTransport
from odoo_sync_cli.simulator.testing import Simulator, start_simulator

PASSWORD = "live-password-5d2c"
API_KEY = "5d2c" * 10
FAST = RetryPolicy(attempts=3, total_timeout=20.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0)
ALL = {"active_test": False}


@pytest.fixture(scope="module")
def sim19() -> Iterator[Simulator]:
    with start_simulator(records=300, odoo_version=19, password=PASSWORD, api_key=API_KEY) as sim:
        yield sim


@pytest.fixture(scope="module")
def sim17() -> Iterator[Simulator]:
    with start_simulator(records=300, odoo_version=17, password=PASSWORD, api_key=API_KEY) as sim:
        yield sim


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    simulator: Simulator = request.getfixturevalue(f"sim{request.param}")
    simulator.clear_faults()
    yield simulator
    simulator.clear_faults()
    simulator.set_latency(0)


def _client(
    sim: Simulator,
    protocol: ProtocolSetting,
    *,
    secret: str | None = None,
    database: str | None = None,
    login: str | None = None,
    retry: RetryPolicy = FAST,
    timeout: float = 10.0,
    transports: Mapping[str, type[Transport]] = protocols.TRANSPORTS,
) -> OdooClient:
    if secret is None:
        secret = PASSWORD if protocol == "jsonrpc" or sim.odoo_version < 19 else API_KEY
    conn = Connection(
        user="live",
        url=sim.url,
        database=database or sim.database,
        login=login or sim.login,
        secret=pydantic.SecretStr(secret),
        protocol=protocol,
    )
    return OdooClient(
        conn, retry=retry, timeout=timeout, connect_timeout=5.0, transports=transports
    )


# (simulated version, configured protocol, protocol the client must end up using)
COMBOS = [
    (19, "jsonrpc", "jsonrpc"),
    (19, "json2", "json2"),
    (19, "auto", "json2"),
    (17, "jsonrpc", "jsonrpc"),
    (17, "auto", "jsonrpc"),
]
combos = pytest.mark.parametrize(
    ("sim", "protocol", "used"),
    [pytest.param(v, p, u, id=f"odoo{v}-{p}") for v, p, u in COMBOS],
    indirect=["sim"],
)


@combos
def test_every_operation(sim: Simulator, protocol: ProtocolSetting, used: str) -> None:
    with _client(sim, protocol) as client:
        client.connect()
        assert client.protocol == used
        assert client.server_version.startswith(f"{sim.odoo_version}.0")
        assert client.server_version_info[0] == sim.odoo_version
        assert client.version()["server_version"].startswith(f"{sim.odoo_version}.0")
        assert (client.uid == sim.uid) if used == "jsonrpc" else client.uid is None
        client.check_credentials()

        every = client.search("res.partner", [], order="id asc", context=ALL)
        assert every == sorted(every) and len(every) >= 300
        assert client.search_count("res.partner", [], context=ALL) == len(every)
        active = client.search_count("res.partner", [])
        assert 0 < active <= len(every)
        assert client.search_count("res.partner", [], limit=5, context=ALL) == 5

        page = client.search("res.partner", [], offset=10, limit=5, order="id asc", context=ALL)
        assert page == every[10:15]
        domain = [["id", ">", every[9]]]
        rows = client.search_read(
            "res.partner", domain, ["name", "active"], limit=5, order="id asc", context=ALL
        )
        assert [row["id"] for row in rows] == page
        assert all(set(row) == {"id", "name", "active"} for row in rows)

        missing = every[-1] + 1000
        read = client.read("res.partner", [page[1], missing, page[0]], ["name"])
        assert [row["id"] for row in read] == [page[1], page[0]]

        fields = client.fields_get("res.partner", attributes=["type", "string"])
        assert fields["name"]["type"] == "char"
        assert set(fields["name"]) <= {"type", "string"}

        assert client.call("res.partner", "search_count", kwargs={"domain": []}) == active
        assert client.stats.retries == 0
        assert client.stats.requests > 0


def test_auto_on_19_with_a_password_uses_jsonrpc(sim19: Simulator) -> None:
    with _client(sim19, "auto", secret=PASSWORD) as client:
        assert client.protocol == "jsonrpc"
        assert client.uid == sim19.uid


@combos
def test_wrong_secret(sim: Simulator, protocol: ProtocolSetting, used: str) -> None:
    client = _client(sim, protocol, secret="not-the-secret")
    with client, pytest.raises(errors.AuthenticationError) as caught:
        client.connect()
    text = str(caught.value)
    assert "user 'live'" in text and sim.url in text
    assert caught.value.exit_code == 4
    if protocol == "json2":
        assert "Rotate the key for user live" in text


def test_wrong_login(sim19: Simulator) -> None:
    client = _client(sim19, "jsonrpc", login="nobody")
    with client, pytest.raises(errors.AuthenticationError, match="refused login 'nobody'"):
        client.connect()


@combos
def test_unknown_database(sim: Simulator, protocol: ProtocolSetting, used: str) -> None:
    client = _client(sim, protocol, database="nosuchdb")
    with client, pytest.raises(errors.DatabaseNotFoundError) as caught:
        client.connect()
    assert "nosuchdb" in str(caught.value)


@combos
def test_request_errors(sim: Simulator, protocol: ProtocolSetting, used: str) -> None:
    with _client(sim, protocol) as client:
        with pytest.raises(errors.ModelNotFoundError) as model_error:
            client.search_count("no.such.model", [])
        assert "no.such.model" in str(model_error.value)
        with pytest.raises(errors.MethodNotFoundError):
            client.call("res.partner", "no_such_method", kwargs={})
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [["no_such_field", "=", 1]], ["name"])
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [], ["no_such_field"])
        with pytest.raises(errors.InvalidRequestError):
            client.search("res.partner", ["|", ["id", "=", 1]])
        with pytest.raises(errors.InvalidRequestError):
            client.search("res.partner", [["name", "bogus", "x"]])
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [], ["name"], order="name sideways")
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [], ["name"], order="no_such_field asc")
        with pytest.raises(errors.InvalidRequestError):
            client.call("res.partner", "search", kwargs={"domain": [], "bogus": 1})
        with pytest.raises(errors.AccessDeniedError):
            client.call("res.partner", "_search", kwargs={"domain": []})
        with pytest.raises(errors.NotFoundError) as missing:
            client.call("res.partner", "write", ids=[10**6], kwargs={"vals": {"name": "x"}})
        assert type(missing.value) is errors.NotFoundError
        assert client.stats.retries == 0


@pytest.mark.parametrize("protocol", ["jsonrpc", "json2"])
def test_access_denied_on_a_field(sim19: Simulator, protocol: ProtocolSetting) -> None:
    demo = sim19.demo_credentials()
    secret = demo.password if protocol == "jsonrpc" else demo.api_key
    client = _client(sim19, protocol, login=demo.login, secret=secret)
    with client, pytest.raises(errors.AccessDeniedError) as caught:
        client.search_read("hr.employee", [], ["private_email"], limit=1)
    assert caught.value.model == "hr.employee"


# --- faults: every retriable class, over both transports -----------------------------------------

TRANSPORTS = pytest.mark.parametrize("protocol", ["jsonrpc", "json2"])


# Faults hit the model call only, not the login or version requests. The call answers a list:
# a bare number cut short can still be valid JSON, and then no client could tell.
MODEL_CALLS = {"model": "res.partner", "method": "search_read"}


def _page(client: OdooClient) -> list[dict[str, object]]:
    return client.search_read("res.partner", [], ["name"], limit=20, order="id asc")


@TRANSPORTS
def test_429_with_retry_after_is_retried_then_succeeds(
    sim19: Simulator, protocol: ProtocolSetting
) -> None:
    with _client(sim19, protocol) as client:
        client.connect()
        expected = _page(client)
        sim19.script_faults(["429:1"], match=MODEL_CALLS)
        started = time.monotonic()
        try:
            assert _page(client) == expected
        finally:
            sim19.clear_faults()
        assert time.monotonic() - started >= 0.9  # the server's Retry-After, not our 10 ms
        assert client.stats.retries == 1


@TRANSPORTS
def test_503_outlasting_the_retries(sim19: Simulator, protocol: ProtocolSetting) -> None:
    with _client(sim19, protocol) as client:
        client.connect()
        sim19.script_faults(["503"] * 10, match=MODEL_CALLS)
        try:
            with pytest.raises(errors.ServiceUnavailableError) as caught:
                _page(client)
        finally:
            sim19.clear_faults()
        assert caught.value.status == 503
        assert client.stats.retries == FAST.attempts - 1
        assert isinstance(caught.value, errors.RetriableError) and caught.value.exit_code == 6


@TRANSPORTS
@pytest.mark.parametrize("kind", ["502", "504"])
def test_bad_gateway_and_gateway_timeout_are_retried(
    sim19: Simulator, protocol: ProtocolSetting, kind: str
) -> None:
    with _client(sim19, protocol) as client:
        client.connect()
        sim19.script_faults([kind], match=MODEL_CALLS)
        try:
            assert len(_page(client)) == 20
        finally:
            sim19.clear_faults()
        assert client.stats.retries == 1


@TRANSPORTS
@pytest.mark.parametrize("kind", ["drop", "truncate", "cut"])
def test_lost_connections_and_cut_bodies(
    sim19: Simulator, protocol: ProtocolSetting, kind: str
) -> None:
    with _client(sim19, protocol) as client:
        client.connect()
        sim19.script_faults([kind], match=MODEL_CALLS)
        try:
            assert len(_page(client)) == 20
            assert client.stats.retries == 1
            sim19.script_faults([kind] * FAST.attempts, match=MODEL_CALLS)
            with pytest.raises(errors.ConnectionLostError):
                _page(client)
        finally:
            sim19.clear_faults()
        assert client.stats.retries == FAST.attempts


@TRANSPORTS
def test_slow_answer_times_out_then_retry_succeeds(
    sim19: Simulator, protocol: ProtocolSetting
) -> None:
    with _client(sim19, protocol, timeout=0.3) as client:
        client.connect()
        sim19.script_faults(["slow:1"], match=MODEL_CALLS)
        try:
            assert len(_page(client)) == 20
            assert client.stats.retries == 1
            sim19.script_faults(["slow:1"] * FAST.attempts, match=MODEL_CALLS)
            with pytest.raises(errors.OdooTimeoutError, match="timed out waiting for the answer"):
                _page(client)
        finally:
            sim19.clear_faults()


def test_latency_within_the_timeout_is_fine(sim19: Simulator) -> None:
    sim19.set_latency(0.05)
    try:
        with _client(sim19, "json2", timeout=2.0) as client:
            assert len(_page(client)) == 20
            assert client.stats.retries == 0
    finally:
        sim19.set_latency(0)


def test_keep_alive_reuses_one_connection(sim19: Simulator) -> None:
    with _client(sim19, "json2") as client:
        client.connect()
        for _ in range(5):
            client.search_count("res.partner", [])
        pool = client._session._client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1


# --- TLS ------------------------------------------------------------------------------------------


class _VersionHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"version": "19.0", "version_info": [19, 0, 0, "final", 0, ""]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def tls_url(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback with a self-signed certificate no client trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [
        *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-days", "1"),
        *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
    ]
    subprocess.run(command, check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _VersionHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_untrusted_certificate_is_not_retried(tls_url: str) -> None:
    conn = Connection("tls", tls_url, "odoo", "admin", pydantic.SecretStr(API_KEY))
    with OdooClient(conn, retry=FAST) as client:
        with pytest.raises(errors.TLSVerificationError) as caught:
            client.version()
        assert client.stats.retries == 0
    assert "pass --insecure" in str(caught.value)
    assert not isinstance(caught.value, errors.RetriableError)
    with OdooClient(conn, retry=FAST, verify=False) as insecure:
        assert insecure.server_version == "19.0"


# --- secrets --------------------------------------------------------------------------------------


def test_no_secret_in_logs_output_or_errors(
    sim19: Simulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for protocol in ("jsonrpc", "json2", "auto"):
        with _client(sim19, protocol) as client:
            texts.append(repr(client))
            texts.append(repr(client.conn))
            _page(client)
            sim19.script_faults(["503", "drop"], match=MODEL_CALLS)
            try:
                _page(client)  # retried twice: stamina logs each retry
            finally:
                sim19.clear_faults()
            for failing in (
                lambda: client.search_count("no.such.model", []),
                lambda: client.search_read("res.partner", [["nope", "=", 1]], ["name"]),
            ):
                with pytest.raises(errors.OdooError) as caught:
                    failing()
                texts.extend([str(caught.value), repr(caught.value)])
        for secret, database in (("wrong", None), (None, "nosuchdb")):
            with _client(sim19, protocol, secret=secret, database=database) as client:
                with pytest.raises(errors.OdooError) as caught:
                    client.connect()
                texts.extend([str(caught.value), repr(caught.value)])
    captured = capsys.readouterr()
    texts.extend([captured.out, captured.err, caplog.text])
    assert any("stamina" in record.name for record in caplog.records)
    for secret in (PASSWORD, API_KEY):
        assert [text for text in texts if secret in text] == []


# -- the protocol registry --------------------------------------------------------------------


def test_the_registry_is_what_a_user_may_choose() -> None:
    assert PROTOCOLS[0] == AUTO
    assert set(get_args(ProtocolSetting)) == set(PROTOCOLS)
    registry = protocols.TRANSPORTS
    assert set(get_args(WireProtocol)) == set(registry) == set(PROTOCOLS) - {AUTO}
    for name, cls in registry.items():
        assert cls.protocol == name


class _CountingJsonRpc(JsonRpcTransport):
    """JSON-RPC that counts the calls it carries: a transport a test hands the client."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def call(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.calls.append((model, method))
        return super().call(model, method, ids=ids, args=args, kwargs=kwargs)


@pytest.mark.parametrize("protocol", ["jsonrpc", "auto"])
def test_the_client_speaks_the_transport_it_is_handed(
    sim19: Simulator, protocol: ProtocolSetting
) -> None:
    _CountingJsonRpc.calls = []
    transports = {"jsonrpc": _CountingJsonRpc}
    with _client(sim19, protocol, secret=PASSWORD, transports=transports) as client:
        assert client.search_count("res.partner", [], context=ALL) == 300
        assert client.protocol == "jsonrpc"
    assert _CountingJsonRpc.calls == [("res.partner", "search_count")]

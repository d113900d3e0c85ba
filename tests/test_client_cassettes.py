"""Recorded exchanges with the simulator, played back without it: the transports' wire fidelity.

Each scenario drives an :class:`OdooClient` through every operation and the common errors. In
playback (the default) vcrpy answers from ``fixtures/cassettes/<scenario>.yaml`` and refuses any
request the recording does not hold, so a change in what the client sends fails here. With
``ODOOSYNC_RECORD_CASSETTES=1`` (``scripts/record-cassettes``) the scenarios run against a fresh
simulator and the cassettes are written again.

Secrets are scrubbed before vcrpy stores or matches a request: credential slots of JSON-RPC
bodies and the bearer token become placeholders, and any known secret left anywhere in a request
or response is replaced too. Requests match on method, path and the JSON body without its ``id``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import vcr
import yaml
from vcr.request import Request as VcrRequest

from odoo_sync_cli import errors
from odoo_sync_cli.odoo import Connection, OdooClient, ProtocolSetting, RetryPolicy

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "fixtures" / "cassettes"
RECORDING = os.environ.get("ODOOSYNC_RECORD_CASSETTES") == "1"

PASSWORD_PLACEHOLDER = "{{password}}"
API_KEY_PLACEHOLDER = "{{api_key}}"
OTHER_PLACEHOLDER = "{{other-secret}}"
PLACEHOLDERS = frozenset({PASSWORD_PLACEHOLDER, API_KEY_PLACEHOLDER, OTHER_PLACEHOLDER})
WRONG_SECRET = "wrong-secret-for-cassettes"

# The simulator's credentials while recording: distinct from every other string sent, so that
# blanking them cannot touch anything else; the tests check no cassette holds them.
RECORD_PASSWORD = "record-password-e81b6f"
RECORD_API_KEY = "e81b6f" * 6 + "e81b"

# Secrets the playback runs use; they only have to be scrubbed to the same placeholders.
PLAYBACK_PASSWORD = "playback-password-0c4f"
PLAYBACK_API_KEY = "0c4f" * 10

# Credential position in the ``args`` of JSON-RPC calls that carry one.
_CREDENTIAL_SLOT = {"authenticate": 2, "login": 2, "execute_kw": 2, "execute": 2}

NO_WAIT = RetryPolicy(attempts=1)


class Scrubber:
    """Replaces secrets by placeholders in vcrpy requests and responses."""

    def __init__(self, password: str, api_key: str) -> None:
        self.known = {password: PASSWORD_PLACEHOLDER, api_key: API_KEY_PLACEHOLDER}

    def placeholder(self, value: object) -> str:
        text = str(value)
        # vcrpy runs this on the requests it loads from a cassette, too: keep their placeholders.
        if text in PLACEHOLDERS:
            return text
        return self.known.get(text, OTHER_PLACEHOLDER)

    def _blank(self, text: str) -> str:
        for secret, placeholder in self.known.items():
            text = text.replace(secret, placeholder)
        return text

    def request(self, request: VcrRequest) -> VcrRequest:
        authorization = request.headers.get("Authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            request.headers["Authorization"] = f"{scheme} {self.placeholder(token)}"
        body = request.body
        if body:
            text = body.decode() if isinstance(body, bytes) else str(body)
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("params"), dict):
                params = data["params"]
                slot = _CREDENTIAL_SLOT.get(params.get("method", ""))
                args = params.get("args")
                if slot is not None and isinstance(args, list) and len(args) > slot:
                    args[slot] = self.placeholder(args[slot])
                text = json.dumps(data, separators=(",", ":"))
            request.body = self._blank(text).encode()
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        body = response["body"]["string"]
        if isinstance(body, bytes):
            response["body"]["string"] = self._blank(body.decode("utf-8", "replace")).encode()
        response["headers"] = {
            name: [self._blank(value) for value in values]
            for name, values in response["headers"].items()
        }
        return response


def _canonical_body(request: VcrRequest) -> Any:
    body = request.body
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        data.pop("id", None)
    return data


def odoo_body(first: VcrRequest, second: VcrRequest) -> None:
    """vcrpy matcher: the JSON bodies are equal once JSON-RPC's ``id`` is left out."""
    assert _canonical_body(first) == _canonical_body(second)


def make_vcr(scrubber: Scrubber, directory: Path, record_mode: str) -> vcr.VCR:
    """The vcrpy configuration every cassette here is recorded and played with."""
    recorder = vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode=record_mode,
        match_on=["method", "path", "odoo_body"],
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("odoo_body", odoo_body)
    return recorder


# --- the scenarios --------------------------------------------------------------------------------

ALL = {"active_test": False}


def exercise(make: Callable[..., OdooClient], used: str, major: int) -> None:
    """Every operation, then the errors a transport must translate; asserts as it goes."""
    with make() as client:
        client.connect()
        assert client.protocol == used
        assert client.server_version_info[0] == major
        client.check_credentials()
        ids = client.search("res.partner", [], limit=5, order="id asc", context=ALL)
        assert len(ids) == 5 and ids == sorted(ids)
        rows = client.search_read(
            "res.partner", [["id", "in", ids]], ["name", "active"], order="id asc", context=ALL
        )
        assert [row["id"] for row in rows] == ids
        assert client.search_count("res.partner", [["id", "in", ids]], context=ALL) == 5
        read = client.read("res.partner", ids[::-1], ["name"])
        assert [row["id"] for row in read] == ids[::-1]
        fields = client.fields_get("res.partner", attributes=["type"])
        assert fields["name"] == {"type": "char"}
        assert client.call("res.partner", "search", kwargs={"domain": [["id", "=", ids[0]]]}) == [
            ids[0]
        ]
        with pytest.raises(errors.ModelNotFoundError):
            client.search_count("no.such.model", [])
        with pytest.raises(errors.MethodNotFoundError):
            client.call("res.partner", "no_such_method", kwargs={})
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [["no_such_field", "=", 1]], ["name"])
        with pytest.raises(errors.InvalidRequestError):
            client.search_read("res.partner", [], ["name"], order="name sideways")
    with make(secret=WRONG_SECRET) as client, pytest.raises(errors.AuthenticationError):
        client.connect()
    with make(database="nosuchdb") as client, pytest.raises(errors.DatabaseNotFoundError):
        client.connect()


# name -> (simulated version, configured protocol, protocol used, secret kind)
SCENARIOS: dict[str, tuple[int, ProtocolSetting, str, str]] = {
    "odoo19-json2": (19, "json2", "json2", "api_key"),
    "odoo19-jsonrpc": (19, "jsonrpc", "jsonrpc", "password"),
    "odoo19-auto-password": (19, "auto", "jsonrpc", "password"),
    "odoo17-auto": (17, "auto", "jsonrpc", "password"),
}


def _meta_path(name: str) -> Path:
    return CASSETTES / f"{name}.json"


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Where the scenario talks to: a fresh simulator when recording, a recorded address if not."""
    name = request.param
    if not RECORDING:
        meta = json.loads(_meta_path(name).read_text())
        yield {**meta, "password": PLAYBACK_PASSWORD, "api_key": PLAYBACK_API_KEY}
        return
    from odoo_sync_cli.simulator.testing import start_simulator

    major = SCENARIOS[name][0]
    with start_simulator(
        records=50, odoo_version=major, password=RECORD_PASSWORD, api_key=RECORD_API_KEY
    ) as sim:
        meta = {"url": sim.url, "database": sim.database, "login": sim.login}
        CASSETTES.mkdir(parents=True, exist_ok=True)
        _meta_path(name).write_text(json.dumps(meta, indent=2) + "\n")
        yield {**meta, "password": sim.password, "api_key": sim.api_key}


@pytest.mark.parametrize("endpoint", list(SCENARIOS), indirect=True)
def test_scenario(endpoint: dict[str, str], request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.id
    major, protocol, used, secret_kind = SCENARIOS[name]
    scrubber = Scrubber(endpoint["password"], endpoint["api_key"])
    cassette = f"{name}.yaml"
    if RECORDING:
        (CASSETTES / cassette).unlink(missing_ok=True)
    recorder = make_vcr(scrubber, CASSETTES, "all" if RECORDING else "none")

    def make(secret: str | None = None, database: str | None = None) -> OdooClient:
        conn = Connection(
            user="cassette",
            url=endpoint["url"],
            database=database or endpoint["database"],
            login=endpoint["login"],
            secret=pydantic.SecretStr(secret or endpoint[secret_kind]),
            protocol=protocol,
        )
        return OdooClient(conn, retry=NO_WAIT)

    with recorder.use_cassette(cassette) as tape:
        exercise(make, used, major)
    if not RECORDING:
        assert tape.all_played, f"{cassette}: recorded requests the client no longer sends"


def _cassette_files() -> list[Path]:
    return sorted(CASSETTES.glob("*.yaml"))


def test_every_scenario_has_a_cassette() -> None:
    assert {path.stem for path in _cassette_files()} >= set(SCENARIOS)


def test_no_cassette_holds_the_recording_secrets() -> None:
    for path in CASSETTES.iterdir():
        text = path.read_text()
        assert RECORD_PASSWORD not in text and RECORD_API_KEY not in text, path.name


@pytest.mark.parametrize("path", _cassette_files(), ids=lambda path: path.stem)
def test_recorded_credentials_are_placeholders(path: Path) -> None:
    placeholders = PLACEHOLDERS
    tape = yaml.safe_load(path.read_text())
    checked = 0
    for interaction in tape["interactions"]:
        sent = interaction["request"]
        for name, values in sent["headers"].items():
            if name.lower() == "authorization":
                assert [value.split(" ", 1)[1] for value in values] in (
                    [placeholder] for placeholder in placeholders
                )
                checked += 1
        if sent["uri"].endswith("/jsonrpc"):
            params = json.loads(sent["body"])["params"]
            slot = _CREDENTIAL_SLOT.get(params["method"])
            if slot is not None:
                assert params["args"][slot] in placeholders
                checked += 1
    assert checked > 0


# --- secrets never leave: exceptions, reprs, logs, output, cassettes ------------------------------

DISTINCTIVE = "Zq9-distinctive-SECRET-7Hx2"


def _fake_odoo(request: httpx.Request) -> httpx.Response:
    """Accepts DISTINCTIVE over both protocols, and echoes what it was sent in its errors."""
    path = request.url.path
    if path == "/web/version":
        return httpx.Response(200, json={"version": "19.0", "version_info": [19, 0, 0, "final"]})
    if path.startswith("/json/2/"):
        if request.headers.get("Authorization") != f"bearer {DISTINCTIVE}":
            body = {"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey"}
            return httpx.Response(401, json=body)
        if path.endswith("/search_count"):
            return httpx.Response(200, json=7)
        echo = request.content.decode() + request.headers.get("Authorization", "")
        body = {"name": "builtins.ValueError", "message": f"cannot use {echo}"}
        return httpx.Response(500, json=body)
    data = json.loads(request.content)
    params = data["params"]
    if params["method"] == "authenticate":
        uid = 2 if params["args"][2] == DISTINCTIVE else False
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": data["id"], "result": uid})
    error = {
        "name": "odoo.exceptions.UserError",
        "message": f"Object x doesn't exist; you sent {params['args']}",
        "arguments": [params["args"]],
    }
    envelope = {"jsonrpc": "2.0", "id": data["id"], "error": {"code": 0, "data": error}}
    return httpx.Response(200, json=envelope)


def test_the_secret_never_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    scrubber = Scrubber(password=DISTINCTIVE, api_key=DISTINCTIVE)
    tapes = tmp_path / "cassettes"
    recorder = make_vcr(scrubber, tapes, "all")
    seen: list[str] = []

    def client(protocol: ProtocolSetting, secret: str = DISTINCTIVE) -> OdooClient:
        conn = Connection(
            user="secretive",
            url="http://odoo.test:8069",
            database="db",
            login="admin",
            secret=pydantic.SecretStr(secret),
            protocol=protocol,
        )
        made = OdooClient(conn, retry=NO_WAIT, transport=httpx.MockTransport(_fake_odoo))
        seen.extend([repr(made), repr(conn), str(conn)])
        return made

    def failing(action: Callable[[], object]) -> None:
        with pytest.raises(errors.OdooSyncError) as caught:
            action()
        exc: BaseException | None = caught.value
        while exc is not None:
            seen.extend([str(exc), repr(exc), repr(exc.args)])
            exc = exc.__cause__ or exc.__context__

    with recorder.use_cassette("secrets.yaml"):
        with client("json2") as json2:
            assert json2.search_count("res.partner", []) == 7
            failing(lambda: json2.search_read("res.partner", [], ["name"]))
        with client("jsonrpc") as jsonrpc:
            assert jsonrpc.protocol == "jsonrpc"
            failing(lambda: jsonrpc.search_count("res.partner", []))
        with client("auto", secret=DISTINCTIVE + "-wrong") as wrong:
            failing(wrong.connect)
    captured = capsys.readouterr()
    seen.extend([captured.out, captured.err])
    # vcrpy logs the raw answers of the echoing fake server: the recorder is not odoosync's.
    ours = [record for record in caplog.records if not record.name.startswith("vcr")]
    assert any(record.name.startswith("httpx") for record in ours)
    seen.extend(logging.Formatter("%(name)s %(message)s %(args)s").format(r) for r in ours)
    seen.extend(path.read_text() for path in tapes.iterdir())
    assert any("cannot use" in text for text in seen)  # the echoing errors were raised
    assert any("interactions" in text for text in seen)  # a cassette was written
    leaks = [text for text in seen if DISTINCTIVE in text]
    assert leaks == []

"""The simulator's HTTP service: protocols, authentication, errors, versions, knobs, control."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from odoo_sync_cli.errors import AccessDeniedError
from odoo_sync_cli.odoo import Connection, OdooClient, RetryPolicy
from odoo_sync_cli.simulator.server import (
    ADMIN_NAME,
    ADMIN_UID,
    DEFAULT_API_KEY,
    DEMO_LOGIN,
    DEMO_NAME,
    DEMO_PASSWORD,
    DEMO_UID,
    Fault,
    SimDatabase,
    SimulatorServer,
    SimUser,
    default_api_key,
)
from odoo_sync_cli.simulator.testing import (
    Simulator,
    SimulatorCallError,
    build_store,
    start_simulator,
)

ROOT = Path(__file__).resolve().parent.parent


def rpc(sim: Simulator, service: str, method: str, *args: Any) -> dict[str, Any]:
    return sim.jsonrpc(service, method, *args)


def error_of(envelope: dict[str, Any]) -> tuple[int, str, str]:
    error = envelope["error"]
    return error["code"], error["data"]["name"], error["data"]["message"]


@pytest.fixture(scope="module")
def knob_sim() -> Iterator[Simulator]:
    """A private simulator whose knobs the tests below turn (and reset)."""
    with start_simulator(records=300, seed=5) as sim:
        yield sim


@pytest.fixture
def knobs(knob_sim: Simulator) -> Iterator[Simulator]:
    knob_sim.clear_faults()
    knob_sim.set_latency(0)
    knob_sim.reset_stats()
    yield knob_sim
    knob_sim.clear_faults()
    knob_sim.set_latency(0)


# -- JSON-RPC envelopes and authentication ------------------------------------------------------


def test_version_and_envelope(simulator: Simulator) -> None:
    body = {"jsonrpc": "2.0", "method": "call", "id": "abc", "params": {}}
    body["params"] = {"service": "common", "method": "version", "args": []}
    answer = simulator.http.post("/jsonrpc", json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    envelope = answer.json()
    assert envelope["id"] == "abc" and envelope["jsonrpc"] == "2.0"
    assert envelope["result"]["server_version"] == "19.0"
    without_id = simulator.http.post("/jsonrpc", json={"params": body["params"]}).json()
    assert without_id["id"] is None
    web = simulator.http.get("/web/version").json()
    assert web == {"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}


def test_result_none_leaves_result_out(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SimulatorServer, "_dispatch_rpc", lambda self, params: None)
    envelope = rpc(simulator, "common", "version")
    assert "result" not in envelope and "error" not in envelope


def test_bad_bodies(simulator: Simulator) -> None:
    answer = simulator.http.post(
        "/jsonrpc", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.text) == (400, "Invalid JSON data")
    answer = simulator.http.post("/jsonrpc", json=[1, 2])
    assert answer.status_code == 400
    assert simulator.http.get("/jsonrpc").status_code == 415
    assert simulator.http.get("/no/such/route").status_code == 404


def test_authenticate_login_and_api_key(simulator: Simulator) -> None:
    db, login = simulator.database, simulator.login
    assert (
        rpc(simulator, "common", "authenticate", db, login, simulator.password, {})["result"] == 2
    )
    assert rpc(simulator, "common", "login", db, login, simulator.password)["result"] == 2
    assert rpc(simulator, "common", "authenticate", db, login, simulator.api_key, {})["result"] == 2
    assert rpc(simulator, "common", "authenticate", db, login, "nope", {})["result"] is False
    assert rpc(simulator, "common", "authenticate", db, login, "", {})["result"] is False
    assert rpc(simulator, "common", "authenticate", db, "nobody", "x", {})["result"] is False
    demo = simulator.demo_credentials()
    assert rpc(simulator, "common", "login", db, "demo", demo.password)["result"] == 5
    code, name, message = error_of(
        rpc(simulator, "common", "authenticate", "nosuchdb", login, simulator.password, {})
    )
    assert (code, name) == (0, "psycopg2.OperationalError")
    assert 'database "nosuchdb" does not exist' in message
    code, name, message = error_of(rpc(simulator, "common", "login", db, login))
    assert name == "builtins.TypeError"
    assert message == "exp_login() missing 1 required positional argument: 'password'"


def test_execute_kw_credentials(simulator: Simulator) -> None:
    db = simulator.database

    def count(uid: int, secret: str) -> dict[str, Any]:
        return rpc(
            simulator,
            "object",
            "execute_kw",
            db,
            uid,
            secret,
            "res.partner",
            "search_count",
            [[]],
            {},
        )

    with_password = count(2, simulator.password)["result"]
    assert with_password == count(2, simulator.api_key)["result"] > 0
    for uid, secret in ((2, "wrong"), (5, simulator.password), (99, simulator.password)):
        assert error_of(count(uid, secret))[1:] == ("odoo.exceptions.AccessDenied", "Access Denied")
    demo = simulator.demo_credentials()
    assert count(5, demo.password)["result"] == with_password
    envelope = rpc(
        simulator, "object", "execute_kw", "nosuchdb", 2, "x", "res.partner", "search_count", [[]]
    )
    assert error_of(envelope)[1] == "psycopg2.OperationalError"


def test_secrets_never_echoed(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=50, password="pw-Secret-91", api_key="ab12" * 10)
    envelope = rpc(
        sim,
        "object",
        "execute_kw",
        sim.database,
        2,
        sim.password,
        "res.partner",
        "search_read",
        [[["bogus", "=", 1]]],
        {},
    )
    assert "error" in envelope and sim.password not in json.dumps(envelope)
    denied = rpc(sim, "object", "execute_kw", sim.database, 2, "pw-Wrong-1", "res.partner", "x")
    assert "pw-Wrong-1" not in json.dumps(denied)
    answer = sim.json2("res.partner", "search_read", {"bogus": 1})
    assert answer.status_code == 500 and sim.api_key not in answer.text
    wrong_key = sim.json2("res.partner", "search_read", {}, api_key="cd34" * 10)
    assert wrong_key.status_code == 401 and "cd34" not in wrong_key.text
    for shown in (repr(sim.credentials()), repr(sim.server.primary.admin), repr(sim)):
        assert sim.password not in shown and sim.api_key not in shown


# -- methods and argument binding ---------------------------------------------------------------


def test_object_methods(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=200, seed=2)
    new_id = sim.execute_kw("res.partner", "create", [{"name": "Solo"}])
    assert isinstance(new_id, int)
    ids = sim.execute_kw("res.partner", "create", [[{"name": "A1"}, {"name": "A2"}]])
    assert isinstance(ids, list) and len(ids) == 2
    assert sim.execute_kw("res.partner", "write", [ids, {"city": "Gent"}]) is True
    rows = sim.execute_kw("res.partner", "read", [ids, ["name", "city"]])
    assert [r["city"] for r in rows] == ["Gent", "Gent"]
    assert sim.execute_kw("res.partner", "unlink", [[ids[0]]]) is True
    assert [
        r["id"] for r in sim.execute_kw("res.partner", "read", [ids], {"fields": ["name"]})
    ] == [ids[1]]
    found = sim.execute_kw(
        "res.partner", "search", [[["name", "=", "Solo"]]], {"order": "id asc", "limit": 5}
    )
    assert found == [new_id]
    # execute (no kwargs) binds positionally too.
    envelope = rpc(
        sim,
        "object",
        "execute",
        sim.database,
        2,
        sim.password,
        "res.partner",
        "search_count",
        [["name", "=", "Solo"]],
    )
    assert envelope["result"] == 1
    fields = sim.execute_kw("sale.order", "fields_get", [["state"]], {"attributes": ["type"]})
    assert fields == {"state": {"type": "selection"}}


def test_load_none_reads_bare_many2one_ids(simulator: Simulator) -> None:
    classic = simulator.execute_kw(
        "sale.order", "search_read", [[]], {"fields": ["partner_id"], "limit": 3, "order": "id"}
    )
    bare = simulator.execute_kw(
        "sale.order",
        "search_read",
        [[]],
        {"fields": ["partner_id"], "limit": 3, "order": "id", "load": None},
    )
    assert [r["partner_id"][0] for r in classic] == [r["partner_id"] for r in bare]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "name", "message"),
    [
        (
            "no_such_method",
            [[]],
            {},
            "builtins.AttributeError",
            "The method 'res.partner.no_such_method' does not exist",
        ),
        (
            "_search",
            [[]],
            {},
            "odoo.exceptions.AccessError",
            "Private methods (such as 'res.partner._search') cannot be called remotely.",
        ),
        (
            "search",
            [],
            {},
            "builtins.TypeError",
            "BaseModel.search() missing 1 required positional argument: 'domain'",
        ),
        (
            "search_count",
            [[]],
            {"bogus": 1},
            "builtins.TypeError",
            "BaseModel.search_count() got an unexpected keyword argument 'bogus'",
        ),
        (
            "search_read",
            [[]],
            {"bogus_kw": 1},
            "builtins.TypeError",
            "BaseModel._read_format() got an unexpected keyword argument 'bogus_kw'",
        ),
        (
            "read",
            [[1], ["name"], "_classic_read", "extra"],
            {},
            "builtins.TypeError",
            "BaseModel.read() takes from 1 to 3 positional arguments but 4 were given",
        ),
        (
            "search",
            [[]],
            {"domain": []},
            "builtins.TypeError",
            "BaseModel.search() got multiple values for argument 'domain'",
        ),
    ],
)
def test_method_errors(
    simulator: Simulator,
    method: str,
    args: list[Any],
    kwargs: dict[str, Any],
    name: str,
    message: str,
) -> None:
    with pytest.raises(SimulatorCallError) as caught:
        simulator.execute_kw("res.partner", method, args, kwargs)
    assert (caught.value.name, caught.value.message) == (name, message)


def test_unknown_model_and_service(simulator: Simulator) -> None:
    with pytest.raises(SimulatorCallError, match=r"Object no\.model doesn't exist"):
        simulator.execute_kw("no.model", "search", [[]])
    envelope = rpc(simulator, "nosuchservice", "x")
    assert error_of(envelope)[1] == "builtins.KeyError"
    envelope = rpc(
        simulator,
        "object",
        "frobnicate",
        simulator.database,
        2,
        simulator.password,
        "res.partner",
        "search_count",
        [[]],
    )
    assert error_of(envelope)[1:] == ("builtins.NameError", "Method not available frobnicate")


# -- JSON-2 -------------------------------------------------------------------------------------


def test_json2_success_and_bearer(simulator: Simulator) -> None:
    body = {"domain": [], "fields": ["name"], "order": "id asc", "limit": 2}
    first = simulator.json2("res.partner", "search_read", body)
    assert first.status_code == 200 and len(first.json()) == 2
    for scheme in ("Bearer", "BEARER", "bearer"):
        answer = simulator.http.post(
            "/json/2/res.partner/search_read",
            json=body,
            headers={"Authorization": f"{scheme} {simulator.api_key}"},
        )
        assert answer.json() == first.json()
    count = simulator.json2("res.partner", "search_count", {"domain": []}).json()
    assert count == simulator.execute_kw("res.partner", "search_count", [[]])
    read = simulator.json2("res.partner", "read", {"ids": [1], "fields": ["name"]}).json()
    assert read == [{"id": 1, "name": "YourCompany"}]


def test_json2_errors(simulator: Simulator) -> None:
    answer = simulator.http.post("/json/2/res.partner/search_count", json={"domain": []})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].lower() == "bearer"
    assert answer.json()["arguments"] == [answer.json()["message"], 401]
    assert simulator.json2("res.partner", "search_count", {}, api_key="0" * 40).status_code == 401
    unknown_db = simulator.json2("res.partner", "search_count", {}, database="nosuchdb")
    assert unknown_db.status_code == 404 and "No database is selected" in unknown_db.text
    cases = [
        ("no.model", "search", {}, 404, "werkzeug.exceptions.NotFound"),
        ("res.partner", "nope", {}, 404, "werkzeug.exceptions.NotFound"),
        ("res.partner", "_read_group", {}, 403, "odoo.exceptions.AccessError"),
        (
            "res.partner",
            "search_count",
            {"bogus": 1},
            422,
            "werkzeug.exceptions.UnprocessableEntity",
        ),
        ("res.partner", "search", {}, 422, "werkzeug.exceptions.UnprocessableEntity"),
        (
            "res.partner",
            "search_count",
            {"ids": [1], "domain": []},
            422,
            "werkzeug.exceptions.UnprocessableEntity",
        ),
        (
            "res.partner",
            "search_count",
            {"domain": [["bogus", "=", 1]]},
            500,
            "builtins.ValueError",
        ),
    ]
    for model, method, body, status, name in cases:
        answer = simulator.json2(model, method, body)
        assert (answer.status_code, answer.json()["name"]) == (status, name), (model, method, body)
        assert set(answer.json()) == {"name", "message", "arguments", "context", "debug"}
    get = simulator.http.get("/json/2/res.partner/search")
    assert get.status_code == 404
    assert get.json()["message"] == "Did you mean POST /json/2/<model>/<method>?"


def test_demo_user_sees_public_employee_fields_only(simulator: Simulator) -> None:
    demo = simulator.demo_credentials()
    answer = simulator.json2(
        "hr.employee", "search_read", {"fields": ["name", "private_email"]}, api_key=demo.api_key
    )
    assert answer.status_code == 403
    assert answer.json()["name"] == "odoo.exceptions.AccessError"
    assert "“private_email”" in answer.json()["message"]
    ok = simulator.json2(
        "hr.employee", "search_read", {"fields": ["name", "work_email"]}, api_key=demo.api_key
    )
    assert ok.status_code == 200
    with pytest.raises(SimulatorCallError, match="employee public profiles"):
        simulator.execute_kw("hr.employee", "read", [[1]], user=demo)


# -- Odoo 17 ------------------------------------------------------------------------------------


def test_odoo_17(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=100, odoo_version=17)
    assert rpc(sim, "common", "version")["result"]["server_version"] == "17.0-20240709"
    # /web/version came with Odoo 18; 17 answers the JSON-RPC route the web client uses.
    assert sim.http.get("/web/version").status_code == 404
    info = sim.http.post("/web/webclient/version_info", json={"jsonrpc": "2.0", "params": {}})
    assert info.json()["result"]["server_version_info"][0] == 17
    code, name, _ = error_of(
        rpc(sim, "object", "execute_kw", sim.database, 2, "bad", "res.partner", "search", [[]])
    )
    assert (code, name) == (200, "odoo.exceptions.AccessDenied")
    answer = sim.json2("res.partner", "search_count", {"domain": []})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert sim.execute_kw("res.partner", "search_count", [[]]) > 0


# -- knobs --------------------------------------------------------------------------------------


def _count_call(sim: Simulator, client: httpx.Client | None = None) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [sim.database, 2, sim.password, "res.partner", "search_count", [[]]],
        },
    }
    return (client or sim.http).post("/jsonrpc", json=body)


def test_latency(knobs: Simulator) -> None:
    knobs.set_latency(0.3)
    started = time.monotonic()
    assert _count_call(knobs).status_code == 200
    assert time.monotonic() - started >= 0.28
    knobs.set_latency(0)
    started = time.monotonic()
    _count_call(knobs)
    assert time.monotonic() - started < 0.28


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        ("429:7", 429, "text/html"),
        ("502", 502, "text/html"),
        ("503", 503, "text/plain"),
        ("504", 504, "text/html"),
    ],
)
def test_http_faults(knobs: Simulator, fault: str, status: int, content_type: str) -> None:
    knobs.script_faults([fault])
    answer = _count_call(knobs)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(content_type)
    if status == 429:
        assert answer.headers["retry-after"] == "7"
    assert _count_call(knobs).status_code == 200  # the script is used up
    assert knobs.stats.faults[Fault.parse(fault).kind] == 1


def test_dropped_cut_truncated_and_slow(knobs: Simulator) -> None:
    with httpx.Client(base_url=knobs.url, timeout=5.0) as client:
        knobs.script_faults(["drop"])
        with pytest.raises(httpx.RemoteProtocolError):
            _count_call(knobs, client)
        knobs.script_faults(["cut"])
        with pytest.raises(httpx.RemoteProtocolError):
            _count_call(knobs, client)
        knobs.script_faults(["truncate"])
        answer = _count_call(knobs, client)
        assert answer.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            answer.json()
        assert _count_call(knobs, client).json()["result"] > 0
    with httpx.Client(base_url=knobs.url, timeout=0.3) as impatient:
        knobs.script_faults(["slow:3"])
        with pytest.raises(httpx.ReadTimeout):
            _count_call(knobs, impatient)
    with httpx.Client(base_url=knobs.url, timeout=5.0) as patient:
        knobs.script_faults(["slow:0.4"])
        started = time.monotonic()
        assert _count_call(knobs, patient).json()["result"] > 0
        assert time.monotonic() - started >= 0.38


def test_scripted_sequence_and_matching(knobs: Simulator) -> None:
    knobs.script_faults(
        ["503", None, "502"], match={"model": "res.partner", "method": "search_count"}
    )
    # Requests that do not match neither consume nor see the script.
    assert rpc(knobs, "common", "version")["result"]
    statuses = [_count_call(knobs).status_code for _ in range(4)]
    assert statuses == [503, 200, 502, 200]
    assert knobs.server.faults.pending == 0


def test_random_faults(knobs: Simulator) -> None:
    knobs.set_fail_rate(1.0, ["502"], match={"service": "object"})
    assert _count_call(knobs).status_code == 502
    assert rpc(knobs, "common", "version")["result"]  # not matched
    knobs.set_fail_rate(0.5, ["503"], seed=11)
    statuses = [_count_call(knobs).status_code for _ in range(40)]
    assert 5 <= statuses.count(503) <= 35 and statuses.count(200) + statuses.count(503) == 40
    knobs.clear_faults()
    assert _count_call(knobs).status_code == 200
    with pytest.raises(ValueError, match="unknown fault kind"):
        knobs.set_fail_rate(0.1, ["418"])


def test_stats_and_page_log(knobs: Simulator) -> None:
    cursor, pages = 0, 0
    while True:
        rows = knobs.execute_kw(
            "res.partner",
            "search_read",
            [[["id", ">", cursor]]],
            {
                "fields": ["name"],
                "order": "id asc",
                "limit": 100,
                "context": {"active_test": False},
            },
        )
        pages += 1
        if not rows:
            break
        cursor = rows[-1]["id"]
    logged = knobs.stats.pages("res.partner")
    assert len(logged) == pages == 4
    assert [p.rows for p in logged] == [100, 100, 100, 0]
    assert logged[1].domain == [["id", ">", 100]] and logged[1].limit == 100
    assert logged[0].order == "id asc" and logged[0].protocol == "jsonrpc"
    knobs.json2("res.partner", "search", {"domain": [], "limit": 5})
    assert knobs.stats.count(service="object", model="res.partner", method="search_read") == 4
    assert knobs.stats.count(service="json2", method="search") == 1
    assert len(knobs.stats.pages(method=None)) == 5
    knobs.reset_stats()
    assert knobs.stats.count() == 0 and knobs.stats.pages() == []


# -- control API ---------------------------------------------------------------------------------


def test_control_api(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=150, seed=9)
    refused = sim.http.post("/_sim/stats", json={}, headers={"X-Sim-Key": "wrong"})
    assert refused.status_code == 403
    assert sim.control("no_such_action").status_code == 404
    created = sim.control("create", {"model": "res.partner", "vals_list": [{"name": "Ctl"}]})
    (new_id,) = created.json()["result"]
    assert (
        sim.control(
            "write", {"model": "res.partner", "ids": [new_id], "vals": {"city": "X"}}
        ).json()["result"]
        is True
    )
    assert sim.control("archive", {"model": "res.partner", "ids": [new_id]}).status_code == 200
    row = sim.store.read("res.partner", [new_id], ["active", "city"])[0]
    assert (row["active"], row["city"]) == (False, "X")
    sim.control("unarchive", {"model": "res.partner", "ids": [new_id]})
    assert sim.store.read("res.partner", [new_id], ["active"])[0]["active"] is True
    late = sim.control(
        "late_commit",
        {"model": "res.partner", "ids": [new_id], "vals": {"city": "Late"}, "seconds_ago": 3600},
    ).json()["result"]
    assert late == [new_id]
    stamp = sim.store.read("res.partner", [new_id], ["write_date"])[0]["write_date"]
    written = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) - time.timezone
    assert 3500 < time.time() - written < 3700
    assert sim.control("unlink", {"model": "res.partner", "ids": [new_id]}).json()["result"]
    assert sim.store.read("res.partner", [new_id], ["name"]) == []
    bad = sim.control("write", {"model": "no.model", "ids": [1], "vals": {}})
    assert bad.status_code == 400 and "doesn't exist" in bad.json()["error"]
    described = sim.control("faults", {"script": ["502"], "match": {"method": "search_count"}})
    assert described.json()["result"]["script"] == ["502"]
    assert _count_call(sim).status_code == 502
    assert sim.control("latency", {"seconds": 0.0}).json()["result"] == 0.0
    stats = sim.control("stats").json()["result"]
    assert stats["total_requests"] >= 1 and stats["faults"] == {"502": 1}
    assert sim.control("reset_stats").json()["result"] is True
    assert sim.control("stats").json()["result"]["total_requests"] == 0
    info = sim.control("info").json()["result"]
    assert info["databases"][sim.database]["res.partner"] == 150


def test_python_mutations_and_clean_stop() -> None:
    sim = start_simulator(records=60, seed=4)
    with sim:
        port = sim.server.server_address[1]
        ids = sim.create("res.partner", [{"name": "M1"}, {"name": "M2"}])
        # The storage contract keeps write_date with microseconds: one call, one transaction.
        stored = sim.store.conn.execute(
            f"SELECT DISTINCT write_date FROM res_partner WHERE id IN ({ids[0]}, {ids[1]})"
        ).fetchall()
        assert len(stored) == 1 and len(stored[0][0]) == 26
        at = datetime(2024, 5, 6, 7, 8, 9, 123456)
        assert sim.write("res.partner", ids, {"city": "Liège"}, at=at)
        assert sim.store.read("res.partner", ids, ["write_date"])[0]["write_date"] == (
            "2024-05-06 07:08:09"
        )
        assert sim.archive("res.partner", ids[:1]) and sim.unarchive("res.partner", ids[:1])
        (late,) = sim.late_commit("res.partner", seconds_ago=7200, vals_list=[{"name": "Late"}])
        stamp = sim.store.read("res.partner", [late], ["write_date"])[0]["write_date"]
        age = datetime.now(UTC).replace(tzinfo=None) - datetime.fromisoformat(stamp)
        assert timedelta(seconds=7100) < age < timedelta(seconds=7300)
        assert sim.unlink("res.partner", ids)
        assert sim.store.read("res.partner", ids, ["name"]) == []
        # A keep-alive connection left open must not keep the server alive.
        idle = httpx.Client(base_url=sim.url)
        assert idle.get("/web/version").status_code == 200
    try:
        mine = f"odoo-simulator-{port}"
        assert not [t for t in threading.enumerate() if t.name.split("-conn-")[0] == mine]
        with pytest.raises(httpx.TransportError):
            idle.get("/web/version")
    finally:
        idle.close()


# -- several databases ---------------------------------------------------------------------------


def test_several_databases(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(databases={"small": 100, "big": 400})
    small, big = sim.credentials("small"), sim.credentials("big")
    assert small.api_key != big.api_key
    count = {"context": {"active_test": False}}
    assert sim.execute_kw("res.partner", "search_count", [[]], count, database="small") == 100
    assert sim.execute_kw("res.partner", "search_count", [[]], count, database="big") == 400
    # As on the recorded servers (list_db = False), the database list is not given out.
    assert rpc(sim, "db", "list")["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert rpc(sim, "db", "db_exist", "big")["result"] is True
    assert rpc(sim, "db", "db_exist", "nosuchdb")["result"] is False
    assert sim.json2("res.partner", "search_count", {"domain": []}, database="big").json() > 0
    wrong_key = sim.json2(
        "res.partner", "search_count", {"domain": []}, database="big", api_key=small.api_key
    )
    assert wrong_key.status_code == 401
    # With several databases and no header, JSON-2 cannot pick one.
    no_header = sim.http.post(
        "/json/2/res.partner/search_count",
        json={},
        headers={"Authorization": f"bearer {big.api_key}"},
    )
    assert no_header.status_code == 404


def test_default_credentials() -> None:
    assert len(DEFAULT_API_KEY) == 40 and int(DEFAULT_API_KEY, 16) >= 0


# -- the command line ----------------------------------------------------------------------------


def test_cli_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "odoo_sync_cli.simulator", "--port", "0", "--records", "500"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            keys = {"url", "database", "login", "password", "api_key", "odoo_version", "records"}
            assert set(info) >= keys
            assert info["records"] == 500 and info["odoo_version"] == 19
            assert info["url"].startswith("http://127.0.0.1:")
            with httpx.Client(base_url=info["url"], timeout=10) as client:
                answer = client.post(
                    "/json/2/res.partner/search_count",
                    json={"domain": [], "context": {"active_test": False}},
                    headers={"Authorization": f"bearer {info['api_key']}"},
                )
                assert answer.json() == 500
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            # Read through the buffered stream readline() used (communicate() would skip it).
            rest = proc.stdout.read()
            assert "serving Odoo 19 on" in rest and rest.rstrip().endswith("stopped")
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_denied_model_answers_access_error() -> None:
    db_store = build_store(20)
    users = [
        SimUser(ADMIN_UID, "admin", ADMIN_NAME, "admin", default_api_key("odoo")),
        SimUser(
            DEMO_UID,
            DEMO_LOGIN,
            DEMO_NAME,
            DEMO_PASSWORD,
            default_api_key("odoo", DEMO_LOGIN),
            denied_models=frozenset({"sale.order"}),
        ),
    ]
    served = SimDatabase("odoo", db_store, users=users)
    try:
        with start_simulator(databases={"odoo": served}) as sim:
            conn = Connection(
                "dora", sim.url, "odoo", DEMO_LOGIN, SecretStr(DEMO_PASSWORD), "jsonrpc"
            )
            with OdooClient(conn, retry=RetryPolicy(attempts=1)) as client:
                assert client.fields_get("sale.order", attributes=["type"])
                assert client.search_count("res.partner", []) > 0
                with pytest.raises(AccessDeniedError, match=r"not allowed to access 'sale\.order'"):
                    client.search_count("sale.order", [])
    finally:
        db_store.close()


def test_simulator_ignores_clients_that_hang_up(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    server = simulator.server
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a real bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "a real bug" in capsys.readouterr().err


def test_simulator_counts_faults_by_call(make_simulator: Callable[..., Simulator]) -> None:
    """The faults campaign tells a truncated count (a bare number over JSON-2) from the rest."""
    sim = make_simulator(records=50, seed=5)
    sim.script_faults(["truncate", "503"], match={"method": "search_count"})
    for _ in range(3):
        sim.json2("res.partner", "search_count", {"domain": []})
    assert sim.stats.fault_calls == {
        ("truncate", "json2", "search_count"): 1,
        ("503", "json2", "search_count"): 1,
    }
    sim.reset_stats()
    assert not sim.stats.fault_calls

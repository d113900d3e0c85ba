"""OdooClient.read_page against the simulator over real HTTP (Odoo 19 and 17, both transports).

The truth is ``search_read``'s answer from the same server, with the display names of the
many2one fields that were not asked for taken out: read_page must give exactly that, for every
field type of the four default models, whichever fields and names a caller picks. x2many values
are compared as sets: the server lists ids that tie under their comodel's order in any order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo_sync_cli.config import DEFAULT_EXCLUDE, DEFAULT_MODULES, Module
from odoo_sync_cli.engine import select_fields
from odoo_sync_cli.odoo import Connection, OdooClient, ProtocolSetting
from odoo_sync_cli.simulator.testing import Simulator, start_simulator

ALL = {"active_test": False}
MODELS = [(name, spec["model"], spec["domain"]) for name, spec in DEFAULT_MODULES.items()]
# (Odoo version, protocol): JSON-2 exists from 19 on.
SERVERS: list[tuple[int, ProtocolSetting]] = [(19, "json2"), (19, "jsonrpc"), (17, "jsonrpc")]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[int, Simulator]]:
    with (
        start_simulator(records=400, odoo_version=19, seed=3) as sim19,
        start_simulator(records=400, odoo_version=17, seed=3) as sim17,
    ):
        yield {19: sim19, 17: sim17}


@pytest.fixture(scope="module")
def clients(sims: dict[int, Simulator]) -> Iterator[dict[tuple[int, str], OdooClient]]:
    """One client per server and protocol, shared by the tests that only read."""
    opened = {(v, p): _client(sims[v], p) for v, p in SERVERS}
    yield opened
    for client in opened.values():
        client.close()


def _client(sim: Simulator, protocol: ProtocolSetting) -> OdooClient:
    return OdooClient(
        Connection(
            user="reader",
            url=sim.url,
            database=sim.database,
            login=sim.login,
            secret=pydantic.SecretStr(sim.api_key),
            protocol=protocol,
        )
    )


def _default_fields(client: OdooClient, module: str, model: str) -> dict[str, str]:
    info = client.fields_get(model, attributes=["type", "store"])
    chosen = Module(name=module, model=model, domain=(), fields=None, exclude=DEFAULT_EXCLUDE)
    return select_fields(chosen, info)


def _sets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every list of ids sorted (x2many values are sets)."""
    return [
        {
            k: sorted(v) if isinstance(v, list) and all(type(i) is int for i in v) else v
            for k, v in row.items()
        }
        for row in rows
    ]


def _expected(
    client: OdooClient,
    model: str,
    domain: list[Any],
    fields: list[str],
    names: Collection[str],
    **paging: Any,
) -> list[dict[str, Any]]:
    """search_read's page, each many2one not in ``names`` cut down to its id."""
    types = client.fields_get(model, attributes=["type"])
    rows = client.search_read(model, domain, fields, context=dict(ALL), **paging)
    for row in rows:
        for name, value in row.items():
            if types[name]["type"] == "many2one" and name not in names and value:
                row[name] = value[0]
    return _sets(rows)


@pytest.mark.parametrize(("version", "protocol"), SERVERS, ids=[f"{v}-{p}" for v, p in SERVERS])
@pytest.mark.parametrize(("module", "model", "domain"), MODELS, ids=[m[0] for m in MODELS])
def test_every_default_field_reads_as_search_read_does(
    clients: dict[tuple[int, str], OdooClient],
    sims: dict[int, Simulator],
    version: int,
    protocol: str,
    module: str,
    model: str,
    domain: list[Any],
) -> None:
    client = clients[(version, protocol)]
    fields = _default_fields(client, module, model)
    many2one = [f for f, t in fields.items() if t == "many2one"]
    assert many2one and {"one2many", "many2many", "datetime"} & set(fields.values())
    sims[version].reset_stats()
    for names in (many2one, [], many2one[::2]):
        want = _expected(client, model, domain, list(fields), names, order="id asc", limit=150)
        got = client.read_page(
            model, domain, list(fields), names=names, order="id asc", limit=150, context=dict(ALL)
        )
        assert _sets(got) == want
        assert [list(r) for r in got] == [list(r) for r in want]  # same keys, same order
    pages = sims[version].stats.pages(model, method="web_search_read")
    assert len(pages) == 3
    # A full page without count_limit would make the server count every match.
    assert not any(p.counted for p in pages)


@st.composite
def _requests(draw: st.DrawFn, catalog: dict[str, dict[str, str]]) -> tuple[Any, ...]:
    model = draw(st.sampled_from(sorted(catalog)))
    fields = catalog[model]
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=25, unique=True))
    many2one = [f for f in chosen if fields[f] == "many2one"]
    names = draw(st.lists(st.sampled_from(many2one), unique=True)) if many2one else []
    after = draw(st.integers(0, 450))
    limit = draw(st.integers(1, 60))
    return model, chosen, names, after, limit


@pytest.fixture(scope="module")
def catalogs(clients: dict[tuple[int, str], OdooClient]) -> dict[int, dict[str, dict[str, str]]]:
    out: dict[int, dict[str, dict[str, str]]] = {}
    for version in (19, 17):
        client = clients[(version, "jsonrpc")]
        out[version] = {model: _default_fields(client, m, model) for m, model, _ in MODELS}
    return out


@pytest.mark.parametrize(("version", "protocol"), SERVERS, ids=[f"{v}-{p}" for v, p in SERVERS])
def test_any_fields_and_names_read_as_search_read_does(
    clients: dict[tuple[int, str], OdooClient],
    catalogs: dict[int, dict[str, dict[str, str]]],
    version: int,
    protocol: str,
) -> None:
    client = clients[(version, protocol)]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_requests(catalogs[version]))
    def check(request: tuple[Any, ...]) -> None:
        model, fields, names, after, limit = request
        domain = [["id", ">", after]]
        want = _expected(client, model, domain, fields, names, order="id asc", limit=limit)
        got = client.read_page(
            model, domain, fields, names=names, order="id asc", limit=limit, context=dict(ALL)
        )
        assert _sets(got) == want

    check()


@pytest.mark.parametrize(("version", "protocol"), SERVERS, ids=[f"{v}-{p}" for v, p in SERVERS])
def test_archived_x2many_records_stay_out_as_in_search_read(
    make_simulator: Any, version: int, protocol: ProtocolSetting
) -> None:
    """With active_test off, web_search_read itself would list an archived employee among a
    partner's employee_ids; search_read does not, and neither may read_page."""
    sim: Simulator = make_simulator(records=40, odoo_version=version)
    gone, kept = sim.create("hr.employee", [{"name": "Gone Away"}, {"name": "Still Here"}])
    sim.write("res.partner", [3], {"employee_ids": [[6, 0, [gone, kept]]]})
    sim.archive("hr.employee", [gone])
    raw = sim.execute_kw(
        "res.partner",
        "web_search_read",
        [[["id", "=", 3]], {"employee_ids": {}}],
        {"context": dict(ALL)},
    )
    assert sorted(raw["records"][0]["employee_ids"]) == [gone, kept]
    with _client(sim, protocol) as client:
        domain = [["id", "<=", 10]]
        fields = ["name", "active", "employee_ids", "parent_id"]
        got = client.read_page("res.partner", domain, fields, order="id asc", context=dict(ALL))
        assert _sets(got) == _expected(client, "res.partner", domain, fields, (), order="id asc")
        assert next(r for r in got if r["id"] == 3)["employee_ids"] == [kept]
    assert sim.stats.pages("res.partner", method="web_search_read")


def test_archived_partners_are_read(make_simulator: Any) -> None:
    sim: Simulator = make_simulator(records=40)
    sim.archive("res.partner", [7, 8])
    with _client(sim, "json2") as client:
        got = client.read_page(
            "res.partner", [["id", "<=", 10]], ["active"], order="id asc", context=dict(ALL)
        )
        assert {r["id"] for r in got if not r["active"]} >= {7, 8}
        assert [r["id"] for r in got] == client.search(
            "res.partner", [["id", "<=", 10]], order="id asc", context=dict(ALL)
        )


def test_a_domain_that_looks_at_another_model_is_read_with_search_read(
    clients: dict[tuple[int, str], OdooClient], sims: dict[int, Simulator]
) -> None:
    """active_test would change what such a domain finds, so it is not rewritten."""
    client = clients[(19, "json2")]
    sims[19].reset_stats()
    domain = [["parent_id.is_company", "=", True]]
    fields = ["name", "parent_id", "child_ids"]
    got = client.read_page("res.partner", domain, fields, order="id asc", context=dict(ALL))
    assert got
    assert _sets(got) == _expected(client, "res.partner", domain, fields, (), order="id asc")
    assert sims[19].stats.pages("res.partner", method="search_read")
    assert not sims[19].stats.pages("res.partner", method="web_search_read")


def test_without_active_test_the_context_goes_as_is(
    clients: dict[tuple[int, str], OdooClient],
) -> None:
    client = clients[(19, "jsonrpc")]
    fields = ["name", "active", "country_id"]
    got = client.read_page("res.partner", [], fields, names=["country_id"], order="id asc")
    want = client.search_read("res.partner", [], fields, order="id asc")
    assert got == want
    assert all(r["active"] for r in got)


def test_names_must_be_many2one_fields_read(clients: dict[tuple[int, str], OdooClient]) -> None:
    client = clients[(19, "json2")]
    with pytest.raises(ValueError, match="child_ids"):
        client.read_page("res.partner", [], ["name", "child_ids"], names=["child_ids"], limit=1)
    with pytest.raises(ValueError, match="parent_id"):
        client.read_page("res.partner", [], ["name"], names=["parent_id"], limit=1)
    with pytest.raises(ValueError, match="fields"):
        client.read_page("res.partner", [], [], limit=1)

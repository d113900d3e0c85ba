"""validate-cursor against the simulator: Odoo 19 and 17 data, hand-built keyset traps, and
servers (a proxy in front of the simulator) that break what odoosync relies on.

Expected keyset numbers come from :func:`keyset_oracle`, an independent model of how Odoo pages
``order='write_date asc, id asc'`` with a ``(write_date, id)`` cursor, run on the stored
microsecond write_dates the simulator keeps (its storage contract, simulator/models.py).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pydantic
import pytest

from odoo_sync_cli.engine.diagnostics import CHECK_KEYS, CursorReport, validate_cursor
from odoo_sync_cli.odoo import Connection, OdooClient, RetryPolicy
from odoo_sync_cli.simulator.testing import Simulator, make_store, start_simulator

FAST = RetryPolicy(attempts=2, total_timeout=10.0, wait_initial=0.01, wait_max=0.02, wait_jitter=0)


def client_for(sim: Simulator, transport: httpx.BaseTransport | None = None) -> OdooClient:
    v19 = sim.odoo_version >= 19
    conn = Connection(
        user="diag",
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=pydantic.SecretStr(sim.api_key if v19 else sim.password),
        protocol="json2" if v19 else "jsonrpc",
    )
    return OdooClient(conn, retry=FAST, transport=transport, timeout=30.0)


def diagnose(sim: Simulator, model: str, **kwargs: Any) -> CursorReport:
    with client_for(sim) as client:
        return validate_cursor(client, model, **kwargs)


@pytest.fixture(scope="module")
def sim19() -> Iterator[Simulator]:
    with start_simulator(records=3000, seed=3, odoo_version=19) as sim:
        yield sim


@pytest.fixture(scope="module")
def sim17() -> Iterator[Simulator]:
    with start_simulator(records=3000, seed=3, odoo_version=17) as sim:
        yield sim


# --- the oracle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    pages: int
    rows_fetched: int
    repeated: int
    skipped: int
    unreached: int
    outcome: str


def stored_rows(sim: Simulator, model: str, top: int | None = None) -> list[tuple[int, str]]:
    """(id, stored write_date with microseconds) of every row, archived included."""
    table = model.replace(".", "_")
    rows = sim.store.conn.execute(f"SELECT id, write_date FROM {table} ORDER BY id").fetchall()
    return [(rid, wd) for rid, wd in rows if top is None or rid <= top]


def keyset_oracle(rows: list[tuple[int, str]], page_size: int, whole_second: bool) -> Expected:
    """What a keyset pager gets from Odoo 19 (whole-second) or Odoo 17 (full precision)."""
    ordered = sorted(rows, key=lambda r: (r[1], r[0]))

    def matches(row: tuple[int, str], shown: str, rid: int) -> bool:
        if whole_second:
            second = row[1][:19]
            return second > shown or (second == shown and row[0] > rid)
        exact = f"{shown}.000000"
        return row[1] > exact or (row[1] == exact and row[0] > rid)

    fetched: Counter[int] = Counter()
    cursor: tuple[str, int] | None = None
    pages = 0
    outcome = "finished"
    while True:
        page = [r for r in ordered if cursor is None or matches(r, *cursor)][:page_size]
        pages += 1
        fetched.update(rid for rid, _ in page)
        if len(page) < page_size:
            break
        following = (page[-1][1][:19], page[-1][0])
        if following == cursor:
            outcome = "stuck"
            break
        cursor = following
    unseen = {rid for rid, _ in rows} - set(fetched)
    if outcome == "finished" or cursor is None:
        still: set[int] = set()
    else:
        still = {r[0] for r in rows if matches(r, *cursor)}
    return Expected(
        pages=pages,
        rows_fetched=fetched.total(),
        repeated=sum(1 for n in fetched.values() if n > 1),
        skipped=len(unseen - still),
        unreached=len(unseen & still),
        outcome=outcome,
    )


def keyset_of(report: CursorReport) -> Expected:
    assert report.keyset is not None
    k = report.keyset
    return Expected(k.pages, k.rows_fetched, k.repeated, k.skipped, k.unreached, k.outcome)


def assert_all_pass(report: CursorReport) -> None:
    failed = {check.key: check.detail for check in report.failed}
    assert report.passed, failed
    assert [check.key for check in report.checks] == list(CHECK_KEYS)


# --- Odoo 19 ---------------------------------------------------------------------------------


def test_whole_second_server_passes(sim19: Simulator) -> None:
    report = diagnose(sim19, "res.partner")
    assert_all_pass(report)
    assert report.semantics == "whole-second"
    assert report.server_version.startswith("19")
    assert (report.records, report.examined, report.bounded) == (3000, 3000, False)
    assert keyset_of(report) == keyset_oracle(stored_rows(sim19, "res.partner"), 200, True)
    roundtrip = report.check("date_roundtrip").facts
    assert roundtrip["found"] and roundtrip["equal"] == roundtrip["listed"] > 1
    assert "exactly once" in report.check("id_cursor_exact").detail


def test_generated_data_shows_what_a_keyset_would_lose(sim19: Simulator) -> None:
    """The generator's trap seconds make the keyset lose rows on generated data too."""
    report = diagnose(sim19, "res.partner")
    assert report.keyset is not None and report.keyset.skipped > 0
    assert f"skipped {report.keyset.skipped} for good" in report.check("semantics").detail


def test_recorded_dataset_keyset_skips_and_repeats(dataset_simulator: Simulator) -> None:
    rows = stored_rows(dataset_simulator, "sale.order")
    per_second = Counter(wd[:19] for _, wd in rows)
    busiest, held = per_second.most_common(1)[0]
    transactions = {wd for _, wd in rows if wd.startswith(busiest)}
    # The trap needs a second holding more rows than a page, written by several transactions.
    assert held > 50 and len(transactions) > 1

    report = diagnose(dataset_simulator, "sale.order", page_size=50)
    assert_all_pass(report)
    assert report.semantics == "whole-second"
    assert report.keyset is not None
    assert report.keyset.skipped > 0 and report.keyset.repeated > 0
    assert report.keyset.outcome == "finished"
    assert keyset_of(report) == keyset_oracle(rows, 50, True)
    detail = report.check("semantics").detail
    assert f"skipped {report.keyset.skipped} for good" in detail
    assert "per whole second" in detail


def test_recorded_partners_show_sub_second_order(dataset_simulator: Simulator) -> None:
    page_size = 1000
    report = diagnose(dataset_simulator, "res.partner", page_size=page_size, max_records=None)
    assert_all_pass(report)
    assert report.records == report.examined == 20211
    rows = stored_rows(dataset_simulator, "res.partner")
    assert keyset_of(report) == keyset_oracle(rows, page_size, True)
    # The first two pages in stored order, as the server sorts them.
    sample = sorted(rows, key=lambda r: (r[1], r[0]))[: 2 * page_size]
    inversions = sum(
        1 for a, b in itertools.pairwise(sample) if a[1][:19] == b[1][:19] and b[0] < a[0]
    )
    order = report.check("order")
    assert inversions > 0
    assert order.facts["inversions"] == inversions
    assert "microseconds it does not return" in order.detail


# --- Odoo 17 ---------------------------------------------------------------------------------


def test_full_precision_server_passes(sim17: Simulator) -> None:
    rows = stored_rows(sim17, "res.partner")
    # Why the keyset must get stuck here: no row sits exactly on a whole second, so '>' W keeps
    # every row of second W, and one second holds more rows than a page.
    assert not any(wd.endswith(".000000") for _, wd in rows)
    biggest = max(Counter(wd[:19] for _, wd in rows).values())
    page_size = min(200, biggest - 1)
    assert page_size >= 2

    report = diagnose(sim17, "res.partner", page_size=page_size)
    assert_all_pass(report)
    assert report.semantics == "full-precision"
    assert report.server_version.startswith("17")
    assert report.keyset is not None
    assert report.keyset.outcome == "stuck"
    assert report.keyset.repeated > 0 and report.keyset.skipped == 0
    assert report.keyset.unreached > 0
    assert keyset_of(report) == keyset_oracle(rows, page_size, False)
    roundtrip = report.check("date_roundtrip")
    assert roundtrip.facts["equal"] == 0 and roundtrip.facts["window"] == roundtrip.facts["listed"]
    assert "hidden microseconds" in roundtrip.detail
    assert "forever" in report.check("semantics").detail


def test_full_precision_bounded_run_repeats(sim17: Simulator) -> None:
    report = diagnose(sim17, "res.partner", max_records=1000)
    assert_all_pass(report)
    assert (report.examined, report.bounded) == (1000, True)
    expected = keyset_oracle(stored_rows(sim17, "res.partner", top=1000), 200, False)
    assert keyset_of(report) == expected
    assert "bounded by max_records" in report.check("window_slice").detail


# --- a hand-built trap with known answers ----------------------------------------------------

SECOND = datetime(2025, 3, 4, 10, 0, 5)


@pytest.fixture
def trap() -> Iterator[Callable[[int], Simulator]]:
    """Employees 1-3 at .5 s and 4-6 at .2 s of one second (4-6 sort first); 7-8 a second
    later, 9 a second earlier."""
    started: list[Simulator] = []
    stores = []

    def make(version: int) -> Simulator:
        store = make_store(version)
        stores.append(store)
        for names, at in (
            (["A1", "A2", "A3"], SECOND.replace(microsecond=500_000)),
            (["B1", "B2", "B3"], SECOND.replace(microsecond=200_000)),
            (["C1", "C2"], SECOND.replace(second=6, microsecond=300_000)),
            (["D1"], SECOND.replace(second=4, microsecond=400_000)),
        ):
            store.create("hr.employee", [{"name": n} for n in names], at=at)
        sim = start_simulator(databases={"odoo": store}, odoo_version=version)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
    for store in stores:
        store.close()


def test_trap_on_whole_second_server_skips(trap: Callable[[int], Simulator]) -> None:
    # Stored order: 9 | 4 5 6 1 2 3 | 7 8. Page 1 ends at (second, 5); the cursor then asks
    # for ids above 5 in that second, so 1, 2 and 3 (later in the second, lower ids) are lost.
    report = diagnose(trap(19), "hr.employee", page_size=3)
    assert_all_pass(report)
    assert report.semantics == "whole-second"
    assert keyset_of(report) == Expected(3, 6, 0, 3, 0, "finished")
    assert report.keyset is not None and report.keyset.skipped_examples == (1, 2, 3)
    order = report.check("order")
    assert (order.facts["inversions"], order.facts["moved"]) == (1, 5)


def test_trap_on_full_precision_server_loops(trap: Callable[[int], Simulator]) -> None:
    # '>' 10:00:05 keeps every row of that second, so after page 1 the pager reads 4 5 6 again
    # and again: stuck at (10:00:05, 6), with 1 2 3 7 8 still ahead of it.
    report = diagnose(trap(17), "hr.employee", page_size=3)
    assert_all_pass(report)
    assert report.semantics == "full-precision"
    assert keyset_of(report) == Expected(3, 9, 3, 0, 5, "stuck")
    assert report.keyset is not None
    assert report.keyset.stuck_at == ("2025-03-04 10:00:05", 6)
    assert report.keyset.repeated_examples == (4, 5, 6)
    probes = report.check("semantics").facts["probes"]
    assert probes[0] == {"second": "2025-03-04 10:00:05", "listed": 6, "equal": 0, "after": 6}


def test_empty_model() -> None:
    with make_store(19) as store, start_simulator(databases={"odoo": store}) as sim:
        report = diagnose(sim, "hr.employee")
    assert_all_pass(report)
    assert report.semantics == "unknown"
    assert (report.records, report.examined) == (0, 0)
    assert report.keyset is not None and report.keyset.exact
    assert report.check("order").detail.startswith("Nothing to sort")


# --- filters, bounds, progress ---------------------------------------------------------------


def test_filter_and_bound(sim19: Simulator) -> None:
    companies = sim19.execute_kw(
        "res.partner",
        "search_count",
        [[["is_company", "=", True]]],
        {"context": {"active_test": False}},
    )
    messages: list[str] = []
    with client_for(sim19) as client:
        report = validate_cursor(
            client,
            "res.partner",
            domain=[["is_company", "=", True]],
            page_size=50,
            max_records=120,
            progress=messages.append,
        )
    assert_all_pass(report)
    assert companies > 120
    assert (report.records, report.examined, report.bounded) == (companies, 120, True)
    assert report.keyset is not None and report.keyset.expected == 120
    assert "rows matching the filter" in report.check("id_cursor_exact").detail
    assert "bounded by max_records to the lowest 120" in report.check("id_cursor_exact").detail
    assert messages and all(m.startswith("res.partner: ") for m in messages)


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"max_records": 0}])
def test_bad_arguments(sim19: Simulator, kwargs: dict[str, Any]) -> None:
    with client_for(sim19) as client, pytest.raises(ValueError):
        validate_cursor(client, "res.partner", **kwargs)


def test_to_dict_shape(sim19: Simulator) -> None:
    report = diagnose(sim19, "sale.order", page_size=20)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "user",
        "model",
        "server_version",
        "semantics",
        "passed",
        "records",
        "examined",
        "bounded",
        "page_size",
        "checks",
        "keyset",
    }
    assert (data["user"], data["model"], data["semantics"]) == (
        "diag",
        "sale.order",
        "whole-second",
    )
    assert data["passed"] is True and data["page_size"] == 20
    assert [c["key"] for c in data["checks"]] == list(CHECK_KEYS)
    for check in data["checks"]:
        assert set(check) == {"key", "title", "passed", "detail", "facts"}
        assert check["detail"].endswith(".") and check["title"]
    assert set(data["keyset"]) == {
        "page_size",
        "pages",
        "rows_fetched",
        "expected",
        "seen",
        "repeated",
        "skipped",
        "unreached",
        "outcome",
        "stuck_at",
        "skipped_examples",
        "repeated_examples",
    }
    text = json.dumps(data) + repr(report)
    assert sim19.api_key not in text and sim19.password not in text


# --- servers that break the rules ------------------------------------------------------------

Rewrite = Callable[[str, dict[str, Any]], dict[str, Any] | None]
Result = Callable[[str, dict[str, Any], Any], Any]


class Proxy:
    """A JSON-2 proxy in front of the simulator that can change requests and results."""

    def __init__(
        self, sim: Simulator, *, request: Rewrite | None = None, result: Result | None = None
    ) -> None:
        self.upstream = httpx.Client(base_url=sim.url, timeout=30.0)
        self.rewrite = request
        self.change = result

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "x-odoo-database", "content-type")
        }
        method = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content) if request.content else None
        if isinstance(body, dict) and self.rewrite is not None:
            refused = self.rewrite(method, body)
            if refused is not None:
                return httpx.Response(500, json=refused)
        answer = self.upstream.request(
            request.method,
            request.url.path,
            headers=headers,
            content=None if body is None else json.dumps(body).encode(),
        )
        if answer.status_code != 200 or not request.url.path.startswith("/json/2/"):
            return httpx.Response(
                answer.status_code,
                headers={"content-type": answer.headers.get("content-type", "")},
                content=answer.content,
            )
        result = answer.json()
        if self.change is not None and isinstance(body, dict):
            result = self.change(method, body, result)
        return httpx.Response(200, json=result)

    def close(self) -> None:
        self.upstream.close()


def through_proxy(sim: Simulator, model: str, proxy: Proxy, **kwargs: Any) -> CursorReport:
    try:
        with client_for(sim, httpx.MockTransport(proxy)) as client:
            return validate_cursor(client, model, **kwargs)
    finally:
        proxy.close()


def test_server_ignoring_write_date_order_fails(sim19: Simulator) -> None:
    def reverse(method: str, body: dict[str, Any], result: Any) -> Any:
        if method == "search_read" and str(body.get("order", "")).startswith("write_date"):
            return list(reversed(result))
        return result

    report = through_proxy(sim19, "res.partner", Proxy(sim19, result=reverse))
    order = report.check("order")
    assert not order.passed and not report.passed
    assert order.facts["backwards"] > 0
    assert "are not in that order" in order.detail
    assert "came after a row with a later write_date" in order.detail
    # What odoosync itself uses is unaffected.
    for key in ("id_cursor_exact", "window_slice", "date_roundtrip"):
        assert report.check(key).passed, report.check(key).detail
    assert report.keyset is not None and report.keyset.outcome == "gave-up"
    assert "was stopped without ending" in report.check("semantics").detail


def test_server_dropping_upper_date_bound_fails(sim19: Simulator) -> None:
    def drop_upper(method: str, body: dict[str, Any]) -> None:
        domain = body.get("domain")
        if isinstance(domain, list):
            body["domain"] = [
                t for t in domain if not (isinstance(t, list) and t[:2] == ["write_date", "<"])
            ]

    report = through_proxy(sim19, "res.partner", Proxy(sim19, request=drop_upper))
    window = report.check("window_slice")
    assert not window.passed and window.facts["extra"] > 0 and window.facts.get("missing") == 0
    assert "that do not belong" in window.detail
    assert not report.check("date_roundtrip").passed
    assert report.check("order").passed and report.check("id_cursor_exact").passed


def test_server_losing_rows_between_id_pages_fails(sim19: Simulator) -> None:
    def lose_first(method: str, body: dict[str, Any], result: Any) -> Any:
        domain = body.get("domain") or []
        paged = any(isinstance(t, list) and t[:2] == ["id", ">"] and t[2] > 0 for t in domain)
        if method == "search_read" and body.get("order") == "id asc" and paged:
            return result[1:]
        return result

    report = through_proxy(sim19, "res.partner", Proxy(sim19, result=lose_first), page_size=500)
    check = report.check("id_cursor_exact")
    assert not check.passed
    assert check.facts["missing"] > 0 and check.facts["paged"] < check.facts["listed"]
    assert "missing" in check.detail and "where `search` in id order lists 3,000" in check.detail
    # The other checks take `search`'s ids (and `read`'s write_dates) as the truth instead.
    assert report.examined == 3000
    for key in ("order", "window_slice", "date_roundtrip", "semantics"):
        assert report.check(key).passed, report.check(key).detail


def test_server_answering_id_pages_backwards_fails(sim19: Simulator) -> None:
    def backwards(method: str, body: dict[str, Any], result: Any) -> Any:
        if method == "search_read" and body.get("order") == "id asc":
            return list(reversed(result))
        return result

    report = through_proxy(sim19, "sale.order", Proxy(sim19, result=backwards), page_size=20)
    check = report.check("id_cursor_exact")
    assert not check.passed
    assert check.facts["went_backwards"] == {"cursor": 0, "after": 20, "id": 19}
    assert "returned id 19 after id 20" in check.detail
    assert report.examined == 50 and report.check("window_slice").passed


def test_server_refusing_keyset_domain(sim19: Simulator) -> None:
    def refuse_or(method: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("domain", [None])[:1] == ["|"]:
            return {"name": "builtins.ValueError", "message": "Invalid domain", "arguments": []}
        return None

    report = through_proxy(sim19, "sale.order", Proxy(sim19, request=refuse_or))
    syntax = report.check("cursor_syntax")
    assert not syntax.passed and syntax.facts["keyset_accepted"] is False
    assert "keyset cursor was refused" in syntax.detail and "Invalid domain" in syntax.detail
    assert report.keyset is None
    assert "not simulated" in report.check("semantics").detail
    assert report.to_dict()["keyset"] is None

"""The loop in this process: users in parallel, fairness, back-off, stopping, output, monitoring.

Every test runs the real scheduler, engine and store against simulators over HTTP, on both
backends (``backend``: ODOOSYNC_DB names the test's SQLite file or PostgreSQL schema).
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from odoo_sync_cli import engine, mirror, render
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.mirror.base import lease_owner_id, this_process
from odoo_sync_cli.models import Batch
from odoo_sync_cli.monitor import StatusServer
from odoo_sync_cli.progress import (
    Event,
    PageStored,
    RecordingReporter,
    UserCounters,
    UserFinished,
    UserState,
    UserTotals,
)
from odoo_sync_cli.scheduler import WORKERS_CEILING, Backoff, Scheduler, concurrency
from odoo_sync_cli.simulator.testing import Simulator
from tests.backends import Backend

FAST_RETRY = {"retry": {"attempts": 1, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def make_settings(**values: Any) -> Settings:
    values.setdefault("http", FAST_RETRY)
    values.setdefault("page_size", 50)
    values.setdefault("batch_size", 300)
    return Settings(**values)


def add_user(
    settings: Settings, sim: Simulator, name: str, database: str | None = None, secret: str = ""
) -> None:
    creds = sim.credentials(database)
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(secret or creds.api_key)),
        check=not secret,
    )


def assert_mirror_equals(settings: Settings, user: str, sim: Simulator, database: str) -> None:
    """Every module's live mirror rows equal the simulator's rows, every mirrored field (a
    many2one whose comodel the user mirrors without its name)."""
    sim_store = sim.stores[database]
    mirrored = {m.model for m in settings.for_user(user).modules}
    with mirror.open_mirror(settings) as store:
        for module in settings.for_user(user).modules:
            mine = store.read_records(user, module.table)
            ids = set(
                sim_store.search(module.model, module.domain_list(), context={"active_test": False})
            )
            assert ids, module.name
            fields = list(mine[0])
            specs = sim_store.registry[module.model].fields
            unnamed = {
                f for f in fields if specs[f].type == "many2one" and specs[f].relation in mirrored
            }
            theirs = [
                {f: [row[f][0], None] if f in unnamed and row[f] else row[f] for f in fields}
                for row in sim_store.exact_rows(module.model)
                if row["id"] in ids
            ]
            assert [r["id"] for r in mine] == [r["id"] for r in theirs], (user, module.name)
            assert mine == theirs, (user, module.name)


class TimedReporter(RecordingReporter):
    """Records when each user's pages were stored, and runs a hook on each page."""

    def __init__(self, on_page: Callable[[str, Batch], None] | None = None) -> None:
        super().__init__()
        self.page_times: dict[str, list[float]] = {}
        self.finished_at: dict[str, float] = {}
        self.on_page = on_page
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        super().emit(event)
        if isinstance(event, PageStored):
            with self._lock:
                self.page_times.setdefault(event.user, []).append(time.monotonic())
            if self.on_page is not None:
                self.on_page(event.user, event.batch)
        elif isinstance(event, UserFinished):
            with self._lock:
                self.finished_at[event.user] = time.monotonic()


def test_three_users_sync_at_once_and_end_equal(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(databases={"a": 300, "b": 300, "c": 300}, latency=0.01)
    settings = make_settings()
    for name in "abc":
        add_user(settings, sim, f"user-{name}", name)
    reporter = TimedReporter()
    scheduler = Scheduler(
        settings, once=True, workers=3, slice_seconds=0.3, interval=0.5, reporter=reporter
    )
    summary = scheduler.run()

    assert [(u.user, u.status) for u in summary.users] == [
        ("user-a", "done"),
        ("user-b", "done"),
        ("user-c", "done"),
    ]
    assert not summary.stopped and not summary.errors
    spans = {u: (min(t), max(t)) for u, t in reporter.page_times.items()}
    assert set(spans) == {"user-a", "user-b", "user-c"}
    for a in spans:
        for b in spans:
            if a < b:
                # Each user's pages started before every other user's pages ended: they overlap.
                assert spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1], spans
    for name in "abc":
        assert_mirror_equals(settings, f"user-{name}", sim, name)
    states = [e.state for e in reporter.of(UserState) if e.user == "user-a"]
    assert states[:2] == ["preparing", "in_progress"] and "syncing" in states
    totals = [e for e in reporter.of(UserTotals) if e.user == "user-a"]
    assert totals and totals[-1].records_expected > 300


def test_a_big_user_does_not_starve_the_small_ones(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(databases={"big": 1500, "s1": 60, "s2": 60}, latency=0.005)
    settings = make_settings()
    for db in ("big", "s1", "s2"):
        add_user(settings, sim, db, db)
    reporter = TimedReporter()
    # One worker: only the slices let the small users in while the big one still has work.
    summary = Scheduler(
        settings, once=True, workers=1, slice_seconds=0.1, interval=0.5, reporter=reporter
    ).run()
    assert summary.count("done") == 3
    finished = reporter.finished_at
    assert finished["s1"] < finished["big"] and finished["s2"] < finished["big"]
    big = next(u for u in summary.users if u.user == "big")
    assert big.turns > 3, "the big user should have been cut into several turns"
    assert_mirror_equals(settings, "big", sim, "big")


def test_a_failing_user_is_retried_with_backoff_while_the_others_go_on(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(databases={"good": 200, "bad": 50})
    settings = make_settings()
    add_user(settings, sim, "good", "good")
    add_user(settings, sim, "bad", "bad", secret="not-the-key")
    reporter = RecordingReporter()
    scheduler = Scheduler(
        settings,
        interval=0.05,
        backoff=Backoff(initial=0.3, maximum=10.0),
        reporter=reporter,
    )
    started = time.monotonic()
    stopped_after: list[float] = []

    def stop_once_good_is_done() -> None:
        # At least 1.4 s, and as long as a loaded machine needs for the good user to finish.
        time.sleep(1.4)
        deadline = time.monotonic() + 60
        while engine.user_get(settings, "good").status != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped_after.append(time.monotonic() - started)
        scheduler.request_stop()

    stopper = threading.Thread(target=stop_once_good_is_done, daemon=True)
    stopper.start()
    summary = scheduler.run()
    stopper.join()

    by_user = {u.user: u for u in summary.users}
    assert by_user["good"].status == "done"
    bad = by_user["bad"]
    assert bad.status == "failed"
    # Tries at about 0, 0.3, 0.9, 2.1, 4.5 s ... (the waits double from 0.3 s): not at every
    # tick. One more may start while the stop is asked.
    tries_due = sum(1 for k in range(20) if 0.3 * (2**k - 1) <= stopped_after[0])
    assert 2 <= bad.turns <= tries_due + 1, (bad, stopped_after)
    assert summary.ticks > 3 * bad.turns
    assert bad.exit_code == 4 and bad.retry_in is not None
    assert "refused" in (bad.last_error or "")
    failed = [e.message for e in reporter.of(UserState) if e.state == "failed"]
    assert failed and all("next try in" in m for m in failed)
    assert "not-the-key" not in repr(reporter.events)


def test_loop_once_exits_with_the_failure_code_and_a_summary(
    make_simulator: Callable[..., Simulator], tmp_path: Path, backend: Backend
) -> None:
    sim = make_simulator(databases={"good": 100, "bad": 50})
    settings = make_settings()
    add_user(settings, sim, "good", "good")
    add_user(settings, sim, "bad", "bad", secret="not-the-key")
    config = tmp_path / "odoosync.toml"
    config.write_text("page_size = 50\n[http.retry]\nattempts = 1\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--config", str(config), "loop", "--once", "--interval", "0.2"]
    )
    assert result.exit_code == 4, result.output
    assert "good: done" in result.output
    assert "Finished after" in result.output and "(1 done, 1 failed)" in result.output
    assert "bad: failed:" in result.output
    assert "not-the-key" not in result.output


def test_once_refreshes_a_due_user_once_then_exits(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(records=120)
    settings = make_settings(refresh=0)
    add_user(settings, sim, "alice")
    first = Scheduler(settings, once=True, interval=0.2).run()
    assert first.users[0].status == "done" and first.users[0].prepares == 1
    # email, not name: a name also shows in other records' many2one names, which go stale.
    sim.write("res.partner", [sim.store.ids("res.partner")[-1]], {"email": "new@example.com"})

    reporter = RecordingReporter()
    second = Scheduler(settings, once=True, interval=0.05, reporter=reporter).run()
    # refresh = 0 makes the user due at once; --once still syncs it only once.
    assert second.users[0].status == "done" and second.users[0].prepares == 1
    assert UserState("alice", "preparing", "incremental") in reporter.events
    assert_mirror_equals(settings, "alice", sim, sim.database)


def test_a_stop_request_lets_the_page_in_flight_commit_then_resume_is_exact(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(records=400, latency=0.005)
    settings = make_settings()
    add_user(settings, sim, "alice")
    holder: list[Scheduler] = []
    reporter = TimedReporter(on_page=lambda user, batch: holder[0].request_stop())
    scheduler = Scheduler(settings, once=True, interval=0.2, reporter=reporter)
    holder.append(scheduler)
    summary = scheduler.run()

    assert summary.stopped
    # The stop came while page 1 was being stored; page 2 had already been asked for (read
    # ahead), so it is the page in flight: it commits, and nothing after it starts.
    assert summary.pages == 2 and len(reporter.page_times["alice"]) == 2
    status = engine.status(settings, user="alice")[0]
    assert status.info.status == "in_progress"
    assert status.records_synced == 100

    again = Scheduler(settings, once=True, interval=0.2).run()
    assert again.users[0].status == "done"
    status = engine.status(settings, user="alice")[0]
    assert status.records_synced == status.records_expected, "a page was stored twice"
    assert_mirror_equals(settings, "alice", sim, sim.database)


def test_non_terminal_output_is_plain_timestamped_lines(
    make_simulator: Callable[..., Simulator], tmp_path: Path, backend: Backend
) -> None:
    sim = make_simulator(records=150)
    settings = make_settings()
    add_user(settings, sim, "alice")
    config = tmp_path / "odoosync.toml"
    config.write_text("page_size = 50\n", encoding="utf-8")
    log_file = tmp_path / "loop.log"
    result = CliRunner().invoke(
        app,
        ["--config", str(config), "loop", "--once", "--verbose", "--log-file", str(log_file)],
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    lines = result.output.splitlines()
    logged = [line for line in lines if TIMESTAMPED.match(line)]
    assert len(logged) >= len(lines) - 1, result.output  # all but the summary line
    assert any("alice contacts batch 1 done" in line for line in logged)
    assert any("page of 50 record(s)" in line for line in logged), "--verbose shows pages"
    assert lines[-1].startswith("Finished after")
    written = log_file.read_text(encoding="utf-8")
    assert "\x1b" not in written and "alice: done" in written and "page of 50" in written

    engine.queue(settings, users=["alice"])
    quiet = CliRunner().invoke(app, ["--config", str(config), "loop", "--once", "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == ""

    plain = CliRunner().invoke(app, ["--config", str(config), "loop", "--once"])
    assert plain.exit_code == 0
    assert "page of" not in plain.output, "pages are logged only with --verbose"


def test_status_endpoint_serves_the_status_json_and_health(
    make_simulator: Callable[..., Simulator], tmp_path: Path, backend: Backend
) -> None:
    sim = make_simulator(records=100)
    settings = make_settings()
    add_user(settings, sim, "alice")
    scheduler = Scheduler(settings, interval=0.1)  # runs until stopped
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while engine.user_get(settings, "alice").status != "done":
            assert time.monotonic() < deadline, "the loop should finish alice"
            time.sleep(0.05)
        with (
            StatusServer(settings, port=0, health=scheduler.health) as server,
            httpx.Client(base_url=server.url) as http,
        ):
            assert server.host == "127.0.0.1"
            status = http.get("/odoo/status")
            assert status.status_code == 200
            assert status.headers["content-type"] == "application/json"
            cli = CliRunner().invoke(app, ["status", "--json"], catch_exceptions=False)
            assert status.json() == json.loads(cli.output)
            assert status.json()["users"][0]["syncStatus"] == "done"
            assert sim.api_key not in status.text
            health = http.get("/healthz")
            assert health.status_code == 200, health.text
            loop = health.json()["loop"]
            assert health.json()["ok"] is True and loop["status"] == "running"
            assert loop["ticks"] >= 1 and loop["workersMax"] == WORKERS_CEILING
            assert loop["workers"] == 1, "nobody has work: one turn at a time is enough"
            missing = http.get("/nope")
            assert missing.status_code == 404 and "/odoo/status" in missing.json()["paths"]
            assert "/metrics" in missing.json()["paths"]
            scheduler.request_stop()
            thread.join(timeout=10)
            stopped = http.get("/healthz")
            assert stopped.status_code == 503 and stopped.json()["loop"]["status"] == "stopped"
    finally:
        scheduler.request_stop()
        thread.join(timeout=10)


def test_metrics_endpoint_serves_prometheus_text(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(databases={"good": 150, "bad": 20})
    settings = make_settings()
    add_user(settings, sim, "good", "good")
    add_user(settings, sim, "bad", "bad", secret="not-the-key")
    scheduler = Scheduler(settings, interval=0.1, backoff=Backoff(initial=0.2, maximum=1.0))
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while (
            engine.user_get(settings, "good").status != "done"
            or scheduler.counters().users.get("bad", UserCounters()).failures < 2
        ):
            assert time.monotonic() < deadline, "the loop should finish good and fail bad twice"
            time.sleep(0.05)
    finally:
        scheduler.request_stop()  # its counters stay; the statuses stop moving
        thread.join(timeout=10)
    with (
        StatusServer(settings, port=0, counters=scheduler.counters) as server,
        mirror.open_mirror(settings) as store,
        httpx.Client(base_url=server.url) as http,
    ):
        store.acquire_lease("good", lease_owner_id(), 60)
        response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert sim.api_key not in response.text and "not-the-key" not in response.text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    status = engine.status(settings, user="good")[0]
    assert value("odoosync_records_synced_total", user="good") == status.records_synced > 150
    assert value("odoosync_pages_synced_total", user="good") >= 6
    assert value("odoosync_sync_failures_total", user="bad") >= 2
    assert value("odoosync_sync_retries_total", user="bad") >= 1
    assert value("odoosync_sync_failures_total", user="good") == 0
    assert value("odoosync_user_status", user="good", status="done") == 1
    assert value("odoosync_user_status", user="bad", status="failed") == 1
    assert 0 <= value("odoosync_seconds_since_last_success", user="good") < 60
    assert ("odoosync_seconds_since_last_success", (("user", "bad"),)) not in samples
    assert value("odoosync_high_water_lag_seconds", user="good", module="contacts") > 0
    assert value("odoosync_mirrored_records", user="good", module="contacts") == 150
    assert value("odoosync_database_up") == 1
    here = this_process()
    assert value("odoosync_worker_users_held", worker=here) >= 0
    assert value("odoosync_user_holder", user="good", worker=here) == 1


def test_loop_cli_serves_the_endpoint_while_it_runs(
    make_simulator: Callable[..., Simulator], tmp_path: Path, backend: Backend
) -> None:
    sim = make_simulator(records=100)
    settings = make_settings()
    add_user(settings, sim, "alice")
    result = CliRunner().invoke(app, ["loop", "--once", "--http-port", "0"])
    assert result.exit_code == 0, result.output
    match = re.search(r"Status at (http://127\.0\.0\.1:\d+)/odoo/status", result.output)
    assert match, result.output
    with pytest.raises(httpx.ConnectError):  # closed when the loop ended
        httpx.get(match.group(1) + "/healthz", timeout=2)


def test_bad_options_are_refused_before_any_work(
    make_simulator: Callable[..., Simulator], tmp_path: Path, backend: Backend
) -> None:
    sim = make_simulator(records=20)
    settings = make_settings()
    add_user(settings, sim, "alice")
    for args, text in [
        (["--workers", "0"], "--workers"),
        (["--interval", "0"], "--interval"),
        (["--quiet", "--verbose"], "not both"),
        (["--user", "nobody"], "unknown user 'nobody'"),
    ]:
        result = CliRunner().invoke(app, ["loop", "--once", *args])
        assert result.exit_code == 3, (args, result.output)
        assert text in result.output
    assert engine.user_get(settings, "alice").status == "not_started"


def test_a_terminal_gets_one_progress_bar_per_user(
    make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch, backend: Backend
) -> None:
    sim = make_simulator(databases={"a": 200, "b": 120}, latency=0.005)
    settings = make_settings()
    add_user(settings, sim, "user-a", "a")
    add_user(settings, sim, "user-b", "b")
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, color_system="standard")
    monkeypatch.setattr(render, "out", console)
    result = CliRunner().invoke(app, ["loop", "--once", "--slice-seconds", "0.2"])
    assert result.exit_code == 0, result.output
    shown = screen.getvalue()
    assert "\x1b[" in shown, "a terminal gets colours and cursor moves"
    final = Text.from_ansi(shown.rsplit("\x1b[?25l", 1)[-1]).plain
    for user, records in (("user-a", 200), ("user-b", 120)):
        bar = [line for line in final.splitlines() if line.startswith(user)]
        assert bar, final
        last = bar[-1]
        assert " done " in last, last
        match = re.search(r"([\d,]+)/([\d,]+) rec\s+batches (\d+)/(\d+)", last)
        assert match, last
        assert match.group(1) == match.group(2) and int(match.group(1).replace(",", "")) > records
        assert match.group(3) == match.group(4) != "0"
        assert re.search(r"[\d,]+/s ", last), last
    assert "Finished after" in final and "2 user(s) (2 done)" in final


def test_a_lease_held_elsewhere_is_waited_for_and_a_dead_holders_lease_lapses(
    make_simulator: Callable[..., Simulator], backend: Backend
) -> None:
    sim = make_simulator(databases={"a": 60, "b": 60})
    settings = make_settings()
    add_user(settings, sim, "user-a", "a")
    add_user(settings, sim, "user-b", "b")
    alive = lease_owner_id()  # this process, another owner: a live holder
    dead = f"{socket.gethostname()}:{2**22 + 12345}:dead"  # no such process
    # The live holder keeps its connection; the dead one's is gone (in SQLite its process is).
    holder = mirror.open_mirror(settings)
    holder.acquire_lease("user-a", alive, 600)
    with mirror.open_mirror(settings) as store:
        store.acquire_lease("user-b", dead, 600)

    def release() -> None:
        if backend.is_postgres:
            holder.release_lease("user-a", alive)
            return
        with mirror.open_mirror(settings) as store:  # SQLite: one connection per thread
            store.release_lease("user-a", alive)

    reporter = RecordingReporter()
    timer = threading.Timer(0.8, release)
    timer.start()
    started = time.monotonic()
    try:
        summary = Scheduler(
            settings, once=True, interval=0.1, busy_recheck=0.2, reporter=reporter
        ).run()
    finally:
        timer.cancel()
        holder.close()
    assert summary.count("done") == 2
    assert time.monotonic() - started >= 0.8, "--once waited for the other holder"
    busy = {e.user for e in reporter.of(UserState) if e.state == "busy"}
    assert busy == {"user-a"}, "a dead process's lease is taken over at once"


def test_status_endpoint_defaults_to_loopback() -> None:
    loop = typer.main.get_command(app).commands["loop"]  # type: ignore[attr-defined]
    host = next(p for p in loop.params if p.name == "http_host")
    assert host.default == "127.0.0.1"


@given(
    st.integers(min_value=0, max_value=500),
    st.one_of(st.none(), st.integers(min_value=1, max_value=64)),
)
def test_concurrency_is_one_per_user_with_work_up_to_the_ceiling(
    with_work: int, workers: int | None
) -> None:
    got = concurrency(with_work, workers)
    if workers is not None:
        assert got == workers, "--workers wins"
    else:
        assert 1 <= got <= WORKERS_CEILING
        assert got == max(1, min(with_work, WORKERS_CEILING))

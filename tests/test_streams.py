"""Several batches of one user read at once (``streams``), every invariant kept.

The truth is the simulator's own store through the campaigns' ``mirror_diff`` (every field,
plain SQL on the mirror), and its page log: no data page is fetched twice, none is lost.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.engine.streams import startable
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.models import FULL, INCREMENTAL, RECONCILE, Batch
from odoo_sync_cli.progress import BatchFinished, BatchStarted, PageStored, RecordingReporter
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import READS, history_diff, mirror_diff

FAST_RETRY = {"retry": {"attempts": 1, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("http", FAST_RETRY)
    values.setdefault("page_size", 40)
    values.setdefault("batch_size", 150)
    return Settings(db=tmp_path / "odoosync.db", **values)


def add_user(settings: Settings, sim: Simulator, name: str = "alice") -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def data_pages(sim: Simulator) -> list[str]:
    """The record pages the simulator answered, each as one comparable key."""
    return [
        json.dumps([p.model, p.domain, p.limit], sort_keys=True)
        for p in sim.stats.pages(method=None)
        if p.method in READS and p.order == "id asc"
    ]


def test_a_sync_with_streams_equals_the_server_and_reads_each_page_once(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=700, seed=5)
    # Partners of our own, that nothing points at: deleting them changes no other record.
    own = sim.create("res.partner", [{"name": f"Own {i}"} for i in range(10)])
    settings = make_settings(tmp_path, streams=3)
    add_user(settings, sim)
    engine.prepare(settings)
    reporter = RecordingReporter()
    sim.reset_stats()
    report = engine.step(settings, reporter=reporter)
    assert not report.errors and report.users[0].status == "done"
    assert mirror_diff(settings, "alice", sim.store, late=()).exact
    pages = data_pages(sim)
    assert len(pages) == len(set(pages)), "a page was fetched twice"

    # Three batches were started before any page was stored: they were read at once.
    kinds = [type(e) for e in reporter.events if isinstance(e, BatchStarted | PageStored)]
    assert kinds[:3] == [BatchStarted] * 3
    # No reconcile started before the last data batch was done.
    finished = [
        i
        for i, e in enumerate(reporter.events)
        if isinstance(e, BatchFinished) and e.batch.kind != RECONCILE
    ]
    reconciles = [
        i
        for i, e in enumerate(reporter.events)
        if isinstance(e, BatchStarted) and e.batch.kind == RECONCILE
    ]
    assert reconciles and min(reconciles) > max(finished)

    # Changes, then an incremental sync (one window batch) with streams: exact again.
    partners = sim.store.ids("res.partner")
    sim.write("res.partner", partners[:30], {"phone": "+1 555 0100"})
    sim.create("res.partner", [{"name": f"New {i}"} for i in range(20)])
    sim.unlink("res.partner", own[:5])
    engine.prepare(settings)
    assert engine.step(settings, streams=4).users[0].status == "done"
    assert mirror_diff(settings, "alice", sim.store, late=()).exact


def test_history_with_streams_and_two_users_writing_at_once(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    # Two users' steps in two threads write one file (the writer lock), each with 3 streams,
    # history on: every page's versions go in with its rows, and agree with the mirror.
    sim = make_simulator(records=500, seed=8)
    settings = make_settings(tmp_path, streams=3, history=True)
    add_user(settings, sim, "alice")
    add_user(settings, sim, "bob")
    engine.prepare(settings)

    def sync(name: str) -> None:
        while engine.user_get(settings, name).status != "done":
            engine.step(settings, users=[name], max_pages=5)

    def changes_then_sync() -> None:
        threads = [threading.Thread(target=sync, args=(name,)) for name in ("alice", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in ("alice", "bob"):
            assert mirror_diff(settings, name, sim.store, late=()).exact
            wrong, examples = history_diff(settings.db_path, name)
            assert wrong == 0, examples

    changes_then_sync()
    sim.write("res.partner", sim.store.ids("res.partner")[:40], {"phone": "+1 555 0199"})
    engine.prepare(settings, full=True)
    changes_then_sync()


@pytest.mark.parametrize("max_pages", [1, 4, 7])
def test_the_page_budget_is_exact_and_nothing_fetched_is_thrown_away(
    tmp_path: Path, make_simulator: Callable[..., Simulator], max_pages: int
) -> None:
    sim = make_simulator(records=500, seed=6)
    settings = make_settings(tmp_path, streams=4)
    add_user(settings, sim)
    engine.prepare(settings)
    sim.reset_stats()
    first = engine.step(settings, max_pages=max_pages)
    assert first.pages == max_pages
    assert len(data_pages(sim)) == max_pages, "every page fetched is stored"
    while engine.user_get(settings, "alice").status != "done":
        engine.step(settings, max_pages=3, streams=2)
    pages = data_pages(sim)
    assert len(pages) == len(set(pages)), "a page was fetched twice"
    assert mirror_diff(settings, "alice", sim.store, late=()).exact
    progress = engine.status(settings)[0]
    assert progress.records_synced == progress.records_expected


def test_a_failing_stream_fails_its_batch_and_keeps_what_the_others_read(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=600, seed=7)
    settings = make_settings(tmp_path, streams=3)
    add_user(settings, sim)
    engine.prepare(settings)
    engine.step(settings, max_pages=3)
    sim.reset_stats()
    sim.script_faults(["503"], match={"method": "web_search_read", "model": "res.partner"})
    report = engine.step(settings)
    assert report.errors and engine.user_get(settings, "alice").status == "failed"
    with engine.open_mirror(settings) as store:
        batches = store.batches("alice")
    failed = [b for b in batches if b.status == "failed"]
    assert len(failed) == 1 and failed[0].module == "contacts"
    sim.clear_faults()
    engine.retry(settings, users=["alice"])
    assert engine.step(settings).users[0].status == "done"
    pages = Counter(data_pages(sim))
    assert [k for k, n in pages.items() if n > 1] == [], "a page read was thrown away"
    assert mirror_diff(settings, "alice", sim.store, late=()).exact


def test_streams_are_a_setting_per_user_and_a_flag(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "x.db", streams=2, users={"big": {"streams": 8}})
    assert settings.for_user("big").streams == 8
    assert settings.for_user("small").streams == 2
    assert Settings(db=tmp_path / "x.db").for_user("any").streams == 1
    with pytest.raises(ConfigError, match="--streams must be between 1 and 16"):
        engine.step(settings, streams=0)


# --------------------------------------------------------------------------- which batch starts


def _batch(seq: int, kind: str, status: str) -> Batch:
    return Batch(
        id=100 + seq,
        user="alice",
        module="contacts",
        model="res.partner",
        seq=seq,
        kind=kind,
        lo_id=0,
        hi_id=None,
        window_lo=None,
        cursor=0,
        expected=0,
        synced=0,
        pages=0,
        status=status,
        attempts=0,
        last_error=None,
        started_at=None,
        finished_at=None,
    )


plans = st.lists(
    st.tuples(
        st.sampled_from([FULL, INCREMENTAL, RECONCILE]),
        st.sampled_from(["pending", "running", "done", "failed"]),
        st.booleans(),
    ),
    max_size=12,
)


@given(plans, st.integers(min_value=0, max_value=5))
def test_startable_never_hands_out_a_busy_batch_nor_reconcile_early(
    plan: list[tuple[str, str, bool]], room: int
) -> None:
    # A plan lists its data batches first, then the reconciles.
    ordered = sorted(plan, key=lambda p: p[0] == RECONCILE)
    batches = [_batch(seq, kind, status) for seq, (kind, status, _) in enumerate(ordered, 1)]
    busy = {b.id for b, (_, status, lane) in zip(batches, ordered, strict=True) if lane}
    chosen = startable(batches, busy, room)
    assert len(chosen) <= room
    assert [b.seq for b in chosen] == sorted(b.seq for b in chosen)
    for b in chosen:
        assert b.id not in busy and b.status in ("pending", "running")
        if b.kind == RECONCILE:
            assert all(o.status == "done" for o in batches if o.kind != RECONCILE)
    free = [b for b in batches if b.id not in busy and b.status in ("pending", "running")]
    data_open = any(b.kind != RECONCILE and b.status != "done" for b in batches)
    could = [b for b in free if b.kind != RECONCILE or not data_open]
    assert len(chosen) == min(room, len(could)), "a batch that could start was left idle"

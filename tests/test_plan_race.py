"""Two processes race to plan one user: the one that takes the lease second carries on with the
other's plan instead of planning (and reading) the sync again; --restart still plans anew.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import LeaseError
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.scheduler import Scheduler
from odoo_sync_cli.simulator.testing import Simulator

FAST_RETRY = {"retry": {"attempts": 2, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}


def make_settings(tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "odoosync.db",
        http=FAST_RETRY,
        page_size=100,
        modules={"contacts": {"fields": ["name", "email"]}, "sale_orders": {"enabled": False}},
    )


def add_user(settings: Settings, sim: Simulator, name: str) -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def plans_made(sim: Simulator) -> int:
    """Prepare reads each module's newest write_date once: one such read per plan."""
    return sum(
        1 for p in sim.stats.pages("res.partner") if p.order == "write_date desc" and p.limit == 1
    )


def race_at_lease(
    monkeypatch: pytest.MonkeyPatch, other_process: Callable[[str], Any]
) -> list[str]:
    """Run ``other_process(user)`` once, just before this process takes a user's lease."""
    original = SqliteMirror.acquire_lease
    raced: list[str] = []

    def acquire(self: SqliteMirror, name: str, owner: str, ttl: float) -> None:
        if not raced:
            raced.append(name)
            other_process(name)
        original(self, name, owner, ttl)

    monkeypatch.setattr(SqliteMirror, "acquire_lease", acquire)
    return raced


@pytest.mark.parametrize("explicit", [True, False])
def test_a_user_planned_by_another_process_meanwhile_is_not_planned_again(
    tmp_path: Path,
    make_simulator: Callable[..., Simulator],
    monkeypatch: pytest.MonkeyPatch,
    explicit: bool,
) -> None:
    # Two loops both read alice as not_started; the other one plans her (and here even reads a
    # page) between this one's read and its lease. Planning her again would throw that plan
    # away and read its pages twice.
    sim = make_simulator(records=450, seed=3)
    settings = make_settings(tmp_path)
    add_user(settings, sim, "alice")

    def other_process(name: str) -> None:
        engine.prepare(settings, users=[name])
        engine.step(settings, users=[name], max_pages=1)

    raced = race_at_lease(monkeypatch, other_process)
    if explicit:
        with pytest.raises(LeaseError, match="planned by another odoosync process"):
            engine.prepare(settings, users=["alice"])
    else:
        [result] = engine.prepare(settings)
        assert result.refused and "planned by another odoosync process" in result.refused
    assert raced == ["alice"]
    assert plans_made(sim) == 1
    with SqliteMirror.open(settings.db_path) as store:
        first = store.batches("alice")[0]
    assert first.cursor > 0, "the page read under the other plan stays"
    report = engine.step(settings)
    assert not report.errors and report.users[0].status == "done"
    keys = [(str(p.domain), p.limit) for p in sim.stats.pages("res.partner") if p.order == "id asc"]
    assert len(keys) == len(set(keys)), "no page read twice"


def test_restart_still_plans_again_whatever_happened_meanwhile(
    tmp_path: Path, make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_simulator(records=150, seed=4)
    settings = make_settings(tmp_path)
    add_user(settings, sim, "alice")
    race_at_lease(monkeypatch, lambda name: engine.prepare(settings, users=[name]))
    [result] = engine.prepare(settings, users=["alice"], restart=True)
    assert result.refused is None and plans_made(sim) == 2


def test_the_loop_that_lost_the_race_carries_on_with_the_other_plan(
    tmp_path: Path, make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_simulator(records=300, seed=6)
    settings = make_settings(tmp_path)
    add_user(settings, sim, "alice")
    race_at_lease(monkeypatch, lambda name: engine.prepare(settings, users=[name]))
    summary = Scheduler(settings, once=True, workers=1, interval=0.1, busy_recheck=0.05).run()
    assert summary.errors == ()
    assert [(u.user, u.status, u.prepares) for u in summary.users] == [("alice", "done", 0)]
    assert plans_made(sim) == 1

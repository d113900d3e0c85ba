"""The campaigns' measure of a mirror (``torture.common.mirror_diff``) can fail, for each figure.

A small mirror is synced exactly, then damaged with plain SQL one way at a time, and each damage
must show in its figure: a row gone or marked deleted (``lost``), a row the server does not hold
(``extra``), a value changed or a column missing (``differing``), an x2many in another order
(not a difference: x2many are sets), and a reconcile that restored more than the late commits
explain (``restored``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import MirrorDiff, Where, live_ids, mirror_diff


@pytest.fixture
def synced(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> Iterator[tuple[Settings, Simulator]]:
    sim = make_simulator(records=120, seed=3)
    settings = Settings(db=tmp_path / "odoosync.db")
    creds = sim.credentials()
    engine.user_add(
        settings,
        name="alice",
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )
    engine.prepare(settings)
    engine.step(settings)
    yield settings, sim


def damage(settings: Settings, sql: str, *params: object) -> None:
    conn = sqlite3.connect(settings.db_path)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def figures(diff: MirrorDiff) -> tuple[int, int, int, int, int]:
    return diff.lost, diff.extra, diff.differing, diff.duplicated, diff.restored


def test_an_exact_mirror_measures_clean(synced: tuple[Settings, Simulator]) -> None:
    settings, sim = synced
    diff = mirror_diff(settings, "alice", sim.store, late=())
    assert diff.exact, diff.examples
    assert diff.records > 120


def test_each_damage_shows_in_its_figure(synced: tuple[Settings, Simulator]) -> None:
    settings, sim = synced
    store = sim.store
    a, b, c = store.ids("res.partner")[:3]

    damage(settings, "DELETE FROM res_partner WHERE id = ?", a)
    damage(settings, "UPDATE res_partner SET _deleted_at = '2026-01-01' WHERE id = ?", b)
    assert figures(mirror_diff(settings, "alice", store)) == (2, 0, 0, 0, 0)

    damage(settings, "UPDATE res_partner SET _deleted_at = NULL WHERE id = ?", b)
    damage(settings, "UPDATE res_partner SET id = 999999 WHERE id = ?", c)
    assert figures(mirror_diff(settings, "alice", store)) == (2, 1, 0, 0, 0)


def test_values_and_columns_count(synced: tuple[Settings, Simulator]) -> None:
    settings, sim = synced
    store = sim.store
    rows = {r["id"]: r for r in store.exact_rows("res.partner")}
    with_children = next(rid for rid, r in rows.items() if len(r["child_ids"]) > 1)

    reversed_ids = list(reversed(rows[with_children]["child_ids"]))
    damage(
        settings,
        "UPDATE res_partner SET child_ids = ? WHERE id = ?",
        str(reversed_ids),
        with_children,
    )
    assert mirror_diff(settings, "alice", store).exact, "x2many are compared as sets"

    # A many2one to a model nobody mirrors keeps its display name.
    named = next(rid for rid, r in rows.items() if r["country_id"] and rid != with_children)
    damage(settings, "UPDATE res_partner SET country_id_name = 'Atlantis' WHERE id = ?", named)
    diff = mirror_diff(settings, "alice", store)
    assert figures(diff) == (0, 0, 1, 0, 0)
    assert "country_id_name" in diff.examples[0]
    damage(
        settings,
        "UPDATE res_partner SET country_id_name = ? WHERE id = ?",
        rows[named]["country_id"][1],
        named,
    )
    assert mirror_diff(settings, "alice", store).exact

    # Partners are mirrored: a partner's parent_id is its id alone, with no name.
    child = next(rid for rid, r in rows.items() if r["parent_id"])
    damage(
        settings,
        "UPDATE res_partner SET parent_id_name = ? WHERE id = ?",
        rows[child]["parent_id"][1],
        child,
    )
    diff = mirror_diff(settings, "alice", store)
    assert figures(diff) == (0, 0, 1, 0, 0)
    assert "parent_id_name" in diff.examples[0]
    damage(settings, "UPDATE res_partner SET parent_id_name = NULL WHERE id = ?", child)
    damage(settings, "DROP VIEW res_partner_current")  # it shows the column: SQLite keeps it
    damage(settings, "ALTER TABLE res_partner DROP COLUMN comment")
    diff = mirror_diff(settings, "alice", store)
    assert diff.differing == len(rows), "a column the mirror lacks differs on every record"
    assert any("no column comment" in e for e in diff.examples)


def test_what_reconcile_restored_must_be_explained_by_late_commits(
    synced: tuple[Settings, Simulator],
) -> None:
    settings, sim = synced
    # A write now, synced, puts the high-water mark at now: two hours ago is beyond the look-back.
    sim.write("res.partner", sim.store.ids("res.partner")[:1], {"comment": "now"})
    engine.prepare(settings)
    engine.step(settings)
    before = live_ids(Where.of(settings), "alice")
    late = sim.late_commit("res.partner", seconds_ago=7200, vals_list=[{"name": "Late"}])
    engine.prepare(settings)
    engine.step(settings)
    explained = {("res.partner", late[0])}
    diff = mirror_diff(settings, "alice", sim.store, late=explained, before=before)
    assert diff.exact, diff.examples
    assert mirror_diff(settings, "alice", sim.store, late=(), before=before).restored == 1
    damage(
        settings,
        "UPDATE _odoosync_batches SET restored = restored + 2 WHERE "
        "kind = 'reconcile' AND module = 'sale_orders'",
    )
    diff = mirror_diff(settings, "alice", sim.store, late=explained, before=before)
    assert diff.restored == 2
    assert not diff.exact

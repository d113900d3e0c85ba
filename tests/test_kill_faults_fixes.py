"""What the kill and faults campaigns found, each pinned by a test; and the kill campaign's
write-ahead-log reader, which decides where a kill landed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.testing import Simulator
from torture.kill import wal_uncommitted_frames

FAST = {"retry": {"attempts": 3, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "odoosync.db",
        page_size=100,
        http=FAST,
        modules={"sale_orders": {"enabled": False}},
    )


def _add(settings: Settings, sim: Simulator, name: str = "carol") -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def test_failure_past_the_retries_says_so_and_how_to_resume(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    """Found by the faults campaign: the stored error read "try again later", as if nothing had
    been retried, and did not say that `step` now skips the user until `retry`."""
    sim = make_simulator(records=500, seed=3)
    settings = _settings(tmp_path)
    _add(settings, sim)
    engine.prepare(settings)
    engine.step(settings, max_pages=2)
    sim.script_faults(["503"] * 3, match={"method": "search_read"})
    runner = CliRunner()
    config = tmp_path / "odoosync.toml"
    config.write_text(
        "page_size = 100\n[modules.sale_orders]\nenabled = false\n"
        "[http.retry]\nattempts = 3\nwait_initial = 0.01\nwait_max = 0.01\nwait_jitter = 0\n",
        encoding="utf-8",
    )
    args = ["--config", str(config), "--db", str(settings.db_path)]
    failed = runner.invoke(app, [*args, "step", "--user", "carol"])
    assert failed.exit_code == 6
    status = runner.invoke(app, [*args, "status", "--json", "--user", "carol"])
    user = json.loads(status.stdout)["users"][0]
    assert user["syncStatus"] == "failed"
    error = user["lastError"]
    assert "res.partner" in error and "HTTP 503" in error
    assert "gave up after 3 tries" in error
    assert "odoosync retry --user carol" in error
    sim.clear_faults()
    assert runner.invoke(app, [*args, "retry", "--user", "carol"]).exit_code == 0
    assert runner.invoke(app, [*args, "step", "--user", "carol"]).exit_code == 0
    assert engine.user_get(settings, "carol").status == "done"


def test_a_failure_on_the_first_try_claims_no_retries(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=200, seed=4)
    settings = Settings(
        db=tmp_path / "odoosync.db",
        http={"retry": {"attempts": 1, "wait_initial": 0.01, "wait_max": 0.01}},
    )
    _add(settings, sim)
    engine.prepare(settings)
    sim.script_faults(["502"], match={"method": "search_read"})
    report = engine.step(settings)
    assert report.errors
    message = str(report.errors[0])
    assert "HTTP 502" in message and "gave up" not in message


WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
conn.execute("INSERT OR REPLACE INTO t VALUES (0, 'committed')")
conn.execute("BEGIN IMMEDIATE")
# More than the page cache holds, so SQLite spills frames to the log before any commit.
conn.executemany("INSERT INTO t (v) VALUES (?)", (("x" * 500,) for _ in range(20000)))
print("spilled", flush=True)
sys.stdin.readline()
"""


def test_wal_reader_sees_a_transaction_cut_short(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "spilled"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.stdin.close()
        proc.stdout.close()
    wal = tmp_path / "w.db-wal"
    assert wal_uncommitted_frames(wal) > 0
    # SQLite ignores those frames: the committed row is there, none of the cut transaction.
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*), min(v) FROM t").fetchone() == (1, "committed")
    finally:
        conn.close()


def test_wal_reader_finds_nothing_after_clean_commits(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for _ in range(5):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO t (v) VALUES (?)", (("y" * 300,) for _ in range(500)))
            conn.execute("COMMIT")
        wal = tmp_path / "c.db-wal"
        assert wal.stat().st_size > 100_000
        assert wal_uncommitted_frames(wal) == 0
    finally:
        conn.close()
    assert wal_uncommitted_frames(tmp_path / "missing-wal") == 0


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


def test_connection_lost_for_good_at_step_start_says_how_to_resume(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=200, seed=6)
    settings = _settings(tmp_path)
    _add(settings, sim)
    engine.prepare(settings)
    sim.script_faults(["502"] * 3, match={"path": "/web/version"})
    report = engine.step(settings)
    assert report.errors
    user = engine.user_get(settings, "carol")
    assert user.status == "failed" and user.last_error is not None
    assert "gave up after 3 tries" in user.last_error
    assert "odoosync retry --user carol" in user.last_error
    engine.retry(settings, users=["carol"])
    assert engine.step(settings).users[0].status == "done"

"""The kill campaign's write-ahead-log reader (torture/kill.py), which decides where a kill landed:
it must see a transaction cut short, and nothing after clean commits.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from torture.kill import wal_uncommitted_frames

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

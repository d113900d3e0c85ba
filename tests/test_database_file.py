"""The mirror's database file: private whatever the umask, another program's file refused and left
as it was, upgraded in place, readable while another process writes.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from odoo_sync_cli.errors import StoreError
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.mirror.sqlite import connection as sqlite_connection
from odoo_sync_cli.models import NO_SECRET, SecretLocation
from tests.cli_runs import one_line, run


def _foreign(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('buy milk')")
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("args", [["status"], ["user", "list"], ["queue"]])
def test_foreign_sqlite_file_is_not_touched(tmp_path: Path, args: list[str]) -> None:
    foreign = tmp_path / "notes.db"
    before = _foreign(foreign)
    result = run("--db", str(foreign), *args)
    assert result.exit_code == 7
    assert "not an odoosync database" in one_line(result)
    assert foreign.read_bytes() == before  # still in rollback-journal mode: no WAL switch


def test_user_add_refuses_to_move_into_a_foreign_file(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.db"
    before = _foreign(foreign)
    result = run(
        *("--db", str(foreign), "user", "add", "bob", "--url", "http://127.0.0.1:8069"),
        *("--db", "odoo", "--login", "admin", "--no-check"),
        input="key\n",
    )
    assert result.exit_code == 7
    assert "not an odoosync database" in one_line(result)
    assert foreign.read_bytes() == before
    with pytest.raises(StoreError, match=r"another program's tables \(notes\)"):
        SqliteMirror.open(foreign, create=True)
    assert foreign.read_bytes() == before


def test_database_under_a_file_is_explained(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory\n")
    result = run(
        *("--db", str(a_file / "odoosync.db"), "user", "add", "bob"),
        *("--url", "http://127.0.0.1:8069", "--db", "odoo", "--login", "admin", "--no-check"),
        input="key\n",
    )
    assert result.exit_code == 7
    assert "cannot create the directory" in one_line(result)


def test_reads_work_while_another_process_writes(
    unchecked_alice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_connection, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(unchecked_alice, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert run("status").exit_code == 0
        assert run("user", "list").exit_code == 0
        result = run("queue", "--user", "alice")
        assert result.exit_code == 7
        line = one_line(result)
        assert "locked by another process" in line and "try again" in line
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_database_files_are_private_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "odoosync.db"
    old = os.umask(0)
    try:
        with SqliteMirror.open(path, create=True) as db:
            db.add_user(
                name="u",
                url="http://127.0.0.1:8069",
                database="odoo",
                login="admin",
                protocol="auto",
                location=NO_SECRET,
            )
            files = [path, path.with_name("odoosync.db-wal"), path.with_name("odoosync.db-shm")]
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_migration_adds_the_insecure_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SqliteMirror.open(path, create=True) as db:
        db.add_user(
            name="u",
            url="https://odoo.example.com",
            database="odoo",
            login="admin",
            protocol="auto",
            location=SecretLocation("env", "X"),
        )
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("ALTER TABLE _odoosync_users DROP COLUMN insecure")
    conn.execute("DELETE FROM _odoosync_migrations WHERE name = 'm002_user_insecure'")
    conn.close()
    with SqliteMirror.open(path) as db:
        assert "m002_user_insecure" in db.applied_migrations()
        user = db.get_user("u")
        assert user is not None and user.insecure is False

"""No usable secret in the mirror database: after a sync, and in a database an older odoosync wrote.

The truth is the bytes: the database file, its WAL and shared-memory files, and a SQL dump are
searched for the password and the API key themselves. Each test also finds them where they are
kept (the credentials file, the test keyring), so a search that cannot see them fails.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import keyring
import pytest
from typer.testing import CliRunner, Result

from odoo_sync_cli.cli import app
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.simulator.testing import Simulator
from tests.keyring_backends import FILE_VARIABLE, InMemoryTestKeyring

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "fixtures" / "legacy" / "secrets-in-clear.db"
# The secrets the legacy fixture was written with (fixtures/legacy/README.md).
LEGACY_PASSWORD = "Legacy-Pw-q8Zr-Clear-0417"
LEGACY_KEY = "1e9acy00" + "5a" * 14 + "c1ea"
REMOVED_SECRET = "Removed-User-Pw-Left-In-A-Free-Cell-9031"

PASSWORD = "Pw-For-Jsonrpc-7Qm2-Apart"
API_KEY = "a9a17c3e" + "6d" * 14 + "0b5e"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result


def database_bytes(db: Path) -> bytes:
    """The database file with its WAL and shared-memory files, as they are on disk now."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return b"".join(p.read_bytes() for p in files if p.exists())


def dump(db: Path) -> str:
    """What `sqlite3 DB .dump` prints (Python's sqlite3 writes the same SQL)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def credentials_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "odoosync" / "credentials.toml"


def statuses() -> dict[str, dict[str, object]]:
    data = json.loads(ok("status", "--json").stdout)
    return {u["user"]: u for u in data["users"]}


def add_two_users(sim: Simulator) -> None:
    common = ["--url", sim.url, "--db", sim.database, "--login", sim.login]
    ok("user", "add", "kay", *common, "--protocol", "json2", input=API_KEY + "\n")
    ok("user", "add", "pat", *common, "--protocol", "jsonrpc", input=PASSWORD + "\n")


def sync_unattended() -> None:
    """`prepare`, then `step` with nothing on stdin until no user is in progress."""
    ok("prepare", "--all")
    for _ in range(20):
        ok("step", "--all", "--max-pages", "7")
        if all(u["syncStatus"] != "in_progress" for u in statuses().values()):
            break


@pytest.mark.parametrize("where", ["file", "keyring"])
def test_after_a_sync_the_database_holds_neither_secret(make_simulator: object, where: str) -> None:
    sim = make_simulator(records=400, password=PASSWORD, api_key=API_KEY)  # type: ignore[operator]
    test_keyring = InMemoryTestKeyring()
    if where == "keyring":
        keyring.set_keyring(test_keyring)
    db = Path(os.environ["ODOOSYNC_DB"])
    add_two_users(sim)
    # A reader held open keeps the WAL file in place, with every frame the commands write.
    reader = sqlite3.connect(db)
    try:
        reader.execute("SELECT count(*) FROM _odoosync_users").fetchone()
        sync_unattended()
        seen = statuses()
        assert {u: s["syncStatus"] for u, s in seen.items()} == {"kay": "done", "pat": "done"}
        assert {s["protocol"] for s in seen.values()} == {"json2", "jsonrpc"}
        assert {s["secretSource"] for s in seen.values()} == {where}
        on_disk = database_bytes(db)
        assert db.with_name(db.name + "-wal").exists()
    finally:
        reader.close()
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM res_partner").fetchone()[0]
    assert rows == 2 * 400
    for secret in (PASSWORD, API_KEY):
        assert secret.encode() not in on_disk
        assert secret not in dump(db)
    # The control: the secrets are where odoosync says it keeps them.
    if where == "file":
        kept = [t["secret"] for t in tomllib.loads(credentials_file().read_text()).values()]
    else:
        kept = list(test_keyring.entries.values())
        assert not credentials_file().exists()
    assert sorted(kept) == sorted([PASSWORD, API_KEY])


def test_a_database_from_before_moves_its_secrets_out_and_still_syncs(
    make_simulator: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_simulator(  # type: ignore[operator]
        records=30, seed=0, password=LEGACY_PASSWORD, api_key=LEGACY_KEY
    )
    monkeypatch.setenv("LEGACY_ENV_KEY", LEGACY_KEY)
    db = Path(os.environ["ODOOSYNC_DB"])
    shutil.copyfile(LEGACY, db)
    os.chmod(db, 0o600)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE _odoosync_users SET url = ?", (sim.url,))
    # Users removed by an older odoosync where SQLite does not zero freed space (its default on
    # many platforms; Debian builds it with secure_delete on): their secrets stay in the file, in
    # free cells and in pages on the free list, which no rewrite of the live rows reaches.
    conn.execute("PRAGMA secure_delete = OFF")
    for n in range(80):
        conn.execute(
            "INSERT INTO _odoosync_users (name, url, database, login, secret, created_at) "
            "VALUES (?, ?, 'odoo', 'admin', ?, '2026-01-01T00:00:00Z')",
            (f"gone-{n}", sim.url, f"{REMOVED_SECRET}-{n:02d}-" + "x" * 40),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("DELETE FROM _odoosync_users WHERE name LIKE 'gone-%'")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    conn.close()
    before = db.read_bytes()
    for secret in (LEGACY_PASSWORD, LEGACY_KEY, REMOVED_SECRET):  # the control
        assert secret.encode() in before

    # Another program holds the file open (a browser of the mirror, say), so its WAL stays, with
    # whatever the upgrade wrote through it, unless the upgrade empties it.
    browser = sqlite3.connect(db)
    browser.execute("SELECT count(*) FROM res_partner").fetchone()
    # A read-only command is the first to open it: the upgrade happens there, and says so.
    first = ok("status", "--json")
    lines = first.stderr.splitlines()
    moved = [line for line in lines if line.startswith("Moved the secret of user")]
    assert len(moved) == 2, first.stderr
    assert "'kay'" in moved[0] and "'pat'" in moved[1]
    assert all(f"the credentials file {credentials_file()}" in line for line in moved)
    users = {u["user"]: u for u in json.loads(first.stdout)["users"]}
    assert {u: s["secretSource"] for u, s in users.items()} == {
        "eve": "env:LEGACY_ENV_KEY",
        "kay": "file",
        "pat": "file",
    }
    assert all(s["connectionInfoAvailable"] for s in users.values())

    assert db.with_name(db.name + "-wal").exists()
    after = database_bytes(db)
    for secret in (LEGACY_PASSWORD, LEGACY_KEY, REMOVED_SECRET):
        assert secret.encode() not in after
        assert secret not in dump(db)
    browser.close()
    columns = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(_odoosync_users)")]
    assert "secret" not in columns and "secret_env" not in columns

    path = credentials_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    kept = {t["user"]: t["secret"] for t in tomllib.loads(path.read_text()).values()}
    assert kept == {"kay": LEGACY_KEY, "pat": LEGACY_PASSWORD}

    assert "Moved" not in ok("status").stderr  # once only
    # Nothing else changed for the user: the next sync is an incremental one, and it ends done.
    planned = ok("prepare", "--all")
    assert "changes since" in planned.stdout
    ok("step", "--all")
    assert {u: s["syncStatus"] for u, s in statuses().items()} == {
        "eve": "done",
        "kay": "done",
        "pat": "done",
    }
    assert LEGACY_KEY.encode() not in database_bytes(db)


def test_a_subprocess_finds_the_keyring_through_keyrings_own_setting(
    make_simulator: object, tmp_path: Path
) -> None:
    """`PYTHON_KEYRING_BACKEND` names the backend, as a user would name theirs; no prompt."""
    sim = make_simulator(records=50, password=PASSWORD, api_key=API_KEY)  # type: ignore[operator]
    store = tmp_path / "test-keyring.json"
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.keyring_backends.FileTestKeyring",
        FILE_VARIABLE: str(store),
        "PYTHONPATH": str(ROOT),
    }

    def odoosync(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "odoo_sync_cli", *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    common = ["--url", sim.url, "--db", sim.database, "--login", sim.login]
    added = odoosync("user", "add", "kay", *common, "--protocol", "json2", input=API_KEY + "\n")
    assert added.returncode == 0, added.stderr
    assert "the OS keyring (tests.keyring_backends.FileTestKeyring" in added.stdout
    for command in (["prepare"], ["step"]):
        done = odoosync(*command)
        assert done.returncode == 0, done.stderr
    listed = json.loads(odoosync("user", "list", "--json").stdout)["users"][0]
    assert (listed["secretSource"], listed["syncStatus"]) == ("keyring", "done")
    assert API_KEY in store.read_text()
    db = Path(os.environ["ODOOSYNC_DB"])
    assert API_KEY.encode() not in database_bytes(db)
    assert not credentials_file().exists()
    removed = odoosync("user", "remove", "kay", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert API_KEY not in store.read_text()


def test_a_reader_holding_the_file_delays_the_rewrite_to_a_later_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(LEGACY, db)
    reader = sqlite3.connect(db, isolation_level=None)
    with SqliteMirror.open(db) as store:  # the migration marks the rewrite as due
        assert store.scrub_pending()
        store.conn.execute("PRAGMA busy_timeout = 50")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM res_partner").fetchone()  # a read transaction
        assert store.scrub() is False
        assert store.scrub_pending()
        reader.execute("COMMIT")
        assert store.scrub() is True
        assert not store.scrub_pending()
    reader.close()

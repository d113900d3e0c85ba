"""What the bad-input campaign (torture/badinput.py) found, each fixed and pinned here."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import AccessDeniedError, StoreError
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.mirror.sqlite import connection as sqlite_connection
from odoo_sync_cli.odoo import Connection, OdooClient, RetryPolicy
from odoo_sync_cli.simulator.server import (
    ADMIN_NAME,
    ADMIN_UID,
    DEMO_LOGIN,
    DEMO_NAME,
    DEMO_PASSWORD,
    DEMO_UID,
    SimDatabase,
    SimUser,
    default_api_key,
)
from odoo_sync_cli.simulator.testing import Simulator, build_store, start_simulator
from torture.common import free_port


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def one_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def alice() -> Path:
    """A database with one user that was never checked against a server."""
    settings = load_settings(db=Path(os.environ["ODOOSYNC_DB"]))
    engine.user_add(
        settings,
        name="alice",
        url="http://127.0.0.1:8069",
        database="odoo",
        login="admin",
        secret=NewSecret(SecretStr("not-used-here")),
        check=False,
    )
    return settings.db_path


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# --- usage errors: typer drew a box of five lines; now one line that points at --help


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["status", "--bogus"], ["No such option: --bogus", "status --help"]),
        (["--bogus", "status"], ["No such option: --bogus", "--help"]),
        (["user", "add", "bob"], ["Missing option '--url'", "user add --help"]),
        (["step", "--max-pages", "many"], ["--max-pages", "step --help"]),
        (["stepp"], ["No such command 'stepp'", "--help"]),
    ],
)
def test_usage_errors_are_one_line(args: list[str], words: list[str]) -> None:
    result = run(*args, input="")
    assert result.exit_code == 2
    line = one_line(result)
    for word in words:
        assert word in line
    assert "╭" not in result.output


def test_a_bare_group_still_shows_its_help() -> None:
    result = run("user")
    assert "add" in result.output and "set-secret" in result.output
    assert "Error:" not in result.output


# --- a declined or unanswered confirmation says that nothing changed


@pytest.mark.parametrize("answer", ["n\n", ""])
def test_declined_confirmation_is_one_line(alice: Path, answer: str) -> None:
    before = dump(alice)
    result = run("user", "remove", "alice", input=answer)
    assert result.exit_code == 1
    line = one_line(result)
    assert "nothing was changed" in line and "--yes" in line
    assert dump(alice) == before


# --- options checked before use


def test_http_port_out_of_range_is_a_setting_error(alice: Path) -> None:
    result = run("loop", "--once", "--http-port", "99999")
    assert result.exit_code == 3
    assert "--http-port must be between 0 and 65535" in one_line(result)


# --- retries do not print stamina's warnings


def test_retries_print_nothing_but_the_error(tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text(
        "[http.retry]\nattempts = 3\nwait_initial = 0.01\nwait_max = 0.01\nwait_jitter = 0\n"
    )
    args = ["--config", str(config), "user", "add", "bob", "--url"]
    url = f"http://127.0.0.1:{free_port()}"
    result = run(*args, url, "--db", "odoo", "--login", "admin", input="key\n")
    assert result.exit_code == 6
    assert "could not be reached" in one_line(result)
    assert "stamina" not in result.output


# --- TLS spoken to a plain-HTTP server


def test_https_to_a_plain_http_server_says_so(simulator: Simulator) -> None:
    url = simulator.url.replace("http://", "https://")
    args = ["user", "add", "bob", "--url", url, "--db", simulator.database, "--login", "admin"]
    result = run(*args, input=simulator.api_key + "\n")
    assert result.exit_code == 5
    line = one_line(result)
    assert "does not speak TLS" in line and "http://" in line
    assert "certificate" not in line


# --- a refused user add gives advice that fits a user that does not exist yet


def test_refused_user_add_says_to_add_again(simulator: Simulator) -> None:
    args = ["user", "add", "bob", "--url", simulator.url, "--db", simulator.database]
    result = run(*args, "--login", "admin", input="wrong-secret\n")
    assert result.exit_code == 4
    line = one_line(result)
    assert "odoosync user add" in line and "set-secret" not in line


# --- another program's SQLite file is refused and left exactly as it was


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


# --- a database directory that cannot be made is named as such


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


# --- reading commands work while another process holds the write lock


def test_reads_work_while_another_process_writes(
    alice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_connection, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(alice, isolation_level=None)
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


# --- the simulator's knob for a model a user may not read, and its quiet disconnects


def test_a_denied_model_answers_access_error() -> None:
    db_store = build_store(20)
    users = [
        SimUser(ADMIN_UID, "admin", ADMIN_NAME, "admin", default_api_key("odoo")),
        SimUser(
            DEMO_UID,
            DEMO_LOGIN,
            DEMO_NAME,
            DEMO_PASSWORD,
            default_api_key("odoo", DEMO_LOGIN),
            denied_models=frozenset({"sale.order"}),
        ),
    ]
    served = SimDatabase("odoo", db_store, users=users)
    try:
        with start_simulator(databases={"odoo": served}) as sim:
            conn = Connection(
                "dora", sim.url, "odoo", DEMO_LOGIN, SecretStr(DEMO_PASSWORD), "jsonrpc"
            )
            with OdooClient(conn, retry=RetryPolicy(attempts=1)) as client:
                assert client.fields_get("sale.order", attributes=["type"])
                assert client.search_count("res.partner", []) > 0
                with pytest.raises(AccessDeniedError, match=r"not allowed to access 'sale\.order'"):
                    client.search_count("sale.order", [])
    finally:
        db_store.close()


def test_simulator_ignores_clients_that_hang_up(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    server = simulator.server
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a real bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "a real bug" in capsys.readouterr().err


def test_the_short_campaign_covers_the_issue_list() -> None:
    from torture.badinput import cases

    names = {case.name for case in cases()}
    for needed in (
        "url-wrong-scheme",
        "unreachable-host",
        "https-to-plain-http-server",
        "wrong-database",
        "wrong-login",
        "wrong-password",
        "revoked-api-key-json2",
        "no-access-to-model",
        "unknown-module",
        "bad-toml",
        "unknown-settings-key",
        "negative-page-size",
        "read-only-database",
        "not-sqlite",
        "database-locked",
        "disk-full",
        "unknown-user",
        "missing-secret-variable",
        "max-pages-zero",
    ):
        assert needed in names
    assert len(names) >= 25
    assert sys.version_info >= (3, 11)

"""Bad input to any command: one clear line on stderr, a non-zero exit, and nothing changed."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.testing import Simulator


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def snapshot(db: Path) -> list[str] | None:
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert text in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def template(simulator: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with user alice, prepared (so in progress), made once for this file.

    Her secret is in a credentials file beside it, which :func:`db` copies with the database.
    """
    here = tmp_path_factory.mktemp("template")
    settings = load_settings(db=here / "odoosync.db").model_copy(
        update={"credentials_file": here / "credentials.toml"}
    )
    engine.user_add(
        settings,
        name="alice",
        url=simulator.url,
        database=simulator.database,
        login=simulator.login,
        secret=NewSecret(SecretStr(simulator.api_key)),
    )
    engine.prepare(settings)
    return settings.db_path


@pytest.fixture
def db(template: Path) -> Path:
    """A private copy of the template database, where ODOOSYNC_DB points."""
    path = Path(os.environ["ODOOSYNC_DB"])
    shutil.copyfile(template, path)
    path.chmod(0o600)
    credentials = Path(os.environ["XDG_CONFIG_HOME"]) / "odoosync" / "credentials.toml"
    credentials.parent.mkdir(mode=0o700)
    shutil.copyfile(template.with_name("credentials.toml"), credentials)
    credentials.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["status", "--user", "nope"], 3, "unknown user 'nope'"),
        (["prepare", "--user", "nope"], 3, "unknown user 'nope'"),
        (["step", "--user", "nope"], 3, "unknown user 'nope'"),
        (["clear", "--user", "nope", "--yes"], 3, "unknown user 'nope'"),
        (["queue", "--user", "nope"], 3, "unknown user 'nope'"),
        (["retry", "--user", "nope"], 3, "unknown user 'nope'"),
        (["user", "remove", "nope", "--yes"], 3, "unknown user 'nope'"),
        (["user", "set-secret", "nope"], 3, "unknown user 'nope'"),
        (["clear", "--module", "nope", "--yes"], 3, "unknown module 'nope'"),
        (["clear", "--user", "alice", "--module", "nope", "--yes"], 3, "unknown module"),
        (["prepare", "--user", "alice"], 1, "already in progress"),
        (["prepare", "--user", "alice", "--all"], 3, "not both"),
        (["step", "--max-pages", "0"], 3, "--max-pages must be 1 or more"),
        (["step", "--max-seconds", "-1"], 3, "--max-seconds must be more than 0"),
    ],
)
def test_bad_input_changes_nothing(db: Path, args: list[str], code: int, text: str) -> None:
    before = snapshot(db)
    assert_one_line_error(run(*args), code, text)
    assert snapshot(db) == before


def add_bob(
    sim: Simulator, *extra: str, url: str | None = None, database: str | None = None
) -> list[str]:
    return [
        "user",
        "add",
        "bob",
        "--url",
        url or sim.url,
        "--db",
        database or sim.database,
        "--login",
        sim.login,
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "url", "database", "secret", "code", "text"),
    [
        ((), None, None, "wrong-password", 4, "user 'bob'"),
        ((), None, "no_such_db", None, 5, "no_such_db"),
        ((), "ftp://odoo.example.com", None, None, 3, "bad URL"),
        (("--secret-env", "ODOOSYNC_TEST_UNSET"), None, None, None, 3, "is not set"),
        ((), None, None, "", 3, "no secret given"),
    ],
)
def test_user_add_refused_changes_nothing(
    db: Path,
    simulator: Simulator,
    extra: tuple[str, ...],
    url: str | None,
    database: str | None,
    secret: str | None,
    code: int,
    text: str,
) -> None:
    before = snapshot(db)
    secret = simulator.api_key if secret is None else secret
    result = run(*add_bob(simulator, *extra, url=url, database=database), input=secret + "\n")
    assert_one_line_error(result, code, text)
    assert snapshot(db) == before
    if secret:
        assert secret not in result.output


def test_duplicate_user(db: Path, simulator: Simulator) -> None:
    before = snapshot(db)
    args = add_bob(simulator)
    args[2] = "alice"
    assert_one_line_error(run(*args, input=simulator.api_key + "\n"), 3, "already exists")
    assert snapshot(db) == before


def test_wrong_password_creates_no_database_file(simulator: Simulator) -> None:
    db = Path(os.environ["ODOOSYNC_DB"])
    result = run(*add_bob(simulator), input="wrong-password\n")
    assert_one_line_error(result, 4, "user 'bob'")
    # bob does not exist yet, so the advice is to add it again, not `set-secret`.
    assert "odoosync user add" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize(
    "args",
    [["status"], ["user", "list"], ["prepare"], ["step"], ["clear", "--yes"], ["queue"]],
)
def test_missing_database_file(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nowhere" / "odoosync.db"
    assert_one_line_error(run("--db", str(missing), *args), 7, "does not exist")
    assert not missing.exists() and not missing.parent.exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\n" * 200, encoding="utf-8")
    assert_one_line_error(run("--db", str(junk), "status"), 7, "not an odoosync database")
    assert junk.read_text(encoding="utf-8") == "shopping list\n" * 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pagesize = 3\n", "unknown key 'pagesize'"),
        ("[modules.contacts]\nfeilds = ['name']\n", "unknown key 'modules.contacts.feilds'"),
        ("page_size = -1\n", "page_size"),
        ("[modules.x]\nenabled = true\n", "modules.x needs a `model`"),
    ],
)
def test_bad_config_key(db: Path, tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    before = snapshot(db)
    for args in (["status"], ["prepare", "--all", "--restart"], ["step"]):
        result = run("--config", str(config), *args)
        assert_one_line_error(result, 3, expected)
        assert str(config) in result.stderr
    assert snapshot(db) == before


def test_missing_config_file(db: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run("--config", str(tmp_path / "none.toml"), "status"), 3, "does not exist"
    )


def test_unexpected_errors_are_one_line_too(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "status", boom)
    result = run("status")
    assert_one_line_error(result, 1, "unexpected RuntimeError: disk on fire")
    assert "--debug" in result.stderr


@pytest.mark.parametrize("args", [["status"], ["user", "list"], ["prepare"], ["queue"]])
def test_an_unreachable_database_server_is_one_line_without_its_password(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://odoosync:hunter2@127.0.0.1:{port}/mirror"
    for given in (["--db", url], []):
        monkeypatch.setenv("ODOOSYNC_DB", url if not given else "unused.db")
        result = run(*given, *args)
        assert_one_line_error(
            result, 7, f"cannot reach PostgreSQL at postgresql://127.0.0.1:{port}/mirror"
        )
        assert "hunter2" not in result.output and "odoosync:" not in result.output


def test_a_directory_given_as_the_database_is_a_usage_error(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path), "status")
    assert_one_line_error(result, 2, "is a directory")

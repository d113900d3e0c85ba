"""What the secrets campaign (torture/secrets.py) checks and found, pinned here."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.engine.accounts import plain_http_off_machine
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.models import NO_SECRET, SecretLocation
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import TlsProxy, self_signed_certificate

SECRET = "Zz-secrets-fixes-Pw-4417"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def add(name: str, url: str, *extra: str, database: str = "odoo") -> list[str]:
    return ["user", "add", name, "--url", url, "--db", database, "--login", "admin", *extra]


# --- plain http only to this machine, unless --insecure


@pytest.mark.parametrize(
    ("url", "off_machine"),
    [
        ("http://odoo.example.com", True),
        ("http://10.1.2.3:8069", True),
        ("HTTP://odoo.example.com", True),
        ("http://localhost:8069", False),
        ("http://api.localhost", False),
        ("http://127.0.0.1:8069", False),
        ("http://127.8.9.10", False),
        ("http://[::1]:8069", False),
        ("https://odoo.example.com", False),
    ],
)
def test_which_urls_are_plain_http_off_machine(url: str, off_machine: bool) -> None:
    assert plain_http_off_machine(url) is off_machine


def test_plain_http_to_a_remote_host_needs_insecure() -> None:
    result = run(*add("far", "http://odoo.example.com", "--no-check"), input=SECRET + "\n")
    assert result.exit_code == 3
    assert "unencrypted" in result.stderr and "--insecure" in result.stderr
    assert not Path(os.environ["ODOOSYNC_DB"]).exists()

    result = run(
        *add("far", "http://odoo.example.com", "--no-check", "--insecure"), input=SECRET + "\n"
    )
    assert result.exit_code == 0, result.output
    with SqliteMirror.open(Path(os.environ["ODOOSYNC_DB"])) as db:
        user = db.get_user("far")
        assert user is not None and user.insecure


def test_the_refusal_comes_before_any_connection() -> None:
    def no_connection(*args: object) -> object:
        raise AssertionError("odoosync tried to connect")

    with pytest.raises(ConfigError, match="unencrypted"):
        engine.user_add(
            load_settings(db=Path(os.environ["ODOOSYNC_DB"])),
            name="far",
            url="http://odoo.example.com",
            database="odoo",
            login="admin",
            secret=NewSecret(SecretStr(SECRET)),
            connect=no_connection,  # type: ignore[arg-type]
        )


def test_loopback_http_needs_no_flag(simulator: Simulator) -> None:
    url = simulator.url.replace("127.0.0.1", "localhost")
    result = run(*add("near", url, database=simulator.database), input=simulator.api_key + "\n")
    assert result.exit_code == 0, result.output


# --- a URL with a password in it is refused without repeating it


@pytest.mark.parametrize(
    "url",
    [
        f"http://admin:{SECRET}@127.0.0.1:8069",
        f"ftp://admin:{SECRET}@odoo.example.com",
        f"admin:{SECRET}@odoo.example.com",
    ],
)
def test_url_with_credentials_is_refused_quietly(url: str) -> None:
    result = run(*add("leaky", url, "--no-check"), input="key\n")
    assert result.exit_code == 3
    assert "login or password" in result.stderr
    assert SECRET not in result.output


# --- TLS: verified by default, skipped only for a user added with --insecure


@pytest.fixture
def untrusted(simulator: Simulator, tmp_path: Path) -> Iterator[str]:
    certificate = self_signed_certificate(tmp_path)
    if certificate is None:
        pytest.skip("openssl is not installed")
    with TlsProxy(*certificate, target_port=int(simulator.url.rsplit(":", 1)[1])) as proxy:
        yield proxy.url


def test_untrusted_certificate_is_refused_unless_insecure(
    simulator: Simulator, untrusted: str
) -> None:
    key = simulator.api_key + "\n"
    refused = run(*add("tls", untrusted, database=simulator.database), input=key)
    assert refused.exit_code == 5
    assert "certificate" in refused.stderr and "--insecure" in refused.stderr
    assert run("--help").exit_code == 0  # the refusal left no state behind
    assert not Path(os.environ["ODOOSYNC_DB"]).exists()

    added = run(*add("tls", untrusted, "--insecure", database=simulator.database), input=key)
    assert added.exit_code == 0, added.output
    planned = run("prepare", "--user", "tls")
    assert planned.exit_code == 0, planned.output


# --- the database and its WAL files are private whatever the umask


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


# --- databases made before --insecure existed are upgraded in place


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


def test_status_endpoint_defaults_to_loopback() -> None:
    loop = typer.main.get_command(app).commands["loop"]  # type: ignore[attr-defined]
    host = next(p for p in loop.params if p.name == "http_host")
    assert host.default == "127.0.0.1"

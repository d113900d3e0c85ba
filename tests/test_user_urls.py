"""Which server URLs a user may have: plain http only to this machine unless --insecure, no
credentials in the URL, and an untrusted certificate refused unless --insecure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.engine.accounts import plain_http_off_machine
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.mirror.sqlite import SqliteMirror
from odoo_sync_cli.simulator.testing import Simulator
from torture.common import TlsProxy, self_signed_certificate

SECRET = "Zz-secrets-fixes-Pw-4417"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def add(name: str, url: str, *extra: str, database: str = "odoo") -> list[str]:
    return ["user", "add", name, "--url", url, "--db", database, "--login", "admin", *extra]


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

"""What the command line says when it is used wrongly or meets trouble: one line that says what to
do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from odoo_sync_cli.simulator.testing import Simulator
from tests.cli_runs import one_line, run
from torture.common import free_port


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


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


@pytest.mark.parametrize("answer", ["n\n", ""])
def test_declined_confirmation_is_one_line(unchecked_alice: Path, answer: str) -> None:
    before = dump(unchecked_alice)
    result = run("user", "remove", "alice", input=answer)
    assert result.exit_code == 1
    line = one_line(result)
    assert "nothing was changed" in line and "--yes" in line
    assert dump(unchecked_alice) == before


def test_http_port_out_of_range_is_a_setting_error(unchecked_alice: Path) -> None:
    result = run("loop", "--once", "--http-port", "99999")
    assert result.exit_code == 3
    assert "--http-port must be between 0 and 65535" in one_line(result)


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


def test_https_to_a_plain_http_server_says_so(simulator: Simulator) -> None:
    url = simulator.url.replace("http://", "https://")
    args = ["user", "add", "bob", "--url", url, "--db", simulator.database, "--login", "admin"]
    result = run(*args, input=simulator.api_key + "\n")
    assert result.exit_code == 5
    line = one_line(result)
    assert "does not speak TLS" in line and "http://" in line
    assert "certificate" not in line


def test_refused_user_add_says_to_add_again(simulator: Simulator) -> None:
    args = ["user", "add", "bob", "--url", simulator.url, "--db", simulator.database]
    result = run(*args, "--login", "admin", input="wrong-secret\n")
    assert result.exit_code == 4
    line = one_line(result)
    assert "odoosync user add" in line and "set-secret" not in line

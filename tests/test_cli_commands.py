"""The command line, as a user types it: the walk-through, secrets, confirmations, help."""

from __future__ import annotations

import json
import os
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from odoo_sync_cli.cli import app
from odoo_sync_cli.simulator.testing import Simulator

DOCS = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = [
    ["user", "add"],
    ["user", "list"],
    ["user", "remove"],
    ["user", "set-secret"],
    ["user", "move-secret"],
    ["prepare"],
    ["step"],
    ["status"],
    ["clear"],
    ["queue"],
    ["retry"],
]


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env=env)


def ok(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    result = run(*args, input=input, env=env)
    assert result.exit_code == 0, (args, result.output)
    return result


def add_alice(sim: Simulator, *extra: str, secret: str | None = None) -> Result:
    return ok(
        "user",
        "add",
        "alice",
        "--url",
        sim.url,
        "--db",
        sim.database,
        "--login",
        sim.login,
        *extra,
        input=(secret or sim.api_key) + "\n",
    )


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "odoosync.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_documented(command: list[str]) -> None:
    result = ok(*command, "--help")
    assert "Usage:" in result.output
    docs = DOCS.read_text(encoding="utf-8")
    assert f"odoosync {' '.join(command)}" in docs


def test_walk_through(simulator: Simulator, tmp_path: Path) -> None:
    config = settings_file(
        tmp_path,
        'page_size = 400\n[modules.contacts]\nfields = ["name", "email", "parent_id"]\n',
    )
    c = ("--config", str(config))
    added = add_alice(simulator)
    assert "Added user alice" in added.output
    assert "server 19.0 over json2" in added.output
    assert "not_started" in added.output

    listed = ok(*c, "user", "list")
    assert "alice" in listed.output and "database" in listed.output

    planned = ok(*c, "prepare")
    assert "alice: planned" in planned.output
    assert "contacts (res.partner, 6 fields): full sync" in planned.output

    lines: list[str] = []
    for _ in range(30):
        result = ok(*c, "step", "--max-pages", "2")
        lines.extend(result.output.splitlines())
        if "sync done" in result.output:
            break
    finished = [line for line in lines if " batch " in line and "record(s) in" in line]
    assert len(finished) == 6, "one line per finished data batch"
    assert any(line.startswith("alice contacts: reconcile checked 2000 ids") for line in lines)

    status = ok(*c, "status")
    assert "done" in status.output and "100.0%" in status.output
    data = json.loads(ok(*c, "status", "--json").stdout)
    user = data["users"][0]
    assert user["syncStatus"] == "done"
    assert user["progress"]["percent"] == 100.0
    assert user["serverVersion"] == "19.0" and user["protocol"] == "json2"

    nothing = ok(*c, "step")
    assert "Nothing to do" in nothing.output

    cleared = ok(*c, "clear", "--user", "alice", "--yes")
    assert "Cleared alice (all modules): 2" in cleared.output
    assert json.loads(ok(*c, "status", "--json").stdout)["users"][0]["syncStatus"] == "idle"
    queued = ok(*c, "queue", "--user", "alice")
    assert "status not_started" in queued.output
    assert "full sync" in ok(*c, "prepare", "--user", "alice").output


def test_status_json_is_stable_and_secret_free(simulator: Simulator) -> None:
    add_alice(simulator)
    data = json.loads(ok("status", "--json").stdout)
    user = data["users"][0]
    assert set(user) == {
        "user",
        "url",
        "database",
        "login",
        "protocolSetting",
        "secretSource",
        "connectionInfoAvailable",
        "syncStatus",
        "serverVersion",
        "protocol",
        "preparedAt",
        "lastSuccess",
        "lastError",
        "lastErrorAt",
        "heldBy",
        "progress",
    }
    assert set(user["progress"]) == {
        "batchesDone",
        "batchesTotal",
        "batchesFailed",
        "recordsSynced",
        "recordsExpected",
        "percent",
        "modules",
    }
    assert (user["syncStatus"], user["connectionInfoAvailable"]) == ("not_started", True)
    assert user["secretSource"] == "file"  # no keyring in the tests: the credentials file
    assert simulator.api_key not in json.dumps(data)


def test_secret_from_environment_is_stored_by_name_only(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALICE_ODOO_KEY", simulator.api_key)
    result = ok(
        "user",
        "add",
        "alice",
        "--url",
        simulator.url,
        "--db",
        simulator.database,
        "--login",
        simulator.login,
        "--secret-env",
        "ALICE_ODOO_KEY",
    )
    assert "server 19.0" in result.output
    with sqlite3.connect(os.environ["ODOOSYNC_DB"]) as conn:
        row = conn.execute("SELECT secret_store, secret_ref FROM _odoosync_users").fetchone()
    assert row == ("env", "ALICE_ODOO_KEY")
    assert "env:ALICE_ODOO_KEY" in ok("user", "list").output
    monkeypatch.delenv("ALICE_ODOO_KEY")
    user = json.loads(ok("status", "--json").stdout)["users"][0]
    assert user["connectionInfoAvailable"] is False


def test_database_file_is_private(simulator: Simulator) -> None:
    add_alice(simulator)
    mode = Path(os.environ["ODOOSYNC_DB"]).stat().st_mode & 0o777
    assert mode == 0o600


def test_set_secret_replaces_a_rotated_key(simulator: Simulator) -> None:
    add_alice(simulator, "--no-check", secret="old-key")
    result = run("user", "set-secret", "alice", input="still-wrong\n")
    assert result.exit_code == 4
    assert "odoosync user set-secret alice" in result.stderr
    replaced = ok("user", "set-secret", "alice", input=simulator.api_key + "\n")
    assert "Replaced the secret of alice" in replaced.output
    assert "credentials file" in replaced.output
    credentials = Path(os.environ["XDG_CONFIG_HOME"]) / "odoosync" / "credentials.toml"
    entries = tomllib.loads(credentials.read_text())
    assert [e["secret"] for e in entries.values()] == [simulator.api_key]


def test_remove_asks_first(simulator: Simulator) -> None:
    add_alice(simulator)
    declined = run("user", "remove", "alice", input="n\n")
    assert declined.exit_code == 1
    assert "alice" in ok("user", "list").output
    removed = ok("user", "remove", "alice", input="y\n")
    assert "Removed user alice" in removed.output
    assert "No users yet" in ok("user", "list").output


def test_secrets_never_reach_the_output(simulator: Simulator) -> None:
    outputs: list[Any] = [add_alice(simulator).output]
    outputs.append(ok("user", "list").output)
    outputs.append(ok("user", "list", "--json").output)
    outputs.append(ok("status").output)
    bad = run("user", "set-secret", "alice", input="hunter2-wrong-key\n")
    outputs.append(bad.output)
    joined = "\n".join(outputs)
    assert simulator.api_key not in joined
    assert "hunter2-wrong-key" not in joined


def test_one_failing_user_among_several(simulator: Simulator) -> None:
    add_alice(simulator, "--no-check", secret="revoked-key")
    ok(
        "user",
        "add",
        "bob",
        "--url",
        simulator.url,
        "--db",
        simulator.database,
        "--login",
        simulator.login,
        input=simulator.api_key + "\n",
    )
    result = run("prepare")
    assert result.exit_code == 4
    assert "bob: planned" in result.stdout
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("Error: alice: user 'alice'")
    assert "odoosync user set-secret alice" in errors[0]
    stepped = ok("step")
    assert "bob: sync done" in stepped.stdout
    data = json.loads(ok("status", "--json").stdout)
    assert [(u["user"], u["syncStatus"]) for u in data["users"]] == [
        ("alice", "failed"),
        ("bob", "done"),
    ]
    assert "revoked-key" not in json.dumps(data) + result.output + stepped.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.db")
    plain = run("--db", missing, "status")
    assert "Traceback" not in plain.stderr
    debug = run("--db", missing, "--debug", "status")
    assert debug.exit_code == 7
    assert "Traceback" in debug.stderr and "StoreError" in debug.stderr


def test_version() -> None:
    assert ok("--version").output.startswith("odoosync ")

"""Where secrets are kept: the choice of store, each store's promises, and its bad input.

Every store is the real one: keyring's own loading and backend classes (with a test backend in
place of a desktop keyring), a credentials file on disk, Fernet tokens from cryptography.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path

import keyring
import keyring.backend
import pytest
from cryptography.fernet import Fernet
from keyring.backends import chainer, fail, null
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret, SecretStores, keyring_refusal
from odoo_sync_cli.errors import ConfigError, CredentialError
from odoo_sync_cli.models import ENCRYPTED, FILE, KEYRING, Account, Credential, SecretLocation
from odoo_sync_cli.simulator.testing import Simulator
from tests.keyring_backends import (
    InMemoryTestKeyring,
    LowPriorityTestKeyring,
    PlaintextLookalike,
)

ACCOUNT = Account("kay", "http://127.0.0.1:8069", "odoo", "admin")
SECRET = SecretStr("S3cret-Stores-Test-Value-88")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result


def stores(tmp_path: Path, **kwargs: object) -> SecretStores:
    kwargs.setdefault("environ", {})
    return SecretStores(credentials_file=tmp_path / "conf" / "credentials.toml", **kwargs)  # type: ignore[arg-type]


def credentials_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "odoosync" / "credentials.toml"


# --------------------------------------------------------------------------- the keyring


def test_keyrings_own_fallbacks_are_refused() -> None:
    assert keyring_refusal(fail.Keyring()) == "no keyring backend is available"
    assert keyring_refusal(null.Keyring()) == "no keyring backend is available"
    assert "keeps secrets in a file" in str(keyring_refusal(PlaintextLookalike()))
    assert "not a recommended" in str(keyring_refusal(LowPriorityTestKeyring()))
    assert keyring_refusal(InMemoryTestKeyring()) is None


def test_a_chainer_is_as_safe_as_what_it_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    chained: list[keyring.backend.KeyringBackend] = []
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: chained)
    assert keyring_refusal(chainer.ChainerBackend()) == "no keyring backend is available"
    chained[:] = [InMemoryTestKeyring(), InMemoryTestKeyring()]
    assert keyring_refusal(chainer.ChainerBackend()) is None
    chained.append(PlaintextLookalike())
    assert "keeps secrets in a file" in str(keyring_refusal(chainer.ChainerBackend()))


def test_a_new_secret_is_checked_once_and_resolved_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^no secret given\. Type it at the prompt"):
        NewSecret(SecretStr(""))
    with pytest.raises(ConfigError, match="no secret given"):
        NewSecret()
    with pytest.raises(ConfigError, match="give --secret-env or --secret-store, not both"):
        NewSecret(env="ODOO_KEY", store="file")
    with pytest.raises(ConfigError, match="unknown secret store 'vault'"):
        NewSecret(SecretStr("k"), store="vault")
    typed = NewSecret(SecretStr("typed-secret-1"), store="file")
    assert "typed-secret-1" not in repr(typed)
    account = Account("kay", "https://odoo.example.com", "odoo", "admin")
    environ = {"ODOO_KEY": "from-the-environment"}
    stores = SecretStores(credentials_file=tmp_path / "c.toml", environ=environ)
    assert stores.resolve(typed, account).get_secret_value() == "typed-secret-1"
    named = NewSecret(env="ODOO_KEY")
    environ["ODOO_KEY"] = "read-when-resolved"
    assert stores.resolve(named, account).get_secret_value() == "read-when-resolved"
    del environ["ODOO_KEY"]
    with pytest.raises(CredentialError, match="ODOO_KEY, which is not set"):
        stores.resolve(named, account)


def test_the_default_store(tmp_path: Path) -> None:
    memory = InMemoryTestKeyring()
    assert stores(tmp_path).choose() == FILE  # the tests' keyring is keyring's fail backend
    assert stores(tmp_path, keyring=lambda: memory).choose() == KEYRING
    assert stores(tmp_path, keyring=PlaintextLookalike).choose() == FILE
    key = {"ODOOSYNC_SECRET_KEY": Fernet.generate_key().decode()}
    assert stores(tmp_path, keyring=lambda: memory, environ=key).choose() == ENCRYPTED
    assert stores(tmp_path, keyring=lambda: memory, preferred=FILE).choose() == FILE
    assert stores(tmp_path).choose(FILE, env="ODOO_KEY") == "env"
    with pytest.raises(CredentialError, match="OS keyring cannot keep secrets here"):
        stores(tmp_path).choose(KEYRING)
    with pytest.raises(ConfigError, match="bad environment variable name"):
        stores(tmp_path).choose(env="NOT A NAME")


def test_keyring_put_get_delete_and_a_locked_keyring(tmp_path: Path) -> None:
    memory = InMemoryTestKeyring()
    s = stores(tmp_path, keyring=lambda: memory)
    location = s.put(KEYRING, ACCOUNT, "kay@m1", SECRET)
    assert location == SecretLocation(KEYRING, "kay@m1")
    assert memory.entries == {("odoosync", "kay@m1"): SECRET.get_secret_value()}
    credential = Credential(ACCOUNT, location)
    assert s.get(credential) == SECRET
    memory.locked = True
    with pytest.raises(CredentialError, match="it is locked") as locked:
        s.get(credential)
    assert "--secret-store file" in str(locked.value)
    assert not s.available(credential)
    memory.locked = False
    s.delete(credential)
    s.delete(credential)  # already gone: nothing to do
    with pytest.raises(CredentialError, match="has no entry 'kay@m1'"):
        s.get(credential)


# --------------------------------------------------------------------------- the file


def test_the_credentials_file_is_private_and_written_whole(tmp_path: Path) -> None:
    s = stores(tmp_path)
    old = os.umask(0)
    try:
        location = s.put(FILE, ACCOUNT, "kay@m1", SECRET)
    finally:
        os.umask(old)
    path = s.credentials_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    table = tomllib.loads(path.read_text())["kay@m1"]
    assert table == {
        "secret": SECRET.get_secret_value(),
        "user": "kay",
        "url": ACCOUNT.url,
        "database": "odoo",
        "login": "admin",
    }
    assert s.get(Credential(ACCOUNT, location)) == SECRET
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "credentials.toml",
        "credentials.toml.lock",
    ]


def test_many_writers_lose_no_entry(tmp_path: Path) -> None:
    s = stores(tmp_path)
    barrier = threading.Barrier(12)

    def add(n: int) -> None:
        barrier.wait()
        s.put(FILE, Account(f"u{n}", "http://h", "d", "l"), f"u{n}@m", SecretStr(f"pw-{n}"))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tomllib.loads(s.credentials_file.read_text())) == 12


def test_the_credentials_file_is_read_again_whenever_it_changed(tmp_path: Path) -> None:
    # The parsed file is kept between reads (the loop reads a secret per user turn): a file
    # another process rewrote, or one edited in place to the same size, is parsed again.
    s = stores(tmp_path)
    location = s.put(FILE, ACCOUNT, "kay@m1", SECRET)
    credential = Credential(ACCOUNT, location)
    assert s.get(credential) == SECRET
    stores(tmp_path).put(FILE, ACCOUNT, "kay@m1", SecretStr("rotated-by-another-process"))
    assert s.get(credential).get_secret_value() == "rotated-by-another-process"
    path = s.credentials_file
    text = path.read_text()
    with path.open("r+") as fh:  # same inode, same size, another secret
        fh.write(text.replace("rotated-by-another-process", "edited-by-hand-in-place-xx"))
    # A hand edit comes a moment later: the file's time moves on (the kernel's file clock ticks
    # in milliseconds, this test in microseconds).
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before + 10**9, before + 10**9))
    assert s.get(credential).get_secret_value() == "edited-by-hand-in-place-xx"


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda p: p.chmod(0o644), "has mode 644: others on this machine can read it"),
        (lambda p: p.chmod(0o640), "has mode 640: others on this machine can read it"),
        (lambda p: p.write_text('["kay@m1"]\nsecret = \n'), "is not valid TOML"),
    ],
    ids=["world-readable", "group-readable", "bad-toml"],
)
def test_a_spoiled_credentials_file_is_refused_with_the_fix(
    tmp_path: Path, spoil: Callable[[Path], object], says: str
) -> None:
    s = stores(tmp_path)
    location = s.put(FILE, ACCOUNT, "kay@m1", SECRET)
    spoil(s.credentials_file)
    with pytest.raises(CredentialError, match=says) as refused:
        s.get(Credential(ACCOUNT, location))
    text = str(refused.value)
    assert SECRET.get_secret_value() not in text
    assert "chmod 600" in text or "Fix it by hand" in text
    with pytest.raises(CredentialError, match=says):
        s.put(FILE, ACCOUNT, "pat@m1", SECRET)  # nor is it written to


# --------------------------------------------------------------------------- encrypted


def test_encrypted_tokens_open_only_with_the_key_and_for_their_account(tmp_path: Path) -> None:
    key, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    s = stores(tmp_path, environ={"ODOOSYNC_SECRET_KEY": key})
    location = s.put(ENCRYPTED, ACCOUNT, "unused", SECRET)
    assert location.store == ENCRYPTED and location.ref is not None
    assert SECRET.get_secret_value() not in location.ref
    assert s.get(Credential(ACCOUNT, location)) == SECRET
    with pytest.raises(CredentialError, match="does not open its encrypted secret"):
        stores(tmp_path, environ={"ODOOSYNC_SECRET_KEY": other}).get(Credential(ACCOUNT, location))
    with pytest.raises(CredentialError, match="no secret key is configured"):
        stores(tmp_path).get(Credential(ACCOUNT, location))
    with pytest.raises(CredentialError, match="does not hold a valid key"):
        stores(tmp_path, environ={"ODOOSYNC_SECRET_KEY": "not-a-key"}).get(
            Credential(ACCOUNT, location)
        )
    # Rotation: the new key first, the old one after; old tokens still open.
    rotated = stores(tmp_path, environ={"ODOOSYNC_SECRET_KEY": f"{other},{key}"})
    assert rotated.get(Credential(ACCOUNT, location)) == SECRET
    # A token copied onto another user's row (or the row pointed at another server) is refused.
    for moved in (
        Account("pat", ACCOUNT.url, ACCOUNT.database, ACCOUNT.login),
        Account("kay", "https://elsewhere.example", ACCOUNT.database, ACCOUNT.login),
    ):
        with pytest.raises(CredentialError, match="stored for another account"):
            s.get(Credential(moved, location))


def test_a_key_file_must_be_private(tmp_path: Path) -> None:
    key_file = tmp_path / "odoosync.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    key_file.chmod(0o600)
    s = stores(tmp_path, key_file=key_file)
    location = s.put(ENCRYPTED, ACCOUNT, "unused", SECRET)
    assert s.get(Credential(ACCOUNT, location)) == SECRET
    key_file.chmod(0o644)
    with pytest.raises(CredentialError, match=f"key file {key_file} has mode 644"):
        s.get(Credential(ACCOUNT, location))


# --------------------------------------------------------------------------- the commands


def add(sim: Simulator, name: str, *extra: str, secret: str | None = None) -> Result:
    common = ["--url", sim.url, "--db", sim.database, "--login", sim.login]
    return ok("user", "add", name, *common, *extra, input=(secret or sim.api_key) + "\n")


def row(name: str) -> tuple[str, str | None]:
    with sqlite3.connect(os.environ["ODOOSYNC_DB"]) as conn:
        found = conn.execute(
            "SELECT secret_store, secret_ref FROM _odoosync_users WHERE name = ?", (name,)
        ).fetchone()
    return found[0], found[1]


def test_set_secret_move_secret_and_remove_follow_the_secret(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = InMemoryTestKeyring()
    keyring.set_keyring(memory)
    monkeypatch.setenv("ODOOSYNC_SECRET_KEY", Fernet.generate_key().decode())
    add(simulator, "kay", "--secret-store", "file")
    entry = row("kay")[1]
    assert tomllib.loads(credentials_file().read_text())[entry]["secret"] == simulator.api_key

    # A rotated key goes where the secret is kept, replacing it in place.
    ok("user", "set-secret", "kay", "--no-check", input="rotated-key-1\n")
    assert row("kay") == ("file", entry)
    assert tomllib.loads(credentials_file().read_text())[entry]["secret"] == "rotated-key-1"
    # ... or to a newly chosen store, leaving nothing in the old one.
    moved = ok(
        "user", "set-secret", "kay", "--secret-store", "keyring", input=simulator.api_key + "\n"
    )
    assert "OS keyring" in moved.stdout
    assert row("kay") == ("keyring", entry)
    assert tomllib.loads(credentials_file().read_text()) == {}
    assert list(memory.entries.values()) == [simulator.api_key]

    # move-secret: no need to type it again (Odoo shows an API key once).
    ok("user", "move-secret", "kay", "--to", "encrypted")
    store, token = row("kay")
    assert store == "encrypted" and token and simulator.api_key not in token
    assert memory.entries == {}
    ok("prepare", "--user", "kay")  # the secret still opens the account
    ok("user", "move-secret", "kay", "--to", "file")
    assert row("kay") == ("file", entry)
    same = run("user", "move-secret", "kay", "--to", "file")
    assert same.exit_code == 3 and "already keeps its secret in the credentials file" in same.stderr

    removed = ok("user", "remove", "kay", "--yes")
    assert "its secret is removed from the credentials file" in removed.stdout
    assert tomllib.loads(credentials_file().read_text()) == {}


def test_an_explicit_store_that_cannot_keep_the_secret_changes_nothing(
    simulator: Simulator,
) -> None:
    refused = run(
        "user", "add", "kay", "--url", simulator.url, "--db", simulator.database,
        "--login", simulator.login, "--secret-store", "keyring",
        input=simulator.api_key + "\n",
    )  # fmt: skip
    assert refused.exit_code == 3
    assert refused.stderr.count("\n") == 1
    assert "Error: the OS keyring cannot keep secrets here: no keyring backend is available" in (
        refused.stderr
    )
    assert not Path(os.environ["ODOOSYNC_DB"]).exists()
    both = run("user", "add", "kay", "--url", simulator.url, "--db", "odoo", "--login", "a",
               "--secret-env", "X", "--secret-store", "file")  # fmt: skip
    assert both.exit_code == 3 and "not both" in both.stderr


def test_the_settings_choose_the_store_and_the_file(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "secrets" / "odoosync-credentials.toml"
    monkeypatch.setenv("ODOOSYNC_CREDENTIALS_FILE", str(elsewhere))
    add(simulator, "kay")
    assert row("kay")[0] == "file" and elsewhere.exists() and not credentials_file().exists()
    key_file = tmp_path / "odoosync.key"
    key_file.write_text(Fernet.generate_key().decode())
    key_file.chmod(0o600)
    config = tmp_path / "odoosync.toml"
    config.write_text(f'secret_key_file = "{key_file}"\n')
    ok("--config", str(config), "user", "add", "pat", "--url", simulator.url, "--db",
       simulator.database, "--login", simulator.login, input=simulator.api_key + "\n")  # fmt: skip
    assert row("pat")[0] == "encrypted"  # a key is configured: the database is to be shared
    config.write_text('secret_store = "file"\n')
    settings = load_settings(config)
    assert engine.secret_stores(settings).choose() == FILE


# --------------------------------------------------------------------------- one user fails


def _lock_keyring(memory: InMemoryTestKeyring, config: Path) -> str:
    memory.locked = True
    return "cannot read the secret from the OS keyring: it is locked"


def _no_keyring(memory: InMemoryTestKeyring, config: Path) -> str:
    keyring.set_keyring(fail.Keyring())
    return "keeps its secret in the OS keyring, which is not usable here"


def _open_file(memory: InMemoryTestKeyring, config: Path) -> str:
    credentials_file().chmod(0o604)
    return "has mode 604: others on this machine can read it"


def _bad_toml(memory: InMemoryTestKeyring, config: Path) -> str:
    credentials_file().write_text("[unclosed\n")
    return "is not valid TOML"


def _no_key(memory: InMemoryTestKeyring, config: Path) -> str:
    os.environ.pop("ODOOSYNC_SECRET_KEY")
    return "keeps its secret encrypted in the database, but no secret key is configured"


def _wrong_key(memory: InMemoryTestKeyring, config: Path) -> str:
    os.environ["ODOOSYNC_SECRET_KEY"] = Fernet.generate_key().decode()
    return "the secret key does not open its encrypted secret"


BREAKS = {
    "keyring-locked": (KEYRING, _lock_keyring),
    "keyring-absent": (KEYRING, _no_keyring),
    "file-readable-by-others": (FILE, _open_file),
    "file-bad-toml": (FILE, _bad_toml),
    "key-missing": (ENCRYPTED, _no_key),
    "key-wrong": (ENCRYPTED, _wrong_key),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_broken_store_fails_its_user_with_one_line_and_the_others_go_on(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    broken_store, spoil = BREAKS[case]
    memory = InMemoryTestKeyring()
    keyring.set_keyring(memory)
    monkeypatch.setenv("ODOOSYNC_SECRET_KEY", Fernet.generate_key().decode())
    # The victim's store is broken; the others keep theirs in another store (or the env).
    add(simulator, "victim", "--secret-store", broken_store)
    bystander = KEYRING if broken_store != KEYRING else FILE
    add(simulator, "bystander", "--secret-store", bystander)
    monkeypatch.setenv("BYSTANDER_KEY", simulator.api_key)
    ok("user", "add", "envy", "--url", simulator.url, "--db", simulator.database, "--login",
       simulator.login, "--secret-env", "BYSTANDER_KEY")  # fmt: skip
    says = spoil(memory, tmp_path)

    prepared = run("prepare", "--all")
    assert prepared.exit_code == 3, prepared.output
    errors = prepared.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("Error: victim: "), prepared.stderr
    assert says in errors[0]
    fixes = (
        "odoosync user set-secret victim",
        "chmod 600",
        "Fix it by hand",
        "ODOOSYNC_SECRET_KEY",
    )
    assert any(fix in errors[0] for fix in fixes)
    assert "bystander: planned" in prepared.stdout and "envy: planned" in prepared.stdout
    stepped = run("step", "--all")
    assert stepped.exit_code == 0, stepped.output
    data = json.loads(ok("status", "--json").stdout)
    got = {u["user"]: (u["syncStatus"], u["connectionInfoAvailable"]) for u in data["users"]}
    assert got == {
        "bystander": ("done", True),
        "envy": ("done", True),
        "victim": ("failed", False),
    }
    victim = next(u for u in data["users"] if u["user"] == "victim")
    assert says in victim["lastError"]
    # The loop, unattended, the same way: the victim fails, the others sync again.
    ok("queue", "--all")
    looped = run("loop", "--once", "--quiet", "--interval", "0.2")
    assert looped.exit_code == 3, looped.output
    data = json.loads(ok("status", "--json").stdout)
    got = {u["user"]: u["syncStatus"] for u in data["users"]}
    assert got == {"bystander": "done", "envy": "done", "victim": "failed"}
    said = prepared.output + stepped.output + looped.output + json.dumps(data)
    assert simulator.api_key not in said

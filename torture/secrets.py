"""Campaign 6, secrets: a known password and API keys never show up anywhere but the secret store.

Distinctive secrets (an API key, a password, a key kept in an environment variable, a rotated
key, and wrong ones a user typed) go through every command of the real command line, in
subprocesses: ones that work, ones that fail (wrong URL, rejected key, TLS failure, an unset
variable), each also with ``--debug``. Secrets go to the default store (the credentials file:
no OS keyring here), to an environment variable, and encrypted into the database with
``ODOOSYNC_SECRET_KEY`` (the key is searched for too). Then every text a person or a program could
see is searched for every secret: stdout and stderr of every run, the loop's log file, ``status
--json``, ``GET /odoo/status`` and ``/healthz`` of a running loop, every file the runs left in
the work directory (their HOME included) but the credentials file, the project's cassettes, and
the mirror itself: the database file, its WAL and shared-memory files (also sampled while the
loop runs, when they hold the most), a copy made with SQLite's backup API (and ``sqlite3 .backup``
where the sqlite3 program is installed) and ``sqlite3 DB .dump``. Figure ``leaked``: the texts
holding a secret; must be 0. The control: the credentials file does hold the secrets it keeps,
so a search that cannot see them fails.

The campaign also checks the promises around the secrets: the database file (and its WAL and
shared-memory files, and a directory odoosync creates for it) and the credentials file (and the
directory odoosync creates for it) are private even under umask 000; a refused ``user add``
writes neither; TLS certificates are verified unless the user was added with ``--insecure``;
plain ``http://`` to a host that is not this machine is refused without ``--insecure``, with the
reason; the loop's status endpoint listens on loopback only unless told otherwise. A failed
promise is a failure.

Short: Odoo 19, ``--debug`` on the failing commands. Long: also every command with ``--debug``,
and the whole run again against Odoo 17 (JSON-RPC only: the password rides in every request).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odoo_sync_cli.simulator.server import (
    ADMIN_NAME,
    ADMIN_UID,
    DEMO_LOGIN,
    DEMO_NAME,
    DEMO_UID,
    SimDatabase,
    SimUser,
)
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.simulator.testing import Simulator, build_store, start_simulator
from torture.common import (
    CampaignResult,
    Scale,
    TlsProxy,
    free_port,
    odoosync_command,
    self_signed_certificate,
)

DATABASE = "odoo"
ADMIN_LOGIN = "admin"
API_KEY = "5ec7e75a" + "9d" * 14 + "7e1a"
PASSWORD = "Torture-Pw-8f3Kq-Zz71"
ENV_KEY = "e4e4f00d" + "3c" * 14 + "e4e4"
ROTATED_KEY = "707a7ed0" + "b1" * 14 + "0707"
WRONG_PASSWORD = "Not-The-Pw-Qx55-Torture"
WRONG_KEY = "0bad0bad" + "42" * 14 + "dead"
# The key of the encrypted store: a Fernet key (32 bytes, URL-safe base64), itself a secret.
STORE_KEY = "VG9ydHVyZS1zZWNyZXRzLWtleS0zMi1ieXRlcy0hIT0="
SECRETS = (API_KEY, PASSWORD, ENV_KEY, ROTATED_KEY, WRONG_PASSWORD, WRONG_KEY, STORE_KEY)
SECRET_ENV = "ODOOSYNC_TORTURE_SECRETS_KEY"
KEY_ENV = "ODOOSYNC_SECRET_KEY"

CONFIG = """
page_size = 100
batch_size = 1000

[http]
timeout = 10
connect_timeout = 3

[http.retry]
attempts = 2
total_timeout = 10
wait_initial = 0.05
wait_max = 0.2
wait_jitter = 0
"""

CASSETTES = Path(__file__).resolve().parent.parent / "fixtures" / "cassettes"
# JSON-RPC calls whose args carry the password or key, and where.
CREDENTIAL_SLOT = {"authenticate": 2, "login": 2, "execute_kw": 2, "execute": 2}


@dataclass
class Run:
    """One command as run, with everything it showed."""

    label: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    debug: bool
    expect_ok: bool


@dataclass
class Lab:
    """The servers, the directory, and what the runs produced."""

    root: Path
    sim: Simulator
    served: SimDatabase
    version: int
    tls: TlsProxy | None
    debug_all: bool  # the long run: every command also with --debug, and the long-only ones
    runs: list[Run] = field(default_factory=list)
    texts: dict[str, str | bytes] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, what: str) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(what)
        return ok


class Flow:
    """A sequence of commands on one database; flows run side by side on their own files."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.dir = lab.root / name
        self.dir.mkdir(parents=True)
        self.home = self.dir / "home"
        self.home.mkdir()
        (self.dir / "odoosync.toml").write_text(CONFIG, encoding="utf-8")
        # In a directory that does not exist yet: odoosync must create it private.
        self.db = self.dir / "data" / "odoosync.db"
        # Where the default store keeps secrets here (the user config directory of this HOME).
        self.credentials = self.home / "config" / "odoosync" / "credentials.toml"

    def env(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODOOSYNC_")}
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.home / "data"),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_CACHE_HOME=str(self.home / "cache"),
            XDG_STATE_HOME=str(self.home / "state"),
            # No OS keyring: keyring's own "none here" backend, as on a server without a desktop.
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        )
        for name, value in (extra or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def command(self, *args: str, debug: bool = False) -> list[str]:
        head = ["--debug"] if debug else []
        return odoosync_command(self.dir, "--db", str(self.db), *head, *args)

    def must_run(self, label: str, *args: str, **kwargs: Any) -> Run:
        """:meth:`run` for a command every scale runs, whose outcome is looked at."""
        done = self.run(label, *args, **kwargs)
        assert done is not None
        return done

    def run(
        self,
        label: str,
        *args: str,
        input: str = "",
        env: Mapping[str, str | None] | None = None,
        ok: bool = True,
        debug: bool | None = None,
        long: bool = False,
    ) -> Run | None:
        """Run one command (twice in the long run: also with --debug) and keep what it showed."""
        if long and not self.lab.debug_all:
            return None
        variants = [False, True] if (self.lab.debug_all and debug is None) else [bool(debug)]
        last: Run | None = None
        for with_debug in variants:
            proc = subprocess.run(
                self.command(*args, debug=with_debug),
                input=input,
                env=self.env(env),
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
                umask=0o000,  # the files must be private by odoosync's doing, not the umask's
            )
            last = Run(label, args, proc.returncode, proc.stdout, proc.stderr, with_debug, ok)
            self.lab.runs.append(last)
            if with_debug:
                continue
            if ok and proc.returncode != 0:
                self.lab.failures.append(
                    f"{label}: expected to work, exit {proc.returncode}: {proc.stderr.strip()}"
                )
            if not ok and proc.returncode == 0:
                self.lab.failures.append(f"{label}: expected to fail, but exit 0")
        assert last is not None
        return last


# --------------------------------------------------------------------------- flows


def _add(name: str, url: str, *extra: str, login: str = ADMIN_LOGIN) -> tuple[str, ...]:
    return ("user", "add", name, "--url", url, "--db", DATABASE, "--login", login, *extra)


def refusals(lab: Lab) -> list[Callable[[], None]]:
    """Commands that must fail, each in a directory of its own (so they run side by side)."""
    url = lab.sim.url
    port = url.rsplit(":", 1)[1]
    jobs: list[tuple[str, tuple[str, ...], str]] = [
        ("wrong password", _add("bad", url), WRONG_PASSWORD),
        ("https to a plain-http server", _add("bad", f"https://127.0.0.1:{port}"), API_KEY),
        ("password in the url", _add("bad", f"http://admin:{PASSWORD}@127.0.0.1:{port}"), API_KEY),
    ]
    if lab.debug_all:  # the long run; the bad-input campaign has these too
        jobs.append(("unreachable host", _add("bad", f"http://127.0.0.1:{free_port()}"), API_KEY))
        wrong_db = (*_add("bad", url)[:6], "nodb", "--login", ADMIN_LOGIN)
        jobs.append(("wrong database", wrong_db, PASSWORD))
    if lab.version >= 19:
        jobs.append(("rejected key", _add("bad", url, "--protocol", "json2"), WRONG_KEY))
    else:
        jobs.append(("json2 on 17", _add("bad", url, "--protocol", "json2"), API_KEY))

    def job(number: int, label: str, args: tuple[str, ...], secret: str) -> Callable[[], None]:
        def go() -> None:
            flow = Flow(lab, f"refusal-{lab.version}-{number}")
            flow.run(label, *args, input=secret + "\n", ok=False, debug=True)
            flow.run(label, *args, input=secret + "\n", ok=False, debug=False, long=True)
            lab.check(not flow.db.exists(), f"{label}: a refused user add created {flow.db}")
            lab.check(
                not flow.credentials.exists(),
                f"{label}: a refused user add wrote the credentials file {flow.credentials}",
            )

        return go

    return [job(n, *j) for n, j in enumerate(jobs)]


def transport_rules(lab: Lab) -> None:
    """TLS verified by default; plain http off this machine only with --insecure."""
    flow = Flow(lab, f"transport-{lab.version}")
    remote = flow.must_run(
        "plain http to a remote host",
        *_add("remote", "http://odoo.example.com", "--no-check"),
        input=API_KEY + "\n",
        ok=False,
    )
    said = remote.stderr.lower()
    lab.check(
        remote.returncode == 3 and "--insecure" in said and "unencrypted" in said,
        f"plain http to a remote host is not refused with the reason: {remote.stderr.strip()}",
    )
    flow.run(
        "plain http to a remote host with --insecure",
        *_add("remote", "http://odoo.example.com", "--no-check", "--insecure"),
        input=API_KEY + "\n",
    )
    port = lab.sim.url.rsplit(":", 1)[1]
    flow.run(
        "plain http to localhost",
        *_add("local", f"http://localhost:{port}"),
        input=API_KEY + "\n",
        long=True,
    )
    if lab.tls is None:
        return
    refused = flow.must_run(
        "self-signed certificate", *_add("tls", lab.tls.url), input=API_KEY + "\n", ok=False
    )
    lab.check(
        refused.returncode == 5 and "certificate" in refused.stderr.lower(),
        f"an untrusted certificate was not refused: exit {refused.returncode} {refused.stderr}",
    )
    flow.run(
        "self-signed certificate with --insecure",
        *_add("tls", lab.tls.url, "--insecure"),
        input=API_KEY + "\n",
    )
    flow.run("sync through the untrusted proxy", "prepare", "--user", "tls", long=True)
    flow.run(
        "step through the untrusted proxy", "step", "--user", "tls", "--max-pages", "2", long=True
    )


def main_flow(lab: Lab, scale: Scale) -> None:
    """Every command, in the order a user meets them, with the secrets in play."""
    flow = Flow(lab, f"main-{lab.version}")
    url = lab.sim.url
    json2 = lab.version >= 19
    key_protocol = ("--protocol", "json2") if json2 else ()
    flow.run("user add (API key)", *_add("kay", url, *key_protocol), input=API_KEY + "\n")
    check_private(lab, flow.db, "after user add")
    flow.run(
        "user add (password)",
        *_add("pat", url, "--protocol", "jsonrpc"),
        input=PASSWORD + "\n",
    )
    flow.run(
        "user add (secret in a variable)",
        *_add("eve", url, "--secret-env", SECRET_ENV, login=DEMO_LOGIN),
        env={SECRET_ENV: ENV_KEY},
    )
    check_credentials_file(lab, flow, "after user add")
    # The commands below that touch the encrypted user get the key, as a service would.
    env = {SECRET_ENV: ENV_KEY, KEY_ENV: STORE_KEY}
    flow.run(
        "user add (encrypted in the database)",
        *_add("enc", url, *key_protocol, "--secret-store", "encrypted"),
        input=API_KEY + "\n",
        env=env,
    )
    flow.run(
        "user add (encrypted, no key)",
        *_add("nokey", url, "--secret-store", "encrypted"),
        input=PASSWORD + "\n",
        env={KEY_ENV: None},
        ok=False,
        debug=True,
    )
    flow.run("user list", "user", "list", long=True)
    flow.run("user list --json", "user", "list", "--json")
    flow.run("prepare", "prepare", "--all", env=env)
    flow.run("step", "step", "--max-pages", "2", env=env, debug=True)
    flow.run("status", "status", long=True)
    flow.run("status --json", "status", "--json", env=env)
    flow.run("validate-cursor", "validate-cursor", "--user", "kay", "--json", long=True)
    flow.run(
        "test-complete",
        *("test-complete", "--user", "pat", "--yes", "--sample", "5"),
        env=env,
        long=True,
    )
    run_loop(lab, flow, env)
    flow.run("clear", "clear", "--user", "pat", "--yes", long=True)
    flow.run("queue", "queue", "--user", "pat", long=True)
    # The key is revoked in Odoo and replaced by a new one: the failure, then the fix.
    rotate_key(lab)
    flow.run("prepare with a revoked key", "prepare", "--user", "kay", ok=False, debug=True)
    flow.run("status --json after the failure", "status", "--json", env=env)
    flow.run(
        "set-secret with a wrong key",
        "user",
        "set-secret",
        "kay",
        input=WRONG_KEY + "\n",
        ok=False,
        debug=True,
    )
    flow.run("set-secret", "user", "set-secret", "kay", input=ROTATED_KEY + "\n")
    flow.run("retry", "retry", "--user", "kay", long=True)
    flow.run("step after the rotation", "step", "--user", "kay", env=env, long=True)
    flow.run(
        "prepare with the variable unset",
        "prepare",
        "--user",
        "eve",
        "--restart",
        env={SECRET_ENV: None},
        ok=False,
        debug=True,
    )
    wrong_key = "V3JvbmcgdG9ydHVyZSBrZXkgb2YgMzIgYnl0ZXMhISE="
    flow.run(
        "prepare with a wrong encryption key",
        *("prepare", "--user", "enc", "--restart"),
        env={KEY_ENV: wrong_key},
        ok=False,
        debug=True,
    )
    flow.run("move-secret to encrypted", "user", "move-secret", "pat", "--to", "encrypted", env=env)
    flow.run("move-secret back to the file", "user", "move-secret", "pat", "--to", "file", env=env)
    flow.run(
        "set-secret into another store",
        *("user", "set-secret", "enc", "--secret-store", "file", "--no-check"),
        input=API_KEY + "\n",
        env=env,
    )
    flow.run("user remove", "user", "remove", "eve", "--yes")
    flow.run("user remove (the file's entry goes too)", "user", "remove", "enc", "--yes")
    flow.run("--version", "--version", long=True)
    flow.run("--help", "--help", long=True)
    check_private(lab, flow.db, "at the end")
    check_credentials_file(lab, flow, "at the end")
    # The control: the credentials file holds the secrets it keeps, so the search can see them.
    kept = flow.credentials.read_bytes() if flow.credentials.exists() else b""
    lab.check(
        ROTATED_KEY.encode() in kept and PASSWORD.encode() in kept,
        "control: the rotated key and the password are not in the credentials file; "
        "is the search blind?",
    )
    entries = tomllib.loads(kept.decode()) if kept else {}
    lab.check(
        sorted(t.get("user") for t in entries.values()) == ["kay", "pat"],
        f"the credentials file keeps {sorted(entries)}, not kay and pat only (a removed "
        "user's secret left behind, or a moved one kept twice)",
    )
    mirror_texts(lab, flow)


def run_loop(lab: Lab, flow: Flow, env: Mapping[str, str]) -> None:
    """The loop with its status endpoint and a log file, until every user is done."""
    port = free_port()
    log_file = flow.dir / "loop.log"
    proc = subprocess.Popen(
        flow.command(
            "loop",
            "--interval",
            "0.5",
            "--http-port",
            str(port),
            "--log-file",
            str(log_file),
            "--verbose",
            debug=lab.debug_all,
        ),
        env=flow.env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o000,
    )
    base = f"http://127.0.0.1:{port}"
    status: dict[str, Any] = {}
    watcher = WalWatcher(flow.db)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            body = _get(f"{base}/odoo/status")
            if body is not None:
                lab.texts[f"{flow.dir.name}: GET /odoo/status"] = body
                status = json.loads(body)
                users = status.get("users", [])
                if users and all(u["syncStatus"] == "done" for u in users):
                    break
            time.sleep(0.2)
        health = _get(f"{base}/healthz")
        lab.texts[f"{flow.dir.name}: GET /healthz"] = health or ""
        lab.check(health is not None, "the loop's /healthz did not answer")
        check_loopback_only(lab, port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        watcher.stop()
    lab.check(
        {"-wal", "-shm"} <= set(watcher.modes),
        f"never saw both WAL files while the loop ran to check their mode ({watcher.modes})",
    )
    for suffix, mode in watcher.modes.items():
        lab.check(mode == 0o600, f"odoosync.db{suffix} while the loop runs: mode {mode:o}")
    for suffix, data in watcher.samples.items():
        lab.texts[f"{flow.dir.name}: odoosync.db{suffix} while the loop ran"] = data
    lab.runs.append(
        Run("loop", ("loop",), proc.returncode, out, err, lab.debug_all, expect_ok=True)
    )
    lab.check(proc.returncode == 0, f"loop: exit {proc.returncode} after SIGTERM: {err.strip()}")
    users = status.get("users", [])
    lab.check(
        bool(users) and all(u["syncStatus"] == "done" for u in users),
        f"the loop did not finish every user: {[u.get('syncStatus') for u in users]}",
    )
    if log_file.exists():
        lab.texts[f"{flow.dir.name}: loop log file"] = log_file.read_bytes()
    lab.check(log_file.exists(), "the loop wrote no log file")


class WalWatcher:
    """Notes the mode of the database's WAL and shared-memory files whenever they exist.

    They live only while some connection is open, so they are looked for every few
    milliseconds from a thread, not once at a moment that may fall between two connections.
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        self.modes: dict[str, int] = {}
        # The fullest WAL and shared-memory files seen, searched for secrets afterwards.
        self.samples: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="wal-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            for suffix in ("-wal", "-shm"):
                path = self.db.with_name(self.db.name + suffix)
                try:
                    mode = stat.S_IMODE(path.stat().st_mode)
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                # Keep the widest mode seen: one lax moment is enough to leak.
                self.modes[suffix] = self.modes.get(suffix, 0) | mode
                if _holds_secret(data):
                    self.samples[suffix] = data  # a leak: keep the proof
                elif len(data) > len(self.samples.get(suffix, b"")) and not _holds_secret(
                    self.samples.get(suffix, b"")
                ):
                    self.samples[suffix] = data

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def rotate_key(lab: Lab) -> None:
    """Revoke the admin's API key in the simulated Odoo and give it a new one."""
    old = lab.served.users[ADMIN_UID]
    lab.served.users[ADMIN_UID] = SimUser(
        old.uid, old.login, old.name, old.password, ROTATED_KEY, old.employee_public_only
    )


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode("utf-8"))
    except OSError:
        return None


# --------------------------------------------------------------------------- checks


def _wal_files(db: Path) -> list[Path]:
    return [
        p for p in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()
    ]


def _wal_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in _wal_files(db))


def check_private(lab: Lab, db: Path, when: str) -> None:
    """The database and its companions are readable by their owner only."""
    for path in [db, *_wal_files(db)]:
        mode = stat.S_IMODE(path.stat().st_mode)
        lab.check(mode == 0o600, f"{path.name} {when}: mode {mode:o}, not 600")
    mode = stat.S_IMODE(db.parent.stat().st_mode)
    lab.check(mode == 0o700, f"the directory odoosync made for the database: mode {mode:o}")


def check_loopback_only(lab: Lab, port: int) -> None:
    """The status endpoint listens on 127.0.0.1 only (read from the kernel's socket table)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return
    addresses: list[str] = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                addresses.append(address)
    lab.check(
        addresses == ["0100007F"],
        f"the status endpoint listens on {addresses or 'nothing'}, not 127.0.0.1 only",
    )


def check_credentials_file(lab: Lab, flow: Flow, when: str) -> None:
    """The credentials file and the directory odoosync made for it are its owner's only."""
    path = flow.credentials
    if not lab.check(path.exists(), f"no credentials file at {path} {when}"):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    lab.check(mode == 0o600, f"the credentials file {when}: mode {mode:o}, not 600")
    mode = stat.S_IMODE(path.parent.stat().st_mode)
    lab.check(mode == 0o700, f"the directory odoosync made for the credentials: mode {mode:o}")


def mirror_texts(lab: Lab, flow: Flow) -> None:
    """The mirror as anyone who gets it sees it: its files, copies of it, and a dump."""
    db = flow.db
    name = flow.dir.name
    for path in [db, *_wal_files(db)]:
        lab.texts[f"{name}: {path.name}"] = path.read_bytes()
    copy = flow.dir / "copy-by-backup-api.db"
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
        lab.texts[f"{name}: iterdump (the SQL of sqlite3 .dump)"] = "\n".join(source.iterdump())
    finally:
        target.close()
        source.close()
    lab.texts[f"{name}: a copy by SQLite's backup API"] = copy.read_bytes()
    cli = shutil.which("sqlite3")
    if cli is not None:
        dumped = subprocess.run(
            [cli, str(db), ".dump"], capture_output=True, text=True, timeout=60, check=False
        )
        lab.check(dumped.returncode == 0, f"sqlite3 .dump failed: {dumped.stderr.strip()}")
        lab.texts[f"{name}: sqlite3 DB .dump"] = dumped.stdout
        backup = flow.dir / "copy-by-sqlite3.db"
        done = subprocess.run(
            [cli, str(db), f".backup {backup}"], capture_output=True, timeout=60, check=False
        )
        if lab.check(done.returncode == 0, f"sqlite3 .backup failed: {done.stderr!r}"):
            lab.texts[f"{name}: a copy by sqlite3 .backup"] = backup.read_bytes()


def cassette_texts(lab: Lab) -> int:
    """Add the project's cassettes to the texts; count credential slots that hold no placeholder."""
    slots_with_values = 0
    for path in sorted(CASSETTES.glob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        lab.texts[f"cassette {path.name}"] = data
        if path.suffix != ".yaml":
            continue
        tape = yaml.safe_load(data)
        for interaction in tape.get("interactions", []):
            sent = interaction["request"]
            for name, values in sent["headers"].items():
                if name.lower() == "authorization":
                    slots_with_values += sum(
                        not v.split(" ", 1)[-1].startswith("{{") for v in values
                    )
            if sent["uri"].endswith("/jsonrpc") and sent.get("body"):
                params = json.loads(sent["body"]).get("params", {})
                slot = CREDENTIAL_SLOT.get(params.get("method"))
                args = params.get("args") or []
                if slot is not None and len(args) > slot:
                    slots_with_values += not str(args[slot]).startswith("{{")
    return slots_with_values


def scan_files(lab: Lab) -> None:
    """Every file the runs left behind (their HOME and the databases included), but the
    credentials files, which are the secret store."""
    for path in sorted(lab.root.rglob("*")):
        if not path.is_file() or path.name == "credentials.toml":
            continue
        lab.texts.setdefault(f"file {path.relative_to(lab.root)}", path.read_bytes())


# --------------------------------------------------------------------------- the campaign


def campaign(lab: Lab, scale: Scale) -> None:
    jobs: list[Callable[[], None]] = [
        lambda: main_flow(lab, scale),
        lambda: transport_rules(lab),
        *refusals(lab),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for done in [pool.submit(job) for job in jobs]:
            done.result()


def _servers(store: SimStore, version: int) -> tuple[Simulator, SimDatabase]:
    users = [
        SimUser(ADMIN_UID, ADMIN_LOGIN, ADMIN_NAME, PASSWORD, API_KEY),
        SimUser(DEMO_UID, DEMO_LOGIN, DEMO_NAME, "demo-" + WRONG_PASSWORD[::-1], ENV_KEY),
    ]
    served = SimDatabase(DATABASE, store, users=users)
    return start_simulator(databases={DATABASE: served}, odoo_version=version), served


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """Run the commands against Odoo 19 (long: and 17), then search everything for the secrets."""
    result = CampaignResult("secrets")
    versions = (19,) if scale == "short" else (19, 17)
    records = 120 if scale == "short" else 400
    texts: dict[str, str | bytes] = {}
    runs: list[Run] = []
    failures: list[str] = []
    checks = 0
    certificate = self_signed_certificate(workdir)
    for version in versions:
        store = build_store(records, seed=seed, odoo_version=version)
        sim, served = _servers(store, version)
        tls = TlsProxy(*certificate, int(sim.url.rsplit(":", 1)[1])) if certificate else None
        lab = Lab(
            root=workdir / f"odoo{version}",
            sim=sim,
            served=served,
            version=version,
            tls=tls,
            debug_all=scale == "long",
        )
        try:
            campaign(lab, scale)
        finally:
            if tls is not None:
                tls.close()
            sim.stop()
            store.close()
        lab.check(cassette_texts(lab) == 0, "a cassette holds a credential that is no placeholder")
        scan_files(lab)
        for run_ in lab.runs:
            where = f"{run_.label}{' --debug' if run_.debug else ''} (odoo {version})"
            texts[f"{where}: stdout"] = run_.stdout
            texts[f"{where}: stderr"] = run_.stderr
        texts.update({f"{k} (odoo {version})": v for k, v in lab.texts.items()})
        runs.extend(lab.runs)
        failures.extend(lab.failures)
        checks += lab.checks
    leaked = [name for name, text in texts.items() if _holds_secret(text)]
    crashed = [
        r
        for r in runs
        if not r.debug and ("Traceback" in r.stderr + r.stdout or "unexpected " in r.stderr)
    ]
    result.figures.update(
        commands=len(runs),
        texts=len(texts),
        leaked=len(leaked),
        crashed=len(crashed),
        checks=checks,
        checks_failed=len(failures),
        tls_checked=int(certificate is not None),
    )
    result.failures.extend(f"secret found in {name}" for name in leaked)
    result.failures.extend(f"{r.label}: crashed: {r.stderr.strip()[:300]}" for r in crashed)
    result.failures.extend(failures)
    return result


def _holds_secret(text: str | bytes) -> bool:
    data = text.encode() if isinstance(text, str) else text
    return any(secret.encode() in data for secret in SECRETS)

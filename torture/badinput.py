"""Campaign 4, bad input: every mistake gets one clear line, a non-zero exit, and changes nothing.

Each case runs the real command line in a subprocess (:func:`torture.common.odoosync`) against
its own copy of one prepared database: user ``alice`` halfway through a first sync, ``dora``
(Odoo's demo login, without read access to sale orders), ``envy`` (its secret in an environment
variable the case leaves unset), ``rita`` (an API key revoked after it was added) and ``carl``
(queued, on a slow server, for the interrupted prepare). A case is *clear* when the command exits
non-zero with exactly one non-empty line on stderr, ``Error: ...`` with no traceback, that names
the problem and what to do (the words each case lists), and the database is unchanged.

"Unchanged" is the whole dump of the database (``exact``), or, for a command that met a refusal
while syncing (a revoked key at ``prepare``, an unset secret variable), everything but the
bookkeeping that records the failure for ``status`` (``records``: mirror rows, plans, cursors,
high-water marks). Cases that need root (a read-only or full file system, made with tmpfs) or
openssl (a self-signed certificate) are skipped, and counted, where those are missing.

The interrupted prepare is a case of its own kind: ``prepare`` is killed with SIGKILL at a
random moment; then ``status`` must work, ``step`` must work or say what to do, and the sync must
finish with a mirror equal to the server's data.

Figures: cases, clear, unclear (a wrong, missing or multi-line message, or exit 0), crashed (a
traceback or an "unexpected" error), differing (stored data changed), skipped.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from unittest import mock

from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
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
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.simulator.testing import Simulator, build_store, start_simulator
from torture.common import (
    CampaignResult,
    Scale,
    TlsProxy,
    dump_database,
    free_port,
    mirror_diff,
    odoosync,
    odoosync_command,
    self_signed_certificate,
    settings_for,
)

DATABASE = "odoo"
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "torture-admin-password"
ADMIN_KEY = "b4d1n9u7" + "0" * 24 + "c0ffee00"
REVOKED_KEY = "7e5c1a11" + "f" * 32
SECRET_ENV = "ODOOSYNC_TORTURE_BADINPUT_SECRET"
DENIED_MODEL = "sale.order"
PREPARE_LATENCY = 0.04  # seconds per request while a prepare waits to be killed

CONFIG = """
page_size = 50
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

# odoosync's own bookkeeping that a failed sync command must update, so `status` can show it.
FAILURE_BOOKKEEPING = {
    "_odoosync_users": {
        "status",
        "last_error",
        "last_error_at",
        "lease_owner",
        "lease_until",
        "server_version",
        "protocol_used",
    },
    "_odoosync_batches": {"status", "attempts", "last_error", "updated_at", "started_at"},
}


@dataclass
class Lab:
    """What every case shares: the servers, the template database, and the scratch area."""

    root: Path
    sim: Simulator
    slow: Simulator
    template: Path
    store: SimStore
    rng: random.Random
    tls: TlsProxy | None = None
    odoo17: Simulator | None = None
    as_root: bool = False

    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def port(self) -> int:
        return int(self.sim.url.rsplit(":", 1)[1])


Hook = Callable[[Path, Lab], None]
During = Callable[[Path, Lab], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class Case:
    """One mistake: the command line, and the words its one line must contain.

    An item of ``expect`` may list alternatives as ``"a|b"``; matching ignores case. ``args`` may
    hold ``{dir}`` (the case's directory), ``{url}``, ``{port}``, ``{closed}`` (a port nobody
    listens on), ``{tls}`` and ``{odoo17}``.
    """

    name: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    input: str = ""
    env: Mapping[str, str | None] = field(default_factory=dict)
    prepare: Hook | None = None
    during: During | None = None
    db: str = "odoosync.db"
    compare: str = "exact"
    watch: tuple[str, ...] = ()
    short: bool = True
    needs: str | None = None  # "root", "tls" or "odoo17"


@dataclass
class Outcome:
    case: str
    clear: bool = False
    unclear: bool = False
    crashed: bool = False
    changed: bool = False
    skipped: str | None = None
    detail: str = ""
    midway: bool = False  # an interrupted prepare that was still running when killed


# --------------------------------------------------------------------------- case helpers


def _add(name: str, *extra: str, url: str = "{url}", login: str = ADMIN_LOGIN) -> tuple[str, ...]:
    return ("user", "add", name, "--url", url, "--db", DATABASE, "--login", login, *extra)


def _write(relative: str, text: str) -> Hook:
    def hook(case_dir: Path, lab: Lab) -> None:
        path = case_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return hook


def _remove(relative: str) -> Hook:
    def hook(case_dir: Path, lab: Lab) -> None:
        (case_dir / relative).unlink()

    return hook


def _foreign_database(case_dir: Path, lab: Lab) -> None:
    conn = sqlite3.connect(case_dir / "notes.db")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('buy milk'), ('call the accountant')")
    conn.commit()
    conn.close()


def _plain_file(case_dir: Path, lab: Lab) -> None:
    (case_dir / "notes.txt").write_text("shopping list\n" * 300, encoding="utf-8")


def _directory(case_dir: Path, lab: Lab) -> None:
    (case_dir / "adir").mkdir()


@contextlib.contextmanager
def _locked(case_dir: Path, lab: Lab) -> Iterator[None]:
    # Another process in the middle of a write: it holds SQLite's write lock throughout.
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
            "c.execute('ROLLBACK')\n",
            str(case_dir / "odoosync.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            if holder.stdout.readline().strip() != "locked":
                raise RuntimeError("the lock holder could not lock the database")
            yield
        finally:
            holder.stdin.close()  # the holder rolls back and ends
            holder.wait(timeout=30)


@contextlib.contextmanager
def _busy_port(case_dir: Path, lab: Lab) -> Iterator[None]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        (case_dir / "busy-port").write_text(str(sock.getsockname()[1]), encoding="utf-8")
        yield


def _mount_tmpfs(directory: Path, size: int) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True)


def _unmount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def _on_tmpfs(size: int) -> Hook:
    """Put a copy of the database on its own small tmpfs at {dir}/fs (root only)."""

    def hook(case_dir: Path, lab: Lab) -> None:
        fs = case_dir / "fs"
        if not _mount_tmpfs(fs, size):
            raise _Skip("cannot mount a tmpfs")
        shutil.copyfile(case_dir / "odoosync.db", fs / "odoosync.db")
        (fs / "odoosync.db").chmod(0o600)

    return hook


def _fill_tmpfs(case_dir: Path, lab: Lab) -> None:
    _on_tmpfs(4 * 1024 * 1024)(case_dir, lab)
    fs = case_dir / "fs"
    # Leave room for SQLite's 32 KiB shared-memory file and a sliver more: the first page of the
    # next write transaction finds the disk full.
    stat = os.statvfs(fs)
    free = stat.f_bavail * stat.f_frsize
    (fs / "filler").write_bytes(b"\0" * max(0, free - 36 * 1024))


@contextlib.contextmanager
def _read_only_fs(case_dir: Path, lab: Lab) -> Iterator[None]:
    fs = case_dir / "fs"
    _remount(fs, "ro")
    try:
        yield
    finally:
        _remount(fs, "rw")


class _Skip(Exception):
    """This machine cannot stage the case (not root, no openssl)."""


# --------------------------------------------------------------------------- the cases


def cases() -> list[Case]:
    """Every case, in the order they are reported."""
    key = ADMIN_KEY + "\n"
    return [
        # -- the server: where it is, how to reach it, who may log in
        Case(
            "url-wrong-scheme",
            _add("bob", url="ftp://127.0.0.1:{port}"),
            ("bad url", "https://"),
            input=key,
            short=False,
        ),
        Case(
            "url-without-scheme",
            _add("bob", url="127.0.0.1:{port}"),
            ("bad url",),
            input=key,
            short=False,
        ),
        Case(
            "url-with-password",
            _add("bob", url="http://admin:" + ADMIN_PASSWORD + "@127.0.0.1:{port}"),
            ("login or password", "--login"),
            input=key,
            short=False,
        ),
        Case(
            "unreachable-host",
            _add("bob", url="http://127.0.0.1:{closed}"),
            ("could not be reached", "check that the server is up"),
            input=key,
        ),
        Case(
            "https-to-plain-http-server",
            _add("bob", url="https://127.0.0.1:{port}"),
            ("tls", "http://"),
            input=key,
        ),
        Case(
            "self-signed-certificate",
            _add("bob", url="{tls}"),
            ("certificate", "--insecure"),
            input=key,
            needs="tls",
        ),
        Case(
            "plain-http-to-remote-host",
            _add("bob", "--no-check", url="http://odoo.example.com"),
            ("http://", "--insecure"),
            input=key,
        ),
        Case(
            "url-with-web-client-path",
            _add("bob", url="{url}/odoo"),
            ("404", "url"),
            input=key,
            short=False,
        ),
        Case(
            "wrong-database",
            ("user", "add", "bob", "--url", "{url}", "--db", "nodb", "--login", ADMIN_LOGIN),
            ("'nodb' does not exist", "check the database name"),
            input=key,
        ),
        Case(
            "wrong-login",
            _add("bob", login="nobody"),
            ("refused", "login"),
            input=ADMIN_PASSWORD + "\n",
            short=False,
        ),
        Case("wrong-password", _add("bob"), ("refused", "user add"), input="not-it\n"),
        Case(
            "wrong-password-jsonrpc",
            _add("bob", "--protocol", "jsonrpc"),
            ("refused", "login 'admin'"),
            input="not-it\n",
            short=False,
        ),
        Case(
            "revoked-api-key-json2",
            _add("bob", "--protocol", "json2"),
            ("api key was rejected", "user add"),
            input=REVOKED_KEY + "\n",
        ),
        Case(
            "revoked-key-on-set-secret",
            ("user", "set-secret", "alice"),
            ("rejected|refused", "set-secret alice"),
            input=REVOKED_KEY + "\n",
            short=False,
        ),
        Case(
            "revoked-key-at-prepare",
            ("prepare", "--user", "rita"),
            ("rejected|refused", "set-secret rita"),
            compare="records",
        ),
        Case(
            "no-access-to-model",
            ("validate-cursor", "--user", "dora", "--model", DENIED_MODEL),
            ("access", "dora"),
        ),
        Case(
            "json2-on-odoo-17",
            _add("bob", "--protocol", "json2", url="{odoo17}"),
            ("json-2", "auto or jsonrpc"),
            input=key,
            needs="odoo17",
            short=False,
        ),
        Case(
            "duplicate-user",
            _add("alice"),
            ("already exists", "set-secret alice"),
            input=key,
            short=False,
        ),
        Case("bad-user-name", _add("no spaces"), ("bad user name",), input=key, short=False),
        Case("empty-secret", _add("bob"), ("no secret", "--secret-env"), input="\n", short=False),
        # -- names that do not exist
        Case("unknown-user", ("step", "--user", "zed"), ("unknown user 'zed'", "user add")),
        Case(
            "unknown-module",
            ("clear", "--module", "nope", "--yes"),
            ("unknown module 'nope'", "contacts"),
            short=False,
        ),
        Case(
            "unknown-module-in-settings",
            ("status",),
            ("nope", "odoosync.toml"),
            prepare=_write("odoosync.toml", CONFIG + '\n[users.alice]\nmodules = ["nope"]\n'),
            short=False,
        ),
        Case(
            "unknown-model",
            ("validate-cursor", "--user", "alice", "--model", "no.such.model"),
            ("no.such.model", "install"),
            short=False,
        ),
        Case(
            "missing-secret-variable",
            ("prepare", "--user", "envy"),
            (SECRET_ENV, "export"),
            env={SECRET_ENV: None},
            compare="records",
        ),
        # -- settings
        Case(
            "bad-toml",
            ("status",),
            ("not valid toml", "odoosync.toml"),
            prepare=_write("odoosync.toml", "page_size = \n"),
        ),
        Case(
            "unknown-settings-key",
            ("step",),
            ("unknown key 'pagesize'", "odoosync.toml"),
            prepare=_write("odoosync.toml", "pagesize = 50\n"),
            short=False,
        ),
        Case(
            "misspelt-module-key",
            ("status",),
            ("unknown key 'modules.contacts.feilds'",),
            prepare=_write("odoosync.toml", "[modules.contacts]\nfeilds = ['name']\n"),
            short=False,
        ),
        Case(
            "negative-page-size",
            ("prepare", "--all"),
            ("page_size", "greater than 0"),
            prepare=_write("odoosync.toml", "page_size = -50\n"),
        ),
        Case(
            "negative-page-size-env",
            ("step",),
            ("ODOOSYNC_PAGE_SIZE", "greater than 0"),
            env={"ODOOSYNC_PAGE_SIZE": "-1"},
            short=False,
        ),
        Case(
            "bad-duration",
            ("status",),
            ("lookback", "15m"),
            prepare=_write("odoosync.toml", 'lookback = "a while"\n'),
            short=False,
        ),
        Case(
            "missing-settings-file",
            ("status",),
            ("does not exist", "--config"),
            prepare=_remove("odoosync.toml"),
            short=False,
        ),
        # -- the database file
        Case(
            "database-missing",
            ("--db", "{dir}/nowhere/odoosync.db", "status"),
            ("does not exist", "user add"),
            db="nowhere/odoosync.db",
            watch=("nowhere",),
            short=False,
        ),
        Case(
            "database-is-a-directory",
            ("--db", "{dir}/adir", "status"),
            ("directory", "--db"),
            prepare=_directory,
            short=False,
        ),
        Case(
            "not-sqlite",
            ("--db", "{dir}/notes.txt", "status"),
            ("not an odoosync database", "--db"),
            prepare=_plain_file,
            watch=("notes.txt",),
        ),
        Case(
            "another-apps-sqlite-file",
            ("--db", "{dir}/notes.db", "user", "list"),
            ("not an odoosync database", "--db"),
            prepare=_foreign_database,
            watch=("notes.db",),
        ),
        Case(
            "user-add-into-another-apps-file",
            ("--db", "{dir}/notes.db", *_add("bob")),
            ("not an odoosync database", "--db"),
            input=key,
            prepare=_foreign_database,
            watch=("notes.db",),
            short=False,
        ),
        Case(
            "database-dir-is-a-file",
            ("--db", "{dir}/notes.txt/odoosync.db", *_add("bob")),
            ("cannot create", "--db"),
            input=key,
            prepare=_plain_file,
            short=False,
        ),
        Case(
            "database-locked",
            ("clear", "--user", "alice", "--yes"),
            ("locked", "try again"),
            during=_locked,
        ),
        Case(
            "read-only-database",
            ("--db", "{dir}/fs/odoosync.db", "step", "--user", "alice"),
            ("read-only|cannot open", "permissions|write"),
            prepare=_on_tmpfs(4 * 1024 * 1024),
            during=_read_only_fs,
            db="fs/odoosync.db",
            needs="root",
        ),
        Case(
            "read-only-directory-for-new-database",
            ("--db", "{dir}/fs/new/odoosync.db", *_add("bob")),
            ("cannot create", "--db"),
            input=key,
            prepare=_on_tmpfs(1024 * 1024),
            during=_read_only_fs,
            db="fs/new/odoosync.db",
            needs="root",
            short=False,
        ),
        Case(
            "disk-full",
            ("--db", "{dir}/fs/odoosync.db", "step", "--user", "alice"),
            ("full", "free some disk space"),
            prepare=_fill_tmpfs,
            db="fs/odoosync.db",
            needs="root",
        ),
        # -- options
        Case(
            "max-pages-zero",
            ("step", "--max-pages", "0"),
            ("--max-pages", "1 or more"),
            short=False,
        ),
        Case(
            "max-seconds-negative",
            ("step", "--max-seconds", "-1"),
            ("--max-seconds",),
            short=False,
        ),
        Case("unknown-option", ("status", "--bogus"), ("--bogus", "--help")),
        Case("missing-option", ("user", "add", "bob"), ("--url", "--help"), input=key, short=False),
        Case(
            "not-a-number",
            ("step", "--max-pages", "many"),
            ("--max-pages", "--help"),
            short=False,
        ),
        Case("unknown-command", ("stepp",), ("stepp", "--help"), short=False),
        Case(
            "http-port-out-of-range",
            ("loop", "--once", "--http-port", "99999"),
            ("--http-port", "65535"),
        ),
        Case(
            "http-port-in-use",
            ("loop", "--once", "--user", "alice", "--http-port", "{busy}"),
            ("already in use", "--http-port"),
            during=_busy_port,
            short=False,
        ),
        Case(
            "log-file-in-a-file",
            ("loop", "--once", "--user", "alice", "--log-file", "{dir}/notes.txt/loop.log"),
            ("log file", "not a directory"),
            prepare=_plain_file,
            short=False,
        ),
        Case(
            "already-in-progress",
            ("prepare", "--user", "alice"),
            ("already in progress", "--restart"),
            short=False,
        ),
        Case(
            "declined-confirmation",
            ("clear", "--user", "alice"),
            ("nothing was changed", "--yes"),
            input="n\n",
            short=False,
        ),
        Case(
            "no-answer-to-confirmation",
            ("user", "remove", "alice"),
            ("nothing was changed", "--yes"),
        ),
    ]


# --------------------------------------------------------------------------- running a case


def _format(text: str, case_dir: Path, lab: Lab) -> str:
    values = {
        "dir": str(case_dir),
        "url": lab.url,
        "port": str(lab.port),
        "closed": str(free_port()),
        "tls": lab.tls.url if lab.tls else "",
        "odoo17": lab.odoo17.url if lab.odoo17 else "",
        "busy": (case_dir / "busy-port").read_text(encoding="utf-8")
        if (case_dir / "busy-port").exists()
        else "",
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _environment(overrides: Mapping[str, str | None]) -> dict[str, str]:
    # The caller's own ODOOSYNC_* settings must not leak into a case.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODOOSYNC_")}
    env.pop(SECRET_ENV, None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _records_dump(path: Path) -> str:
    """The database without the columns that record a failure (see FAILURE_BOOKKEEPING)."""
    if not path.exists():
        return ""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: list[str] = []
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            keep = [c for c in columns if c not in FAILURE_BOOKKEEPING.get(table, set())]
            listed = ", ".join(f'"{c}"' for c in keep)
            out.append(f"-- {table} ({listed})")
            out.extend(
                repr(row) for row in conn.execute(f'SELECT {listed} FROM "{table}" ORDER BY 1')
            )
        return "\n".join(out)
    finally:
        conn.close()


def _snapshot(case: Case, case_dir: Path) -> list[str | bytes]:
    db = case_dir / case.db
    state: list[str | bytes] = [dump_database(db) if case.compare == "exact" else _records_dump(db)]
    for name in case.watch:
        path = case_dir / name
        if path.is_dir():
            state.append(f"<directory of {sorted(p.name for p in path.iterdir())}>")
        else:
            state.append(path.read_bytes() if path.exists() else b"<missing>")
    return state


def _judge(case: Case, proc: subprocess.CompletedProcess[str]) -> Outcome:
    outcome = Outcome(case.name)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    shown = " | ".join(lines)[:400]
    if "Traceback" in proc.stderr + proc.stdout or any("unexpected " in ln for ln in lines):
        outcome.crashed = True
        outcome.detail = f"crashed (exit {proc.returncode}): {shown}"
        return outcome
    problems: list[str] = []
    if proc.returncode == 0:
        problems.append("exit 0")
    if len(lines) != 1 or not lines[0].startswith("Error: "):
        problems.append(f"{len(lines)} stderr line(s)")
    else:
        low = lines[0].lower()
        missing = [w for w in case.expect if not any(a.lower() in low for a in w.split("|"))]
        if missing:
            problems.append(f"does not say {missing}")
    if problems:
        outcome.unclear = True
        outcome.detail = f"unclear ({', '.join(problems)}; exit {proc.returncode}): {shown}"
    return outcome


def run_case(case: Case, lab: Lab) -> Outcome:
    """Run one case in its own directory and judge what the user saw and what was stored."""
    case_dir = lab.root / "cases" / case.name
    case_dir.mkdir(parents=True)
    shutil.copyfile(lab.template, case_dir / "odoosync.db")
    (case_dir / "odoosync.db").chmod(0o600)
    (case_dir / "odoosync.toml").write_text(CONFIG, encoding="utf-8")
    mounted = case.needs == "root"
    try:
        if case.needs == "root" and not lab.as_root:
            return Outcome(case.name, skipped="needs root (tmpfs)")
        if case.needs == "tls" and lab.tls is None:
            return Outcome(case.name, skipped="needs openssl (self-signed certificate)")
        if case.needs == "odoo17" and lab.odoo17 is None:
            return Outcome(case.name, skipped="no Odoo 17 simulator in this run")
        try:
            if case.prepare is not None:
                case.prepare(case_dir, lab)
        except _Skip as exc:
            return Outcome(case.name, skipped=str(exc))
        before = _snapshot(case, case_dir)
        during = case.during(case_dir, lab) if case.during else contextlib.nullcontext()
        with during:
            args = [_format(a, case_dir, lab) for a in case.args]
            proc = odoosync(
                case_dir, *args, input=case.input, env=_environment(case.env), timeout=120
            )
        outcome = _judge(case, proc)
        if _snapshot(case, case_dir) != before:
            outcome.changed = True
            outcome.detail = (outcome.detail + "; " if outcome.detail else "") + "data changed"
        outcome.clear = not (outcome.unclear or outcome.crashed or outcome.changed)
        return outcome
    finally:
        if mounted:
            _unmount(case_dir / "fs")


# --------------------------------------------------------------------------- interrupted prepare


def interrupted_prepare(lab: Lab, number: int) -> Outcome:
    """Kill ``prepare`` at a random moment; status, step and a new prepare must then work."""
    name = f"interrupted-prepare-{number}"
    case_dir = lab.root / "cases" / name
    case_dir.mkdir(parents=True)
    shutil.copyfile(lab.template, case_dir / "odoosync.db")
    (case_dir / "odoosync.db").chmod(0o600)
    (case_dir / "odoosync.toml").write_text(CONFIG, encoding="utf-8")
    env = _environment({})
    outcome = Outcome(name)
    # The slow server makes a prepare last a second or two; the kill lands anywhere in it.
    lab.slow.set_latency(PREPARE_LATENCY)
    proc = subprocess.Popen(
        odoosync_command(case_dir, "prepare", "--user", "carl"),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(lab.rng.uniform(0.5, 1.5))
    outcome.midway = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    lab.slow.set_latency(0)
    problems: list[str] = []

    def must_work(*args: str) -> subprocess.CompletedProcess[str]:
        done = odoosync(case_dir, *args, env=env, input="", timeout=300)
        if done.returncode != 0 or "Traceback" in done.stderr:
            problems.append(f"`{' '.join(args)}` exit {done.returncode}: {done.stderr.strip()}")
        return done

    must_work("status", "--user", "carl")
    # Either the plan was committed (step works it) or it was not (step says to prepare).
    must_work("step", "--user", "carl")
    if '"syncStatus": "not_started"' in must_work("status", "--user", "carl", "--json").stdout:
        must_work("prepare", "--user", "carl")
        must_work("step", "--user", "carl")
    final = must_work("status", "--user", "carl", "--json").stdout
    if '"syncStatus": "done"' not in final:
        problems.append("the sync did not end done after the kill")
    diff = mirror_diff(settings_for(case_dir, CONFIG), "carl", lab.store)
    if not diff.exact:
        outcome.changed = True
        problems.append(f"mirror differs: {diff.examples[:3]}")
    if problems:
        outcome.crashed = any("Traceback" in p for p in problems)
        outcome.unclear = not outcome.crashed and not outcome.changed
        outcome.detail = "; ".join(problems)[:600]
    outcome.clear = not problems
    return outcome


# --------------------------------------------------------------------------- the campaign


def _one(case: Case, lab: Lab) -> list[Outcome]:
    return [run_case(case, lab)]


def _simulators(store: SimStore, scale: Scale) -> tuple[Simulator, Simulator, Simulator | None]:
    users = [
        SimUser(ADMIN_UID, ADMIN_LOGIN, ADMIN_NAME, ADMIN_PASSWORD, ADMIN_KEY),
        SimUser(
            DEMO_UID,
            DEMO_LOGIN,
            DEMO_NAME,
            DEMO_PASSWORD,
            default_api_key(DATABASE, DEMO_LOGIN),
            employee_public_only=True,
            denied_models=frozenset({DENIED_MODEL}),
        ),
    ]
    served = SimDatabase(DATABASE, store, users=users)
    sim = start_simulator(databases={DATABASE: served})
    slow = start_simulator(databases={DATABASE: served})
    odoo17 = start_simulator(records=30, odoo_version=17) if scale == "long" else None
    return sim, slow, odoo17


def _template(root: Path, sim: Simulator, slow: Simulator) -> Path:
    directory = root / "template"
    directory.mkdir()
    settings: Settings = settings_for(directory, CONFIG)
    common = {"database": DATABASE}
    engine.user_add(
        settings,
        name="alice",
        url=sim.url,
        login=ADMIN_LOGIN,
        secret=NewSecret(SecretStr(ADMIN_KEY)),
        **common,
    )
    engine.user_add(
        settings,
        name="dora",
        url=sim.url,
        login=DEMO_LOGIN,
        secret=NewSecret(SecretStr(DEMO_PASSWORD)),
        protocol="jsonrpc",
        **common,
    )
    with mock.patch.dict(os.environ, {SECRET_ENV: ADMIN_KEY}):
        engine.user_add(
            settings,
            name="envy",
            url=sim.url,
            login=ADMIN_LOGIN,
            secret=NewSecret(env=SECRET_ENV),
            **common,
        )
    engine.user_add(
        settings,
        name="rita",
        url=sim.url,
        login=ADMIN_LOGIN,
        secret=NewSecret(SecretStr(REVOKED_KEY)),
        check=False,
        **common,
    )
    engine.user_add(
        settings,
        name="carl",
        url=slow.url,
        login=ADMIN_LOGIN,
        secret=NewSecret(SecretStr(ADMIN_KEY)),
        **common,
    )
    engine.prepare(settings, users=["alice"])
    engine.step(settings, users=["alice"], max_pages=2)
    return settings.db_path


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """Run every case (the short scale: a subset), and count what a user would have seen."""
    result = CampaignResult("badinput")
    rng = random.Random(seed)
    records = 150 if scale == "short" else 400
    store = build_store(records, seed=seed)
    sim, slow, odoo17 = _simulators(store, scale)
    tls: TlsProxy | None = None
    try:
        certificate = self_signed_certificate(workdir)
        if certificate is not None:
            tls = TlsProxy(*certificate, target_port=int(sim.url.rsplit(":", 1)[1]))
        lab = Lab(
            root=workdir,
            sim=sim,
            slow=slow,
            template=_template(workdir, sim, slow),
            store=store,
            rng=rng,
            tls=tls,
            odoo17=odoo17,
            as_root=os.geteuid() == 0 and shutil.which("mount") is not None,
        )
        chosen = [c for c in cases() if scale == "long" or c.short]
        # The locked case waits out SQLite's busy timeout: start it first, beside the others.
        chosen.sort(key=lambda c: c.during is not _locked)
        kills = 1 if scale == "short" else 5

        def interrupted() -> list[Outcome]:
            # The kills take turns on the slow server, so they share one worker.
            return [interrupted_prepare(lab, n + 1) for n in range(kills)]

        jobs: list[Callable[[], list[Outcome]]] = [partial(_one, c, lab) for c in chosen]
        jobs.insert(1, interrupted)
        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = [o for done in pool.map(lambda job: job(), jobs) for o in done]
    finally:
        if tls is not None:
            tls.close()
        for server in (sim, slow, odoo17):
            if server is not None:
                server.stop()
        store.close()
    ran = [o for o in outcomes if o.skipped is None]
    result.figures.update(
        cases=len(ran),
        clear=sum(o.clear for o in ran),
        unclear=sum(o.unclear for o in ran),
        crashed=sum(o.crashed for o in ran),
        differing=sum(o.changed for o in ran),
        skipped=len(outcomes) - len(ran),
        prepare_kills_midway=sum(o.midway for o in ran),
    )
    result.failures.extend(f"{o.case}: {o.detail}" for o in ran if not o.clear)
    return result

"""A throwaway PostgreSQL server for the tests, the torture campaigns and the benchmarks.

Like the Odoo simulator, this is tooling shipped beside the engine, not part of it: it runs
``initdb`` into a fresh temporary directory, starts ``postgres`` on a free loopback port (and a
socket in that directory), and removes everything when stopped. Nothing is shared with a
PostgreSQL the machine may already run.

PostgreSQL refuses to run as root. Run as root (CI does), the cluster belongs to an
unprivileged account instead: ``postgres`` when Debian's package made one, else an account
created for the purpose. The server binaries come from ``ODOOSYNC_PG_BIN``, ``pg_config``,
Debian's ``/usr/lib/postgresql/<version>/bin`` or ``PATH``; ``scripts/test`` installs Debian's
``postgresql`` package when none is found.

The settings trade durability for speed (``fsync = off``): a killed client, a restarted or
crashed server process all behave as in production; only a machine crash would lose data, and
the data are disposable. ``synchronous_commit`` stays on: with it off, a server stopped with
``-m immediate`` could forget a commit it had acknowledged, which a restart test would misread as
a record lost by the client.

``python -m odoo_sync_cli.pgcluster`` starts one, prints its URL as a JSON line and serves
until interrupted.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ACCOUNT_ENV = "ODOOSYNC_PG_ACCOUNT"
BIN_ENV = "ODOOSYNC_PG_BIN"
FALLBACK_ACCOUNT = "odoosync-pg"
SUPERUSER = "odoosync"

# Fast and disposable; `log_min_messages` keeps the log short, the log is shown when start fails.
SERVER_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "listen_addresses": "'127.0.0.1'",
}


class ClusterError(RuntimeError):
    """The throwaway server could not be found, set up or started."""


def find_bindir() -> Path:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[str] = []
    if os.environ.get(BIN_ENV):
        candidates.append(os.environ[BIN_ENV])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(out.stdout.strip())
    candidates.extend(
        sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        path = Path(candidate)
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    raise ClusterError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found; install Debian's "
        f"`postgresql` package (scripts/test does it when run as root) or set {BIN_ENV}"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_account() -> str | None:
    """The account the server runs as: None for the current one, unless that is root."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get(ACCOUNT_ENV)
    for name in [wanted] if wanted else ["postgres", FALLBACK_ACCOUNT]:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    if wanted:
        raise ClusterError(f"{ACCOUNT_ENV} names account {wanted!r}, which does not exist")
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                FALLBACK_ACCOUNT,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterError(
            f"PostgreSQL refuses to run as root, and creating the account {FALLBACK_ACCOUNT} "
            f"failed ({exc}); create an unprivileged account and name it in {ACCOUNT_ENV}"
        ) from exc
    return FALLBACK_ACCOUNT


@dataclass
class Cluster:
    """A running throwaway server; :meth:`stop` (or the context manager) removes it."""

    bindir: Path
    root: Path
    port: int
    password: str
    account: str | None
    superuser: str = SUPERUSER
    _stopped: bool = field(default=False, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        """A libpq URL of this server as the superuser, over TCP on loopback."""
        auth = f"{self.superuser}:{quote(self.password, safe='')}" if password else self.superuser
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=self.account,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            cwd=self.root,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise ClusterError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-1500:]}\n{log}"
            )
        return result

    def pg_ctl(self, *args: str, timeout: float = 120) -> None:
        """Run ``pg_ctl`` on this cluster (``start``, ``stop``, ``restart``...)."""
        options = f"-p {self.port} -k {self.socket_dir}"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            *args,
            timeout=timeout + 10,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self) -> None:
        """Stop the server at once and delete its directory."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ClusterError, OSError, subprocess.SubprocessError):
            self.pg_ctl("stop", "-m", "immediate", timeout=60)
        self._kill_leftover()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftover(self) -> None:
        pidfile = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster(*, base: Path | None = None) -> Cluster:
    """initdb and start a new server; the caller stops it (``with start_cluster() as c:``)."""
    bindir = find_bindir()
    account = server_account()
    root = Path(tempfile.mkdtemp(prefix="odoosync-pg.", dir=base))
    password = secrets.token_urlsafe(18)
    cluster = Cluster(
        bindir=bindir, root=root, port=_free_port(), password=password, account=account
    )
    try:
        cluster.socket_dir.mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        os.chmod(root, 0o700)
        if account is not None:
            entry = pwd.getpwnam(account)
            for path in (root, cluster.socket_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cluster._run(
            str(bindir / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        with (cluster.data / "postgresql.conf").open("a") as conf:
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = {value}\n")
        last: ClusterError | None = None
        for _ in range(3):  # the free port can be taken between choosing and binding it
            try:
                cluster.start()
                break
            except ClusterError as exc:
                last = exc
                cluster.port = _free_port()
        else:
            assert last is not None
            raise last
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    with start_cluster() as running:
        yield running


def main() -> None:
    try:
        running = start_cluster()
    except ClusterError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print(json.dumps({"url": running.url(), "port": running.port}), flush=True)
        while not stop:
            time.sleep(0.2)
    finally:
        running.stop()


if __name__ == "__main__":
    main()

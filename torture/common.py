"""What the campaigns share: results, running odoosync, and comparing the mirror with the server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from odoo_sync_cli.config import Settings, load_settings
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.store import Store

Scale = Literal["short", "long"]

# Figures that must be 0 in every campaign, whatever else it counts.
ZERO_FIGURES = ("lost", "duplicated", "differing", "leaked", "crashed", "unclear")


@dataclass
class CampaignResult:
    """One campaign's figures; ``ok`` when every must-be-zero figure is 0 and nothing failed."""

    name: str
    figures: dict[str, int | float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        zero = all(self.figures.get(k, 0) == 0 for k in ZERO_FIGURES)
        return zero and not self.failures

    def line(self) -> str:
        shown = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.figures.items()
        )
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name:<12} {verdict:<6} {shown}"


@dataclass
class MirrorDiff:
    """How one user's mirror differs from the server's data, per record."""

    records: int = 0
    lost: int = 0
    duplicated: int = 0
    extra: int = 0
    differing: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.extra or self.differing)

    def add(self, other: MirrorDiff) -> None:
        self.records += other.records
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.extra += other.extra
        self.differing += other.differing
        self.examples.extend(other.examples[: max(0, 10 - len(self.examples))])


def settings_for(workdir: Path, config_text: str) -> Settings:
    """Settings from a TOML text in ``workdir``, with the mirror at ``workdir/odoosync.db``."""
    config = workdir / "odoosync.toml"
    config.write_text(config_text, encoding="utf-8")
    return load_settings(config, db=workdir / "odoosync.db")


def odoosync(
    workdir: Path,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the odoosync command line with workdir's settings and database."""
    command = [
        sys.executable,
        "-m",
        "odoo_sync_cli",
        "--config",
        str(workdir / "odoosync.toml"),
        "--db",
        str(workdir / "odoosync.db"),
        *args,
    ]
    return subprocess.run(
        command,
        input=input,
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def odoosync_command(workdir: Path, *args: str) -> list[str]:
    """The argv of :func:`odoosync`, for a subprocess the caller manages (to kill it, say)."""
    return [
        sys.executable,
        "-m",
        "odoo_sync_cli",
        "--config",
        str(workdir / "odoosync.toml"),
        "--db",
        str(workdir / "odoosync.db"),
        *args,
    ]


def mirror_diff(settings: Settings, user: str, server: SimStore) -> MirrorDiff:
    """Compare every module of ``user``'s mirror with the simulator's stored records.

    The server side comes straight from the simulator's store (``exact_rows``), not through the
    API odoosync reads with, so a bug in that path cannot hide itself.
    """
    diff = MirrorDiff()
    with Store.open(settings.db_path) as store:
        for module in settings.for_user(user).modules:
            try:
                mine = store.read_records(user, module.table)
            except Exception:  # a module never synced has no table: everything is lost
                mine = []
            duplicates = _duplicate_ids(settings.db_path, module.table, user)
            ids = set(
                server.search(module.model, module.domain_list(), context={"active_test": False})
            )
            theirs = {row["id"]: row for row in server.exact_rows(module.model) if row["id"] in ids}
            seen = {row["id"]: row for row in mine}
            diff.records += len(theirs)
            diff.duplicated += duplicates
            for rid in theirs.keys() - seen.keys():
                diff.lost += 1
                if len(diff.examples) < 10:
                    diff.examples.append(f"{module.model} {rid} missing from the mirror")
            for rid in seen.keys() - theirs.keys():
                diff.extra += 1
                if len(diff.examples) < 10:
                    diff.examples.append(f"{module.model} {rid} in the mirror, not on the server")
            for rid in seen.keys() & theirs.keys():
                a, b = seen[rid], theirs[rid]
                wrong = [f for f in a if f in b and a[f] != b[f]]
                if wrong:
                    diff.differing += 1
                    if len(diff.examples) < 10:
                        diff.examples.append(
                            f"{module.model} {rid}: "
                            + ", ".join(f"{f} {a[f]!r} != {b[f]!r}" for f in wrong[:3])
                        )
    return diff


def _duplicate_ids(db: Path, table: str, user: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            f'SELECT COUNT(*) FROM (SELECT id FROM "{table}" WHERE user = ? '
            "GROUP BY id HAVING COUNT(*) > 1)",
            (user,),
        ).fetchone()
        return int(row[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def dump_database(path: Path) -> str:
    """Everything stored in a SQLite file, as SQL text; '' when there is no file."""
    if not path.exists():
        return ""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def count_hits(secret: str, texts: Sequence[str | bytes]) -> int:
    """How many of ``texts`` contain ``secret``."""
    needle = secret.encode()
    hits = 0
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        if needle in data:
            hits += 1
    return hits


def scale_pick(scale: Scale, short: Any, long: Any) -> Any:
    return short if scale == "short" else long


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then closed at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A throw-away certificate and key for 127.0.0.1 made by openssl; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    made = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return (cert, key) if made.returncode == 0 and cert.exists() else None


class TlsProxy:
    """HTTPS on loopback with a self-signed certificate, relaying bytes to a plain-HTTP port.

    It stands for an Odoo behind a proxy whose certificate nobody trusts: a client that verifies
    certificates must refuse it, one told not to verify gets the simulator's answers.
    """

    def __init__(self, cert: Path, key: Path, target_port: int) -> None:
        self.target_port = target_port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: Any) -> None:
        try:
            client.settimeout(10)
            tls = self._context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()  # the client refused the certificate: exactly what should happen
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)

        def pump(src: Any, dst: Any) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
        back.start()
        pump(tls, upstream)
        back.join(timeout=30)
        tls.close()
        upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TlsProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

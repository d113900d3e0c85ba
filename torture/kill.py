"""Campaign 1, kill: SIGKILL a syncing odoosync at random moments, resume, compare.

Two users (``alice`` over JSON-2, ``bob`` over JSON-RPC) mirror the four default modules of two
simulated databases (about 50,000 records in the long run). The simulator runs in this process,
odoosync in subprocesses: ``loop --once`` in some cycles, ``prepare --user`` then ``step`` in
others. A *cycle* is one sync of both users, a full one from an empty mirror or an incremental
one after changes on the server: edits, bulk creates sharing one write_date, deletes and
archives of records already mirrored (records of the campaign's own, created before the first
cycle, that nothing points at), mirrored invoices leaving the filter (and, a cycle later,
coming back), and creates committed later than the look-back. Each cycle aims a few kills at
the phases of a sync, in the order they come, restarting odoosync after each:

- **prepare**: after a random number of the requests a prepare makes before its plan is saved;
- **fetch**: after a random number of data pages, at a random instant (latency makes pages slow);
- **commit**: after a random number of large pages, the moment the process starts writing the
  next one to the database (a small watcher process reads its write counter in /proc; pages
  of 1,000 to 2,000 records make a commit last a millisecond or more), in full syncs and in
  incremental ones, where reconcile cannot repair a lost page;
- **reconcile**: once the database shows a reconcile batch running, after a random number of
  its id pages.

Where a kill really landed is read from what it left, not assumed from its aim: a write-ahead
log whose tail holds valid frames after its last commit frame means the process died inside a
transaction (``commit``); a user still ``not_started``, inside prepare; else a running
reconcile or data batch (``reconcile``, ``fetch``), or none of these (``other``: between two
users, or finishing). An aim whose phase ended before the kill came is counted as ``missed``.
After the last kill of a cycle odoosync runs to the end, and the mirror of both users is
compared with the simulator's stored rows (``mirror_diff``: every field, the expected records
chosen by the harness's own filter, the mirror read with plain SQL), what reconcile restored is
checked against the late commits of the cycle (``restored``: any other record it had to read
back was lost by a data page), the progress counters are checked (no page counted twice) and
the database passes ``PRAGMA quick_check``.

On PostgreSQL (``--backend postgresql``) the same cycles run against a schema of a throwaway
server. A commit is aimed at from the server's side: the harness watches ``pg_stat_activity``
for the killed process's sessions (named by ``PGAPPNAME``) and kills the process while one of
them holds a transaction that has written (``backend_xid`` set: a page's rows, and its cursor,
not yet committed), after letting a random number of such transactions pass; a kill seen to
land there counts as ``commit``. The server rolls the transaction back when the connection
goes; there is no file to check, so ``quick_check`` is SQLite's alone.

Both users keep history (``bob`` in most cycles
only, so that history also starts over a mirror, and over versions a pause left stale, with
kills landing there too): after each cycle the history of each user that keeps it must agree
with the mirror (``history_diff``: one current version per live row with its values, none for
a row gone, versions that never overlap).

Every cycle also works a user's batches several at once: ``bob`` with 2 to 4 streams, ``alice``
with 1 to 4 (``streams`` in the settings, drawn per cycle), so each kill also lands among
pages of several batches in flight, and the next run resumes every batch from its own cursor.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.testing import Simulator, start_simulator
from torture.common import (
    READS,
    CampaignResult,
    MirrorDiff,
    Scale,
    Where,
    history_diff,
    live_ids,
    mirror_diff,
    odoosync,
    odoosync_command,
    settings_for,
    where,
)

USERS = {"alice": ("east", "auto"), "bob": ("west", "jsonrpc")}
KINDS = ("prepare", "fetch", "commit", "reconcile", "other")


@dataclass(frozen=True)
class Shape:
    """How big a run is."""

    partners: int  # per database; orders, invoices and employees follow in proportion
    full_cycles: int
    incremental_cycles: int
    full_aims: tuple[str, ...]
    incremental_aims: tuple[str, ...]
    latency: float
    changes: int  # records written per database before an incremental cycle
    # Page sizes a cycle with commit kills picks from: a commit is hit only while it writes
    # a large page (200 records or more), and batches of several pages count each record once.
    commit_pages: tuple[int, ...]


SHAPES: dict[str, Shape] = {
    "short": Shape(
        partners=1000,
        full_cycles=1,
        incremental_cycles=1,
        full_aims=("prepare", "commit", "fetch"),
        incremental_aims=("prepare", "commit", "reconcile"),
        latency=0.01,
        changes=150,
        commit_pages=(1000, 2000, 2000),
    ),
    "long": Shape(
        partners=24_000,
        full_cycles=5,
        incremental_cycles=9,
        full_aims=(
            "prepare",
            "fetch",
            "commit",
            "fetch",
            "commit",
            "fetch",
            "commit",
            "fetch",
            "commit",
            "commit",
            "reconcile",
            "reconcile",
        ),
        incremental_aims=("prepare", "fetch", "commit", "reconcile", "reconcile"),
        latency=0.01,
        changes=2500,
        commit_pages=(1000, 2000, 2000),
    ),
}

CONFIG = """\
page_size = {page_size}
batch_size = {batch_size}
id_page_size = {id_page_size}
lookback = "15m"
reconcile = "every"
hard_delete = {hard_delete}
history = true
streams = {alice_streams}

[users.bob]
history = {bob_history}
streams = {bob_streams}

[http.retry]
attempts = 3
wait_initial = 0.05
wait_max = 0.2
wait_jitter = 0.05
"""


# --------------------------------------------------------------------------- the write-ahead log

_WAL_MAGIC = (0x377F0682, 0x377F0683)


def _wal_checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def wal_uncommitted_frames(wal: Path) -> int:
    """Valid frames after the last commit frame of a SQLite write-ahead log.

    Frames a transaction writes before its commit frame (a cache spill, or a commit cut short)
    chain their checksums on from the last committed frame; SQLite ignores them on recovery.
    Finding any means the writer died inside a transaction. Frames left from an older log
    generation (other salts) or a rolled-back transaction (a broken chain) do not count.
    """
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 32:
        return 0
    magic, _, page_size, _, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    if magic not in _WAL_MAGIC or page_size < 512:
        return 0
    big_endian = bool(magic & 1)
    frame_size = 24 + page_size
    frames = (len(data) - 32) // frame_size
    last_commit = -1
    sums = (c1, c2)
    matching = 0
    for i in range(frames):
        at = 32 + i * frame_size
        _, commit_size, f_salt1, f_salt2, f_c1, f_c2 = struct.unpack(">6I", data[at : at + 24])
        if (f_salt1, f_salt2) != (salt1, salt2):
            break
        matching = i + 1
        if commit_size:
            last_commit = i
            sums = (f_c1, f_c2)
    uncommitted = 0
    s0, s1 = sums
    for i in range(last_commit + 1, matching):
        at = 32 + i * frame_size
        header = data[at : at + 24]
        s0, s1 = _wal_checksum(header[:8], s0, s1, big_endian)
        s0, s1 = _wal_checksum(data[at + 24 : at + frame_size], s0, s1, big_endian)
        if struct.unpack(">2I", header[16:24]) != (s0, s1):
            break
        uncommitted += 1
    return uncommitted


# --------------------------------------------------------------------------- watching a run

# Run as ``python -S -c WRITE_WATCHER <pid>``, then write ``<skip> <delay>`` to its stdin when
# the watching should begin (it is started early, so that it is ready then). It watches what
# ``pid`` writes; a *burst* is 48 KiB within half a millisecond (a large transaction's log
# frames, or a checkpoint; never a request or a small commit) and lasts until writing pauses
# for 5 ms. It lets ``skip`` bursts pass, then, as the next one starts, sleeps ``delay`` and
# sends SIGKILL to ``pid``. Linux only (/proc/<pid>/io); it ends by itself when ``pid`` is gone.
WRITE_WATCHER = """
import os, signal, sys, time
pid = int(sys.argv[1])
go = sys.stdin.readline().split()
if not go:
    sys.exit()
skip, delay = int(go[0]), float(go[1])
def written():
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0
try:
    now = (time.monotonic(), written())
    recent, last_write, bursts, in_burst = [now], now[0], 0, False
    while True:
        previous, now = now, (time.monotonic(), written())
        if now[1] != previous[1]:
            last_write = now[0]
        recent = [r for r in recent if r[0] > now[0] - 0.0005] + [now]
        if not in_burst and now[1] - recent[0][1] >= 49152:
            if bursts == skip:
                if delay:
                    time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
                break
            bursts, in_burst = bursts + 1, True
        elif in_burst and now[0] - last_write > 0.005:
            in_burst = False
        time.sleep(0.00005)
except (FileNotFoundError, ProcessLookupError):
    pass
"""


class Watch:
    """Read-only looks at the odoosync database while a process works on it."""

    def __init__(self, place: Where) -> None:
        self.place = place

    def close(self) -> None:
        pass

    def statuses(self) -> dict[str, str]:
        return dict(self.place.query("SELECT name, status FROM _odoosync_users")[1])

    def batches(self) -> list[dict[str, Any]]:
        names, rows = self.place.query(
            'SELECT "user", kind, status, cursor, synced, expected, pages FROM _odoosync_batches'
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def running(self, reconcile: bool) -> bool:
        kind = "= 'reconcile'" if reconcile else "!= 'reconcile'"
        _, rows = self.place.query(
            f"SELECT count(*) FROM _odoosync_batches WHERE status = 'running' AND kind {kind}"
        )
        return bool(rows[0][0])

    def pages_left(self, page_size: int, *, large: bool = False) -> int:
        """Data pages the current plans still expect, roughly; ``large``: only pages of 200
        records or more (those whose commit writes a burst a watcher can see)."""
        left = 0
        for b in self.batches():
            if b["kind"] != "reconcile" and b["status"] != "done":
                todo = max(0, b["expected"] - b["synced"])
                tail = todo % page_size
                left += todo // page_size + int(tail >= 200 if large else True)
        return left


def writing_transactions(conn: psycopg.Connection[Any], app: str) -> list[int]:
    """The transactions that have written, open now in the sessions named ``app``
    (PostgreSQL)."""
    rows = conn.execute(
        "SELECT backend_xid::text::bigint FROM pg_stat_activity "
        "WHERE application_name = %s AND backend_xid IS NOT NULL",
        (app,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _pages_served(sim: Simulator) -> int:
    return sum(len(sim.stats.pages(method=method)) for method in READS)


@dataclass
class Landing:
    """Where one kill landed, from what it left behind."""

    aim: str
    kind: str
    # SQLite: frames of the write-ahead log after its last commit; PostgreSQL: 1 when a
    # session of the killed process held a transaction that had written.
    wal_frames: int


@dataclass
class Tally:
    runs: int = 0
    exact: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    missed: int = 0
    diff: MirrorDiff = field(default_factory=MirrorDiff)
    miscounted: int = 0
    crashed: int = 0
    history: int = 0
    failures: list[str] = field(default_factory=list)


class KillRun:
    """One campaign: a simulator, a work directory, two users and a random source."""

    def __init__(self, scale: Scale, workdir: Path, seed: int) -> None:
        self.shape = SHAPES[scale]
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.seed = seed
        self.tally = Tally()
        self.page_size = 500
        self.id_page_size = max(500, self.shape.partners // 10)
        self.preparing = 0
        self.landings: list[Landing] = []
        self.settings: Settings | None = None
        self.created: dict[tuple[str, str], list[int]] = {}
        # Per database: invoices of ours that left the filter (they come back in a later cycle).
        self.left_filter: dict[str, list[int]] = {}
        # This cycle: records committed later than the look-back, and each user's live ids
        # before it began (what reconcile may restore, see mirror_diff).
        self.late: set[tuple[str, int]] = set()
        self.before: dict[str, dict[str, set[int]]] = {}
        self.where = where(workdir)
        self.killed_in_transaction = False
        self.processes = 0
        # alice keeps history always; bob now and then, so that history starts over a mirror
        # (and over versions a pause left stale) in the middle of the campaign, kills included.
        self.bob_history = True
        # Streams per user this cycle (bob's always more than one), and cycles run so.
        self.streams = {"alice": 1, "bob": 2}
        self.streamed = 0

    @property
    def db(self) -> Path:
        return self.workdir / "odoosync.db"

    # ---- setup

    def write_settings(self, page_size: int) -> Settings:
        self.page_size = page_size
        self.settings = settings_for(
            self.workdir,
            CONFIG.format(
                page_size=page_size,
                # Several id ranges per model even in the short run: their bounds are tested too.
                batch_size=max(400, self.shape.partners // 5),
                id_page_size=self.id_page_size,
                # Reconcile either marks rows gone or deletes them: kill it both ways.
                hard_delete=str(self.rng.random() < 0.3).lower(),
                bob_history=str(self.bob_history).lower(),
                alice_streams=self.streams["alice"],
                bob_streams=self.streams["bob"],
            ),
        )
        return self.settings

    def add_users(self, sim: Simulator) -> None:
        assert self.settings is not None
        for name, (database, protocol) in USERS.items():
            creds = sim.credentials(database)
            engine.user_add(
                self.settings,
                name=name,
                url=creds.url,
                database=creds.database,
                login=creds.login,
                protocol=protocol,
                secret=NewSecret(SecretStr(creds.api_key)),
            )

    # ---- changes between cycles

    def seed_own(self, sim: Simulator) -> None:
        """Records of our own, created before the first (full) cycle so that the cycles after it
        delete, archive and filter out records that are already mirrored. Nothing points at
        them, so changing them leaves no other record stale."""
        n = self.shape.changes
        for database in ("east", "west"):
            partners = sim.create(
                "res.partner",
                [{"name": f"Own {i}", "email": f"own{i}@example.com"} for i in range(n // 5)],
                database=database,
            )
            self.created.setdefault((database, "res.partner"), []).extend(partners)
            invoices = sim.create(
                "account.move",
                [{"name": f"OWN/{i}", "move_type": "out_invoice"} for i in range(max(4, n // 25))],
                database=database,
            )
            self.created.setdefault((database, "account.move"), []).extend(invoices)

    def change(self, sim: Simulator) -> None:
        """Change records on both servers before an incremental cycle (none while it runs)."""
        rng = self.rng
        n = self.shape.changes
        for database in ("east", "west"):
            store = sim.stores[database]
            partners = store.ids("res.partner")
            edited = rng.sample(partners, min(len(partners), n))
            while edited:
                # Several records per transaction: they share one write_date.
                size = rng.randint(1, 40)
                group, edited = edited[:size], edited[size:]
                sim.write(
                    "res.partner",
                    group,
                    {"phone": f"+1 555 {rng.randrange(10**7):07d}"},
                    database=database,
                )
            orders = store.ids("sale.order")
            sim.write(
                "sale.order",
                rng.sample(orders, min(len(orders), max(1, n // 20))),
                {"client_order_ref": f"PO-{rng.randrange(10**6)}"},
                database=database,
            )
            employees = store.ids("hr.employee")
            sim.write(
                "hr.employee",
                rng.sample(employees, min(len(employees), max(1, n // 50))),
                {"work_phone": f"+1 555 {rng.randrange(10**7):07d}"},
                database=database,
            )
            # A bulk import: one transaction, one write_date for all of them.
            bulk = sim.create(
                "res.partner",
                [{"name": f"Import {i}", "email": f"i{i}@example.com"} for i in range(n // 10)],
                database=database,
            )
            mine = self.created.setdefault((database, "res.partner"), [])
            mine.extend(bulk)
            invoices = sim.create(
                "account.move",
                [
                    {"name": f"INV/{rng.randrange(10**6)}", "move_type": "out_invoice"}
                    for _ in range(max(2, n // 50))
                ],
                database=database,
            )
            self.created.setdefault((database, "account.move"), []).extend(invoices)
            # Some of ours go: deleted, archived, archived back, or out of the invoice filter.
            fresh = set(bulk)
            old = [i for i in mine if i not in fresh]
            if old:
                gone = rng.sample(old, min(len(old), max(1, n // 30)))
                sim.unlink("res.partner", gone, database=database)
                for rid in gone:
                    mine.remove(rid)
                left = [i for i in mine if i not in fresh]
                archived = rng.sample(left, min(len(left), max(1, n // 30)))
                sim.archive("res.partner", archived, database=database)
                back = archived[: len(archived) // 2]
                if back:
                    sim.unarchive("res.partner", back, database=database)
            # Mirrored invoices of ours leave the filter; those that left before come back.
            mine_inv = self.created[(database, "account.move")]
            fresh_inv = set(invoices)
            old_inv = [i for i in mine_inv if i not in fresh_inv]
            moved = rng.sample(old_inv, min(len(old_inv), max(1, n // 100)))
            sim.write("account.move", moved, {"move_type": "entry"}, database=database)
            for rid in moved:
                mine_inv.remove(rid)
            back = self.left_filter.get(database, [])
            if back:
                sim.write("account.move", back, {"move_type": "out_refund"}, database=database)
                mine_inv.extend(back)
            self.left_filter[database] = moved
            # Created by a transaction that began two hours ago: only reconcile can find them.
            late = sim.late_commit(
                "res.partner",
                seconds_ago=7200,
                vals_list=[{"name": f"Late {i}"} for i in range(max(1, n // 100))],
                database=database,
            )
            mine.extend(late)
            self.late.update(("res.partner", rid) for rid in late)

    # ---- driving odoosync

    def statuses(self) -> dict[str, str]:
        return Watch(self.where).statuses()

    def next_command(self, driver: str) -> list[str] | None:
        """What to run next to move the cycle on, or None when both users are done."""
        statuses = self.statuses()
        if all(s == "done" for s in statuses.values()):
            return None
        if driver == "loop":
            return ["loop", "--once", "--interval", "0.2", "--workers", "2", "--quiet"]
        waiting = sorted(u for u, s in statuses.items() if s == "not_started")
        if waiting:
            return ["prepare", "--user", waiting[0]]
        return ["step"]

    def resume(self, driver: str, label: str) -> bool:
        """Run odoosync to the end of the cycle; False (and a failure noted) if it cannot."""
        for _ in range(8):
            command = self.next_command(driver)
            if command is None:
                return True
            done = odoosync(self.workdir, *command, timeout=600)
            if done.returncode != 0:
                self.tally.crashed += 1
                last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
                self.tally.failures.append(
                    f"{label}: `odoosync {' '.join(command)}` exit {done.returncode}: {last}"
                )
                return False
        self.tally.failures.append(f"{label}: odoosync did not finish the cycle")
        return False

    def attempt(self, sim: Simulator, driver: str, aim: str, label: str, share: int = 1) -> str:
        """Start odoosync and kill it when ``aim`` comes: ``landed``, ``missed`` (the cycle
        ended first) or ``broken`` (odoosync failed; noted).

        ``share``: how many kills of this phase are still to come in the cycle, this one
        included; each takes a random point in its share of what is left of the phase.
        """
        for _ in range(4):
            command = self.next_command(driver)
            if command is None:
                return "missed"
            preparing = command[0] == "prepare" or (
                command[0] == "loop" and "not_started" in self.statuses().values()
            )
            if aim == "prepare" and not preparing:
                return "missed"
            if aim != "prepare" and command[0] == "prepare":
                # Not this aim's phase: let it plan undisturbed.
                done = odoosync(self.workdir, *command)
                if done.returncode != 0:
                    self.tally.crashed += 1
                    self.tally.failures.append(f"{label}: `odoosync {' '.join(command)}` failed")
                    return "broken"
                continue
            self.preparing = (
                1
                if command[0] == "prepare"
                else len([s for s in self.statuses().values() if s == "not_started"])
            )
            base_pages = _pages_served(sim)
            base_requests = sim.stats.count()
            stderr = self.workdir / "killed.stderr"
            self.processes += 1
            # libpq names the process's sessions by it (odoosync sets only a fallback name).
            self.app = f"odoosync-kill-{self.processes}"
            self.killed_in_transaction = False
            with open(stderr, "wb") as err:
                proc = subprocess.Popen(
                    odoosync_command(self.workdir, *command),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=dict(os.environ, PGAPPNAME=self.app),
                )
            watch = Watch(self.where)
            on_disk = aim == "commit" and not self.where.is_postgres
            watcher = self._start_watcher(proc) if on_disk else None
            try:
                killed = self._kill_at(
                    sim, proc, watch, aim, base_pages, base_requests, share, watcher
                )
                if killed:
                    landing = self._landing(aim, watch)
                    self.tally.kills[landing.kind] += 1
                    self.landings.append(landing)
                    return "landed"
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                if watcher is not None:
                    watcher.kill()
                    watcher.wait()
                    if watcher.stdin is not None:
                        watcher.stdin.close()
                watch.close()
            if proc.returncode != 0:
                self.tally.crashed += 1
                text = stderr.read_text(errors="replace").strip().splitlines()
                self.tally.failures.append(
                    f"{label}: `odoosync {' '.join(command)}` exit {proc.returncode}: "
                    + (text[-1] if text else "(no message)")
                )
                return "broken"
        return "missed"

    def _kill_at(
        self,
        sim: Simulator,
        proc: subprocess.Popen[bytes],
        watch: Watch,
        aim: str,
        base_pages: int,
        base_requests: int,
        share: int,
        watcher: subprocess.Popen[str] | None = None,
    ) -> bool:
        """Wait for the moment ``aim`` names and SIGKILL ``proc``; False if it ended first."""
        rng = self.rng
        deadline = time.monotonic() + 300
        target_pages: int | None = None
        target_requests: int | None = None
        reconcile_base: int | None = None
        while proc.poll() is None and time.monotonic() < deadline:
            delay: float | None = None
            if aim == "prepare":
                if target_requests is None:
                    target_requests = rng.randint(1, self.prepare_requests())
                if sim.stats.count() - base_requests >= target_requests:
                    delay = rng.uniform(0.0, self.shape.latency)
            elif aim in ("fetch", "commit"):
                if target_pages is None and watch.running(reconcile=False):
                    left = watch.pages_left(self.page_size, large=aim == "commit")
                    target_pages = rng.randint(1, max(1, left // share))
                if aim == "commit" and target_pages is not None and watcher is not None:
                    # Pages commit one by one: let a random number of their bursts pass.
                    return self._kill_on_write_burst(proc, watcher, target_pages - 1)
                if aim == "commit" and target_pages is not None and self.where.is_postgres:
                    return self._kill_in_transaction(proc, target_pages - 1)
                if target_pages is not None and _pages_served(sim) - base_pages >= target_pages:
                    delay = rng.uniform(0.0, 3 * self.shape.latency)
            elif aim == "reconcile":
                if reconcile_base is None and watch.running(reconcile=True):
                    reconcile_base = len(sim.stats.pages(method="search"))
                    target_pages = rng.randint(0, self.reconcile_pages() // share)
                if (
                    reconcile_base is not None
                    and target_pages is not None
                    and len(sim.stats.pages(method="search")) - reconcile_base >= target_pages
                ):
                    delay = rng.uniform(0.0, self.shape.latency)
            if delay is not None:
                time.sleep(delay)
                if proc.poll() is not None:
                    return False
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.003)
        return False

    def _start_watcher(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[str]:
        """A write watcher for ``proc`` (see WRITE_WATCHER), waiting for its go."""
        return subprocess.Popen(
            [sys.executable, "-S", "-c", WRITE_WATCHER, str(proc.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def _kill_on_write_burst(
        self, proc: subprocess.Popen[bytes], watcher: subprocess.Popen[str], skip: int
    ) -> bool:
        """SIGKILL ``proc`` while it writes a large transaction, after ``skip`` others.

        A large commit writes its log frames within a millisecond or two. A thread of this
        process would see that late (the simulator's threads hold the interpreter lock for
        longer), so a small watcher process of its own watches and sends the signal.
        """
        assert watcher.stdin is not None
        watcher.stdin.write(f"{skip} {self.rng.uniform(0.0, 0.0002):.6f}\n")
        watcher.stdin.flush()
        proc.wait(timeout=300)
        return proc.returncode == -signal.SIGKILL

    def _kill_in_transaction(self, proc: subprocess.Popen[bytes], skip: int) -> bool:
        """SIGKILL ``proc`` while one of its sessions holds a transaction that has written,
        after ``skip`` such transactions (PostgreSQL: seen in ``pg_stat_activity``)."""
        seen: set[int] = set()
        deadline = time.monotonic() + 300
        with psycopg.connect(self.where.db, autocommit=True) as conn:
            while proc.poll() is None and time.monotonic() < deadline:
                open_now = writing_transactions(conn, self.app)
                if open_now and len(seen | set(open_now)) > skip:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    self.killed_in_transaction = True
                    return True
                seen.update(open_now)
                time.sleep(0.001)
        return False

    def prepare_requests(self) -> int:
        """At most how many requests the users being prepared make before their plans are
        saved: connecting, then at least three calls per module."""
        return max(1, self.preparing) * (2 + 4 * 3)

    def reconcile_pages(self) -> int:
        """About how many id pages one user's reconcile of contacts lists."""
        return self.shape.partners // self.id_page_size + 1

    def _landing(self, aim: str, watch: Watch) -> Landing:
        if self.where.is_postgres:
            frames = int(self.killed_in_transaction)
        else:
            frames = wal_uncommitted_frames(self.db.with_name(self.db.name + "-wal"))
        if frames:
            return Landing(aim, "commit", frames)
        statuses = watch.statuses()
        if "not_started" in statuses.values():
            return Landing(aim, "prepare", 0)
        reconciling = watch.running(reconcile=True)
        fetching = watch.running(reconcile=False)
        if reconciling and (aim == "reconcile" or not fetching):
            return Landing(aim, "reconcile", 0)
        if fetching:
            return Landing(aim, "fetch", 0)
        return Landing(aim, "other", 0)

    # ---- checking

    def check(self, sim: Simulator, label: str) -> None:
        assert self.settings is not None
        exact = True
        for name, (database, _) in USERS.items():
            diff = mirror_diff(
                self.settings,
                name,
                sim.stores[database],
                late=self.late,
                before=self.before.get(name),
            )
            self.tally.diff.add(diff)
            if not diff.exact:
                exact = False
                self.tally.failures.append(f"{label} {name}: " + "; ".join(diff.examples[:3]))
        for user in engine.status(self.settings):
            if user.info.status != "done" or user.records_synced != user.records_expected:
                exact = False
                self.tally.miscounted += 1
                self.tally.failures.append(
                    f"{label} {user.info.name}: {user.info.status}, records synced "
                    f"{user.records_synced} of {user.records_expected} expected"
                )
        verdict = "ok"
        if not self.where.is_postgres:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
            try:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                conn.close()
        if verdict != "ok":
            exact = False
            self.tally.failures.append(f"{label}: the database fails quick_check: {verdict}")
        for name in ("alice", "bob") if self.bob_history else ("alice",):
            wrong, examples = history_diff(self.where, name)
            if wrong:
                exact = False
                self.tally.history += wrong
                self.tally.failures.append(f"{label} {name} history: " + "; ".join(examples[:3]))
        self.tally.runs += 1
        self.tally.exact += int(exact)

    # ---- the campaign

    def cycle(self, sim: Simulator, index: int, full: bool) -> None:
        shape = self.shape
        driver = "loop" if index % 2 == 0 else "step"
        label = f"cycle {index + 1} ({'full' if full else 'incremental'}, {driver})"
        aims = shape.full_aims if full else shape.incremental_aims
        # Commits last long enough to be hit only with large pages.
        page_size = self.rng.choice(shape.commit_pages) if "commit" in aims else 500
        if index > 0:
            self.bob_history = self.rng.random() < 0.7
        self.streams = {"alice": self.rng.randint(1, 4), "bob": self.rng.randint(2, 4)}
        self.streamed += 1
        settings = self.write_settings(page_size)
        self.late = set()
        if full:
            engine.clear(settings)
        else:
            self.change(sim)
        self.before = {name: live_ids(self.where, name) for name in USERS}
        engine.queue(settings)
        for i, aim in enumerate(aims):
            share = sum(1 for later in aims[i:] if _phase(later) == _phase(aim))
            outcome = self.attempt(sim, driver, aim, label, share)
            if outcome == "broken":
                self.tally.runs += 1
                return
            if outcome == "missed":
                self.tally.missed += 1
                self.landings.append(Landing(aim, "missed", 0))
        if self.resume(driver, label):
            self.check(sim, label)
        else:
            self.tally.runs += 1

    def run(self) -> CampaignResult:
        shape = self.shape
        self.write_settings(500)
        with start_simulator(
            databases={"east": shape.partners, "west": shape.partners},
            seed=self.seed,
            latency=shape.latency,
        ) as sim:
            self.add_users(sim)
            self.seed_own(sim)
            order = [True] * shape.full_cycles + [False] * shape.incremental_cycles
            # The first cycle must be full: an incremental one needs a mirror to start from.
            rest = order[1:]
            self.rng.shuffle(rest)
            for index, full in enumerate([order[0], *rest]):
                self.cycle(sim, index, full)
            records = sum(
                len(sim.stores[db].ids(m))
                for db in ("east", "west")
                for m in sim.stores[db].registry
            )
        t = self.tally
        figures: dict[str, int | float] = {
            "records": records,
            "runs": t.runs,
            "exact": t.exact,
            "kills": sum(t.kills.values()),
            **{f"k_{k}": t.kills[k] for k in KINDS},
            "missed": t.missed,
            "miscounted": t.miscounted,
            "lost": t.diff.lost,
            "duplicated": t.diff.duplicated,
            "differing": t.diff.differing,
            "extra": t.diff.extra,
            "restored": t.diff.restored,
            "history": t.history,
            "crashed": t.crashed,
            "streamed": self.streamed,
        }
        failures = list(t.failures)
        if t.exact != t.runs and not failures:
            failures.append(f"{t.runs - t.exact} runs not exact")
        return CampaignResult("kill", figures, failures)


def _phase(aim: str) -> str:
    return "data" if aim in ("fetch", "commit") else aim


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """The kill campaign (see the module docstring)."""
    return KillRun(scale, workdir, seed).run()


__all__ = ["run", "wal_uncommitted_frames"]

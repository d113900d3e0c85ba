"""Campaign 5, concurrency: several ``odoosync loop --once`` processes on one database.

Ten odoosync users, each on its own database of one simulator (so the simulator's page log tells
the users apart), are synced by two, then four, loop processes started together on one odoosync
database, with short slices so that users pass from process to process many times. Rounds: a
first sync, an incremental one after changes on every server database, and (long) a full resync
after ``clear``, so both kinds of plan meet contention.

What is counted, per round, at the simulator:

- **pages fetched twice** (the ``duplicated`` figure): a data page is one ``search_read`` or
  ``web_search_read`` (Odoo 17 and later) ordered by ``id asc`` (a batch page, or reconcile's
  read of missing ids); it is fetched twice when the same request (database, model, domain,
  fields, order, limit, offset) was answered more than once in the round. Id listings
  (``search``) are not data pages: prepare and reconcile legitimately list the same ids once
  each.
- **plans made twice**: prepare reads each module's newest ``write_date`` exactly once
  (``search_read`` ordered ``write_date desc``, limit 1); two of those for one user in a round
  mean two processes planned the same sync.

And at the processes: every one exits 0 with no traceback and no "database is locked" in its
output, and ``status`` read over and over meanwhile (as a monitoring script would) never fails
(``crashed`` counts the processes and reads that do); every user ends ``done``, and every mirror
equals its server database record by record.

The users work 1 to 4 of their batches at once (``streams``, by the user's number): a slice
then ends with several pages in flight, each to be committed by the process that fetched it,
never fetched again by the next.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.server import PageCall
from odoo_sync_cli.simulator.testing import Simulator, start_simulator
from torture.common import (
    READS,
    CampaignResult,
    Scale,
    mirror_diff,
    odoosync_command,
    settings_for,
)

USERS = 10
CONFIG = """
page_size = 50
batch_size = 400
id_page_size = 300
reconcile = "every"

[http.retry]
attempts = 3
wait_initial = 0.01
wait_max = 0.05
wait_jitter = 0
"""
# Short slices pass each user from process to process many times within one sync.
LOOP_ARGS = ("loop", "--once", "--workers", "2", "--interval", "0.3", "--slice-seconds")
# Words in a process's output that mean it met trouble it should have handled.
BAD_OUTPUT = ("Traceback", "database is locked", "locked", "unexpected")


@dataclass(frozen=True)
class _Round:
    processes: int
    kind: str  # "first", "incremental" or "full"
    slice_seconds: float


def _rounds(scale: Scale) -> list[_Round]:
    if scale == "short":
        return [_Round(2, "first", 0.1), _Round(4, "incremental", 0.3)]
    return [
        _Round(2, "first", 0.3),
        _Round(4, "incremental", 0.1),
        _Round(4, "full", 0.3),
        _Round(2, "incremental", 0.1),
        _Round(4, "full", 0.1),
        _Round(4, "incremental", 0.3),
    ]


def _page_key(page: PageCall) -> tuple[Any, ...]:
    return (
        page.database,
        page.model,
        json.dumps(page.domain, sort_keys=True),
        json.dumps(page.fields, sort_keys=True),
        page.order,
        page.limit,
        page.offset,
    )


def _data_pages(sim: Simulator) -> list[PageCall]:
    return [p for p in sim.stats.pages(method=None) if p.method in READS and p.order == "id asc"]


def _plans(sim: Simulator) -> Counter[tuple[str, str]]:
    """How many times each (database, model) had its newest write_date read: once per plan."""
    return Counter(
        (p.database, p.model)
        for p in sim.stats.pages()
        if p.order == "write_date desc" and p.limit == 1
    )


def _change_servers(sim: Simulator, rng: random.Random) -> int:
    """Creates and updates on every database, so an incremental round has pages to read."""
    changes = 0
    for name, store in sim.stores.items():
        partners = store.ids("res.partner")
        count = rng.randint(20, 120)
        sim.create(
            "res.partner",
            [
                {"name": f"Concurrent {name} {i}", "email": f"c{i}@example.com"}
                for i in range(count)
            ],
            database=name,
        )
        # Email is part of no display name, so changing it leaves no other record stale.
        for rid in rng.sample(partners, k=min(15, len(partners))):
            sim.write("res.partner", [rid], {"email": f"u{rid}@example.com"}, database=name)
        changes += count + min(15, len(partners))
    return changes


def _start_loops(
    workdir: Path, count: int, number: int, slice_seconds: float
) -> list[tuple[subprocess.Popen[str], Path]]:
    started = []
    for i in range(count):
        out = workdir / f"round{number}-loop{i}.log"
        handle = out.open("w", encoding="utf-8")
        try:
            proc = subprocess.Popen(
                odoosync_command(workdir, *LOOP_ARGS, str(slice_seconds)),
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )
        finally:
            handle.close()  # the child holds its own copy of the descriptor
        started.append((proc, out))
    return started


class _StatusPoller:
    """Reads ``status`` over and over while the loops run, as a monitoring script would.

    Every open of the database and every status read competes with the loops' commits; a read
    that fails on the busy database is a crash from its user's point of view.
    """

    def __init__(self, settings: Settings, pause: float = 0.1) -> None:
        self.settings = settings
        self.pause = pause
        self.reads = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="status-poller", daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(self.pause):
            try:
                engine.status_json(engine.status(self.settings))
            except Exception as exc:  # every failure is a finding: keep its text
                self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                self.reads += 1

    def __enter__(self) -> _StatusPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _wait(procs: list[tuple[subprocess.Popen[str], Path]], timeout: float) -> list[int | None]:
    deadline = time.monotonic() + timeout
    codes: list[int | None] = []
    for proc, _ in procs:
        try:
            codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append(None)
    return codes


def _prepare_round(
    settings: Settings, sim: Simulator, users: dict[str, str], kind: str, rng: random.Random
) -> int:
    """Queue every user for the round's kind of sync; returns the changes made on the servers."""
    if kind == "first":
        return 0
    changes = _change_servers(sim, rng)
    for user in users:
        if kind == "full":
            engine.clear(settings, user=user)
        engine.queue(settings, users=[user])
    return changes


def _one_round(
    number: int,
    spec: _Round,
    settings: Settings,
    workdir: Path,
    sim: Simulator,
    users: dict[str, str],
    rng: random.Random,
    result: CampaignResult,
    timeout: float,
) -> None:
    figures = result.figures
    figures["changes"] = int(figures["changes"]) + _prepare_round(
        settings, sim, users, spec.kind, rng
    )
    sim.reset_stats()
    procs = _start_loops(workdir, spec.processes, number, spec.slice_seconds)
    with _StatusPoller(settings) as poller:
        codes = _wait(procs, timeout)
    figures["status reads"] = int(figures["status reads"]) + poller.reads
    if poller.errors:
        figures["crashed"] = int(figures["crashed"]) + len(poller.errors)
        result.failures.append(
            f"round {number}: {len(poller.errors)} status read(s) failed: {poller.errors[0]}"
        )
    where = f"round {number} ({spec.processes} processes, {spec.kind} sync)"
    figures["processes"] = int(figures["processes"]) + len(procs)
    worked = 0
    # Which processes finished batches of each user (a "... batch N done" line each).
    stepped_by: Counter[str] = Counter()
    for (proc, out), code in zip(procs, codes, strict=True):
        text = out.read_text(encoding="utf-8", errors="replace")
        finished = {u for u in users if re.search(rf" {u} \S+ batch \d+ done", text)}
        stepped_by.update(finished)
        worked += bool(finished)
        bad = [word for word in BAD_OUTPUT if word in text]
        if code != 0 or bad:
            figures["crashed"] = int(figures["crashed"]) + 1
            tail = " | ".join(text.strip().splitlines()[-3:])
            result.failures.append(
                f"{where}: pid {proc.pid} exited {code}"
                + (f", output has {bad}" if bad else "")
                + f": {tail[-300:]}"
            )
    figures["processes that worked"] = int(figures["processes that worked"]) + worked
    # Users whose sync passed from one process to another: where a page could be read twice.
    figures["users handed over"] = int(figures["users handed over"]) + sum(
        1 for n in stepped_by.values() if n > 1
    )

    pages = _data_pages(sim)
    keys = Counter(_page_key(p) for p in pages)
    twice = sum(n - 1 for n in keys.values() if n > 1)
    figures["pages"] = int(figures["pages"]) + len(pages)
    figures["duplicated"] = int(figures["duplicated"]) + twice
    if twice:
        repeated = [k for k, n in keys.items() if n > 1]
        result.failures.append(
            f"{where}: {twice} page(s) fetched twice, e.g. {repeated[0][:3]} limit {repeated[0][5]}"
        )
    plans = _plans(sim)
    replanned = sum(n - 1 for n in plans.values() if n > 1)
    unplanned = [db for db in users.values() if plans[(db, "res.partner")] == 0]
    figures["plans made twice"] = int(figures["plans made twice"]) + replanned
    if replanned:
        result.failures.append(
            f"{where}: {replanned} module plan(s) made twice: "
            + ", ".join(f"{db} {model} x{n}" for (db, model), n in plans.items() if n > 1)
        )
    if unplanned:
        result.failures.append(f"{where}: never planned for {unplanned}")

    for user, database in users.items():
        status = engine.user_get(settings, user).status
        if status != "done":
            result.failures.append(f"{where}: user {user} ended {status}")
        # Nothing is committed late: reconcile must find nothing to restore.
        diff = mirror_diff(settings, user, sim.stores[database], late=())
        figures["records"] = int(figures["records"]) + diff.records
        figures["lost"] = int(figures["lost"]) + diff.lost
        figures["differing"] = int(figures["differing"]) + diff.differing
        figures["extra"] = int(figures["extra"]) + diff.extra
        figures["restored"] = int(figures["restored"]) + diff.restored
        figures["duplicated"] = int(figures["duplicated"]) + diff.duplicated
        if diff.exact:
            figures["exact mirrors"] = int(figures["exact mirrors"]) + 1
        else:
            result.failures.append(f"{where}: {user}: " + "; ".join(diff.examples[:3]))
    figures["rounds"] = int(figures["rounds"]) + 1


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """Short: a first and an incremental round (2 then 4 processes) on 10 small users; long:
    six rounds, full resyncs included, on ten users of 1,000 to 6,000 partners."""
    rng = random.Random(seed)
    low, high = (60, 200) if scale == "short" else (1000, 6000)
    sizes = {f"db{i}": rng.randint(low, high) for i in range(USERS)}
    result = CampaignResult("concurrency")
    for key in (
        "rounds",
        "processes",
        "users",
        "pages",
        "duplicated",
        "plans made twice",
        "crashed",
        "records",
        "exact mirrors",
        "lost",
        "differing",
        "extra",
        "restored",
        "changes",
        "processes that worked",
        "users handed over",
        "status reads",
    ):
        result.figures[key] = 0
    result.figures["users"] = USERS
    streams = "".join(f"\n[users.user-db{i}]\nstreams = {1 + i % 4}\n" for i in range(USERS))
    settings = settings_for(workdir, CONFIG + streams)
    timeout = 90.0 if scale == "short" else 600.0
    with start_simulator(databases=sizes, seed=seed) as sim:
        users: dict[str, str] = {}
        for database in sizes:
            creds = sim.credentials(database)
            name = f"user-{database}"
            engine.user_add(
                settings,
                name=name,
                url=creds.url,
                database=creds.database,
                login=creds.login,
                secret=NewSecret(SecretStr(creds.api_key)),
                check=False,  # the loops connect soon enough
            )
            users[name] = database
        for number, spec in enumerate(_rounds(scale), start=1):
            _one_round(number, spec, settings, workdir, sim, users, rng, result, timeout)
    return result

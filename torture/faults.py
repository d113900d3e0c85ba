"""Campaign 2, faults: a sync through a server that fails one request in ten, and one that
fails for longer than the retry budget.

Two users (``alice`` over JSON-2, ``bob`` over JSON-RPC) mirror the four default modules of two
simulated databases. Each *run* is one sync of both users, driven by the engine in this process (so
every client it opens can be counted): the first a full sync, then full re-reads and incremental
syncs after changes on the server (edits, creates, archives and deletes; deletes of records of the
campaign's own that are already mirrored, and mirrored invoices leaving the filter and, a run
later, coming back), in random order: the second and third runs are incremental, so the short
version meets those changes too. During a run the simulator answers 10% of all requests, at random,
with one of: HTTP 429 with ``Retry-After: 1``, a 502, 503 or 504 proxy page, a dropped connection,
a slow answer (longer than the read timeout of the settings, so it times out), a JSON body cut in
half, or a connection closed halfway through the body (and in the first run each of these once
more, so that even a short run meets them all). Every run must end with both users ``done`` and a
mirror equal to the simulator's rows (``mirror_diff``), with nothing restored by reconcile (nothing
is committed late here); every injected fault must have been met by a retry of the client (counted
by its clients' ``ClientStats``), except a truncated count over JSON-2: ``search_count`` answers a
bare number there, and a number cut in half is still a number (or nothing, when it had one digit).
Those faults are counted apart (``truncated_counts``) and may go unseen; a count only sizes the
plan's progress figures (pages are read until a short one), so the mirror stays exact, but
``status`` may show a wrong ``recordsExpected`` until the next sync (and ``test-complete``, which
compares counts, would report a mismatch).
A ``GET /web/version`` answer cut in half is not retried either, by design: the client takes an
answer there that is not a version for a server that does not serve the path (a catch-all page
of a proxy or an older Odoo) and asks ``common.version`` instead, so the garbled answer is
thrown away, not used. Those are counted apart too (``version_fallbacks``).

Then the budget run, through the command line as a user would meet it: the simulator answers
503 to every try of the pages of contacts in flight (``http.retry.attempts`` times for each of
the ``streams`` lanes, whose tries interleave). ``odoosync step``
must fail with exit 6 and one line; ``status --json`` must show the user ``failed`` with a
``lastError`` naming the model and the trouble; ``odoosync retry`` then ``odoosync step`` must
resume from the failed batch's cursor (the simulator's page log shows no page fetched before the
failure fetched again) and end with the exact mirror.

Both kinds of run work several batches of a user at once (``streams``: alice 3, bob 2, carol
4): a fault then meets one lane while the others have pages in flight, which must be committed,
neither lost nor fetched again.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.models import UserRecord
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.simulator.server import PageCall
from odoo_sync_cli.simulator.testing import Simulator, start_simulator
from torture.common import (
    READS,
    CampaignResult,
    MirrorDiff,
    Scale,
    Where,
    mirror_diff,
    odoosync,
    settings_for,
)

USERS = {"alice": ("east", "auto"), "bob": ("west", "jsonrpc")}
FAULTS = ("429:1", "502", "503", "504", "drop", "slow:1.5", "truncate", "cut")
FAIL_RATE = 0.10
# Over JSON-2 a count is a bare number, and half of "2404" is "24": still valid JSON, which no
# client can tell from a real answer. Such faults are counted apart (see the module docstring).
SILENT = ("truncate", "json2", "search_count")
# A cut /web/version answer sends the client to common.version (odoo/json2.py), not to a retry.
FALLBACK = ("truncate", "web", "version")


@dataclass(frozen=True)
class Shape:
    partners: int
    runs: int


# Three runs at least: invoices that leave the filter in one come back in the next.
SHAPES = {"short": Shape(partners=300, runs=3), "long": Shape(partners=3000, runs=20)}

CONFIG = """\
page_size = 100
batch_size = 1000
id_page_size = 400
lookback = "15m"
streams = {streams}

[users.bob]
streams = 2

[http]
timeout = 0.5
connect_timeout = 1.0

[http.retry]
attempts = {attempts}
total_timeout = 60
wait_initial = 0.02
wait_max = 0.2
wait_jitter = 0.02
"""


@dataclass
class Tally:
    runs: int = 0
    exact: int = 0
    requests: int = 0
    retries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    diff: MirrorDiff = field(default_factory=MirrorDiff)
    refetched: int = 0
    silent: int = 0
    fallbacks: int = 0
    failures: list[str] = field(default_factory=list)


class Counting:
    """A client factory for the engine that keeps every client, to add up their counters."""

    def __init__(self) -> None:
        self.clients: list[OdooClient] = []

    def __call__(self, user: UserRecord, settings: Settings) -> OdooClient:
        client = engine.make_client(user, settings)
        self.clients.append(client)
        return client

    @property
    def retries(self) -> int:
        return sum(c.stats.retries for c in self.clients)

    @property
    def requests(self) -> int:
        return sum(c.stats.requests for c in self.clients)


class FaultRun:
    """The campaign: a simulator, a work directory and a random source."""

    def __init__(self, scale: Scale, workdir: Path, seed: int) -> None:
        self.shape = SHAPES[scale]
        self.workdir = workdir
        self.seed = seed
        self.rng = random.Random(seed)
        self.tally = Tally()
        # Records of our own per (database, model): nothing points at them, so deleting them or
        # moving them out of a filter leaves no other record stale.
        self.own: dict[tuple[str, str], list[int]] = {}
        self.left_filter: dict[str, list[int]] = {}

    # ---- the random runs

    def seed_own(self, sim: Simulator) -> None:
        """Partners and invoices of our own, mirrored by the first run, changed by later ones."""
        for database in ("east", "west"):
            self.own[(database, "res.partner")] = sim.create(
                "res.partner",
                [{"name": f"Own {i}", "email": f"own{i}@example.com"} for i in range(20)],
                database=database,
            )
            self.own[(database, "account.move")] = sim.create(
                "account.move",
                [{"name": f"OWN/{i}", "move_type": "in_invoice"} for i in range(8)],
                database=database,
            )

    def change(self, sim: Simulator) -> None:
        """Edit, create, archive and delete records on both servers (before a run); delete
        mirrored records of ours and move mirrored invoices out of the filter and back."""
        rng = self.rng
        for database in ("east", "west"):
            own = self.own[(database, "res.partner")]
            gone = rng.sample(own, min(len(own), 3))
            sim.unlink("res.partner", gone, database=database)
            own[:] = [i for i in own if i not in gone]
            invoices = self.own[(database, "account.move")]
            moved = rng.sample(invoices, min(len(invoices), 2))
            sim.write("account.move", moved, {"move_type": "entry"}, database=database)
            invoices[:] = [i for i in invoices if i not in moved]
            back = self.left_filter.get(database, [])
            if back:
                sim.write("account.move", back, {"move_type": "in_refund"}, database=database)
                invoices.extend(back)
            self.left_filter[database] = moved
            partners = sim.stores[database].ids("res.partner")
            for rid in rng.sample(partners, min(len(partners), 60)):
                sim.write(
                    "res.partner",
                    [rid],
                    {"email": f"p{rng.randrange(10**6)}@example.com"},
                    database=database,
                )
            created = sim.create(
                "res.partner",
                [{"name": f"New {rng.randrange(10**6)}"} for _ in range(rng.randint(1, 40))],
                database=database,
            )
            sim.archive("res.partner", created[: len(created) // 3], database=database)
            sim.unlink("res.partner", rng.sample(created, len(created) // 4), database=database)

    def sync(self, sim: Simulator, settings: Settings, index: int, full: bool) -> None:
        """One run: both users synced through 10% of faults, then compared."""
        label = f"run {index + 1} ({'full' if full else 'incremental'})"
        before = Counter(sim.stats.faults)
        before_calls = Counter(sim.stats.fault_calls)
        sim.set_fail_rate(FAIL_RATE, FAULTS, seed=self.seed * 1000 + index)
        if index == 0:
            # However few requests a short run makes, each kind of trouble comes at least once.
            kinds = list(FAULTS)
            self.rng.shuffle(kinds)
            sim.script_faults([step for kind in kinds for step in (kind, None, None)])
        counting = Counting()
        try:
            prepared = engine.prepare(settings, full=full, connect=counting)
            errors = [f"{r.user}: {r.error}" for r in prepared if r.error is not None]
            report = engine.step(settings, connect=counting)
            errors += [f"{u.user}: {u.error}" for u in report.users if u.error is not None]
        finally:
            sim.clear_faults()
            for client in counting.clients:
                client.close()
        faults = Counter(sim.stats.faults) - before
        calls = Counter(sim.stats.fault_calls) - before_calls
        silent, fallbacks = calls[SILENT], calls[FALLBACK]
        self.tally.silent += silent
        self.tally.fallbacks += fallbacks
        self.tally.faults += faults
        self.tally.retries += counting.retries
        self.tally.requests += counting.requests
        self.tally.runs += 1
        exact = not errors
        for error in errors:
            self.tally.failures.append(f"{label}: {error}")
        for user in engine.status(settings):
            if user.info.status != "done":
                exact = False
                self.tally.failures.append(f"{label}: {user.info.name} ended {user.info.status}")
        for name, (database, _) in USERS.items():
            # Nothing is committed late: reconcile must find nothing to restore.
            diff = mirror_diff(settings, name, sim.stores[database], late=())
            self.tally.diff.add(diff)
            if not diff.exact:
                exact = False
                self.tally.failures.append(f"{label} {name}: " + "; ".join(diff.examples[:3]))
        met = sum(faults.values()) - silent - fallbacks
        if counting.retries < met:
            exact = False
            self.tally.failures.append(
                f"{label}: {met} faults injected but only {counting.retries} retries: "
                "some trouble was taken for an answer"
            )
        self.tally.exact += int(exact)

    def random_runs(self, sim: Simulator) -> None:
        work = self.workdir / "runs"
        work.mkdir()
        settings = settings_for(work, CONFIG.format(attempts=6, streams=3))
        for name, (database, protocol) in USERS.items():
            creds = sim.credentials(database)
            engine.user_add(
                settings,
                name=name,
                url=creds.url,
                database=creds.database,
                login=creds.login,
                protocol=protocol,
                secret=NewSecret(SecretStr(creds.api_key)),
            )
        self.seed_own(sim)
        for index in range(self.shape.runs):
            # The second and third runs are incremental: the short run must meet them.
            full = index == 0 or (index > 2 and self.rng.random() < 0.3)
            if index:
                self.change(sim)
            self.sync(sim, settings, index, full)

    # ---- the budget run

    def budget_run(self, sim: Simulator) -> dict[str, int]:
        """Faults outlast the retries: failed with a clear message, then resumed from the cursor."""
        work = self.workdir / "budget"
        work.mkdir()
        attempts, streams = 3, 4
        settings = settings_for(work, CONFIG.format(attempts=attempts, streams=streams))
        creds = sim.credentials("east")
        engine.user_add(
            settings,
            name="carol",
            url=creds.url,
            database=creds.database,
            login=creds.login,
            secret=NewSecret(SecretStr(creds.api_key)),
        )
        engine.prepare(settings)
        good_pages = self.rng.randint(2, max(2, self.shape.partners // 100 - 1))
        start = len(sim.stats.pages(method=None))
        # The streams' pages interleave: a lane's tries are not consecutive requests, so every
        # lane in flight gets its own `attempts` refusals, and one lane at least runs out.
        sim.script_faults(
            [None] * good_pages + ["503"] * (attempts * streams),
            match={"model": "res.partner", "method": "web_search_read"},
        )
        try:
            failed = odoosync(work, "step", "--user", "carol")
        finally:
            sim.clear_faults()
        lines = failed.stderr.strip().splitlines()
        if failed.returncode != 6 or len(lines) != 1:
            self.tally.failures.append(
                f"budget: `step` should fail with exit 6 and one line, got exit "
                f"{failed.returncode}: {failed.stderr.strip()!r}"
            )
        status = json.loads(odoosync(work, "status", "--json", "--user", "carol").stdout)
        user = status["users"][0]
        error = user["lastError"] or ""
        if user["syncStatus"] != "failed":
            self.tally.failures.append(f"budget: carol is {user['syncStatus']}, not failed")
        for word in ("res.partner", "503", "odoosync retry"):
            if word not in error:
                self.tally.failures.append(f"budget: lastError does not say {word!r}: {error!r}")
        cursor = _failed_cursor(Where.of(settings))
        before = sim.stats.pages(method=None)[start:]
        if cursor is None:
            self.tally.failures.append("budget: no failed batch with a cursor after the failure")
            return {}
        mark = len(sim.stats.pages(method=None))
        retried = odoosync(work, "retry", "--user", "carol")
        resumed = odoosync(work, "step", "--user", "carol")
        if retried.returncode or resumed.returncode:
            self.tally.failures.append(
                f"budget: retry/step failed: {retried.stderr.strip()} {resumed.stderr.strip()}"
            )
        after = sim.stats.pages(method=None)[mark:]
        served = {_page_key(p) for p in before}
        refetched = sum(1 for p in after if _page_key(p) in served)
        self.tally.refetched += refetched
        if refetched:
            self.tally.failures.append(f"budget: {refetched} pages fetched again after retry")
        # Other lanes' batches resume too, from their own cursors: the failed batch's next page
        # must be asked from its cursor, and (above) no page served before is asked again.
        reads = [p for p in after if p.model == "res.partner" and p.method in READS]
        if not any(["id", ">", cursor] in p.domain for p in reads):
            self.tally.failures.append(
                f"budget: the resumed sync did not resume at cursor {cursor}: "
                f"{[p.domain for p in reads[:3]]}"
            )
        diff = mirror_diff(settings, "carol", sim.stores["east"], late=())
        self.tally.diff.add(diff)
        if not diff.exact:
            self.tally.failures.append("budget carol: " + "; ".join(diff.examples[:3]))
        return {"budget_cursor": cursor, "resumed_pages": len(after)}

    def run(self) -> CampaignResult:
        shape = self.shape
        # As the command line does: a retry is counted, not logged to stderr.
        logging.getLogger("stamina").addHandler(logging.NullHandler())
        with start_simulator(
            databases={"east": shape.partners, "west": shape.partners}, seed=self.seed
        ) as sim:
            self.random_runs(sim)
            budget = self.budget_run(sim)
        t = self.tally
        figures: dict[str, int | float] = {
            "runs": t.runs,
            "exact": t.exact,
            "requests": t.requests,
            "faults": sum(t.faults.values()),
            "retries": t.retries,
            "truncated_counts": t.silent,
            "version_fallbacks": t.fallbacks,
            **{kind.partition(":")[0]: t.faults[kind.partition(":")[0]] for kind in FAULTS},
            "lost": t.diff.lost,
            "duplicated": t.diff.duplicated,
            "differing": t.diff.differing,
            "extra": t.diff.extra,
            "restored": t.diff.restored,
            "refetched": t.refetched,
            **budget,
        }
        failures = list(t.failures)
        return CampaignResult("faults", figures, failures)


def _page_key(page: PageCall) -> str:
    return json.dumps([page.database, page.model, page.method, page.domain], sort_keys=True)


def _failed_cursor(db: Where) -> int | None:
    _, rows = db.query(
        "SELECT cursor FROM _odoosync_batches WHERE status = 'failed' AND cursor > lo_id"
    )
    return None if not rows else int(rows[0][0])


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """The faults campaign (see the module docstring)."""
    return FaultRun(scale, workdir, seed).run()


__all__ = ["run"]

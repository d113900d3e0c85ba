"""Campaign 3, changes: records change while a sync runs; the next sync must set everything right.

Each scenario runs one sync ("sync A") of one odoosync user and changes the server's records in
the middle of it: between the calls prepare makes (count, newest write_date, id listing pages),
between budgeted ``step`` calls (``max_pages``), and from inside the engine's ``page_stored``
hook, while the read-ahead page may already be on its way. The changes are drawn at random from
what Odoo users do: creates (one, or a bulk import sharing one write_date), updates of records
the sync has already read and of records it has not reached yet, one write over many scattered
records, archive and unarchive, deletes of read and unread records, late commits (a transaction
that began minutes ago commits now, inside the look-back; creates also from before it), long
transactions whose records appear with ids below records committed meanwhile (Postgres hands
out ids at insert, shows rows at commit), two writes in one second in reverse id order, and
invoices leaving and re-entering the module's filter. Then a quiet incremental sync with
reconcile ("sync B", through the command line in every third scenario) runs and the mirror is
compared record by record, every field, with the simulator's stored rows (``mirror_diff``); sync
B's reconcile may restore only records committed later than the look-back (``restored``).
Every user keeps history: after sync B it must agree with the mirror (``history_diff``), and a
user removed after its scenario must leave no version behind.

Sync A is a first sync of a new user, a ``prepare --full`` resync or an incremental sync. Half
the scenarios run on an Odoo 19 simulator (pages of 40, look-back 15 minutes, tombstones), the
other half on an Odoo 17 one (full-precision datetime comparisons; pages of 25, look-back 10
minutes, ``hard_delete``).

The changes stay within what README promises (its "Known limits"): only records nothing else
points at are renamed, archived or deleted (a many2one's stored name and a parent's one2many
list go stale by design when the record they show changes), and late updates commit inside the
look-back (late *creates* may be older: reconcile finds missing ids).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.models import UserRecord
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.progress import Event, PageStored
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.simulator.testing import Simulator, start_simulator
from torture.common import (
    CampaignResult,
    MirrorDiff,
    Scale,
    history_diff,
    history_rows,
    live_ids,
    mirror_diff,
    odoosync,
    settings_for,
)


@dataclass(frozen=True)
class _Setup:
    """The settings of one half of the campaign; the halves differ to cover more paths."""

    version: int
    page_size: int
    lookback_minutes: int
    hard_delete: bool

    @property
    def lookback(self) -> float:
        return self.lookback_minutes * 60.0

    def config(self) -> str:
        return f"""
page_size = {self.page_size}
batch_size = 300
id_page_size = 400
lookback = "{self.lookback_minutes}m"
reconcile = "every"
hard_delete = {str(self.hard_delete).lower()}
history = true

[http.retry]
attempts = 3
wait_initial = 0.01
wait_max = 0.05
wait_jitter = 0
"""


SETUPS = (
    _Setup(version=19, page_size=40, lookback_minutes=15, hard_delete=False),
    _Setup(version=17, page_size=25, lookback_minutes=10, hard_delete=True),
)

MODELS = ("res.partner", "sale.order", "account.move", "hr.employee")
# Partners dominate real databases, and so they dominate the changes.
MODEL_WEIGHTS = (6, 2, 2, 2)
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")

# Fields a change writes, per model: plain values no other record shows.
WRITABLE: dict[str, tuple[str, ...]] = {
    "res.partner": ("name", "email", "phone", "comment", "city", "function", "credit_limit"),
    "sale.order": ("client_order_ref", "origin", "note"),
    "account.move": ("ref", "payment_reference", "invoice_origin", "narration"),
    "hr.employee": ("name", "work_email", "work_phone", "mobile_phone"),
}

KINDS = (
    "create",
    "bulk_create",
    "update_read",
    "update_unread",
    "mass_update",
    "archive",
    "unarchive",
    "delete_read",
    "delete_unread",
    "late_create",
    "late_update",
    "old_late_create",
    "same_second",
    "leave_filter",
    "enter_filter",
    "long_transaction",
)
KIND_WEIGHTS = (4, 2, 5, 5, 2, 2, 2, 2, 2, 2, 3, 1, 2, 1, 1, 3)


@dataclass
class _Pool:
    """Which records the campaign may change without crossing a documented limit."""

    # model -> ids nothing else points at (and, in a hierarchy, with no parent and no children)
    free: dict[str, set[int]]
    # partners already pointed at, that new orders and invoices may point at too
    anchors: list[int]
    has_active: dict[str, bool]

    @classmethod
    def of(cls, store: SimStore) -> _Pool:
        rows = {model: store.exact_rows(model) for model in MODELS}
        specs = {
            model: store.fields_get(model, attributes=["type", "relation"]) for model in MODELS
        }
        pointed: dict[str, set[int]] = {model: set() for model in MODELS}
        for model in MODELS:
            relational = [
                (name, attrs["type"], attrs["relation"])
                for name, attrs in specs[model].items()
                if attrs.get("relation") in pointed
            ]
            for row in rows[model]:
                for name, kind, relation in relational:
                    value = row.get(name)
                    if not isinstance(value, list) or not value:
                        continue
                    targets = value[:1] if kind == "many2one" else value
                    pointed[relation].update(
                        t for t in targets if (relation, t) != (model, row["id"])
                    )
        free: dict[str, set[int]] = {}
        for model in MODELS:
            hierarchy = "parent_id" in specs[model] and "child_ids" in specs[model]
            free[model] = {
                row["id"]
                for row in rows[model]
                if row["id"] not in pointed[model]
                and not (hierarchy and (row.get("parent_id") or row.get("child_ids")))
            }
        anchors = sorted(pointed["res.partner"] & {r["id"] for r in rows["res.partner"]})
        has_active = {model: "active" in specs[model] for model in MODELS}
        return cls(free, anchors, has_active)


@dataclass
class _Tally:
    changes: Counter[str] = field(default_factory=Counter)
    # when the changes came: "during prepare", "inside a step", "between steps"
    moments: Counter[str] = field(default_factory=Counter)
    # long transactions whose records appeared below ids committed while they ran
    commits_below: int = 0
    serial: int = 0


class _Changer:
    """Makes one random change at a time on the simulator, as another Odoo user would."""

    def __init__(
        self,
        sim: Simulator,
        pool: _Pool,
        rng: random.Random,
        tally: _Tally,
        mirrored: Callable[[str], set[int]],
        setup: _Setup,
    ) -> None:
        self.sim = sim
        self.setup = setup
        # Transactions begun and not committed yet: their rows, invisible until commit.
        self.open: list[tuple[str, list[dict[str, Any]]]] = []
        self.store = sim.store
        self.pool = pool
        self.rng = rng
        self.tally = tally
        self.mirrored = mirrored
        # (model, id) of records committed later than the look-back could see: only reconcile's
        # id comparison finds them, so sync B may have to restore them (see mirror_diff).
        self.late: set[tuple[str, int]] = set()

    def change(self, moment: str) -> None:
        """One change of a random kind; a kind with nothing to act on falls back to a create."""
        self.tally.moments[moment] += 1
        if self.open and self.rng.random() < 0.4:
            self.commit_one()
        kind = self.rng.choices(KINDS, KIND_WEIGHTS)[0]
        model = self.rng.choices(MODELS, MODEL_WEIGHTS)[0]
        done = getattr(self, f"_{kind}")(model)
        if not done:
            kind = "create"
            self._create(model)
        self.tally.changes[kind] += 1

    # ---- picking records

    def _rows(self, model: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = set(ids)
        return {r["id"]: r for r in self.store.exact_rows(model) if r["id"] in wanted}

    def _pick(
        self, model: str, *, read: bool | None = None, active: bool | None = None
    ) -> int | None:
        ids = sorted(self.pool.free[model])
        self.rng.shuffle(ids)
        rows = self._rows(model, ids[:200]) if active is not None else {}
        mirrored = self.mirrored(model) if read is not None else set()
        for rid in ids[:200]:
            if active is not None and bool(rows.get(rid, {}).get("active")) != active:
                continue
            if read is not None and (rid in mirrored) != read:
                continue
            return rid
        return None

    # ---- values

    def _tag(self) -> str:
        self.tally.serial += 1
        return f"chg{self.tally.serial:05d}"

    def _value(self, model: str, name: str) -> Any:
        tag = self._tag()
        if name == "credit_limit":
            return float(self.rng.randint(0, 50_000))
        if name in ("email", "work_email"):
            return f"{tag}@example.com"
        if name in ("phone", "work_phone", "mobile_phone"):
            return f"+1 555 {self.rng.randint(1000, 9999)}"
        if name in ("comment", "note", "narration"):
            return f"<p>{tag}</p>"
        return f"{model.split('.')[-1]} {tag}"

    def _vals(self, model: str) -> dict[str, Any]:
        names = self.rng.sample(WRITABLE[model], k=self.rng.randint(1, 2))
        return {name: self._value(model, name) for name in names}

    def _new_vals(self, model: str) -> dict[str, Any]:
        tag = self._tag()
        if model == "res.partner":
            vals: dict[str, Any] = {"name": f"New {tag}", "email": f"{tag}@example.com"}
            if self.rng.random() < 0.1:
                vals["active"] = False
            return vals
        if model == "hr.employee":
            return {"name": f"Employee {tag}", "work_email": f"{tag}@example.com"}
        partner = self.rng.choice(self.pool.anchors)
        if model == "sale.order":
            return {"name": f"S{tag}", "partner_id": partner, "client_order_ref": tag}
        move_type = self.rng.choice((*INVOICE_TYPES, "entry"))
        return {"move_type": move_type, "partner_id": partner, "ref": tag}

    def _created(self, model: str, ids: Iterable[int]) -> None:
        self.pool.free[model].update(ids)

    # ---- the kinds of change

    def _create(self, model: str) -> bool:
        self._created(model, self.sim.create(model, [self._new_vals(model)]))
        return True

    def _bulk_create(self, model: str) -> bool:
        # One call is one transaction: every record shares one write_date, often more than a
        # page of them.
        count = self.rng.randint(2, self.setup.page_size * 2 + 5)
        self._created(model, self.sim.create(model, [self._new_vals(model) for _ in range(count)]))
        return True

    def _update(self, model: str, read: bool) -> bool:
        rid = self._pick(model, read=read)
        if rid is None:
            return False
        self.sim.write(model, [rid], self._vals(model))
        return True

    def _update_read(self, model: str) -> bool:
        return self._update(model, True)

    def _update_unread(self, model: str) -> bool:
        return self._update(model, False)

    def _mass_update(self, model: str) -> bool:
        # One write over records scattered through the id range, read and unread alike: they
        # all get one write_date.
        ids = sorted(self.pool.free[model])
        if len(ids) < 2:
            return False
        chosen = self.rng.sample(ids, k=min(len(ids), self.rng.randint(2, 60)))
        self.sim.write(model, chosen, self._vals(model))
        return True

    def _archive(self, model: str) -> bool:
        if not self.pool.has_active[model]:
            return False
        rid = self._pick(model, active=True)
        if rid is None:
            return False
        self.sim.archive(model, [rid])
        return True

    def _unarchive(self, model: str) -> bool:
        if not self.pool.has_active[model]:
            return False
        rid = self._pick(model, active=False)
        if rid is None:
            return False
        self.sim.unarchive(model, [rid])
        return True

    def _delete(self, model: str, read: bool) -> bool:
        rid = self._pick(model, read=read)
        if rid is None:
            return False
        self.sim.unlink(model, [rid])
        self.pool.free[model].discard(rid)
        return True

    def _delete_read(self, model: str) -> bool:
        return self._delete(model, True)

    def _delete_unread(self, model: str) -> bool:
        return self._delete(model, False)

    def _late_create(self, model: str) -> bool:
        seconds = self.rng.uniform(30, self.setup.lookback - 300)
        vals = [self._new_vals(model) for _ in range(self.rng.randint(1, 3))]
        self._created(model, self.sim.late_commit(model, seconds_ago=seconds, vals_list=vals))
        return True

    def _old_late_create(self, model: str) -> bool:
        # Began before even the look-back: only reconcile's id comparison can find it.
        seconds = self.rng.uniform(self.setup.lookback + 60, 4 * self.setup.lookback)
        vals = [self._new_vals(model)]
        ids = self.sim.late_commit(model, seconds_ago=seconds, vals_list=vals)
        self._created(model, ids)
        self.late.update((model, rid) for rid in ids)
        return True

    def _late_update(self, model: str) -> bool:
        rid = self._pick(model)
        if rid is None:
            return False
        seconds = self.rng.uniform(30, self.setup.lookback - 300)
        self.sim.late_commit(model, seconds_ago=seconds, ids=[rid], vals=self._vals(model))
        return True

    def _long_transaction(self, model: str) -> bool:
        # Postgres gives a row its id when it is inserted and shows it when its transaction
        # commits, so a long transaction's records can appear below ids committed meanwhile,
        # after the cursor passed them, stamped with the transaction's start (DESIGN 3.3).
        # Begin: take ids and a start time now and hide the rows; commit_one shows them later.
        ids = self.sim.create(model, [self._new_vals(model) for _ in range(self.rng.randint(1, 3))])
        wanted = set(ids)
        rows = [r for r in self.store.exact_rows(model) if r["id"] in wanted]
        if self.rng.random() < 0.3:
            # One that began before even the look-back: reconcile's id comparison finds it.
            began = datetime.now(UTC) - timedelta(seconds=self.setup.lookback + 120)
            stamp = began.strftime("%Y-%m-%d %H:%M:%S")
            for row in rows:
                row["write_date"] = row["create_date"] = stamp
            self.late.update((model, row["id"]) for row in rows)
        self.sim.unlink(model, ids)
        self.open.append((model, rows))
        return True

    def commit_one(self) -> None:
        """Commit one of the open long transactions: its rows appear with their old ids."""
        model, rows = self.open.pop(self.rng.randrange(len(self.open)))
        below = max(self.store.ids(model), default=0) > min(r["id"] for r in rows)
        self.store.load_rows(model, rows)
        self._created(model, (r["id"] for r in rows))
        self.tally.commits_below += int(below)

    def commit_all(self) -> None:
        while self.open:
            self.commit_one()

    def _same_second(self, model: str) -> bool:
        first, second = self._pick(model), self._pick(model)
        if first is None or second is None or first == second:
            return False
        low, high = sorted((first, second))
        # The higher id is written first: a (write_date, id) keyset would read them in the
        # wrong order and lose one; the second just ended, so both stamps lie in the past.
        second_start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=1)
        self.sim.write(
            model, [high], self._vals(model), at=second_start.replace(microsecond=250_000)
        )
        self.sim.write(
            model, [low], self._vals(model), at=second_start.replace(microsecond=750_000)
        )
        return True

    def _move_type(self, want_invoice: bool) -> bool:
        model = "account.move"
        ids = list(self.pool.free[model])
        rows = self._rows(model, ids)
        candidates = [
            rid for rid, row in rows.items() if (row["move_type"] in INVOICE_TYPES) != want_invoice
        ]
        if not candidates:
            return False
        move_type = self.rng.choice(INVOICE_TYPES) if want_invoice else "entry"
        self.sim.write(model, [self.rng.choice(candidates)], {"move_type": move_type})
        return True

    def _leave_filter(self, model: str) -> bool:
        return self._move_type(False)

    def _enter_filter(self, model: str) -> bool:
        return self._move_type(True)


class _ChangingReporter:
    """Changes records from inside the sync, right after a page was committed."""

    def __init__(self, changer: _Changer, rate: float) -> None:
        self.changer = changer
        self.rate = rate
        self.pages = 0

    def emit(self, event: Event) -> None:
        if not isinstance(event, PageStored):
            return
        self.pages += 1
        if self.changer.rng.random() < self.rate:
            self.changer.change("inside a step")


def _changing_while_planning(changer: _Changer, rate: float) -> engine.ClientFactory:
    """A client factory whose clients change records between the calls prepare makes.

    Prepare counts, reads the newest write_date and lists ids page by page; records created,
    changed or deleted between those calls must not be lost by the plan.
    """

    def connect(user: UserRecord, settings: Settings) -> OdooClient:
        client = engine.make_client(user, settings)
        for name in ("search", "search_count", "search_read"):
            call = getattr(client, name)

            def changing(*args: Any, _call: Callable[..., Any] = call, **kwargs: Any) -> Any:
                answer = _call(*args, **kwargs)
                if changer.rng.random() < rate:
                    changer.change("during prepare")
                return answer

            setattr(client, name, changing)
        return client

    return connect


@dataclass
class _Scenario:
    number: int
    kind: str  # "first", "full" or "incremental"
    user: str
    via_cli: bool


def _mirror_lookup(settings: Settings, user: str) -> Callable[[str], set[int]]:
    """The ids of a model the sync has read so far (what "read" and "unread" changes pick by)."""

    def mirrored(model: str) -> set[int]:
        return live_ids(settings.db_path, user)[model.replace(".", "_")]

    return mirrored


def _add_user(settings: Settings, sim: Simulator, name: str) -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def _sync_a(
    settings: Settings, scenario: _Scenario, changer: _Changer, rng: random.Random
) -> list[str]:
    """Sync A with changes between and inside its steps; returns what went wrong."""
    problems: list[str] = []
    engine.prepare(
        settings,
        users=[scenario.user],
        full=scenario.kind == "full",
        connect=_changing_while_planning(changer, rate=0.3),
    )
    reporter = _ChangingReporter(changer, rate=rng.uniform(0.05, 0.3))
    changer.change("between steps")  # at least one after prepare, before any page is read
    for _ in range(10_000):
        report = engine.step(
            settings, users=[scenario.user], max_pages=rng.randint(1, 4), reporter=reporter
        )
        if report.errors:
            problems.append(f"sync A step failed: {report.errors[0]}")
            break
        if engine.user_get(settings, scenario.user).status != "in_progress":
            break
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            changer.change("between steps")
    status = engine.user_get(settings, scenario.user).status
    if status != "done":
        problems.append(f"sync A ended {status}")
    if reporter.pages < 2:
        problems.append(f"sync A had only {reporter.pages} page(s): too few to interleave")
    return problems


def _sync_b(settings: Settings, workdir: Path, scenario: _Scenario) -> list[str]:
    """The next incremental sync, with reconcile, and no change while it runs."""
    if scenario.via_cli:
        for args in (("prepare", "--user", scenario.user), ("step", "--user", scenario.user)):
            run = odoosync(workdir, *args, timeout=120)
            if run.returncode != 0:
                return [f"`odoosync {' '.join(args)}` exited {run.returncode}: {run.stderr[-300:]}"]
    else:
        results = engine.prepare(settings, users=[scenario.user])
        kinds = {m.kind for m in results[0].modules if m.kind is not None}
        if kinds != {"incremental"}:
            return [f"sync B planned {sorted(kinds)}, not an incremental sync"]
        report = engine.step(settings, users=[scenario.user])
        if report.errors:
            return [f"sync B failed: {report.errors[0]}"]
    status = engine.user_get(settings, scenario.user).status
    return [] if status == "done" else [f"sync B ended {status}"]


def _campaign_on(
    setup: _Setup,
    scenarios: int,
    records: int,
    workdir: Path,
    rng: random.Random,
    result: CampaignResult,
    tally: _Tally,
    first_number: int,
) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    settings = settings_for(workdir, setup.config())
    seed = rng.randrange(1_000_000)
    with start_simulator(records=records, seed=seed, odoo_version=setup.version) as sim:
        pool = _Pool.of(sim.store)
        main = "main"
        _add_user(settings, sim, main)
        for i in range(scenarios):
            number = first_number + i
            # Each kind of sync once first, then at random.
            kinds = ("first", "incremental", "full")
            kind = kinds[i] if i < len(kinds) else rng.choices(kinds, (1, 3, 1))[0]
            user = main if i == 0 or kind != "first" else f"new{number}"
            if user != main:
                _add_user(settings, sim, user)
            scenario = _Scenario(number, kind, user, via_cli=number % 3 == 2)
            changer = _Changer(sim, pool, rng, tally, _mirror_lookup(settings, user), setup)
            problems = _sync_a(settings, scenario, changer, rng)
            changer.commit_all()  # sync B runs on a quiet server
            before = live_ids(settings.db_path, user)
            if not problems:
                problems = _sync_b(settings, workdir, scenario)
            # Sync B's reconcile may restore only what was committed later than the look-back.
            diff = mirror_diff(settings, user, sim.store, late=changer.late, before=before)
            _count(result, diff)
            wrong, examples = history_diff(settings.db_path, user)
            result.figures["history"] = int(result.figures["history"]) + wrong
            where = f"scenario {number} (Odoo {setup.version}, {kind} sync of {user})"
            if problems:
                result.failures.extend(f"{where}: {p}" for p in problems)
            elif not diff.exact:
                result.failures.append(f"{where}: " + "; ".join(diff.examples[:3]))
            elif wrong:
                result.failures.append(f"{where}: history: " + "; ".join(examples[:3]))
            else:
                result.figures["exact"] = int(result.figures["exact"]) + 1
            result.figures["scenarios"] = int(result.figures["scenarios"]) + 1
            if user != main:
                engine.user_remove(settings, user)
                left = history_rows(settings.db_path, user)
                if left:
                    result.failures.append(f"{where}: {left} versions left after user remove")


def _count(result: CampaignResult, diff: MirrorDiff) -> None:
    for key, value in (
        ("records", diff.records),
        ("lost", diff.lost),
        ("duplicated", diff.duplicated),
        ("differing", diff.differing),
        ("extra", diff.extra),
        ("restored", diff.restored),
    ):
        result.figures[key] = int(result.figures[key]) + value


def run(scale: Scale, workdir: Path, seed: int) -> CampaignResult:
    """Short: 3 scenarios per Odoo version on 400 partners; long: 25 per version on 1,500."""
    per_version, records = (3, 400) if scale == "short" else (25, 1500)
    result = CampaignResult("changes")
    for key in ("scenarios", "exact", "changes", "records", "lost", "duplicated", "differing"):
        result.figures[key] = 0
    result.figures["extra"] = 0
    result.figures["restored"] = 0
    result.figures["history"] = 0
    tally = _Tally()
    rng = random.Random(seed)
    for n, setup in enumerate(SETUPS):
        _campaign_on(
            setup,
            per_version,
            records,
            workdir / f"odoo{setup.version}",
            rng,
            result,
            tally,
            first_number=n * per_version,
        )
    result.figures["changes"] = sum(tally.changes.values())
    for moment in ("during prepare", "inside a step", "between steps"):
        result.figures[moment] = tally.moments[moment]
    for kind in KINDS:
        result.figures[kind.replace("_", " ")] = tally.changes[kind]
    result.figures["commits below newer ids"] = tally.commits_below
    return result

"""The ``loop``: every user synced in turn, several at once, until stopped.

The main thread schedules and a bounded pool of worker threads works. A *turn* is one unit of
work for one user, done by engine functions in a worker: retry a failed sync, prepare a queued
(or due) one, or step an in-progress one for at most ``slice_seconds``. A turn that ends with
work left puts its user at the back of the ready queue at once, so with more users than workers
a big user gets its slice and then waits behind the others: nobody starves, and one user's
batches still run in order because a user is never in two turns at once. Each turn opens its own
store connection and Odoo client (the engine functions do), so the workers share nothing but
the database file, where the user's lease keeps two processes off one user.

The main thread reads the users again at every tick (``interval`` seconds) and whenever a
deferred user comes due: one backing off after a failure (exponential, so a bad key or a server
that is down is not hammered), or one whose lease another process holds. ``not_started`` and
``in_progress`` users have work; ``done`` ones when their refresh period has passed (an
incremental sync); ``failed`` ones when their back-off has passed. A user another process works
on now (``SyncState.holders``: on PostgreSQL, many ``loop`` processes on many machines share
the users) is not queued but looked at again after ``busy_recheck``, so the workers take the
users nobody holds rather than wait on one that is held.

Stopping: :meth:`Scheduler.request_stop` (the first SIGINT/SIGTERM) lets every turn store the
page in flight and return (the engine asks before each page), then :meth:`Scheduler.run`
returns. :meth:`Scheduler.abort` (the second signal) makes ``run`` return at once without
waiting for the workers; the caller then ends the process, and SQLite rolls back whatever was
not committed, so the database stays consistent (each page commits with its cursor).
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.errors import (
    ConfigError,
    LeaseError,
    OdooError,
    OdooSyncError,
    RateLimitedError,
    StoreError,
)
from odoo_sync_cli.mirror import is_server_url
from odoo_sync_cli.mirror.base import owned_here, this_process
from odoo_sync_cli.models import (
    DONE,
    FAILED,
    IN_PROGRESS,
    NOT_STARTED,
    UserRecord,
    parse_timestamp,
    utc_now,
)
from odoo_sync_cli.planner import is_due
from odoo_sync_cli.progress import (
    LoopCounters,
    NullReporter,
    Reporter,
    UserCounters,
    UserState,
)

# State words the loop reports besides the sync statuses.
PREPARING = "preparing"
SYNCING = "syncing"
RETRYING = "retrying"
WAITING = "waiting"
BUSY = "busy"

# How long to wait before asking again for a user whose lease another process holds.
BUSY_RECHECK_SECONDS = 1.0
# Users synced at once at most unless --workers says otherwise. A turn mostly waits for Odoo,
# so a thread per user with work hides the latency; the ceiling bounds what that costs: each
# turn holds an HTTP connection, a database connection and up to two pages per stream.
WORKERS_CEILING = 32
# The main thread wakes at least this often, so an abort is seen at once.
POLL_SECONDS = 0.2


def concurrency(with_work: int, workers: int | None, ceiling: int = WORKERS_CEILING) -> int:
    """How many users may sync at once: ``workers`` when given, else one per user with work,
    at most ``ceiling``, at least one."""
    if workers is not None:
        return workers
    return max(1, min(with_work, ceiling))


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off after consecutive failures of one user."""

    initial: float = 30.0
    maximum: float = 1800.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
        if failures < 1:
            return 0.0
        return float(min(self.maximum, self.initial * 2 ** (failures - 1)))


@dataclass(frozen=True)
class UserSummary:
    """What the loop did for one user, and where the user stands at the end."""

    user: str
    status: str
    turns: int
    prepares: int
    pages: int
    records: int
    failures: int
    seconds: float
    last_error: str | None
    retry_in: float | None
    exit_code: int | None = None


@dataclass(frozen=True)
class LoopSummary:
    """What a run of the loop did."""

    users: tuple[UserSummary, ...]
    seconds: float
    ticks: int
    stopped: bool
    aborted: bool
    signal_number: int | None = None
    errors: tuple[OdooSyncError, ...] = ()

    @property
    def pages(self) -> int:
        return sum(u.pages for u in self.users)

    @property
    def records(self) -> int:
        return sum(u.records for u in self.users)

    @property
    def failed(self) -> list[UserSummary]:
        return [u for u in self.users if u.status == FAILED]

    def count(self, status: str) -> int:
        return sum(1 for u in self.users if u.status == status)


@dataclass
class _Run:
    """The loop's memory of one user (the database holds the rest)."""

    name: str
    failures: int = 0
    not_before: float = 0.0
    deferred: str | None = None
    turns: int = 0
    prepares: int = 0
    pages: int = 0
    records: int = 0
    seconds: float = 0.0
    synced_in_run: bool = False
    last_error: str | None = None
    last_exc: OdooSyncError | None = None
    failures_total: int = 0
    retries: int = 0
    request_retries: int = 0


@dataclass(frozen=True)
class _Outcome:
    """How one turn ended."""

    user: str
    status: str | None
    pages: int = 0
    records: int = 0
    seconds: float = 0.0
    prepared: bool = False
    busy: bool = False
    transient: bool = False
    error: OdooSyncError | None = None
    retry_after: float | None = None
    request_retries: int = 0


class Scheduler:
    """Runs the users' syncs; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        users: Sequence[str] | None = None,
        interval: float = 10.0,
        once: bool = False,
        workers: int | None = None,
        slice_seconds: float = 5.0,
        streams: int | None = None,
        backoff: Backoff | None = None,
        busy_recheck: float = BUSY_RECHECK_SECONDS,
        reporter: Reporter | None = None,
        connect: engine.ClientFactory = engine.make_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ConfigError("--interval must be more than 0 seconds")
        if workers is not None and workers < 1:
            raise ConfigError("--workers must be 1 or more")
        engine.check_streams(streams)
        if slice_seconds <= 0:
            raise ConfigError("--slice-seconds must be more than 0")
        self.settings = settings
        self.selected = tuple(dict.fromkeys(users)) if users else None
        self.interval = interval
        self.once = once
        self.workers = workers
        self.streams = streams
        self.slice_seconds = slice_seconds
        self.backoff = backoff or Backoff()
        self.busy_recheck = busy_recheck
        self.reporter: Reporter = reporter or NullReporter()
        self.connect = connect
        self.clock = clock
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._signal: int | None = None
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._ready: deque[str] = deque()
        self._running: set[str] = set()
        self._errors: list[OdooSyncError] = []
        self._ticks = 0
        self._started_at: str | None = None
        self._started: float | None = None
        self._last_tick_at: str | None = None
        self._finished_run = False
        # Where this process starts in the list of users. Processes started together (many
        # loops on one PostgreSQL) would otherwise all reach for the same users first, and
        # each refusal costs a turn; from random points of the list they mostly take different
        # users. A SQLite mirror has one machine's processes: the list is read in order there.
        self._start_at = random.random() if is_server_url(settings.db) else 0.0

    # ---- control, from any thread (a signal handler, a test, the status endpoint)

    def request_stop(self, signal_number: int | None = None) -> None:
        """Start no new page; ``run`` returns once every turn has stored its page in flight."""
        if signal_number is not None and self._signal is None:
            self._signal = signal_number
        self._stop.set()

    def abort(self, signal_number: int | None = None) -> None:
        """Make ``run`` return at once, without waiting for the workers."""
        if signal_number is not None:
            self._signal = signal_number
        self._stop.set()
        self._abort.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def health(self) -> dict[str, Any]:
        """The loop's state for ``GET /healthz``."""
        now = self.clock()
        with self._lock:
            waiting = {
                r.name: {"state": r.deferred, "retryIn": round(max(0.0, r.not_before - now), 1)}
                for r in self._runs.values()
                if r.deferred is not None
            }
            if self._finished_run:
                state = "stopped"
            elif self._started is None:
                state = "starting"
            else:
                state = "stopping" if self.stopping else "running"
            return {
                "status": state,
                "startedAt": self._started_at,
                "uptimeSeconds": None if self._started is None else round(now - self._started, 1),
                "ticks": self._ticks,
                "lastTickAt": self._last_tick_at,
                "workers": self._limit(),
                "workersMax": self.workers or WORKERS_CEILING,
                "running": sorted(self._running),
                "ready": list(self._ready),
                "waiting": waiting,
            }

    def counters(self) -> LoopCounters:
        """What this process did per user, and the users it works on now, for ``/metrics``."""
        with self._lock:
            users = {
                r.name: UserCounters(
                    pages=r.pages,
                    records=r.records,
                    failures=r.failures_total,
                    retries=r.retries,
                    request_retries=r.request_retries,
                )
                for r in self._runs.values()
                if self._wanted(r.name)
            }
            return LoopCounters(this_process(), users, tuple(sorted(self._running)))

    # ---- the main loop

    def run(self) -> LoopSummary:
        """Work the users until stopped (or, with ``once``, until none has work left)."""
        if self.selected:
            for name in self.selected:
                engine.user_get(self.settings, name)  # an unknown name fails before any work
        self._started = started = self.clock()
        self._started_at = utc_now()
        # Threads start only when needed: a pool as wide as the ceiling costs nothing idle.
        pool = ThreadPoolExecutor(
            max_workers=self.workers or WORKERS_CEILING, thread_name_prefix="odoosync-worker"
        )
        futures: dict[Future[_Outcome], str] = {}
        next_tick = started
        try:
            while not self._abort.is_set():
                now = self.clock()
                if not self.stopping and (now >= next_tick or self._deferred_due(now)):
                    self._tick(now)
                    if now >= next_tick:
                        next_tick = now + self.interval
                if not self.stopping:
                    self._submit(pool, futures)
                if not futures and (self.stopping or (self.once and self._finished())):
                    break
                if self.stopping:
                    timeout = POLL_SECONDS
                else:
                    timeout = max(0.0, min(POLL_SECONDS, next_tick - now, self._next_due(now)))
                if futures:
                    done, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
                    for future in done:
                        name = futures.pop(future)
                        self._settle(name, future, self.clock())
                else:
                    self._abort.wait(timeout)
        finally:
            aborted = self._abort.is_set()
            stopped = self._stop.is_set()
            # Also on an exception (a KeyboardInterrupt without our handlers): turns in flight
            # store their page and end. After an abort they are left to die with the process.
            self._stop.set()
            pool.shutdown(wait=not aborted, cancel_futures=True)
            self._finished_run = True
        return self._summary(self.clock() - started, stopped=stopped, aborted=aborted)

    def _busy_due(self, now: float) -> float:
        """When a user another process holds is looked at again: at least ``busy_recheck``
        from now, on a grid of ``busy_recheck``, so that the users found busy at different
        moments come due together and cost one read of the users, not one each."""
        step = self.busy_recheck
        return (math.floor((now + step) / step) + 1) * step if step > 0 else now

    def _deferred_due(self, now: float) -> bool:
        with self._lock:
            return any(r.deferred is not None and r.not_before <= now for r in self._runs.values())

    def _next_due(self, now: float) -> float:
        with self._lock:
            dues = [r.not_before - now for r in self._runs.values() if r.deferred is not None]
        return min(dues, default=POLL_SECONDS)

    def _finished(self) -> bool:
        """With ``once``: nothing queued, and no user waits on another process's lease."""
        with self._lock:
            return not self._ready and not any(r.deferred == BUSY for r in self._runs.values())

    def _tick(self, now: float) -> None:
        try:
            with engine.open_mirror(self.settings) as store:
                users = [u for u in store.list_users() if self._wanted(u.name)]
                elsewhere = {n for n, o in store.holders().items() if not owned_here(o)}
        except StoreError:
            if self._ticks == 0:
                raise  # a missing or foreign database file: say so at once
            return  # locked for longer than the busy timeout: the next tick reads again
        start = int(len(users) * self._start_at)
        users = users[start:] + users[:start]
        present = {u.name for u in users}
        with self._lock:
            self._ticks += 1
            self._last_tick_at = utc_now()
            for run in self._runs.values():
                if run.name not in present or (run.deferred and run.not_before <= now):
                    run.deferred = None
            for user in users:
                run = self._runs.setdefault(user.name, _Run(user.name))
                if user.name in self._running or user.name in self._ready:
                    continue
                if run.not_before > now or not self._has_work(user, run):
                    continue
                if user.name in elsewhere:
                    run.deferred = BUSY
                    run.not_before = self._busy_due(now)
                    continue
                self._ready.append(user.name)

    def _wanted(self, name: str) -> bool:
        return self.selected is None or name in self.selected

    def _has_work(self, user: UserRecord, run: _Run) -> bool:
        if user.status in (NOT_STARTED, IN_PROGRESS, FAILED):
            return True
        if user.status == DONE:
            return self._refresh_due(user, run)
        return False

    def _refresh_due(self, user: UserRecord, run: _Run | None) -> bool:
        if self.once and run is not None and run.synced_in_run:
            return False  # one pass per user: a short refresh period must not loop forever
        refresh = self.settings.for_user(user.name).refresh
        return is_due(parse_timestamp(user.last_success), refresh, datetime.now(UTC))

    def _limit(self) -> int:
        """Users that may sync at once now (the lock held or not: a figure, not a decision)."""
        return concurrency(len(self._ready) + len(self._running), self.workers)

    def _submit(self, pool: ThreadPoolExecutor, futures: dict[Future[_Outcome], str]) -> None:
        with self._lock:
            while self._ready and len(self._running) < self._limit():
                name = self._ready.popleft()
                self._running.add(name)
                futures[pool.submit(self._turn, name)] = name

    def _settle(self, name: str, future: Future[_Outcome], now: float) -> None:
        try:
            outcome = future.result()
        except BaseException as exc:  # a bug in a turn must not end the loop for the others
            outcome = _Outcome(name, FAILED, error=OdooSyncError(f"unexpected {exc!r}"))
        note: tuple[str, str] | None = None
        with self._lock:
            self._running.discard(name)
            run = self._runs.setdefault(name, _Run(name))
            run.turns += 1
            run.pages += outcome.pages
            run.records += outcome.records
            run.seconds += outcome.seconds
            run.prepares += int(outcome.prepared)
            run.request_retries += outcome.request_retries
            if outcome.busy:
                run.deferred = BUSY
                run.not_before = self._busy_due(now)
                note = (BUSY, "another odoosync process is working on it; waiting")
            elif outcome.error is not None:
                run.failures += 1
                run.failures_total += 1
                delay = self.backoff.delay(run.failures)
                if outcome.retry_after is not None:
                    delay = max(delay, outcome.retry_after)
                run.deferred = WAITING
                run.not_before = now + delay
                run.last_error = str(outcome.error)
                run.last_exc = outcome.error
                self._errors.append(outcome.error)
                state = WAITING if outcome.transient else FAILED
                note = (state, f"{outcome.error} (next try in {delay:.0f} s)")
            else:
                run.failures = 0
                if outcome.status == DONE:
                    run.synced_in_run = True
                elif outcome.status == IN_PROGRESS and not self.stopping:
                    self._ready.append(name)  # the back of the queue: the others go first
        if note is not None:
            self.reporter.emit(UserState(name, note[0], note[1]))

    # ---- one turn, in a worker thread

    def _turn(self, name: str) -> _Outcome:
        started = self.clock()
        try:
            outcome = self._work(name)
        except LeaseError:
            return _Outcome(name, None, busy=True)
        except StoreError as exc:
            # The database was locked or moved under us: try later, the user's state is intact.
            return _Outcome(name, None, transient=True, error=exc)
        except (OdooError, ConfigError) as exc:
            self._mark_failed(name, exc)
            retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
            return _Outcome(name, FAILED, error=exc, retry_after=retry_after)
        except OdooSyncError:
            # A refusal: another process planned this user between our read and our prepare.
            return _Outcome(name, IN_PROGRESS, seconds=self.clock() - started)
        return replace(outcome, seconds=self.clock() - started)

    def _work(self, name: str) -> _Outcome:
        settings = self.settings
        with engine.open_mirror(settings) as store:
            user = store.get_user(name)
        if user is None:
            return _Outcome(name, None)  # removed meanwhile
        status = user.status
        if status == FAILED:
            with self._lock:
                self._runs.setdefault(name, _Run(name)).retries += 1
            self.reporter.emit(UserState(name, RETRYING, user.last_error))
            status = engine.retry(settings, users=[name])[0].status
        if status == NOT_STARTED or (status == DONE and self._refresh_due(user, self._run(name))):
            kind = "incremental" if status == DONE else None
            self.reporter.emit(UserState(name, PREPARING, kind))
            result = engine.prepare(
                settings, users=[name], reporter=self.reporter, connect=self.connect
            )[0]
            batches = sum(m.batches + int(m.reconcile) for m in result.modules)
            expected = sum(m.expected for m in result.modules)
            self._report_totals(name)
            planned = f"planned {batches} batch(es), ~{expected:,} record(s)"
            self.reporter.emit(UserState(name, IN_PROGRESS, planned))
            return _Outcome(name, IN_PROGRESS, prepared=True)
        if status != IN_PROGRESS:
            return _Outcome(name, status)
        self._report_totals(name)
        self.reporter.emit(UserState(name, SYNCING))
        report = engine.step(
            settings,
            users=[name],
            max_seconds=self.slice_seconds,
            reporter=self.reporter,
            connect=self.connect,
            stop=self._stop.is_set,
            streams=self.streams,
        )
        # No step of the user at all: the slice ended before its first page (opening the
        # database took it all); the user is still in progress and goes back in line.
        step = report.users[0] if report.users else engine.UserStep(name, status=IN_PROGRESS)
        error = None
        if step.status == FAILED:
            error = step.error or OdooSyncError(
                f"user '{name}': {step.note or 'its sync failed'}",
                hint=f"See `odoosync status --user {name}`.",
            )
        return _Outcome(
            name,
            step.status,
            step.pages,
            step.records,
            error=error,
            request_retries=step.retries,
        )

    def _run(self, name: str) -> _Run | None:
        with self._lock:
            return self._runs.get(name)

    def _report_totals(self, name: str) -> None:
        self.reporter.emit(engine.status(self.settings, user=name)[0].totals())

    def _mark_failed(self, name: str, exc: OdooSyncError) -> None:
        """Most failures are marked by the engine; make sure the rest are too."""
        try:
            with engine.open_mirror(self.settings) as store:
                user = store.get_user(name)
                if user is not None and user.status != FAILED:
                    store.set_status(name, FAILED, error=str(exc))
        except StoreError:
            pass  # the next turn reads the state again; the error is reported either way

    # ---- the end

    def _summary(self, seconds: float, *, stopped: bool, aborted: bool) -> LoopSummary:
        statuses: dict[str, UserRecord] = {}
        if not aborted:
            try:
                with engine.open_mirror(self.settings) as store:
                    statuses = {u.name: u for u in store.list_users()}
            except StoreError:
                statuses = {}
        now = self.clock()
        with self._lock:
            names = [n for n in self._runs if self._wanted(n)]
            users = tuple(
                UserSummary(
                    user=n,
                    status=statuses[n].status if n in statuses else "unknown",
                    turns=r.turns,
                    prepares=r.prepares,
                    pages=r.pages,
                    records=r.records,
                    failures=r.failures,
                    seconds=r.seconds,
                    last_error=(statuses[n].last_error if n in statuses else None) or r.last_error,
                    retry_in=max(0.0, r.not_before - now) if r.deferred else None,
                    exit_code=None if r.last_exc is None else r.last_exc.exit_code,
                )
                for n in sorted(names)
                for r in [self._runs[n]]
            )
            errors = tuple(self._errors)
        return LoopSummary(
            users=users,
            seconds=seconds,
            ticks=self._ticks,
            stopped=stopped,
            aborted=aborted,
            signal_number=self._signal,
            errors=errors,
        )


@dataclass
class SignalState:
    """How many stop signals arrived."""

    count: int = 0
    names: list[str] = field(default_factory=list)


@contextmanager
def stop_on_signals(
    scheduler: Scheduler, on_first: Callable[[str], None] | None = None
) -> Iterator[SignalState]:
    """The first SIGINT/SIGTERM asks the scheduler to stop, a second one aborts it.

    The previous handlers are put back on leaving. Outside the main thread (where Python
    delivers signals) this installs nothing.
    """
    state = SignalState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        state.count += 1
        name = signal.Signals(signum).name
        state.names.append(name)
        if state.count == 1:
            scheduler.request_stop(signum)
            if on_first is not None:
                on_first(name)
        else:
            scheduler.abort(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

"""One user's batches, up to ``streams`` at once, each page by page with its cursor.

The user's data batches are id ranges (or one incremental window) that do not overlap, so
several can be read at once. Each *lane* works one batch: a pool thread fetches its next page
while this thread (the only one that writes, on the step's own connection) commits the page
before, with its cursor, in one transaction. A lane asks for page k+1 as soon as page k has
arrived: its domain depends only on page k's last id. With one stream this is the read-ahead
of a plain sync; with N, N batches are read at once, which a prefork Odoo (``workers`` > 0)
serves in parallel.

What keeps it exact, whatever N is:

- a batch is worked by one lane at a time (:func:`startable` never hands out a busy one), so its
  pages are fetched and committed in order, each commit guarded by the cursor it was read from;
- every page a lane fetched is committed, also when the budget ends, a stop is asked for, or
  another lane fails: nothing fetched is thrown away to be fetched again (a page that cannot be
  committed, because the lease was lost, is the exception);
- reconcile batches start only once every data batch of the user is done, and run here, one
  page at a time (they read the mirror between their requests);
- a kill at any instant leaves each batch at its last committed cursor: the next step resumes
  every running batch from there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import NoReturn

from odoo_sync_cli.config import UserSettings
from odoo_sync_cli.domain import CursorError
from odoo_sync_cli.errors import OdooError, RetriableError, ServerError
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.models import (
    BATCH_DONE,
    BATCH_FAILED,
    PENDING,
    RECONCILE,
    RUNNING,
    Batch,
    Lease,
    UserRecord,
)
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.progress import (
    BatchFailed,
    BatchFinished,
    BatchStarted,
    Note,
    PageStored,
    Reporter,
)
from odoo_sync_cli.runner import (
    PageResult,
    Reading,
    Records,
    commit_page,
    fetch_page,
    page_end,
    run_reconcile_page,
)


@dataclass
class Budget:
    """How many pages may still start, and until when; ``stop`` ends it early."""

    max_pages: int | None
    deadline: float | None
    clock: Callable[[], float]
    stop: Callable[[], bool] | None = None
    # Pages fetched (or being fetched), and pages committed.
    started: int = 0
    pages: int = 0

    def left(self) -> bool:
        """Whether another page may start."""
        if self.stop is not None and self.stop():
            return False
        if self.max_pages is not None and self.started >= self.max_pages:
            return False
        return self.deadline is None or self.clock() < self.deadline


def startable(batches: Sequence[Batch], busy: Collection[int], room: int) -> list[Batch]:
    """The batches to start now, at most ``room``, in plan order.

    ``batches`` are the user's batches as they stand; ``busy`` the ids of those a lane works.
    Data batches first; a reconcile batch only once no data batch is left undone, so deletions
    are judged on fresh data.
    """
    open_batches = [b for b in batches if b.status != BATCH_DONE]
    data_left = any(b.kind != RECONCILE for b in open_batches)
    chosen: list[Batch] = []
    for batch in open_batches:
        if len(chosen) >= room:
            break
        if batch.id in busy or batch.status == BATCH_FAILED:
            continue
        if batch.kind == RECONCILE and data_left:
            continue
        chosen.append(batch)
    return chosen


@dataclass
class Tally:
    """What the lanes did, for the step's report."""

    pages: int = 0
    records: int = 0
    batches_finished: int = 0
    removed: int = 0
    restored: int = 0
    retries: int = 0


@dataclass
class _Lane:
    batch: Batch
    reading: Reading
    future: Future[Records] | None = None
    cursor: int = 0


@dataclass
class UserLanes:
    """Works one user's open batches with up to ``width`` lanes (see the module docstring).

    ``connect`` gives the client, connected, the first time a page is to be read; ``readings``
    how each module's pages are read.
    """

    store: Mirror
    lease: Lease
    user: UserRecord
    us: UserSettings
    width: int
    readings: Callable[[Batch], Reading]
    connect: Callable[[], OdooClient]
    budget: Budget
    reporter: Reporter
    tally: Tally = field(default_factory=Tally)
    _batches: dict[int, Batch] = field(default_factory=dict)
    _lanes: dict[int, _Lane] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _client: OdooClient | None = None

    def run(self, batches: Sequence[Batch]) -> bool:
        """Work until every batch is done (True) or the budget ends (False). Raises the first
        error; every page fetched before it is committed first."""
        self._batches = {b.id: b for b in batches}
        with self._pool_open():
            while True:
                room = self.width - len(self._lanes)
                for batch in startable(self._ordered(), self._lanes, room):
                    if not self.budget.left():
                        break
                    self._start(batch)
                if not self._lanes:
                    return all(b.status == BATCH_DONE for b in self._batches.values())
                self._advance()

    # ---- the lanes

    def _ordered(self) -> list[Batch]:
        return sorted(self._batches.values(), key=lambda b: b.seq)

    def _start(self, batch: Batch) -> None:
        reading = self.readings(batch)
        client = self._connected()
        if batch.status == PENDING:
            self.store.start_batch(batch.id, self.lease.owner, self.user.name, self.lease.ttl)
            batch = replace(batch, status=RUNNING, attempts=batch.attempts + 1)
            self._batches[batch.id] = batch
            self.reporter.emit(BatchStarted(self.user.name, batch))
        lane = _Lane(batch, reading, cursor=batch.cursor)
        self._lanes[batch.id] = lane
        if batch.kind != RECONCILE:
            self._fetch(lane, client)

    def _fetch(self, lane: _Lane, client: OdooClient) -> None:
        assert self._pool is not None
        self.budget.started += 1
        batch, reading, cursor = lane.batch, lane.reading, lane.cursor
        lane.future = self._pool.submit(
            fetch_page, client, batch, reading, self.us.page_size, cursor
        )

    def _advance(self) -> None:
        """Store one reconcile page, or wait for fetched pages and commit them."""
        inline = [lane for lane in self._lanes.values() if lane.future is None]
        if inline:
            self._reconcile_page(inline[0])
            return
        futures = {lane.future: lane for lane in self._lanes.values() if lane.future}
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        for lane in sorted((futures[f] for f in done), key=lambda lane: lane.batch.seq):
            self._arrived(lane)

    def _arrived(self, lane: _Lane) -> None:
        batch = lane.batch
        assert lane.future is not None
        future, lane.future = lane.future, None
        try:
            records = future.result()
            cursor, done = page_end(batch, records, self.us.page_size)
        except OdooError as exc:
            if isinstance(exc, RetriableError):
                exc.hint = resume_hint(self.user.name)
            self._failed(batch, exc)
        except CursorError as exc:
            self._failed(batch, cursor_error(self.user, batch, exc))
        lane.cursor = cursor
        if not done and self.budget.left():
            # The next page is asked for before this one is stored.
            self._fetch(lane, self._connected())
        page = commit_page(self.store, self.lease, batch, lane.reading, records, cursor, done)
        self._stored(lane, page)
        if lane.future is None:  # done, or the budget is spent: the lane ends
            del self._lanes[batch.id]

    def _reconcile_page(self, lane: _Lane) -> None:
        if not self.budget.left():
            del self._lanes[lane.batch.id]
            return
        self.budget.started += 1
        try:
            page = run_reconcile_page(
                self._connected(),
                self.store,
                self.lease,
                lane.batch,
                lane.reading,
                id_page_size=self.us.id_page_size,
                page_size=self.us.page_size,
                hard_delete=self.us.hard_delete,
            )
        except OdooError as exc:
            if isinstance(exc, RetriableError):
                exc.hint = resume_hint(self.user.name)
            self._failed(lane.batch, exc)
        except CursorError as exc:
            self._failed(lane.batch, cursor_error(self.user, lane.batch, exc))
        self._stored(lane, page)
        if page.done:
            del self._lanes[lane.batch.id]

    def _stored(self, lane: _Lane, page: PageResult) -> None:
        batch = page.batch
        lane.batch = self._batches[batch.id] = batch
        self.budget.pages += 1
        t = self.tally
        t.pages += 1
        t.records += page.records
        t.removed += page.removed
        if batch.kind == RECONCILE:
            t.restored += page.records
        self.reporter.emit(PageStored(self.user.name, batch, page.records))
        if not page.done:
            return
        t.batches_finished += 1
        if batch.kind == RECONCILE:
            self.reporter.emit(
                Note(
                    self.user.name,
                    f"{batch.module}: reconcile checked {batch.synced} ids, "
                    f"{t.removed} gone, {t.restored} restored",
                )
            )
            t.removed = t.restored = 0
        self.reporter.emit(BatchFinished(self.user.name, batch))

    def _failed(self, batch: Batch, error: OdooError) -> NoReturn:
        """Fail ``batch`` (its cursor kept), commit what the other lanes fetched, raise."""
        self._lanes.pop(batch.id, None)
        self.store.fail_batch(batch.id, self.user.name, str(error))
        self.reporter.emit(BatchFailed(self.user.name, batch, str(error)))
        self._drain()
        raise error

    def _drain(self) -> None:
        """Commit the pages the other lanes have in flight; start no new one."""
        for lane in sorted(self._lanes.values(), key=lambda lane: lane.batch.seq):
            future, lane.future = lane.future, None
            if future is None:
                continue
            try:
                records = future.result()
                cursor, done = page_end(lane.batch, records, self.us.page_size)
            except (OdooError, CursorError):
                continue  # its batch keeps its cursor; the page is asked for again later
            page = commit_page(
                self.store, self.lease, lane.batch, lane.reading, records, cursor, done
            )
            self._stored(lane, page)
        self._lanes.clear()

    # ---- resources

    def _connected(self) -> OdooClient:
        if self._client is None:
            self._client = self.connect()
        return self._client

    @contextmanager
    def _pool_open(self) -> Iterator[None]:
        self._pool = ThreadPoolExecutor(
            max_workers=self.width, thread_name_prefix="odoosync-stream"
        )
        try:
            yield
        except BaseException:
            # A commit that failed (the lease lost) or an interrupt: pages in flight are not
            # stored, but no request of ours may still run when the client closes.
            for lane in self._lanes.values():
                if lane.future is not None and not lane.future.cancel():
                    lane.future.exception()
            raise
        finally:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self) -> None:
        if self._client is not None:
            self.tally.retries += self._client.stats.retries
            self._client.close()
            self._client = None


def resume_hint(name: str) -> str:
    return (
        f"The batches keep their cursors: `odoosync retry --user {name}` resumes where the sync "
        "stopped (the loop retries by itself, with back-off)."
    )


def cursor_error(user: UserRecord, batch: Batch, exc: CursorError) -> ServerError:
    return ServerError(
        f"the server answered a page out of id order ({exc})",
        user=user.name,
        url=user.url,
        model=batch.model,
        method="search_read",
    )


def failed_earlier(batches: Sequence[Batch]) -> Batch | None:
    """The first failed batch: it stops the user until ``retry``."""
    return next((b for b in batches if b.status == BATCH_FAILED), None)

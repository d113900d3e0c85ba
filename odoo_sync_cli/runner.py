"""One page of a batch: fetch it from Odoo, then commit it with its cursor in one transaction.

A data page is ``search_read(model, filter + bounds + [('id', '>', cursor)], fields,
order='id asc', limit=page_size, context={'active_test': False})``. A reconcile page lists ids the
same way, reads only the ids the mirror lacks, and marks gone the mirror ids the listing skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from odoo_sync_cli.domain import (
    NO_ACTIVE_TEST,
    ORDER_BY_ID,
    advance_cursor,
    and_domains,
    id_list_domain,
    page_domain,
    page_is_last,
)
from odoo_sync_cli.mirror.base import Page, ReconcilePage, RecordSink
from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.models import BATCH_DONE, RUNNING, Batch, Lease
from odoo_sync_cli.odoo import OdooClient


@dataclass(frozen=True)
class PageResult:
    """What one page did; ``batch`` is the batch as stored after it."""

    batch: Batch
    records: int
    done: bool
    removed: int = 0


Records = list[dict[str, Any]]


def list_ids(client: OdooClient, model: str, domain: Sequence[Any], page: int) -> Iterator[int]:
    """Every id matching ``domain``, archived included, paged by id: never one giant call."""
    cursor = 0
    while True:
        ids = client.search(
            model,
            id_list_domain(domain, cursor=cursor),
            order=ORDER_BY_ID,
            limit=page,
            context=dict(NO_ACTIVE_TEST),
        )
        yield from ids
        if len(ids) < page:
            return
        cursor = ids[-1]


class ReadAhead:
    """Fetch a batch's next page while the current one is being stored.

    The next page's domain depends only on the last id of the current page, so it can be asked
    for before the current page is written. The page is only taken by the call that asks for the
    same batch and cursor; anything else throws it away unread, so correctness never depends on
    it. It overlaps the server's work and the network with SQLite's.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._key: tuple[int, int] | None = None
        self._future: Future[Records] | None = None

    def pending(self, batch: Batch) -> bool:
        """Whether a page for this batch and cursor is on its way."""
        return self._future is not None and self._key == (batch.id, batch.cursor)

    def take(self, batch: Batch, fetch: Callable[[], Records]) -> Records:
        """The page read ahead for this batch and cursor, else a fresh fetch."""
        if self._future is not None and self._key == (batch.id, batch.cursor):
            future, self._future, self._key = self._future, None, None
            return future.result()
        self.discard()
        return fetch()

    def start(self, batch_id: int, cursor: int, fetch: Callable[[], Records]) -> None:
        self.discard()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="odoosync-read-ahead")
        self._key = (batch_id, cursor)
        self._future = self._pool.submit(fetch)

    def discard(self) -> None:
        future, self._future, self._key = self._future, None, None
        if future is not None and not future.cancel():
            # Wait, so that no request of ours is still running when the client closes.
            future.exception()

    def close(self) -> None:
        self.discard()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _after(batch: Batch, cursor: int, count: int, done: bool) -> Batch:
    return replace(
        batch,
        cursor=cursor,
        synced=batch.synced + count,
        pages=batch.pages + 1,
        status=BATCH_DONE if done else RUNNING,
    )


def run_page(
    client: OdooClient,
    sink: RecordSink,
    lease: Lease,
    batch: Batch,
    spec: TableSpec,
    module_filter: Sequence[Any],
    page_size: int,
    *,
    read_ahead: ReadAhead | None = None,
    more: bool = True,
) -> PageResult:
    """Read and store the next page of a full or incremental batch.

    With ``read_ahead``, the following page is requested before this one is stored.
    """

    def fetch(cursor: int) -> Records:
        domain = page_domain(
            module_filter, cursor=cursor, hi_id=batch.hi_id, window_lo=batch.window_lo
        )
        return client.search_read(
            batch.model,
            domain,
            spec.fields,
            order=ORDER_BY_ID,
            limit=page_size,
            context=dict(NO_ACTIVE_TEST),
        )

    if read_ahead is None:
        records = fetch(batch.cursor)
    else:
        records = read_ahead.take(batch, lambda: fetch(batch.cursor))
    ids = [r.get("id") for r in records]
    cursor = advance_cursor(batch.cursor, ids)  # type: ignore[arg-type]
    done = page_is_last(ids, page_size, batch.hi_id)  # type: ignore[arg-type]
    if read_ahead is not None and more and not done:
        read_ahead.start(batch.id, cursor, lambda: fetch(cursor))
    sink.write_page(
        Page(
            lease=lease,
            batch=batch,
            spec=spec,
            records=records,
            cursor=cursor,
            done=done,
        )
    )
    return PageResult(_after(batch, cursor, len(records), done), len(records), done)


def run_reconcile_page(
    client: OdooClient,
    sink: RecordSink,
    lease: Lease,
    batch: Batch,
    spec: TableSpec,
    module_filter: Sequence[Any],
    *,
    id_page_size: int,
    page_size: int,
    hard_delete: bool,
) -> PageResult:
    """Compare one page of the server's ids with the mirror, both ways, and store the result."""
    ids = client.search(
        batch.model,
        id_list_domain(module_filter, cursor=batch.cursor),
        order=ORDER_BY_ID,
        limit=id_page_size,
        context=dict(NO_ACTIVE_TEST),
    )
    cursor = advance_cursor(batch.cursor, ids)
    done = len(ids) < id_page_size
    missing = sink.missing_ids(lease.user, spec.table, ids)
    records: list[dict[str, Any]] = []
    for start in range(0, len(missing), page_size):
        chunk = missing[start : start + page_size]
        # search_read, not read: it gives x2many values exactly as the data pages do.
        records.extend(
            client.search_read(
                batch.model,
                and_domains(module_filter, [["id", "in", chunk]]),
                spec.fields,
                order=ORDER_BY_ID,
                context=dict(NO_ACTIVE_TEST),
            )
        )
    removed = sink.reconcile_page(
        ReconcilePage(
            lease=lease,
            batch=batch,
            spec=spec,
            records=records,
            cursor=cursor,
            done=done,
            server_ids=ids,
            hi_id=None if done else cursor,
            hard_delete=hard_delete,
        )
    )
    after = replace(_after(batch, cursor, len(ids), done), restored=batch.restored + len(records))
    return PageResult(after, len(records), done, removed)

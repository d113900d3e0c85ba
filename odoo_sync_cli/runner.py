"""One page of a batch: fetch it from Odoo, then commit it with its cursor in one transaction.

A data page is ``read_page(model, filter + bounds + [('id', '>', cursor)], fields,
names=..., order='id asc', limit=page_size, context={'active_test': False})``: on Odoo 17 and
later one ``web_search_read`` that formats only the display names a module needs (those of
many2one fields whose comodel the user does not mirror), else ``search_read``. A reconcile page
lists ids the same way, reads only the ids the mirror lacks, and marks gone the mirror ids the
listing skipped.

Fetching and committing are apart (:func:`fetch_page`, :func:`commit_page`) so that several
threads can read pages while one commits them (``engine/streams.py``); a page's next domain
depends only on the last id of the page before, so it can be asked for before that one is
stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class Reading:
    """How a module's pages are read: its columns, its filter, and the many2one fields that
    come with their display name (the others come as bare ids; their ``_name`` column stays
    empty)."""

    spec: TableSpec
    domain: Sequence[Any]
    names: tuple[str, ...]

    @classmethod
    def of(cls, spec: TableSpec, domain: Sequence[Any], names: Sequence[str] | None) -> Reading:
        """``names`` None (a plan made before they were chosen): every many2one is named."""
        if names is None:
            names = [c.field for c in spec.columns if c.type == "many2one"]
        fields = set(spec.fields)
        return cls(spec, list(domain), tuple(n for n in names if n in fields))


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


def fetch_page(
    client: OdooClient, batch: Batch, reading: Reading, page_size: int, cursor: int
) -> Records:
    """The page of a full or incremental batch that follows ``cursor``."""
    domain = page_domain(
        reading.domain, cursor=cursor, hi_id=batch.hi_id, window_lo=batch.window_lo
    )
    return client.read_page(
        batch.model,
        domain,
        reading.spec.fields,
        names=reading.names,
        order=ORDER_BY_ID,
        limit=page_size,
        context=dict(NO_ACTIVE_TEST),
    )


def page_end(batch: Batch, records: Records, page_size: int) -> tuple[int, bool]:
    """The cursor after ``records`` and whether they end the batch (CursorError when the
    server answered out of id order)."""
    ids = [r.get("id") for r in records]
    cursor = advance_cursor(batch.cursor, ids)  # type: ignore[arg-type]
    return cursor, page_is_last(ids, page_size, batch.hi_id)  # type: ignore[arg-type]


def commit_page(
    sink: RecordSink,
    lease: Lease,
    batch: Batch,
    reading: Reading,
    records: Records,
    cursor: int,
    done: bool,
) -> PageResult:
    """Store a fetched page and move its batch's cursor, in one transaction."""
    sink.write_page(
        Page(lease=lease, batch=batch, spec=reading.spec, records=records, cursor=cursor, done=done)
    )
    return PageResult(_after(batch, cursor, len(records), done), len(records), done)


def run_page(
    client: OdooClient,
    sink: RecordSink,
    lease: Lease,
    batch: Batch,
    reading: Reading,
    page_size: int,
) -> PageResult:
    """Read and store the next page of a full or incremental batch."""
    records = fetch_page(client, batch, reading, page_size, batch.cursor)
    cursor, done = page_end(batch, records, page_size)
    return commit_page(sink, lease, batch, reading, records, cursor, done)


def _after(batch: Batch, cursor: int, count: int, done: bool) -> Batch:
    return replace(
        batch,
        cursor=cursor,
        synced=batch.synced + count,
        pages=batch.pages + 1,
        status=BATCH_DONE if done else RUNNING,
    )


def run_reconcile_page(
    client: OdooClient,
    sink: RecordSink,
    lease: Lease,
    batch: Batch,
    reading: Reading,
    *,
    id_page_size: int,
    page_size: int,
    hard_delete: bool,
) -> PageResult:
    """Compare one page of the server's ids with the mirror, both ways, and store the result."""
    ids = client.search(
        batch.model,
        id_list_domain(reading.domain, cursor=batch.cursor),
        order=ORDER_BY_ID,
        limit=id_page_size,
        context=dict(NO_ACTIVE_TEST),
    )
    cursor = advance_cursor(batch.cursor, ids)
    done = len(ids) < id_page_size
    missing = sink.missing_ids(lease.user, reading.spec.table, ids)
    records: Records = []
    for start in range(0, len(missing), page_size):
        chunk = missing[start : start + page_size]
        # Read as the data pages read: the same x2many values, the same names.
        records.extend(
            client.read_page(
                batch.model,
                and_domains(reading.domain, [["id", "in", chunk]]),
                reading.spec.fields,
                names=reading.names,
                order=ORDER_BY_ID,
                context=dict(NO_ACTIVE_TEST),
            )
        )
    removed = sink.reconcile_page(
        ReconcilePage(
            lease=lease,
            batch=batch,
            spec=reading.spec,
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

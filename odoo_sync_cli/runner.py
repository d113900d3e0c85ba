"""One page of a batch: fetch it from Odoo, then store it with its cursor in one transaction.

A data page is ``search_read(model, filter + bounds + [('id', '>', cursor)], fields,
order='id asc', limit=page_size, context={'active_test': False})``. A reconcile page lists ids the
same way, reads only the ids the mirror lacks, and marks gone the mirror ids the listing skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.store import BATCH_DONE, RUNNING, Batch, Store, TableSpec


@dataclass(frozen=True)
class Lease:
    """Who works a user, and for how long each commit extends that claim."""

    user: str
    owner: str
    ttl: float


@dataclass(frozen=True)
class PageResult:
    """What one page did; ``batch`` is the batch as stored after it."""

    batch: Batch
    records: int
    done: bool
    removed: int = 0


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
    store: Store,
    lease: Lease,
    batch: Batch,
    spec: TableSpec,
    module_filter: Sequence[Any],
    page_size: int,
) -> PageResult:
    """Read and store the next page of a full or incremental batch."""
    domain = page_domain(
        module_filter, cursor=batch.cursor, hi_id=batch.hi_id, window_lo=batch.window_lo
    )
    records = client.search_read(
        batch.model,
        domain,
        spec.fields,
        order=ORDER_BY_ID,
        limit=page_size,
        context=dict(NO_ACTIVE_TEST),
    )
    ids = [r.get("id") for r in records]
    cursor = advance_cursor(batch.cursor, ids)  # type: ignore[arg-type]
    done = page_is_last(ids, page_size, batch.hi_id)  # type: ignore[arg-type]
    store.store_page(
        user=lease.user,
        owner=lease.owner,
        ttl=lease.ttl,
        batch=batch,
        spec=spec,
        records=records,
        cursor=cursor,
        done=done,
    )
    return PageResult(_after(batch, cursor, len(records), done), len(records), done)


def run_reconcile_page(
    client: OdooClient,
    store: Store,
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
    missing = store.missing_ids(lease.user, spec.table, ids)
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
    removed = store.reconcile_page(
        user=lease.user,
        owner=lease.owner,
        ttl=lease.ttl,
        batch=batch,
        spec=spec,
        server_ids=ids,
        hi_id=None if done else cursor,
        records=records,
        cursor=cursor,
        done=done,
        hard_delete=hard_delete,
    )
    return PageResult(_after(batch, cursor, len(ids), done), len(records), done, removed)

"""``step``: work the users' current batches page by page until the budget ends.

Each page commits with its cursor (runner.py); a failure keeps the batch's cursor so that
``retry`` (or the loop) resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from odoo_sync_cli.config import Settings, UserSettings
from odoo_sync_cli.domain import CursorError
from odoo_sync_cli.engine.common import ClientFactory, Held, chosen_users, make_client, open_mirror
from odoo_sync_cli.engine.results import StepReport, UserStep
from odoo_sync_cli.errors import (
    ConfigError,
    LeaseError,
    OdooError,
    OdooSyncError,
    RetriableError,
    ServerError,
)
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.models import (
    BATCH_FAILED,
    DONE,
    FAILED,
    IN_PROGRESS,
    PENDING,
    RECONCILE,
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
    NullReporter,
    PageStored,
    Reporter,
    UserFinished,
    UserStarted,
)
from odoo_sync_cli.runner import PageResult, ReadAhead, run_page, run_reconcile_page


@dataclass
class _Budget:
    max_pages: int | None
    deadline: float | None
    clock: Callable[[], float]
    pages: int = 0
    stop: Callable[[], bool] | None = None

    def left(self) -> bool:
        if self.stop is not None and self.stop():
            return False
        if self.max_pages is not None and self.pages >= self.max_pages:
            return False
        return self.deadline is None or self.clock() < self.deadline

    def another_after_this(self) -> bool:
        """Whether the page after the one in hand may start: worth reading it ahead."""
        if self.max_pages is not None and self.pages + 1 >= self.max_pages:
            return False
        return self.left()


def step(
    settings: Settings,
    *,
    users: Sequence[str] | None = None,
    max_seconds: float | None = None,
    max_pages: int | None = None,
    reporter: Reporter | None = None,
    connect: ClientFactory = make_client,
    clock: Callable[[], float] = time.monotonic,
    stop: Callable[[], bool] | None = None,
) -> StepReport:
    """Work the users' current batches page by page until the budget ends or the syncs are done.

    ``stop`` is asked before each page; once it answers True no new page starts (the loop's
    graceful shutdown: the page in flight is stored, then the step returns).
    """
    reporter = reporter or NullReporter()
    if max_pages is not None and max_pages < 1:
        raise ConfigError("--max-pages must be 1 or more")
    if max_seconds is not None and max_seconds <= 0:
        raise ConfigError("--max-seconds must be more than 0")
    started = clock()
    budget = _Budget(
        max_pages, None if max_seconds is None else started + max_seconds, clock, stop=stop
    )
    report = StepReport()
    explicit = bool(users)
    with open_mirror(settings) as store:
        if max_seconds is not None:
            # The budget is for pages: opening a database server can take a good part of a
            # short slice.
            budget.deadline = clock() + max_seconds
        targets = chosen_users(store, users) if explicit else store.list_users()
        for user in targets:
            if user.status != IN_PROGRESS:
                if explicit:
                    report.users.append(
                        UserStep(user.name, status=user.status, note=_idle_note(user))
                    )
                continue
            if not budget.left():
                report.budget_exhausted = True
                break
            result = UserStep(user.name)
            report.users.append(result)
            try:
                _step_user(store, settings, user, budget, reporter, connect, result)
            except LeaseError as exc:
                if explicit:
                    raise
                result.note = str(exc)
            except OdooSyncError as exc:
                result.error = exc
                result.status = FAILED
                if explicit and len(targets) == 1:
                    raise
        report.budget_exhausted = report.budget_exhausted or not budget.left()
    report.pages = budget.pages
    report.seconds = clock() - started
    return report


def _idle_note(user: UserRecord) -> str:
    if user.status == DONE:
        return f"done; queue a new sync with `odoosync prepare --user {user.name}`"
    if user.status == FAILED:
        return f"failed; re-queue its failed work with `odoosync retry --user {user.name}`"
    return f"{user.status}; plan a sync with `odoosync prepare --user {user.name}`"


def _step_user(
    store: Mirror,
    settings: Settings,
    user: UserRecord,
    budget: _Budget,
    reporter: Reporter,
    connect: ClientFactory,
    result: UserStep,
) -> None:
    us = settings.for_user(user.name)
    with Held(store, user.name) as lease:
        batches = store.batches(user.name)
        done = sum(1 for b in batches if b.status == "done")
        reporter.emit(UserStarted(user.name, len(batches), done))
        modules = {m.module: m for m in store.module_rows(user.name)}
        specs: dict[str, TableSpec] = {}
        client: OdooClient | None = None
        read_ahead = ReadAhead()
        removed = restored = 0
        try:
            while True:
                batch = store.next_batch(user.name)
                if batch is None:
                    store.finish_sync(user.name, lease.owner, lease.ttl)
                    result.status = DONE
                    reporter.emit(UserFinished(user.name, DONE))
                    return
                if batch.status == BATCH_FAILED:
                    store.set_status(user.name, FAILED, error=batch.last_error)
                    result.status = FAILED
                    result.note = f"batch {batch.seq} failed earlier: {batch.last_error}"
                    return
                # A page already read ahead is the page in flight: store it before stopping.
                if not budget.left() and not read_ahead.pending(batch):
                    result.status = IN_PROGRESS
                    return
                row = modules.get(batch.module)
                if row is None:
                    raise ConfigError(
                        f"user '{user.name}': batch {batch.seq} names module '{batch.module}', "
                        "which has no saved plan",
                        hint=f"Plan again with `odoosync prepare --user {user.name} --restart`.",
                    )
                spec = specs.get(batch.module)
                if spec is None:
                    spec = specs[batch.module] = store.table_spec(row.table_name, row.fields)
                if client is None:
                    try:
                        client = connect(user, settings)
                        client.connect()
                    except (OdooError, ConfigError) as exc:
                        # No batch is at fault: the user fails, its batches keep their cursors.
                        if isinstance(exc, RetriableError):
                            exc.hint = _resume_hint(user.name)
                        store.set_status(user.name, FAILED, error=str(exc))
                        raise
                if batch.status == PENDING:
                    store.start_batch(batch.id, lease.owner, user.name, lease.ttl)
                    batch = _running(batch)
                    reporter.emit(BatchStarted(user.name, batch))
                try:
                    page = _one_page(
                        client,
                        store,
                        lease,
                        batch,
                        spec,
                        row.domain_list(),
                        us,
                        read_ahead,
                        budget.another_after_this(),
                    )
                except OdooError as exc:
                    if isinstance(exc, RetriableError):
                        # The stored message is what `status` shows a user whose cron `step`
                        # now skips this user: say how to resume, not only "try again later".
                        exc.hint = _resume_hint(user.name)
                    store.fail_batch(batch.id, user.name, str(exc))
                    reporter.emit(BatchFailed(user.name, batch, str(exc)))
                    raise
                except CursorError as exc:
                    error = _cursor_error(user, batch, exc)
                    store.fail_batch(batch.id, user.name, str(error))
                    reporter.emit(BatchFailed(user.name, batch, str(error)))
                    raise error from exc
                budget.pages += 1
                result.pages += 1
                result.records += page.records
                removed += page.removed
                if batch.kind == RECONCILE:
                    restored += page.records
                reporter.emit(PageStored(user.name, page.batch, page.records))
                if page.done:
                    result.batches_finished += 1
                    if batch.kind == RECONCILE:
                        reporter.emit(
                            Note(
                                user.name,
                                f"{batch.module}: reconcile checked {page.batch.synced} ids, "
                                f"{removed} gone, {restored} restored",
                            )
                        )
                        removed = restored = 0
                    reporter.emit(BatchFinished(user.name, page.batch))
        finally:
            read_ahead.close()
            if client is not None:
                result.retries += client.stats.retries
                client.close()


def _resume_hint(name: str) -> str:
    return (
        f"The batches keep their cursors: `odoosync retry --user {name}` resumes where the sync "
        "stopped (the loop retries by itself, with back-off)."
    )


def _running(batch: Batch) -> Batch:
    return replace(batch, status="running", attempts=batch.attempts + 1)


def _cursor_error(user: UserRecord, batch: Batch, exc: CursorError) -> ServerError:
    return ServerError(
        f"the server answered a page out of id order ({exc})",
        user=user.name,
        url=user.url,
        model=batch.model,
        method="search_read",
    )


def _one_page(
    client: OdooClient,
    store: Mirror,
    lease: Lease,
    batch: Batch,
    spec: TableSpec,
    domain: list[Any],
    us: UserSettings,
    read_ahead: ReadAhead | None = None,
    more: bool = True,
) -> PageResult:
    if batch.kind == RECONCILE:
        return run_reconcile_page(
            client,
            store,
            lease,
            batch,
            spec,
            domain,
            id_page_size=us.id_page_size,
            page_size=us.page_size,
            hard_delete=us.hard_delete,
        )
    return run_page(
        client, store, lease, batch, spec, domain, us.page_size, read_ahead=read_ahead, more=more
    )

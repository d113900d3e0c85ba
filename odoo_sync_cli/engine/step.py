"""``step``: work the users' current batches page by page until the budget ends.

Each page commits with its cursor (runner.py); a failure keeps the batch's cursor so that
``retry`` (or the loop) resumes where it stopped. Up to ``streams`` batches of a user are read
at once (engine/streams.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from odoo_sync_cli.allocator import keep_large_blocks_apart
from odoo_sync_cli.config import MAX_STREAMS, Settings
from odoo_sync_cli.engine.common import ClientFactory, Held, chosen_users, make_client, open_mirror
from odoo_sync_cli.engine.results import StepReport, UserStep
from odoo_sync_cli.engine.streams import Budget, UserLanes, failed_earlier, resume_hint
from odoo_sync_cli.errors import (
    ConfigError,
    LeaseError,
    OdooError,
    OdooSyncError,
    RetriableError,
)
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.models import (
    BATCH_DONE,
    DONE,
    FAILED,
    IN_PROGRESS,
    Batch,
    UserRecord,
)
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.progress import (
    NullReporter,
    Reporter,
    UserFinished,
    UserStarted,
)
from odoo_sync_cli.runner import Reading


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
    streams: int | None = None,
) -> StepReport:
    """Work the users' current batches page by page until the budget ends or the syncs are done.

    ``stop`` is asked before each page; once it answers True no new page starts (the loop's
    graceful shutdown: the pages in flight are stored, then the step returns). ``streams``
    (else each user's ``streams`` setting) is how many of a user's batches are read at once.
    """
    reporter = reporter or NullReporter()
    if max_pages is not None and max_pages < 1:
        raise ConfigError("--max-pages must be 1 or more")
    if max_seconds is not None and max_seconds <= 0:
        raise ConfigError("--max-seconds must be more than 0")
    check_streams(streams)
    # Without it, the peak memory of a big first sync grows with its number of pages.
    keep_large_blocks_apart()
    started = clock()
    budget = Budget(
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
                _step_user(store, settings, user, budget, reporter, connect, result, streams)
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


def check_streams(streams: int | None) -> None:
    if streams is not None and not 1 <= streams <= MAX_STREAMS:
        raise ConfigError(f"--streams must be between 1 and {MAX_STREAMS}, not {streams}")


def _step_user(
    store: Mirror,
    settings: Settings,
    user: UserRecord,
    budget: Budget,
    reporter: Reporter,
    connect: ClientFactory,
    result: UserStep,
    streams: int | None = None,
) -> None:
    us = settings.for_user(user.name)
    with Held(store, user.name) as lease:
        batches = store.batches(user.name)
        done = sum(1 for b in batches if b.status == BATCH_DONE)
        reporter.emit(UserStarted(user.name, len(batches), done))
        failed = failed_earlier(batches)
        if failed is not None:
            store.set_status(user.name, FAILED, error=failed.last_error)
            result.status = FAILED
            result.note = f"batch {failed.seq} failed earlier: {failed.last_error}"
            return
        modules = {m.module: m for m in store.module_rows(user.name)}
        readings: dict[str, Reading] = {}

        def reading(batch: Batch) -> Reading:
            found = readings.get(batch.module)
            if found is None:
                row = modules.get(batch.module)
                if row is None:
                    raise ConfigError(
                        f"user '{user.name}': batch {batch.seq} names module '{batch.module}', "
                        "which has no saved plan",
                        hint=f"Plan it again with `odoosync prepare --user {user.name} --restart`.",
                    )
                spec = store.table_spec(row.table_name, row.fields)
                found = readings[batch.module] = Reading.of(spec, row.domain_list(), row.names)
            return found

        def connected() -> OdooClient:
            client: OdooClient | None = None
            try:
                client = connect(user, settings)
                client.connect()
            except (OdooError, ConfigError) as exc:
                if client is not None:
                    client.close()  # its connection may be open: the login was refused
                # No batch is at fault: the user fails, its batches keep their cursors.
                if isinstance(exc, RetriableError):
                    exc.hint = resume_hint(user.name)
                store.set_status(user.name, FAILED, error=str(exc))
                raise
            return client

        lanes = UserLanes(
            store,
            lease,
            user,
            us,
            width=streams or us.streams,
            readings=reading,
            connect=connected,
            budget=budget,
            reporter=reporter,
        )
        try:
            finished = lanes.run(batches)
        finally:
            lanes.close()
            result.pages += lanes.tally.pages
            result.records += lanes.tally.records
            result.batches_finished += lanes.tally.batches_finished
            result.retries += lanes.tally.retries
        if finished:
            # The lease goes back with the sync's last commit; Held's release finds it done.
            store.finish_sync(user.name, lease.owner, lease.ttl, release=True)
            result.status = DONE
            reporter.emit(UserFinished(user.name, DONE))
        else:
            result.status = IN_PROGRESS

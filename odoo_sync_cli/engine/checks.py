"""The checks: ``validate-cursor`` (on the live server) and ``test-complete`` (clear, sync
again, verify against a fresh look at Odoo).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from odoo_sync_cli.config import Settings
from odoo_sync_cli.engine import diagnostics, verify
from odoo_sync_cli.engine.accounts import user_get
from odoo_sync_cli.engine.admin import clear, retry, status
from odoo_sync_cli.engine.common import (
    ClientFactory,
    chosen_users,
    known_user,
    make_client,
    open_mirror,
)
from odoo_sync_cli.engine.prepare import prepare
from odoo_sync_cli.engine.step import step
from odoo_sync_cli.errors import ConfigError, OdooSyncError, RetriableError
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.models import DONE, UserRecord
from odoo_sync_cli.progress import NullReporter, Reporter, UserState


def _one_user(store: Mirror, name: str | None, command: str) -> UserRecord:
    """The named user, or the only one there is."""
    if name:
        return known_user(store, name)
    users = chosen_users(store, None)
    if len(users) > 1:
        raise ConfigError(
            f"{command} works on one user; there are {len(users)} "
            f"({', '.join(u.name for u in users)})",
            hint=f"Name one with `odoosync {command} --user NAME`.",
        )
    return users[0]


def pick_user(settings: Settings, name: str | None, command: str) -> str:
    """The name of the user a one-user command works on: the one named, or the only one."""
    with open_mirror(settings) as store:
        return _one_user(store, name, command).name


def validate_cursor(
    settings: Settings,
    *,
    user: str | None = None,
    model: str = "res.partner",
    connect: ClientFactory = make_client,
    progress: Callable[[str], None] | None = None,
) -> diagnostics.CursorReport:
    """Read-only checks of what odoosync's paging relies on, on the user's server and model."""
    with open_mirror(settings) as store:
        u = _one_user(store, user, "validate-cursor")
    us = settings.for_user(u.name)
    # A configured module's filter applies, so the checks see the records a sync would read.
    domain = next((m.domain_list() for m in us.modules if m.model == model), [])
    with connect(u, settings) as client:
        client.connect()
        return diagnostics.validate_cursor(
            client, model, domain=domain, page_size=us.page_size, progress=progress
        )


CHECK_RETRY_ROUNDS = 3


def check_complete(
    settings: Settings,
    *,
    user: str | None = None,
    sample: int = verify.DEFAULT_SAMPLE,
    sync: bool = True,
    reporter: Reporter | None = None,
    connect: ClientFactory = make_client,
    seed: int | None = None,
) -> verify.CompletenessReport:
    """``test-complete``: clear the user, sync everything again, then verify module by module.

    With ``sync=False`` the mirror is verified as it is. Failed batches from passing trouble
    (``RetriableError``) are re-queued up to ``CHECK_RETRY_ROUNDS`` times and counted as
    retries; the returned report says whether the mirror equals Odoo (see verify.py).
    """
    if sample < 0:
        raise ConfigError("--sample must be 0 or more")
    with open_mirror(settings) as store:
        name = _one_user(store, user, "test-complete").name
    timer = verify.SyncTimer(reporter or NullReporter())
    started = time.monotonic()
    if sync:
        clear(settings, user=name)
        timer.emit(UserState(name, "preparing", "full sync"))
        prepare(settings, users=[name], full=True, reporter=timer, connect=connect)
        _complete_sync(settings, name, timer, connect)
    else:
        current = user_get(settings, name)
        if current.status != DONE:
            raise ConfigError(
                f"user '{name}' is {current.status}: its mirror is not a finished sync",
                hint=f"Run `odoosync test-complete --user {name} --yes` to sync and verify.",
            )
    sync_seconds = time.monotonic() - started
    us = settings.for_user(name)
    rng = random.Random(seed)
    checks: list[verify.ModuleCheck] = []
    with open_mirror(settings) as store:
        u = known_user(store, name)
        figures = verify.batch_figures(store.batches(name))
        rows = {r.module: r for r in store.module_rows(name)}
        with connect(u, settings) as client:
            client.connect()
            for module in us.modules:
                row = rows.get(module.name)
                if row is None:
                    raise ConfigError(
                        f"user '{name}' has no mirror of module '{module.name}' yet",
                        hint=f"Run `odoosync test-complete --user {name} --yes` to sync it.",
                    )
                check = verify.verify_module(
                    store,
                    client,
                    name,
                    row,
                    sample=sample,
                    rng=rng,
                    page_size=us.page_size,
                    id_page_size=us.id_page_size,
                )
                fig = figures.get(module.name, verify.BatchFigures())
                timing = timer.modules.get(module.name, verify.ModuleTiming())
                checks.append(
                    replace(
                        check,
                        batches=fig.batches,
                        pages=fig.pages,
                        records=fig.records,
                        seconds=timing.seconds,
                        retries=fig.retries,
                    )
                )
    return verify.CompletenessReport(
        user=name,
        modules=tuple(checks),
        synced=sync,
        sync_seconds=sync_seconds,
        verify_seconds=time.monotonic() - started - sync_seconds,
        sample=sample,
    )


def _complete_sync(
    settings: Settings, name: str, reporter: Reporter, connect: ClientFactory
) -> None:
    """Step ``name`` to the end, re-queuing batches failed by passing trouble a few times."""
    for round_ in range(CHECK_RETRY_ROUNDS + 1):
        current = status(settings, user=name)[0]
        reporter.emit(current.totals())
        reporter.emit(UserState(name, "syncing"))
        try:
            step(settings, users=[name], reporter=reporter, connect=connect)
        except RetriableError as exc:
            if round_ == CHECK_RETRY_ROUNDS:
                raise
            reporter.emit(UserState(name, "retrying", str(exc)))
            retry(settings, users=[name])
            continue
        final = user_get(settings, name).status
        if final == DONE:
            return
        raise OdooSyncError(
            f"the sync of user '{name}' ended {final}, so the mirror cannot be verified",
            hint=f"See `odoosync status --user {name}`.",
        )

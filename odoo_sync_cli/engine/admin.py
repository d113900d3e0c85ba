"""``status``, ``clear``, ``queue`` and ``retry``: what the mirror holds, and putting users back
in line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from odoo_sync_cli.config import Settings
from odoo_sync_cli.engine.common import Held, chosen_users, known_user, open_mirror, secret_stores
from odoo_sync_cli.engine.results import (
    ClearResult,
    Holder,
    ModuleStatus,
    QueueResult,
    UserInfo,
    UserStatus,
)
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.mirror.base import owner_where
from odoo_sync_cli.models import DONE, FAILED, IN_PROGRESS, NOT_STARTED, ModuleProgress


def _percent(status: str, done: int, total: int, synced: int, expected: int) -> float:
    if status == DONE:
        return 100.0
    if total == 0:
        return 0.0
    fraction = min(synced, expected) / expected if expected > 0 else done / total
    if done == total:
        return 100.0
    return min(round(100.0 * fraction, 1), 99.9)


def _module_percent(user_status: str, p: ModuleProgress) -> float:
    if p.batches_total == 0:
        # Nothing planned: a skipped module, or a plan not made yet.
        return 100.0 if user_status == DONE and p.state == "ok" else 0.0
    return _percent(
        user_status, p.batches_done, p.batches_total, p.records_synced, p.records_expected
    )


def status(settings: Settings, *, user: str | None = None) -> list[UserStatus]:
    """Connection, version, protocol, sync status and progress of each user (or one)."""
    stores = secret_stores(settings)
    with open_mirror(settings) as store:
        targets = [known_user(store, user)] if user else store.list_users()
        holders = store.holders()
        result: list[UserStatus] = []
        for u in targets:
            rows = {m.module: m for m in store.module_rows(u.name)}
            progress = store.progress(u.name)
            modules = tuple(
                ModuleStatus(
                    progress=p,
                    percent=_module_percent(u.status, p),
                    high_water=row.high_water if row else None,
                    last_synced_at=row.last_synced_at if row else None,
                    reconciled_at=row.reconciled_at if row else None,
                    reconcile_seconds=row.reconcile_seconds if row else None,
                )
                for p in progress
                for row in [rows.get(p.module)]
            )
            done = sum(p.batches_done for p in progress)
            total = sum(p.batches_total for p in progress)
            synced = sum(p.records_synced for p in progress)
            expected = sum(p.records_expected for p in progress)
            result.append(
                UserStatus(
                    info=UserInfo.of(u),
                    connection_info_available=bool(
                        u.url and u.database and u.login and stores.available(u.credential)
                    ),
                    prepared_at=u.prepared_at,
                    last_error_at=u.last_error_at,
                    batches_done=done,
                    batches_total=total,
                    batches_failed=sum(p.batches_failed for p in progress),
                    records_synced=synced,
                    records_expected=expected,
                    percent=_percent(u.status, done, total, synced, expected),
                    modules=modules,
                    holder=_holder(holders.get(u.name)),
                )
            )
        return result


def _holder(owner: str | None) -> Holder | None:
    if owner is None:
        return None
    host, pid = owner_where(owner)
    return Holder(host, int(pid) if pid.isdigit() else None)


def status_json(statuses: Sequence[UserStatus]) -> dict[str, Any]:
    return {"users": [s.to_json() for s in statuses]}


def clear(
    settings: Settings, *, user: str | None = None, module: str | None = None
) -> list[ClearResult]:
    """Delete synced records and batches (of one module, or all) and reset users to ``idle``."""
    results: list[ClearResult] = []
    with open_mirror(settings) as store:
        targets = [known_user(store, user)] if user else chosen_users(store, None)
        for u in targets:
            table: str | None = None
            if module is not None:
                table = _module_table(store, settings, u.name, module)
            with Held(store, u.name):
                counts = store.clear(u.name, module=module, table=table)
            results.append(ClearResult(u.name, module, counts))
    return results


def _module_table(store: Mirror, settings: Settings, user: str, module: str) -> str:
    row = store.module_row(user, module)
    if row is not None:
        return row.table_name
    modules = settings.resolved_modules()
    for m in modules:
        if m.name == module:
            return m.table
    known = ", ".join(m.name for m in modules)
    raise ConfigError(f"unknown module '{module}' (configured: {known})")


def clear_targets(
    settings: Settings, *, user: str | None = None, module: str | None = None
) -> list[str]:
    """The users a ``clear`` would touch; raises for an unknown user or module, changing nothing."""
    with open_mirror(settings) as store:
        targets = [known_user(store, user)] if user else chosen_users(store, None)
        if module is not None:
            for u in targets:
                _module_table(store, settings, u.name, module)
        return [u.name for u in targets]


def queue(settings: Settings, *, users: Sequence[str] | None = None) -> list[QueueResult]:
    """Queue users for a new sync (``not_started``): the loop, or ``prepare``, plans it."""
    results: list[QueueResult] = []
    with open_mirror(settings) as store:
        for u in chosen_users(store, users):
            if u.status == IN_PROGRESS:
                results.append(QueueResult(u.name, u.status, refused="already in progress"))
                continue
            store.queue(u.name)
            results.append(QueueResult(u.name, NOT_STARTED))
    return results


def retry(settings: Settings, *, users: Sequence[str] | None = None) -> list[QueueResult]:
    """Re-queue failed work: failed batches resume from their cursor; a failed prepare re-queues."""
    results: list[QueueResult] = []
    with open_mirror(settings) as store:
        targets = chosen_users(store, users)
        explicit = bool(users)
        for u in targets:
            if u.status != FAILED:
                if explicit:
                    results.append(
                        QueueResult(u.name, u.status, refused=f"not failed ({u.status})")
                    )
                continue
            with Held(store, u.name):
                if store.batches(u.name):
                    n = store.requeue_failed(u.name)
                    results.append(QueueResult(u.name, IN_PROGRESS, requeued_batches=n))
                else:
                    store.queue(u.name)
                    results.append(QueueResult(u.name, NOT_STARTED))
    return results

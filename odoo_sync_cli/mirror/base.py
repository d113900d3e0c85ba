"""What a mirror backend offers the engine: the sync state and the record sink.

A backend is one object that implements both protocols over one database (:class:`Mirror`);
``odoo_sync_cli.mirror.open_mirror`` picks it from the database setting, and nothing above this
package names a backend.

- :class:`SyncState` keeps odoosync's own tables: users (with where each secret is kept, never
  the secret), leases, module plans, batches and their cursors, progress, clearing.
- :class:`RecordSink` keeps the mirror tables, one per model, with the columns
  ``odoo_sync_cli.mirror.codec`` maps from Odoo's fields; it reads them back for verification
  and reconcile. Where a user keeps history of a table, it writes each record's versions too
  (``mirror.history``); over the tables it keeps views with current names (``mirror.views``).

One rule joins the two: a page of records and the cursor that follows it commit in one
transaction (:meth:`RecordSink.write_page`, :meth:`RecordSink.reconcile_page`), guarded by the
user's lease and by the cursor the page was read from. A page is a plain value (:class:`Page`,
:class:`ReconcilePage`) that holds everything the commit needs, so it can be read by one thread
and committed by another (a single writer fed by several fetching threads). History is the
second way of writing rows: the same pages, written in the same transaction, as the sink's own
state says (``start_history`` / ``stop_history``), never as a flag the engine carries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from pydantic import SecretStr

from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.models import (
    Batch,
    ClearCounts,
    Lease,
    ModulePlan,
    ModuleProgress,
    ModuleRow,
    PlannedBatch,
    SecretLocation,
    UserRecord,
)


@dataclass(frozen=True)
class Page:
    """A page of a batch, read from Odoo and ready to commit with the batch's next cursor.

    ``batch`` is the batch as it was when the page was read: the commit only applies if its
    cursor is still that one, so a page is never stored twice or over a newer one.
    """

    lease: Lease
    batch: Batch
    spec: TableSpec
    records: Sequence[Mapping[str, Any]]
    cursor: int
    done: bool


@dataclass(frozen=True)
class ReconcilePage(Page):
    """A page of a reconcile batch: the server's ids in ``(batch.cursor, hi_id]``.

    Mirror ids in that range the server did not list are marked gone (or deleted with
    ``hard_delete``); ``records`` are the ones the mirror lacked, read back.
    """

    server_ids: Sequence[int] = ()
    hi_id: int | None = None
    hard_delete: bool = False


class SyncState(Protocol):
    """odoosync's own tables: users, leases, plans, batches, progress."""

    # ---- the database

    def mirror_id(self) -> str:
        """This database's random id: it keeps two mirrors' secret entries apart."""
        ...

    def applied_migrations(self) -> list[str]: ...

    # ---- secrets an older odoosync kept in clear (moved out by the engine at open)

    def plain_secrets(self) -> list[tuple[str, SecretStr]]: ...

    def drop_plain_secrets(self) -> None: ...

    def scrub_pending(self) -> bool: ...

    def scrub(self) -> bool:
        """Overwrite storage that may still hold old bytes; True when done."""
        ...

    # ---- users

    def add_user(
        self,
        *,
        name: str,
        url: str,
        database: str,
        login: str,
        protocol: str,
        location: SecretLocation,
        server_version: str | None = None,
        protocol_used: str | None = None,
        insecure: bool = False,
    ) -> None: ...

    def get_user(self, name: str) -> UserRecord | None: ...

    def list_users(self) -> list[UserRecord]: ...

    def set_secret_location(self, name: str, location: SecretLocation) -> None: ...

    def set_server_info(self, name: str, *, server_version: str, protocol_used: str) -> None:
        """Record the version and protocol the user's server answered with (written only when
        they changed)."""
        ...

    def set_status(self, name: str, status: str, *, error: str | None = None) -> None: ...

    def record_error(self, name: str, error: str) -> None: ...

    def remove_user(self, name: str) -> ClearCounts:
        """Delete a user, its state and its mirrored records."""
        ...

    def queue(self, user: str) -> None: ...

    # ---- leases

    def acquire_lease(self, name: str, owner: str, ttl: float) -> None:
        """Take the user's lease, or raise LeaseError while a live process holds it."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Hand the lease back, if ``owner`` still holds it (nothing to do otherwise)."""
        ...

    def holders(self) -> dict[str, str]:
        """The users some process works now (its lease is live), with the lease's owner id."""
        ...

    # ---- plans and batches

    def module_rows(self, user: str) -> list[ModuleRow]: ...

    def module_row(self, user: str, module: str) -> ModuleRow | None: ...

    def save_plan(
        self,
        user: str,
        owner: str,
        ttl: float,
        modules: Sequence[ModulePlan],
        batches: Sequence[PlannedBatch],
        *,
        release: bool = False,
    ) -> None:
        """Replace the user's batches with a new plan, the user ``in_progress``, atomically;
        with ``release`` the lease is handed back with it (the caller is done with the user)."""
        ...

    def finish_sync(self, user: str, owner: str, ttl: float, *, release: bool = False) -> None:
        """All batches done: the high-water marks move, the user is ``done``; with ``release``
        the lease is handed back with it."""
        ...

    def batches(self, user: str) -> list[Batch]: ...

    def next_batch(self, user: str) -> Batch | None: ...

    def start_batch(self, batch_id: int, owner: str, user: str, ttl: float) -> None: ...

    def fail_batch(self, batch_id: int, user: str, error: str) -> None: ...

    def requeue_failed(self, user: str) -> int: ...

    # ---- progress and clearing

    def progress(self, user: str) -> list[ModuleProgress]: ...

    def clear(
        self, user: str, *, module: str | None = None, table: str | None = None
    ) -> ClearCounts: ...


class RecordSink(Protocol):
    """The mirror tables: pages written with their cursor, and read back."""

    def ensure_table(
        self,
        model: str,
        field_types: Mapping[str, str],
        relations: Mapping[str, str] | None = None,
    ) -> TableSpec:
        """Create or widen the mirror table of ``model`` to hold ``field_types`` (name -> type;
        ``relations``: a many2one's comodel), with its history table and the views with
        current names (``mirror.views``)."""
        ...

    def start_history(self, user: str, table: str) -> int | None:
        """Keep every version of ``user``'s records in ``table`` from now on, starting from the
        mirror's current state (``mirror.history``); versions opened, None if it was on."""
        ...

    def stop_history(self, user: str, table: str) -> bool:
        """Stop keeping versions (those kept stay); whether it was on."""
        ...

    def table_spec(self, table: str, fields: Sequence[str]) -> TableSpec: ...

    def write_page(self, page: Page) -> None:
        """Store the page's records and move its batch's cursor, in one transaction (with the
        records' versions, where the user keeps history of the table)."""
        ...

    def missing_ids(self, user: str, table: str, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` the mirror lacks or holds as deleted."""
        ...

    def reconcile_page(self, page: ReconcilePage) -> int:
        """Mark gone what the server no longer lists, store what the mirror lacked, move the
        cursor; one transaction. How many were marked (or deleted)."""
        ...

    def read_records(
        self, user: str, table: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]: ...

    def table_rows(self, user: str, table: str) -> list[dict[str, Any]]: ...

    def mirrored_count(self, user: str, table: str) -> int: ...

    def live_ids(self, user: str, table: str) -> list[int]: ...

    def rows_by_ids(
        self, user: str, table: str, ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]: ...


class Mirror(SyncState, RecordSink, Protocol):
    """One open database of a backend: both protocols, closed when done."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


# --------------------------------------------------------------------------- lease owners


def lease_owner_id() -> str:
    """A name for this process, unique enough to tell two processes apart."""
    return f"{this_process()}:{os.urandom(4).hex()}"


def owner_alive(owner: str) -> bool:
    """Whether the process a lease owner id names may still run (always, on another machine)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: only the lease's expiry can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_where(owner: str) -> tuple[str, str]:
    """The host and pid a lease owner id names (``?`` for a pid it does not hold)."""
    pid = owner.split(":")[1] if owner.count(":") >= 2 else "?"
    return owner.split(":")[0], pid


def this_process() -> str:
    """``host:pid`` of this process, as lease owner ids begin."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owned_here(owner: str) -> bool:
    """Whether a lease owner id names this process."""
    host, pid = owner_where(owner)
    return f"{host}:{pid}" == this_process()


def module_progress(
    modules: Sequence[ModuleRow],
    totals: Mapping[str, Sequence[Any]],
    mirrored: Callable[[str], int],
) -> list[ModuleProgress]:
    """Per module of the plan: its batch ``totals`` (module, batches, done, failed, records
    synced, expected: what a backend's one grouped query gives) and the live rows ``mirrored``
    counts in its table."""
    result: list[ModuleProgress] = []
    for mod in modules:
        t = totals.get(mod.module)
        result.append(
            ModuleProgress(
                module=mod.module,
                model=mod.model,
                batches_total=int(t[1]) if t else 0,
                batches_done=int(t[2] or 0) if t else 0,
                batches_failed=int(t[3] or 0) if t else 0,
                records_synced=int(t[4] or 0) if t else 0,
                records_expected=int(t[5] or 0) if t else 0,
                mirrored=mirrored(mod.table_name),
                state=mod.state,
                note=mod.note,
            )
        )
    return result

"""The words every layer shares: statuses, users, modules, batches, progress and leases.

Plain frozen values with no storage and no I/O behind them: the engine builds and reads them,
the mirror backends store them (``odoo_sync_cli.mirror``), the renderers show them. A user's row
names where its secret is kept (:class:`SecretLocation`), never the secret; reading the secret
is the business of ``credentials.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Sync status of a user.
IDLE = "idle"
NOT_STARTED = "not_started"
IN_PROGRESS = "in_progress"
DONE = "done"
FAILED = "failed"
USER_STATUSES = (IDLE, NOT_STARTED, IN_PROGRESS, DONE, FAILED)

# Status of a batch.
PENDING = "pending"
RUNNING = "running"
BATCH_DONE = "done"
BATCH_FAILED = "failed"

# Kind of a batch.
FULL = "full"
INCREMENTAL = "incremental"
RECONCILE = "reconcile"
KINDS = (FULL, INCREMENTAL, RECONCILE)
# The reconcile policy "auto" among the every-N-syncs ones (1 each sync, 0 never); the planner
# decides it per module from its size and its last reconcile.
RECONCILE_AUTO = -1

# State of a module for a user.
MODULE_OK = "ok"
MODULE_MISSING = "missing"
MODULE_FORBIDDEN = "forbidden"

# Where a secret is kept (credentials.py reads and writes them).
KEYRING = "keyring"
FILE = "file"
ENV = "env"
ENCRYPTED = "encrypted"
NONE = "none"


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``, the form of every odoosync timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def span_seconds(began: str | None, ended: str | None) -> float | None:
    """Seconds from one odoosync timestamp to a later one (None when either is missing)."""
    start, end = parse_timestamp(began), parse_timestamp(ended)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# --------------------------------------------------------------------------- secrets, by location


@dataclass(frozen=True)
class Account:
    """What a secret opens: the user's name and the Odoo account it logs in to."""

    user: str
    url: str
    database: str
    login: str


@dataclass(frozen=True)
class SecretLocation:
    """Where a secret is kept, as a database stores it: a store label and an opaque reference."""

    store: str
    ref: str | None = None

    @property
    def source(self) -> str:
        """The ``secretSource`` shown in ``user list`` and ``status``; never the secret."""
        return f"{ENV}:{self.ref}" if self.store == ENV else self.store


NO_SECRET = SecretLocation(NONE)


@dataclass(frozen=True)
class Credential:
    """A user's secret as the mirror knows it: whose it is and where it is; never its value."""

    account: Account
    location: SecretLocation

    @property
    def user(self) -> str:
        return self.account.user

    @property
    def source(self) -> str:
        return self.location.source


# --------------------------------------------------------------------------- users and modules


@dataclass(frozen=True)
class UserRecord:
    """One Odoo account as stored, with where its secret is kept (never the secret)."""

    name: str
    url: str
    database: str
    login: str
    protocol: str
    secret_store: str
    # An entry name, a variable name, or an encrypted token: opaque, and not shown.
    secret_ref: str | None = field(repr=False)
    status: str
    server_version: str | None
    protocol_used: str | None
    created_at: str
    prepared_at: str | None
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    lease_owner: str | None
    lease_until: float | None
    # No TLS certificate check, and plain http allowed to a host that is not this machine.
    insecure: bool = False

    @property
    def credential(self) -> Credential:
        """Whose secret this is and where it is kept, for credentials.SecretStores."""
        return Credential(
            Account(self.name, self.url, self.database, self.login),
            SecretLocation(self.secret_store, self.secret_ref),
        )

    @property
    def secret_source(self) -> str:
        return self.credential.source


@dataclass(frozen=True)
class ModuleRow:
    """A module's state for one user."""

    user: str
    module: str
    model: str
    table_name: str
    fields: tuple[str, ...]
    domain: str
    state: str
    note: str | None
    high_water: str | None
    candidate: str | None
    syncs: int
    last_count: int | None
    in_plan: bool
    last_synced_at: str | None
    # The many2one fields read with their display name (those whose comodel no module of the
    # user mirrors); None: a plan made before this was decided, where every one is.
    names: tuple[str, ...] | None = None
    # When the module's last reconcile ended, and how long it took from its first page to
    # its last (None: never reconciled).
    reconciled_at: str | None = None
    reconcile_seconds: float | None = None

    def domain_list(self) -> list[Any]:
        """The module filter the plan was made with."""
        value = json.loads(self.domain)
        return value if isinstance(value, list) else []


@dataclass(frozen=True)
class ModulePlan:
    """What prepare decided for one module, saved with its batches."""

    module: str
    model: str
    table_name: str
    fields: tuple[str, ...] = ()
    domain: Sequence[Any] = ()
    state: str = MODULE_OK
    note: str | None = None
    candidate: str | None = None
    count: int | None = None
    # The many2one fields to read with their display name (see ModuleRow.names).
    names: tuple[str, ...] = ()


# --------------------------------------------------------------------------- plans and batches


@dataclass(frozen=True)
class IdRange:
    """Ids in ``(lo_id, hi_id]``; ``hi_id`` None means no upper end."""

    lo_id: int
    hi_id: int | None
    expected: int


@dataclass(frozen=True)
class ModuleState:
    """What a previous sync left for one module: where the next window starts, how many syncs."""

    high_water: str | None = None
    syncs: int = 0


@dataclass(frozen=True)
class PlannedBatch:
    """One unit of work: a module, a kind, id bounds, an optional window, an expected count."""

    module: str
    model: str
    kind: str
    lo_id: int = 0
    hi_id: int | None = None
    window_lo: str | None = None
    expected: int = 0


@dataclass(frozen=True)
class Batch:
    """A stored batch: the planned bounds plus how far it got."""

    id: int
    user: str
    module: str
    model: str
    seq: int
    kind: str
    lo_id: int
    hi_id: int | None
    window_lo: str | None
    cursor: int
    expected: int
    synced: int
    pages: int
    status: str
    attempts: int
    last_error: str | None
    started_at: str | None
    finished_at: str | None
    # Reconcile only: records read back because the mirror lacked them (or held them deleted).
    restored: int = 0


@dataclass(frozen=True)
class Lease:
    """Who works a user, and for how long each commit extends that claim."""

    user: str
    owner: str
    ttl: float


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class ModuleProgress:
    """Batch totals of one module of a user's current (or last) sync."""

    module: str
    model: str
    batches_total: int = 0
    batches_done: int = 0
    batches_failed: int = 0
    records_synced: int = 0
    records_expected: int = 0
    mirrored: int = 0
    state: str = MODULE_OK
    note: str | None = None


@dataclass
class ClearCounts:
    """What a clear removed."""

    records: int = 0
    batches: int = 0
    tables: list[str] = field(default_factory=list)
    versions: int = 0  # rows of history tables (history mode)

"""The plain data each command returns, for render.py to show; never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from odoo_sync_cli.errors import OdooSyncError
from odoo_sync_cli.models import NO_SECRET, ClearCounts, ModuleProgress, UserRecord
from odoo_sync_cli.progress import UserTotals


@dataclass(frozen=True)
class UserInfo:
    """A user as ``user list`` shows it; never the secret."""

    name: str
    url: str
    database: str
    login: str
    protocol: str
    secret_source: str
    status: str
    server_version: str | None
    protocol_used: str | None
    last_success: str | None
    last_error: str | None

    @classmethod
    def of(cls, user: UserRecord) -> UserInfo:
        return cls(
            name=user.name,
            url=user.url,
            database=user.database,
            login=user.login,
            protocol=user.protocol,
            secret_source=user.secret_source,
            status=user.status,
            server_version=user.server_version,
            protocol_used=user.protocol_used,
            last_success=user.last_success,
            last_error=user.last_error,
        )


@dataclass(frozen=True)
class ModulePlanInfo:
    """What prepare planned for one module."""

    module: str
    model: str
    kind: str | None
    batches: int
    expected: int
    reconcile: bool
    fields: int
    skipped: str | None = None
    window_lo: str | None = None


@dataclass(frozen=True)
class PrepareResult:
    """The plan of one user, or why there is none."""

    user: str
    modules: tuple[ModulePlanInfo, ...] = ()
    refused: str | None = None
    error: OdooSyncError | None = None
    server_version: str | None = None
    protocol: str | None = None


@dataclass
class UserStep:
    """What ``step`` did for one user."""

    user: str
    pages: int = 0
    records: int = 0
    batches_finished: int = 0
    status: str | None = None
    note: str | None = None
    error: OdooSyncError | None = None
    # Requests to Odoo the client had to send again (passing failures it rode out).
    retries: int = 0


@dataclass
class StepReport:
    """What one ``step`` did, user by user."""

    users: list[UserStep] = field(default_factory=list)
    pages: int = 0
    seconds: float = 0.0
    budget_exhausted: bool = False

    @property
    def errors(self) -> list[OdooSyncError]:
        return [u.error for u in self.users if u.error is not None]


@dataclass(frozen=True)
class ModuleStatus:
    """Progress of one module in a user's current or last sync."""

    progress: ModuleProgress
    percent: float
    high_water: str | None
    last_synced_at: str | None
    reconciled_at: str | None = None
    reconcile_seconds: float | None = None


@dataclass(frozen=True)
class Holder:
    """The process working a user now: its machine and process id (None when not known)."""

    host: str
    pid: int | None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid}


@dataclass(frozen=True)
class UserStatus:
    """Everything ``status`` shows about one user."""

    info: UserInfo
    connection_info_available: bool
    prepared_at: str | None
    last_error_at: str | None
    batches_done: int
    batches_total: int
    batches_failed: int
    records_synced: int
    records_expected: int
    percent: float
    modules: tuple[ModuleStatus, ...]
    holder: Holder | None = None

    def totals(self) -> UserTotals:
        """Where the user's plan stands, as a display draws it."""
        return UserTotals(
            self.info.name,
            self.records_synced,
            self.records_expected,
            self.batches_done,
            self.batches_total,
        )

    def to_json(self) -> dict[str, Any]:
        """The documented, stable JSON shape of one user (README.md documents it)."""
        return {
            "user": self.info.name,
            "url": self.info.url,
            "database": self.info.database,
            "login": self.info.login,
            "protocolSetting": self.info.protocol,
            "secretSource": self.info.secret_source,
            "connectionInfoAvailable": self.connection_info_available,
            "syncStatus": self.info.status,
            "serverVersion": self.info.server_version,
            "protocol": self.info.protocol_used,
            "preparedAt": self.prepared_at,
            "lastSuccess": self.info.last_success,
            "lastError": self.info.last_error,
            "lastErrorAt": self.last_error_at,
            "heldBy": None if self.holder is None else self.holder.to_json(),
            "progress": {
                "batchesDone": self.batches_done,
                "batchesTotal": self.batches_total,
                "batchesFailed": self.batches_failed,
                "recordsSynced": self.records_synced,
                "recordsExpected": self.records_expected,
                "percent": self.percent,
                "modules": [
                    {
                        "module": m.progress.module,
                        "model": m.progress.model,
                        "state": m.progress.state,
                        "note": m.progress.note,
                        "batchesDone": m.progress.batches_done,
                        "batchesTotal": m.progress.batches_total,
                        "batchesFailed": m.progress.batches_failed,
                        "recordsSynced": m.progress.records_synced,
                        "recordsExpected": m.progress.records_expected,
                        "percent": m.percent,
                        "mirrored": m.progress.mirrored,
                        "highWater": m.high_water,
                        "lastSynced": m.last_synced_at,
                        "lastReconciled": m.reconciled_at,
                        "reconcileSeconds": m.reconcile_seconds,
                    }
                    for m in self.modules
                ],
            },
        }


@dataclass(frozen=True)
class ClearResult:
    """What ``clear`` removed for one user."""

    user: str
    module: str | None
    counts: ClearCounts


@dataclass(frozen=True)
class QueueResult:
    """A user queued (or re-queued) for work, or why not."""

    user: str
    status: str
    requeued_batches: int = 0
    refused: str | None = None


@dataclass(frozen=True)
class SecretMoved:
    """A secret an older odoosync kept in clear in the database, moved to a store."""

    user: str
    source: str
    where: str


@dataclass
class SecretsUpgrade:
    """What opening a database written before secrets left it did: moves, and the rewrite.

    ``scrubbed`` is None when no rewrite was due, False when another process held the file
    (the next open tries again).
    """

    moved: list[SecretMoved] = field(default_factory=list)
    scrubbed: bool | None = None


@dataclass(frozen=True)
class UserAdded:
    """A user was added; the server facts when the connection was checked."""

    user: UserInfo
    checked: bool
    secret_where: str = ""


@dataclass(frozen=True)
class SecretChanged:
    """A user's secret was replaced or moved: where it is now, and any trouble with the old one."""

    user: UserInfo
    secret_where: str
    moved: bool = False
    note: str | None = None


@dataclass(frozen=True)
class UserRemoved:
    """A user was removed with its records; ``note`` says if its secret could not be."""

    user: str
    counts: ClearCounts
    secret_source: str = NO_SECRET.store
    secret_where: str = ""
    note: str | None = None

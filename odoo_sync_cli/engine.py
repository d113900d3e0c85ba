"""One function per command: wires settings, the Odoo client and the store, returns plain data.

The command line (cli.py) parses, calls one of these, and hands the result to render.py. These
functions never print. A per-user failure aimed at one named user is raised; with several users
(``--all``) each user's failure is kept in its result, so one bad account does not stop the rest.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from odoo_sync_cli import diagnostics, verify
from odoo_sync_cli.config import Module, Settings, UserSettings
from odoo_sync_cli.credentials import CHOOSABLE, SecretStores, entry_name, no_secret_given
from odoo_sync_cli.domain import (
    NO_ACTIVE_TEST,
    CursorError,
    and_domains,
    window_domain,
)
from odoo_sync_cli.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigError,
    CredentialError,
    LeaseError,
    ModelNotFoundError,
    OdooError,
    OdooSyncError,
    RetriableError,
    ServerError,
    StoreError,
    safe_url,
)
from odoo_sync_cli.mirror import Mirror, mirror_exists, open_mirror
from odoo_sync_cli.mirror.base import lease_owner_id
from odoo_sync_cli.mirror.codec import TableSpec
from odoo_sync_cli.models import (
    BATCH_FAILED,
    DONE,
    ENV,
    FAILED,
    FULL,
    IN_PROGRESS,
    INCREMENTAL,
    MODULE_FORBIDDEN,
    MODULE_MISSING,
    NO_SECRET,
    NOT_STARTED,
    PENDING,
    RECONCILE,
    Batch,
    ClearCounts,
    Credential,
    Lease,
    ModulePlan,
    ModuleProgress,
    ModuleState,
    PlannedBatch,
    SecretLocation,
    UserRecord,
)
from odoo_sync_cli.odoo import Connection, OdooClient, RetryPolicy
from odoo_sync_cli.planner import (
    is_first_sync,
    order_batches,
    plan_full,
    plan_incremental,
    plan_reconcile,
    should_reconcile,
    trusted_count,
)
from odoo_sync_cli.progress import LoopReporter, NullLoopReporter, NullReporter, Reporter
from odoo_sync_cli.runner import PageResult, ReadAhead, list_ids, run_page, run_reconcile_page

ClientFactory = Callable[[UserRecord, Settings], OdooClient]

PROTOCOLS = ("auto", "jsonrpc", "json2")
UNSTORED_TYPES = frozenset({"binary", "properties", "properties_definition"})
FIELD_ATTRIBUTES = ["type", "store", "relation", "string"]
LEASE_SECONDS = 600.0

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- plumbing


def secret_stores(settings: Settings) -> SecretStores:
    """The secret stores the settings describe (credentials file, key file, preferred store)."""
    key_file = settings.secret_key_file
    return SecretStores(
        credentials_file=settings.credentials_path,
        key_file=key_file.expanduser() if key_file is not None else None,
        preferred=settings.secret_store,
    )


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


def open_store(
    settings: Settings, *, create: bool = False, upgrade: SecretsUpgrade | None = None
) -> Mirror:
    """Open the database; secrets an older version kept in it in clear move out first."""
    store = open_mirror(settings, create=create)
    try:
        _move_plain_secrets(store, settings, upgrade or SecretsUpgrade())
    except BaseException:
        store.close()
        raise
    return store


def _move_plain_secrets(store: Mirror, settings: Settings, upgrade: SecretsUpgrade) -> None:
    plain = store.plain_secrets()
    if plain:
        stores = secret_stores(settings)
        kind = stores.choose()
        mirror = store.mirror_id()
        for name, secret in plain:
            user = _get_user(store, name)
            location = stores.put(kind, user.credential.account, entry_name(name, mirror), secret)
            store.set_secret_location(name, location)
            upgrade.moved.append(SecretMoved(name, location.source, stores.describe(location)))
        store.drop_plain_secrets()
    if store.scrub_pending():
        upgrade.scrubbed = store.scrub()


def move_plain_secrets(settings: Settings) -> SecretsUpgrade:
    """Upgrade a database written before secrets left it; what moved where (run at each start).

    A file that cannot be opened is left to the command itself to report.
    """
    upgrade = SecretsUpgrade()
    if not mirror_exists(settings):
        return upgrade
    try:
        with open_store(settings, upgrade=upgrade):
            pass
    except StoreError:
        pass
    return upgrade


def make_client(
    user: UserRecord, settings: Settings, secret: SecretStr | None = None
) -> OdooClient:
    """An Odoo client for ``user`` with the HTTP settings; the secret is read only here."""
    if secret is None:
        secret = secret_stores(settings).get(user.credential)
    http = settings.http
    return OdooClient(
        Connection(
            user=user.name,
            url=user.url,
            database=user.database,
            login=user.login,
            secret=secret,
            protocol=_protocol(user.protocol),
        ),
        timeout=http.timeout,
        connect_timeout=http.connect_timeout,
        retry=RetryPolicy(**http.retry.model_dump()),
        verify=http.verify and not user.insecure,
    )


def _protocol(value: str) -> Any:
    if value not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{value}' (use auto, jsonrpc or json2)")
    return value


def _get_user(store: Mirror, name: str) -> UserRecord:
    user = store.get_user(name)
    if user is None:
        known = ", ".join(u.name for u in store.list_users()) or "none yet"
        raise ConfigError(
            f"unknown user '{name}' (users: {known})",
            hint="See `odoosync user list`; add one with `odoosync user add`.",
        )
    return user


def _targets(store: Mirror, names: Sequence[str] | None) -> list[UserRecord]:
    if names:
        return [_get_user(store, n) for n in dict.fromkeys(names)]
    users = store.list_users()
    if not users:
        raise ConfigError("no users yet", hint="Add one with `odoosync user add NAME ...`.")
    return users


@dataclass
class _Held:
    """A user's lease for the length of a ``with`` block."""

    store: Mirror
    user: str
    owner: str = field(default_factory=lease_owner_id)

    def __enter__(self) -> Lease:
        self.store.acquire_lease(self.user, self.owner, LEASE_SECONDS)
        return Lease(self.user, self.owner, LEASE_SECONDS)

    def __exit__(self, *exc: object) -> None:
        self.store.release_lease(self.user, self.owner)


def _plain_http_off_machine(url: str) -> bool:
    """An ``http://`` URL whose host is not this machine (loopback, ``localhost``)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it may resolve anywhere


def _check_user_fields(
    name: str, url: str, database: str, login: str, protocol: str, insecure: bool = False
) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"bad user name '{name}': use letters, digits and . _ @ - (up to 64 characters)"
        )
    if re.match(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@", url):
        # Not echoed: what stands before '@' is often a password.
        raise ConfigError(
            "the URL holds a login or password (before '@'); URLs are shown in `user list`, "
            "`status` and logs",
            hint="Give only the server's address (https://host[:port]) with --url; the login "
            "goes to --login and the secret to the prompt, stdin or --secret-env.",
        )
    if not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError(
            f"bad URL '{url}': give the server's address, e.g. https://odoo.example.com"
        )
    if not insecure and _plain_http_off_machine(url):
        raise ConfigError(
            f"refusing plain http:// to {safe_url(url)}: the password or API key would cross "
            "the network unencrypted, readable by anyone on the way",
            hint="Use https://, or pass --insecure if this network is trusted (plain http is "
            "accepted without it only for localhost and 127.0.0.1).",
        )
    if not database.strip():
        raise ConfigError("the database name is empty")
    if not login.strip():
        raise ConfigError("the login is empty")
    _protocol(protocol)


def _secret_in_hand(
    stores: SecretStores, draft: UserRecord, kind: str, secret: SecretStr | None, env: str | None
) -> SecretStr:
    """The secret to check the connection with: typed, or read now from ``--secret-env``."""
    if kind == ENV:
        assert env is not None
        credential = Credential(draft.credential.account, SecretLocation(ENV, env))
        return stores.get(credential)
    if secret is None or not secret.get_secret_value():
        raise no_secret_given()
    return secret


def _keep_secret(
    stores: SecretStores,
    store: Mirror,
    user: UserRecord,
    kind: str,
    secret: SecretStr,
    env: str | None,
) -> SecretLocation:
    """Put the secret in its store and record where; the database gets the location only."""
    if kind == ENV:
        location = SecretLocation(ENV, env)
    else:
        entry = entry_name(user.name, store.mirror_id())
        location = stores.put(kind, user.credential.account, entry, secret)
    store.set_secret_location(user.name, location)
    return location


def _forget_secret(stores: SecretStores, credential: Credential) -> str | None:
    """Remove a secret no user points at any more; what went wrong, said for a note, or None."""
    try:
        stores.delete(credential)
    except CredentialError as exc:
        return (
            f"the old secret could not be removed from {stores.describe(credential.location)} "
            f"({exc.message}); remove it by hand"
        )
    return None


def _which_store(secret_store: str | None, secret_env: str | None) -> str | None:
    if secret_env and secret_store:
        raise ConfigError("give --secret-env or --secret-store, not both")
    if secret_store is not None and secret_store not in CHOOSABLE:
        raise ConfigError(f"unknown secret store '{secret_store}' (use {', '.join(CHOOSABLE)})")
    return secret_store


def _check_connection(
    user: UserRecord, settings: Settings, secret: SecretStr, connect: ClientFactory | None
) -> tuple[str, str]:
    client = (connect or _factory_with_secret(secret))(user, settings)
    with client:
        client.connect()
        return client.server_version, client.protocol


def _factory_with_secret(secret: SecretStr) -> ClientFactory:
    def factory(user: UserRecord, settings: Settings) -> OdooClient:
        return make_client(user, settings, secret)

    return factory


# --------------------------------------------------------------------------- users


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


def _draft(
    name: str, url: str, database: str, login: str, protocol: str, insecure: bool
) -> UserRecord:
    return UserRecord(
        name=name,
        url=url,
        database=database,
        login=login,
        protocol=protocol,
        secret_store=NO_SECRET.store,
        secret_ref=None,
        status=NOT_STARTED,
        server_version=None,
        protocol_used=None,
        created_at="",
        prepared_at=None,
        last_success=None,
        last_error=None,
        last_error_at=None,
        lease_owner=None,
        lease_until=None,
        insecure=insecure,
    )


def user_add(
    settings: Settings,
    *,
    name: str,
    url: str,
    database: str,
    login: str,
    protocol: str = "auto",
    secret: SecretStr | None = None,
    secret_env: str | None = None,
    secret_store: str | None = None,
    check: bool = True,
    connect: ClientFactory | None = None,
    insecure: bool = False,
) -> UserAdded:
    """Add an Odoo account (``not_started``, so the loop picks it up); check it first.

    The secret goes to ``secret_store`` (or the environment variable ``secret_env`` is named);
    by default to the store :meth:`SecretStores.choose` picks. The database gets its location.
    """
    url = url.rstrip("/")
    _check_user_fields(name, url, database, login, protocol, insecure)
    stores = secret_stores(settings)
    draft = _draft(name, url, database, login, protocol, insecure)
    kind = stores.choose(_which_store(secret_store, secret_env), env=secret_env)
    use_secret = _secret_in_hand(stores, draft, kind, secret, secret_env)
    if mirror_exists(settings):
        with open_store(settings) as store:
            if store.get_user(name) is not None:
                raise ConfigError(
                    f"user '{name}' already exists",
                    hint=f"Replace its secret with `odoosync user set-secret {name}`, or pick "
                    "another name.",
                )
    version: str | None = None
    used: str | None = None
    if check:
        # Before the database file is touched: a refused login changes nothing.
        try:
            version, used = _check_connection(draft, settings, use_secret, connect)
        except AuthenticationError as exc:
            # The user does not exist yet, so `set-secret` (the usual advice) cannot help.
            exc.hint = (
                f"Check the login '{login}' and the password or API key (a new key is made in "
                "Odoo under Preferences > Account Security), then run `odoosync user add` again."
            )
            raise
    with open_store(settings, create=True) as store:
        store.add_user(
            name=name,
            url=url,
            database=database,
            login=login,
            protocol=protocol,
            location=NO_SECRET,
            server_version=version,
            protocol_used=used,
            insecure=insecure,
        )
        # The row first, then the secret: a secret is never left in a store with no user.
        try:
            location = _keep_secret(stores, store, draft, kind, use_secret, secret_env)
        except BaseException:
            store.remove_user(name)
            raise
        info = UserInfo.of(_get_user(store, name))
        return UserAdded(info, checked=check, secret_where=stores.describe(location))


def user_list(settings: Settings) -> list[UserInfo]:
    with open_store(settings) as store:
        return [UserInfo.of(u) for u in store.list_users()]


def user_get(settings: Settings, name: str) -> UserInfo:
    with open_store(settings) as store:
        return UserInfo.of(_get_user(store, name))


def user_remove(settings: Settings, name: str) -> UserRemoved:
    """Remove a user with its state and mirrored records, and its secret from its store."""
    with open_store(settings) as store:
        user = _get_user(store, name)
        with _Held(store, name):
            counts = store.remove_user(name)
    # After the row: a failure here leaves a secret no user points at, never a user without one.
    stores = secret_stores(settings)
    note = _forget_secret(stores, user.credential)
    where = stores.describe(user.credential.location)
    return UserRemoved(name, counts, user.secret_source, where, note)


def user_set_secret(
    settings: Settings,
    name: str,
    *,
    secret: SecretStr | None = None,
    secret_env: str | None = None,
    secret_store: str | None = None,
    check: bool = True,
    connect: ClientFactory | None = None,
) -> SecretChanged:
    """Replace a user's secret (a rotated API key), checking it against the server first.

    It goes where the user's secret is kept, unless ``secret_store`` or ``secret_env`` names
    another place; then the old copy is removed from the old store.
    """
    requested = _which_store(secret_store, secret_env)
    stores = secret_stores(settings)
    with open_store(settings) as store:
        user = _get_user(store, name)
        old = user.credential
        current = old.location.store
        if requested is None and not secret_env and current in CHOOSABLE:
            requested = current
        kind = stores.choose(requested, env=secret_env)
        use_secret = _secret_in_hand(stores, user, kind, secret, secret_env)
        if check:
            version, used = _check_connection(user, settings, use_secret, connect)
            store.set_server_info(name, server_version=version, protocol_used=used)
        location = _keep_secret(stores, store, user, kind, use_secret, secret_env)
        note = _forget_old(stores, old, location)
        return SecretChanged(
            UserInfo.of(_get_user(store, name)), stores.describe(location), note=note
        )


def user_move_secret(settings: Settings, name: str, *, to: str) -> SecretChanged:
    """Move a user's secret to another store as it is (an Odoo API key is shown only once)."""
    _which_store(to, None)
    stores = secret_stores(settings)
    with open_store(settings) as store:
        user = _get_user(store, name)
        old = user.credential
        if old.location.store == to:
            raise ConfigError(
                f"user '{name}' already keeps its secret in {stores.describe(old.location)}",
                hint=f"To replace the secret itself, run `odoosync user set-secret {name}`.",
            )
        kind = stores.choose(to)
        secret = stores.get(old)
        location = _keep_secret(stores, store, user, kind, secret, None)
        note = _forget_old(stores, old, location)
        return SecretChanged(
            UserInfo.of(_get_user(store, name)), stores.describe(location), moved=True, note=note
        )


def _forget_old(stores: SecretStores, old: Credential, new: SecretLocation) -> str | None:
    # Same keyring entry or file table: the new secret overwrote the old one in place.
    if old.location.store == new.store and old.location.ref == new.ref:
        return None
    return _forget_secret(stores, old)


# --------------------------------------------------------------------------- prepare


def select_fields(module: Module, info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The fields a module mirrors (name -> type), ``id``, ``write_date`` and ``active`` always."""
    if module.fields is not None:
        unknown = [f for f in module.fields if f not in info]
        if unknown:
            raise ConfigError(
                f"module '{module.name}': {module.model} has no field "
                + ", ".join(f"'{f}'" for f in unknown),
                hint=f"Fix modules.{module.name}.fields in the settings.",
            )
        chosen = list(module.fields)
    else:
        chosen = [
            name
            for name, attrs in info.items()
            if attrs.get("store")
            and attrs.get("type") not in UNSTORED_TYPES
            and not any(fnmatchcase(name, pattern) for pattern in module.exclude)
        ]
    always = ["id", "write_date"] + (["active"] if "active" in info else [])
    result: dict[str, str] = {}
    for name in always + chosen:
        if name in result:
            continue
        if name == "id" and name not in info:
            result[name] = "integer"
        elif name in info:
            result[name] = str(info[name].get("type", "char"))
    return result


def _high_point(client: OdooClient, model: str, domain: Sequence[Any]) -> str | None:
    """The newest write_date of the module's records (a scan on the server, once per prepare)."""
    rows = client.search_read(
        model,
        and_domains(domain, [["write_date", "!=", False]]),
        ["write_date"],
        order="write_date desc",
        limit=1,
        context=dict(NO_ACTIVE_TEST),
    )
    if not rows or not rows[0].get("write_date"):
        return None
    return str(rows[0]["write_date"])


def _plan_user(
    store: Mirror,
    client: OdooClient,
    user: UserRecord,
    us: UserSettings,
    *,
    full: bool,
    reporter: Reporter,
) -> tuple[list[ModulePlan], list[PlannedBatch], list[ModulePlanInfo]]:
    plans: list[ModulePlan] = []
    data: list[list[PlannedBatch]] = []
    reconciles: list[PlannedBatch] = []
    infos: list[ModulePlanInfo] = []
    for module in us.modules:
        state = store.module_row(user.name, module.name)
        try:
            info = client.fields_get(module.model, attributes=FIELD_ATTRIBUTES)
        except (ModelNotFoundError, AccessDeniedError) as exc:
            missing = isinstance(exc, ModelNotFoundError)
            why = "model not installed" if missing else "no read access"
            note = f"{module.model}: {why}, skipped"
            reporter.note(user.name, f"{module.name}: {note}")
            plans.append(
                ModulePlan(
                    module.name,
                    module.model,
                    module.table,
                    state=MODULE_MISSING if missing else MODULE_FORBIDDEN,
                    note=note,
                    domain=module.domain_list(),
                )
            )
            infos.append(ModulePlanInfo(module.name, module.model, None, 0, 0, False, 0, note))
            continue
        field_types = select_fields(module, info)
        spec = store.ensure_table(module.model, field_types)
        domain = module.domain_list()
        count = client.search_count(module.model, domain, context=dict(NO_ACTIVE_TEST))
        candidate = _high_point(client, module.model, domain)
        from_state = None if state is None else ModuleState(state.high_water, state.syncs)
        count_note = None
        if full or is_first_sync(from_state):
            ids = list_ids(client, module.model, domain, us.id_page_size)
            try:
                batches = plan_full(module.name, module.model, ids, us.batch_size)
            except CursorError as exc:
                raise ServerError(
                    f"the server listed ids out of order ({exc})",
                    user=user.name,
                    url=user.url,
                    model=module.model,
                    method="search",
                ) from exc
            count, count_note = trusted_count(count, sum(b.expected for b in batches))
            if count_note:
                reporter.note(user.name, f"{module.name}: {count_note}")
            kind = FULL
        else:
            assert state is not None
            inc = plan_incremental(module.name, module.model, state.high_water, us.lookback, 0)
            expected = client.search_count(
                module.model, window_domain(domain, inc.window_lo), context=dict(NO_ACTIVE_TEST)
            )
            batches = [replace(inc, expected=expected)]
            kind = INCREMENTAL
        data.append(batches)
        reconcile = should_reconcile(us.reconcile_every, state.syncs if state else 0)
        if reconcile:
            reconciles.append(plan_reconcile(module.name, module.model, count))
        plans.append(
            ModulePlan(
                module.name,
                module.model,
                spec.table,
                fields=tuple(spec.fields),
                candidate=candidate,
                count=count,
                domain=domain,
                note=count_note,
            )
        )
        infos.append(
            ModulePlanInfo(
                module=module.name,
                model=module.model,
                kind=kind,
                batches=len(batches),
                expected=sum(b.expected for b in batches),
                reconcile=reconcile,
                fields=len(spec.fields),
                window_lo=batches[0].window_lo,
            )
        )
    return plans, order_batches(data, reconciles), infos


def prepare(
    settings: Settings,
    *,
    users: Sequence[str] | None = None,
    full: bool = False,
    restart: bool = False,
    reporter: Reporter | None = None,
    connect: ClientFactory = make_client,
) -> list[PrepareResult]:
    """Plan a sync for each user: id ranges the first time (or ``full``), else one window."""
    reporter = reporter or NullReporter()
    explicit = bool(users)
    results: list[PrepareResult] = []
    with open_store(settings) as store:
        for user in _targets(store, users):
            if user.status == IN_PROGRESS and not restart:
                refusal = OdooSyncError(
                    f"user '{user.name}' is already in progress",
                    hint=f"Continue it with `odoosync step --user {user.name}`, or plan it "
                    f"again with `odoosync prepare --user {user.name} --restart`.",
                )
                if explicit:
                    raise refusal
                results.append(PrepareResult(user.name, refused=str(refusal)))
                continue
            try:
                results.append(
                    _prepare_user(store, settings, user, full, reporter, connect, restart)
                )
            except LeaseError as exc:
                if explicit:
                    raise
                results.append(PrepareResult(user.name, refused=str(exc)))
            except (OdooError, ConfigError) as exc:
                store.set_status(user.name, FAILED, error=str(exc))
                if explicit:
                    raise
                results.append(PrepareResult(user.name, error=exc))
    return results


def _prepare_user(
    store: Mirror,
    settings: Settings,
    user: UserRecord,
    full: bool,
    reporter: Reporter,
    connect: ClientFactory,
    restart: bool = False,
) -> PrepareResult:
    us = settings.for_user(user.name)
    with _Held(store, user.name) as lease:
        if not restart:
            _unchanged_since_read(store, user)
        with connect(user, settings) as client:
            client.connect()
            store.set_server_info(
                user.name, server_version=client.server_version, protocol_used=client.protocol
            )
            plans, batches, infos = _plan_user(
                store, client, user, us, full=full, reporter=reporter
            )
            store.save_plan(user.name, lease.owner, lease.ttl, plans, batches)
            return PrepareResult(
                user.name,
                modules=tuple(infos),
                server_version=client.server_version,
                protocol=client.protocol,
            )


def _unchanged_since_read(store: Mirror, user: UserRecord) -> None:
    """Refuse to plan a user another process planned between our read and our lease.

    Two loops can both read a user as queued; the one that takes the lease second must not
    plan it again, which would throw away the first plan and read its pages twice.
    """
    now = _get_user(store, user.name)
    if (now.status, now.prepared_at) != (user.status, user.prepared_at):
        raise LeaseError(
            f"user '{user.name}' was just planned by another odoosync process (now {now.status})",
            hint=f"See `odoosync status --user {user.name}`; the loop carries on with that plan.",
        )


# --------------------------------------------------------------------------- step


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
    with open_store(settings) as store:
        targets = _targets(store, users) if explicit else store.list_users()
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
    with _Held(store, user.name) as lease:
        batches = store.batches(user.name)
        reporter.user_started(
            user.name, len(batches), sum(1 for b in batches if b.status == "done")
        )
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
                    reporter.user_finished(user.name, DONE)
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
                    reporter.batch_started(user.name, batch)
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
                    reporter.batch_failed(user.name, batch, str(exc))
                    raise
                except CursorError as exc:
                    error = _cursor_error(user, batch, exc)
                    store.fail_batch(batch.id, user.name, str(error))
                    reporter.batch_failed(user.name, batch, str(error))
                    raise error from exc
                budget.pages += 1
                result.pages += 1
                result.records += page.records
                removed += page.removed
                if batch.kind == RECONCILE:
                    restored += page.records
                reporter.page_stored(user.name, page.batch, page.records)
                if page.done:
                    result.batches_finished += 1
                    if batch.kind == RECONCILE:
                        reporter.note(
                            user.name,
                            f"{batch.module}: reconcile checked {page.batch.synced} ids, "
                            f"{removed} gone, {restored} restored",
                        )
                        removed = restored = 0
                    reporter.batch_finished(user.name, page.batch)
        finally:
            read_ahead.close()
            if client is not None:
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


# --------------------------------------------------------------------------- status, clear, queue


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
    with open_store(settings) as store:
        targets = [_get_user(store, user)] if user else store.list_users()
        result: list[UserStatus] = []
        for u in targets:
            rows = {m.module: m for m in store.module_rows(u.name)}
            progress = store.progress(u.name)
            modules = tuple(
                ModuleStatus(
                    progress=p,
                    percent=_module_percent(u.status, p),
                    high_water=rows[p.module].high_water if p.module in rows else None,
                    last_synced_at=rows[p.module].last_synced_at if p.module in rows else None,
                )
                for p in progress
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
                )
            )
        return result


def status_json(statuses: Sequence[UserStatus]) -> dict[str, Any]:
    return {"users": [s.to_json() for s in statuses]}


def clear(
    settings: Settings, *, user: str | None = None, module: str | None = None
) -> list[ClearResult]:
    """Delete synced records and batches (of one module, or all) and reset users to ``idle``."""
    results: list[ClearResult] = []
    with open_store(settings) as store:
        targets = [_get_user(store, user)] if user else _targets(store, None)
        for u in targets:
            table: str | None = None
            if module is not None:
                table = _module_table(store, settings, u.name, module)
            with _Held(store, u.name):
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
    with open_store(settings) as store:
        targets = [_get_user(store, user)] if user else _targets(store, None)
        if module is not None:
            for u in targets:
                _module_table(store, settings, u.name, module)
        return [u.name for u in targets]


def queue(settings: Settings, *, users: Sequence[str] | None = None) -> list[QueueResult]:
    """Queue users for a new sync (``not_started``): the loop, or ``prepare``, plans it."""
    results: list[QueueResult] = []
    with open_store(settings) as store:
        for u in _targets(store, users):
            if u.status == IN_PROGRESS:
                results.append(QueueResult(u.name, u.status, refused="already in progress"))
                continue
            store.queue(u.name)
            results.append(QueueResult(u.name, NOT_STARTED))
    return results


def retry(settings: Settings, *, users: Sequence[str] | None = None) -> list[QueueResult]:
    """Re-queue failed work: failed batches resume from their cursor; a failed prepare re-queues."""
    results: list[QueueResult] = []
    with open_store(settings) as store:
        targets = _targets(store, users)
        explicit = bool(users)
        for u in targets:
            if u.status != FAILED:
                if explicit:
                    results.append(
                        QueueResult(u.name, u.status, refused=f"not failed ({u.status})")
                    )
                continue
            with _Held(store, u.name):
                if store.batches(u.name):
                    n = store.requeue_failed(u.name)
                    results.append(QueueResult(u.name, IN_PROGRESS, requeued_batches=n))
                else:
                    store.queue(u.name)
                    results.append(QueueResult(u.name, NOT_STARTED))
    return results


# --------------------------------------------------------------------------- diagnostics


def _one_user(store: Mirror, name: str | None, command: str) -> UserRecord:
    """The named user, or the only one there is."""
    if name:
        return _get_user(store, name)
    users = _targets(store, None)
    if len(users) > 1:
        raise ConfigError(
            f"{command} works on one user; there are {len(users)} "
            f"({', '.join(u.name for u in users)})",
            hint=f"Name one with `odoosync {command} --user NAME`.",
        )
    return users[0]


def pick_user(settings: Settings, name: str | None, command: str) -> str:
    """The name of the user a one-user command works on: the one named, or the only one."""
    with open_store(settings) as store:
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
    with open_store(settings) as store:
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
    reporter: LoopReporter | None = None,
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
    with open_store(settings) as store:
        name = _one_user(store, user, "test-complete").name
    timer = verify.SyncTimer(reporter or NullLoopReporter())
    started = time.monotonic()
    if sync:
        clear(settings, user=name)
        timer.user_state(name, "preparing", "full sync")
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
    with open_store(settings) as store:
        u = _get_user(store, name)
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
    settings: Settings, name: str, reporter: LoopReporter, connect: ClientFactory
) -> None:
    """Step ``name`` to the end, re-queuing batches failed by passing trouble a few times."""
    for round_ in range(CHECK_RETRY_ROUNDS + 1):
        current = status(settings, user=name)[0]
        reporter.user_totals(
            name,
            records_synced=current.records_synced,
            records_expected=current.records_expected,
            batches_done=current.batches_done,
            batches_total=current.batches_total,
        )
        reporter.user_state(name, "syncing")
        try:
            step(settings, users=[name], reporter=reporter, connect=connect)
        except RetriableError as exc:
            if round_ == CHECK_RETRY_ROUNDS:
                raise
            reporter.user_state(name, "retrying", str(exc))
            retry(settings, users=[name])
            continue
        final = user_get(settings, name).status
        if final == DONE:
            return
        raise OdooSyncError(
            f"the sync of user '{name}' ended {final}, so the mirror cannot be verified",
            hint=f"See `odoosync status --user {name}`.",
        )

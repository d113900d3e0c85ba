"""What every command shares: the mirror opened (and upgraded), users looked up, leases held,
Odoo clients made with the secret read from its store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from pydantic import SecretStr

from odoo_sync_cli import mirror
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import SecretStores, entry_name
from odoo_sync_cli.engine.results import SecretMoved, SecretsUpgrade
from odoo_sync_cli.errors import ConfigError, StoreError
from odoo_sync_cli.mirror import Mirror, may_hold_plain_secrets
from odoo_sync_cli.mirror.base import lease_owner_id
from odoo_sync_cli.models import Lease, UserRecord
from odoo_sync_cli.odoo import (
    PROTOCOLS,
    Connection,
    OdooClient,
    ProtocolSetting,
    RetryPolicy,
    choices_text,
)

ClientFactory = Callable[[UserRecord, Settings], OdooClient]

LEASE_SECONDS = 600.0


def secret_stores(settings: Settings) -> SecretStores:
    """The secret stores the settings describe (credentials file, key file, preferred store)."""
    key_file = settings.secret_key_file
    return SecretStores(
        credentials_file=settings.credentials_path,
        key_file=key_file.expanduser() if key_file is not None else None,
        preferred=settings.secret_store,
    )


def open_mirror(
    settings: Settings, *, create: bool = False, upgrade: SecretsUpgrade | None = None
) -> Mirror:
    """Open the mirror; secrets an older version kept in it in clear move out first."""
    store = mirror.open_mirror(settings, create=create)
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
        mirror_id = store.mirror_id()
        for name, secret in plain:
            user = known_user(store, name)
            entry = entry_name(name, mirror_id)
            location = stores.put(kind, user.credential.account, entry, secret)
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
    if not may_hold_plain_secrets(settings):
        return upgrade
    try:
        with open_mirror(settings, upgrade=upgrade):
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
            protocol=check_protocol(user.protocol),
        ),
        timeout=http.timeout,
        connect_timeout=http.connect_timeout,
        retry=RetryPolicy(**http.retry.model_dump()),
        verify=http.verify and not user.insecure,
    )


def check_protocol(value: str) -> ProtocolSetting:
    if value not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{value}' (use {choices_text()})")
    return cast("ProtocolSetting", value)


def known_user(store: Mirror, name: str) -> UserRecord:
    user = store.get_user(name)
    if user is None:
        known = ", ".join(u.name for u in store.list_users()) or "none yet"
        raise ConfigError(
            f"unknown user '{name}' (users: {known})",
            hint="See `odoosync user list`; add one with `odoosync user add`.",
        )
    return user


def chosen_users(store: Mirror, names: Sequence[str] | None) -> list[UserRecord]:
    if names:
        return [known_user(store, n) for n in dict.fromkeys(names)]
    users = store.list_users()
    if not users:
        raise ConfigError("no users yet", hint="Add one with `odoosync user add NAME ...`.")
    return users


@dataclass
class Held:
    """A user's lease for the length of a ``with`` block, or until the block's last commit hands
    it back (``save_plan`` / ``finish_sync`` with ``release=True``): then the release at the end
    finds nothing to do."""

    store: Mirror
    user: str
    owner: str = field(default_factory=lease_owner_id)

    def __enter__(self) -> Lease:
        self.store.acquire_lease(self.user, self.owner, LEASE_SECONDS)
        return Lease(self.user, self.owner, LEASE_SECONDS)

    def __exit__(self, *exc: object) -> None:
        self.store.release_lease(self.user, self.owner)

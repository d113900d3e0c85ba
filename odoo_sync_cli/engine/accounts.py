"""Odoo accounts: ``user add``, ``list``, ``remove``, ``set-secret``, ``move-secret``.

A user is checked against its server before anything is written; its secret goes to a store
(credentials.py) and the mirror keeps only where it went.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import SecretStr

from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import (
    CHOOSABLE,
    NewSecret,
    SecretStores,
    check_store_name,
    entry_name,
)
from odoo_sync_cli.engine.common import (
    ClientFactory,
    Held,
    check_protocol,
    known_user,
    make_client,
    open_mirror,
    secret_stores,
)
from odoo_sync_cli.engine.results import SecretChanged, UserAdded, UserInfo, UserRemoved
from odoo_sync_cli.errors import AuthenticationError, ConfigError, CredentialError, safe_url
from odoo_sync_cli.mirror import Mirror, mirror_exists
from odoo_sync_cli.models import ENV, NO_SECRET, NOT_STARTED, Credential, SecretLocation, UserRecord
from odoo_sync_cli.odoo import OdooClient

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def plain_http_off_machine(url: str) -> bool:
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
    if not insecure and plain_http_off_machine(url):
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
    check_protocol(protocol)


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
    secret: NewSecret,
    check: bool = True,
    connect: ClientFactory | None = None,
    insecure: bool = False,
) -> UserAdded:
    """Add an Odoo account (``not_started``, so the loop picks it up); check it first.

    The secret goes to the store it asks for (or only the name of its environment variable is
    kept); by default to the store :meth:`SecretStores.choose` picks. The database gets its
    location.
    """
    url = url.rstrip("/")
    _check_user_fields(name, url, database, login, protocol, insecure)
    stores = secret_stores(settings)
    draft = _draft(name, url, database, login, protocol, insecure)
    kind = stores.choose(secret.store, env=secret.env)
    use_secret = stores.resolve(secret, draft.credential.account)
    if mirror_exists(settings):
        with open_mirror(settings) as store:
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
    with open_mirror(settings, create=True) as store:
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
            location = _keep_secret(stores, store, draft, kind, use_secret, secret.env)
        except BaseException:
            store.remove_user(name)
            raise
        info = UserInfo.of(known_user(store, name))
        return UserAdded(info, checked=check, secret_where=stores.describe(location))


def user_list(settings: Settings) -> list[UserInfo]:
    with open_mirror(settings) as store:
        return [UserInfo.of(u) for u in store.list_users()]


def user_get(settings: Settings, name: str) -> UserInfo:
    with open_mirror(settings) as store:
        return UserInfo.of(known_user(store, name))


def user_remove(settings: Settings, name: str) -> UserRemoved:
    """Remove a user with its state and mirrored records, and its secret from its store."""
    with open_mirror(settings) as store:
        user = known_user(store, name)
        with Held(store, name):
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
    secret: NewSecret,
    check: bool = True,
    connect: ClientFactory | None = None,
) -> SecretChanged:
    """Replace a user's secret (a rotated API key), checking it against the server first.

    It goes where the user's secret is kept, unless the new secret names another store or an
    environment variable; then the old copy is removed from the old store.
    """
    stores = secret_stores(settings)
    with open_mirror(settings) as store:
        user = known_user(store, name)
        old = user.credential
        requested = secret.store
        if requested is None and not secret.env and old.location.store in CHOOSABLE:
            requested = old.location.store
        kind = stores.choose(requested, env=secret.env)
        use_secret = stores.resolve(secret, old.account)
        if check:
            version, used = _check_connection(user, settings, use_secret, connect)
            store.set_server_info(name, server_version=version, protocol_used=used)
        location = _keep_secret(stores, store, user, kind, use_secret, secret.env)
        note = _forget_old(stores, old, location)
        return SecretChanged(
            UserInfo.of(known_user(store, name)), stores.describe(location), note=note
        )


def user_move_secret(settings: Settings, name: str, *, to: str) -> SecretChanged:
    """Move a user's secret to another store as it is (an Odoo API key is shown only once)."""
    check_store_name(to)
    stores = secret_stores(settings)
    with open_mirror(settings) as store:
        user = known_user(store, name)
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
            UserInfo.of(known_user(store, name)), stores.describe(location), moved=True, note=note
        )


def _forget_old(stores: SecretStores, old: Credential, new: SecretLocation) -> str | None:
    # Same keyring entry or file table: the new secret overwrote the old one in place.
    if old.location.store == new.store and old.location.ref == new.ref:
        return None
    return _forget_secret(stores, old)

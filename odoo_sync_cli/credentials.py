"""Where each user's password or API key is kept, and the one place that reads, writes and moves it.

The mirror database is what people share, copy and browse, so it never holds a usable secret. Per
user it keeps a *location*: the kind of store (a label, shown as ``secretSource``) and an opaque
reference, which is

- ``keyring``: the name of an entry of the OS keyring (service ``odoosync``);
- ``file``: the name of a table of the credentials file (TOML, mode 0600, in a 0700 directory);
- ``env``: the name of an environment variable, read at each use;
- ``encrypted``: a Fernet token (AES-128-CBC with HMAC-SHA256) of the secret and of the account it
  opens. The key is never in the database: ``ODOOSYNC_SECRET_KEY`` or the ``secret_key_file``
  setting gives it, so several machines sharing one database each hold the key, and a reader of
  the database without it learns nothing. A token copied onto another user's row is refused.

:meth:`SecretStores.choose` is the one place that decides where a new secret goes: the store
asked for (``--secret-store``, ``--secret-env``, or the ``secret_store`` setting), else
``encrypted`` when a key is configured (configuring one says the database is shared), else the OS
keyring when it has a safe backend, else the credentials file. Nothing here prompts: a locked or
absent keyring is a :class:`CredentialError` naming the fix, so cron, systemd and the loop never
wait on a question.

This module knows no database: the backends (SQLite today, PostgreSQL next) store the label and
the reference as two strings. The keyring, cryptography and file-lock libraries are imported when
first needed, so commands that never touch a secret do not pay for them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from odoo_sync_cli.errors import ConfigError, CredentialError
from odoo_sync_cli.models import (
    ENCRYPTED,
    ENV,
    FILE,
    KEYRING,
    Account,
    Credential,
    SecretLocation,
)

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet
    from keyring.backend import KeyringBackend

CHOOSABLE = (KEYRING, FILE, ENCRYPTED)  # the values of --secret-store
AUTO = "auto"

SERVICE = "odoosync"  # the keyring's service name for every entry
KEY_ENV = "ODOOSYNC_SECRET_KEY"
_TOKEN_VERSION = 1
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The credentials file as last parsed, per path, with the stat that identifies that version:
# the loop reads one secret per user turn, and parsing a file of many users for each would cost
# in proportion to users squared. A write replaces the file (another inode, another mtime).
_PARSED: dict[Path, tuple[tuple[int, int, int, int], dict[str, Any]]] = {}
_PARSED_GUARD = threading.Lock()
_MAKE_KEY = "make one with `openssl rand -base64 32 | tr '+/' '-_'`"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class NewSecret:
    """A secret as ``user add`` and ``user set-secret`` are given it, checked once, here.

    Either typed in (``value``: from the hidden prompt or stdin) or the name of an environment
    variable read at each use (``env``), never both; ``store`` is the store asked for
    (``--secret-store``), if any. :meth:`SecretStores.resolve` turns it into the secret itself,
    and from there one ``SecretStr`` goes to the connection, which puts it in the request.
    """

    value: SecretStr | None = field(default=None, repr=False)
    env: str | None = None
    store: str | None = None

    def __post_init__(self) -> None:
        if self.env and self.store:
            raise ConfigError("give --secret-env or --secret-store, not both")
        if self.store is not None:
            check_store_name(self.store)
        if not self.env and (self.value is None or not self.value.get_secret_value()):
            raise ConfigError(
                "no secret given",
                hint="Type it at the prompt, pipe it on stdin, or use --secret-env VAR.",
            )


def entry_name(user: str, mirror_id: str) -> str:
    """The keyring entry or credentials-file table of ``user`` of one mirror.

    Two mirrors on one machine may both have a user ``acme``; the mirror's id keeps their
    secrets apart (a copy of a database shares its original's id, and so its secrets).
    """
    return f"{user}@{mirror_id}"


# --------------------------------------------------------------------------- the keyring


def keyring_refusal(backend: Any) -> str | None:
    """Why ``backend`` must not keep secrets (no real keyring, or a file in disguise), or None.

    keyring's own rule for a recommended backend is a priority of 1 or more; its fallbacks (the
    ``fail`` and ``null`` backends, a chainer with nothing to chain) are below that. keyrings.alt
    keeps secrets in a file under the home directory, in clear or with a weak scheme, and
    keyrings.cryptfile asks for a password at a prompt: both are refused by name whatever
    priority they claim.
    """
    from keyring.backends import chainer, fail, null

    name = _backend_name(backend)
    if name.startswith(("keyrings.alt.", "keyrings.cryptfile.")):
        return f"{name} keeps secrets in a file of its own, not in an OS keyring"
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return "no keyring backend is available"
        reasons = [why for why in map(keyring_refusal, chained) if why is not None]
        return reasons[0] if reasons else None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return "no keyring backend is available"
    try:
        priority = float(backend.priority)
    except Exception as exc:  # a backend reports a missing dependency by raising here
        return f"{name} cannot be used ({exc})"
    if priority < 1:
        return f"{name} is not a recommended keyring backend (priority {priority:g})"
    return None


def _keyring() -> KeyringBackend:
    import keyring

    return keyring.get_keyring()


def _backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


# --------------------------------------------------------------------------- the stores


@dataclass(frozen=True)
class SecretStores:
    """The stores of this machine and settings; reads, writes and removes secrets.

    Args:
        credentials_file: the credentials file (TOML) of the ``file`` store.
        key_file: a file holding the key of the ``encrypted`` store (``ODOOSYNC_SECRET_KEY``
            wins over it).
        preferred: the ``secret_store`` setting: ``auto`` or a store of :data:`CHOOSABLE`.
        environ: where ``env`` secrets and ``ODOOSYNC_SECRET_KEY`` are read.
        keyring: the keyring backend's getter (keyring's own detection by default).
    """

    credentials_file: Path
    key_file: Path | None = None
    preferred: str = AUTO
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    keyring: Callable[[], Any] = _keyring

    # ---- choosing

    def choose(self, requested: str | None = None, *, env: str | None = None) -> str:
        """The store a new secret goes to; raises when the one asked for cannot keep it now."""
        if env:
            check_env_name(env)
            return ENV
        store = requested or self.preferred
        if store != AUTO:
            check_store_name(store)
        if store == AUTO:
            if self.key_configured():
                store = ENCRYPTED
            elif self.keyring_problem() is None:
                store = KEYRING
            else:
                store = FILE
        self.check_writable(store)
        return store

    def check_writable(self, store: str) -> None:
        """Raise, before anything is written or any server asked, when ``store`` is unusable."""
        if store == KEYRING:
            why = self.keyring_problem()
            if why is not None:
                raise CredentialError(
                    f"the OS keyring cannot keep secrets here: {why}",
                    hint="Use a desktop session's keyring (Secret Service, KWallet), macOS or "
                    "Windows, or choose another store: --secret-store file (a private file) or "
                    "--secret-store encrypted (with ODOOSYNC_SECRET_KEY).",
                )
        elif store == FILE:
            self._read_file()  # refuses a file others can read, or bad TOML, before any write
        elif store == ENCRYPTED:
            self._fernet(None)

    def keyring_problem(self) -> str | None:
        """Why the OS keyring cannot be used here, or None when it can."""
        try:
            backend = self.keyring()
        except Exception as exc:
            return f"keyring failed to start ({type(exc).__name__}: {exc})"
        return keyring_refusal(backend)

    def key_configured(self) -> bool:
        return bool(self.environ.get(KEY_ENV)) or self.key_file is not None

    # ---- writing, reading, removing

    def put(self, store: str, account: Account, entry: str, secret: SecretStr) -> SecretLocation:
        """Keep ``secret`` for ``account`` in ``store``; the location to save in the database."""
        check_store_name(store)
        if store == KEYRING:
            self._keyring_call(
                account.user,
                "save the secret in",
                secret,
                lambda k: k.set_password(SERVICE, entry, secret.get_secret_value()),
            )
            return SecretLocation(KEYRING, entry)
        if store == FILE:
            table = {
                "secret": secret.get_secret_value(),
                "user": account.user,
                "url": account.url,
                "database": account.database,
                "login": account.login,
            }
            with self._file_locked():
                data = self._read_file()
                data[entry] = table
                self._write_file(data)
            return SecretLocation(FILE, entry)
        payload = {"v": _TOKEN_VERSION, **_binding(account), "secret": secret.get_secret_value()}
        token = self._fernet(account.user).encrypt(json.dumps(payload).encode())
        return SecretLocation(ENCRYPTED, token.decode("ascii"))

    def get(self, credential: Credential) -> SecretStr:
        """The secret itself, read now from its store; a one-line CredentialError otherwise."""
        loc = credential.location
        user = credential.user
        if loc.store == ENV:
            var = loc.ref or ""
            value = self.environ.get(var)
            if not value:
                raise CredentialError(
                    f"user '{user}' reads its secret from the environment variable {var}, "
                    "which is not set",
                    hint=f"Export {var}, or keep the secret in a store with "
                    f"`odoosync user set-secret {user}`.",
                )
            return SecretStr(value)
        if loc.store == KEYRING:
            value = self._keyring_call(
                user, "read the secret from", None, lambda k: k.get_password(SERVICE, loc.ref)
            )
            if not value:
                raise CredentialError(
                    f"user '{user}': the OS keyring has no entry '{loc.ref}' (service {SERVICE})",
                    hint=f"Set the secret again with `odoosync user set-secret {user}`.",
                )
            return SecretStr(str(value))
        if loc.store == FILE:
            try:
                data = self._read_file()
            except CredentialError as exc:
                exc.message = f"user '{user}': {exc.message}"
                raise
            table = data.get(loc.ref or "")
            value = table.get("secret") if isinstance(table, dict) else None
            if not isinstance(value, str) or not value:
                raise CredentialError(
                    f"user '{user}': the credentials file {self.credentials_file} has no "
                    f'secret under ["{loc.ref}"]',
                    hint=f"Set it again with `odoosync user set-secret {user}` (or point "
                    "ODOOSYNC_CREDENTIALS_FILE at the file that has it).",
                )
            return SecretStr(value)
        if loc.store == ENCRYPTED:
            return self._decrypt(credential)
        raise CredentialError(
            f"user '{user}' has no secret",
            hint=f"Set one with `odoosync user set-secret {user}`.",
        )

    def resolve(self, new: NewSecret, account: Account) -> SecretStr:
        """The secret a :class:`NewSecret` stands for: typed, or read now from its variable."""
        if new.env:
            return self.get(Credential(account, SecretLocation(ENV, new.env)))
        assert new.value is not None  # NewSecret holds one or the other
        return new.value

    def available(self, credential: Credential) -> bool:
        """Whether :meth:`get` would succeed now (``connectionInfoAvailable``)."""
        try:
            self.get(credential)
        except CredentialError:
            return False
        return True

    def delete(self, credential: Credential) -> None:
        """Remove the secret from its store (an ``env`` variable or a token need nothing)."""
        loc = credential.location
        if loc.store == KEYRING:
            import keyring.errors

            def remove(k: Any) -> None:
                # Already gone is what was wanted.
                with suppress(keyring.errors.PasswordDeleteError):
                    k.delete_password(SERVICE, loc.ref)

            self._keyring_call(credential.user, "remove the secret from", None, remove)
        elif loc.store == FILE:
            with self._file_locked():
                data = self._read_file()
                if data.pop(loc.ref or "", None) is not None:
                    self._write_file(data)

    def describe(self, location: SecretLocation) -> str:
        """Where the secret is, in words, for a message: never the secret or the token."""
        if location.store == KEYRING:
            try:
                name = _backend_name(self.keyring())
            except Exception:
                name = "keyring"
            return f"the OS keyring ({name}, entry {location.ref})"
        if location.store == FILE:
            return f"the credentials file {self.credentials_file}"
        if location.store == ENV:
            return f"the environment variable {location.ref}"
        if location.store == ENCRYPTED:
            return "the database, encrypted with the secret key"
        return "nowhere"

    # ---- the keyring

    def _keyring_call(
        self, user: str, doing: str, secret: SecretStr | None, call: Callable[[Any], Any]
    ) -> Any:
        import keyring.errors

        why = self.keyring_problem()
        if why is not None:
            raise CredentialError(
                f"user '{user}' keeps its secret in the OS keyring, which is not usable here: "
                f"{why}",
                hint="Run odoosync where the keyring is (the desktop session that added the "
                f"user), or move the secret: `odoosync user set-secret {user} --secret-store "
                "file` (or encrypted).",
            )
        try:
            return call(self.keyring())
        except keyring.errors.KeyringLocked as exc:
            raise CredentialError(
                f"user '{user}': cannot {doing} the OS keyring: it is locked",
                hint="Unlock it (log in to the desktop session) and run again; for cron or a "
                f"service, move the secret with `odoosync user set-secret {user} "
                "--secret-store file` (or encrypted).",
            ) from exc
        except Exception as exc:
            text = _blank(f"{type(exc).__name__}: {exc}", secret)
            raise CredentialError(
                f"user '{user}': cannot {doing} the OS keyring ({text})",
                hint="Check the keyring (is it unlocked and running?), or keep the secret "
                f"elsewhere: `odoosync user set-secret {user} --secret-store file`.",
            ) from exc

    # ---- the credentials file

    def _read_file(self) -> dict[str, Any]:
        path = self.credentials_file
        try:
            info = path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CredentialError(
                f"cannot read the credentials file {path} ({exc.strerror})",
                hint="Check its permissions, or point ODOOSYNC_CREDENTIALS_FILE elsewhere.",
            ) from exc
        _refuse_open_mode(path, info, "credentials file")
        version = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
        with _PARSED_GUARD:
            known = _PARSED.get(path)
        if known is not None and known[0] == version:
            return dict(known[1])  # callers replace or drop whole entries, never edit one
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise CredentialError(
                f"the credentials file {path} is not valid TOML ({exc})",
                hint='Fix it by hand (one ["user@mirror"] table per user, with secret = '
                '"..."), or move it away and set the secrets again with '
                "`odoosync user set-secret NAME`.",
            ) from None
        except OSError as exc:
            raise CredentialError(
                f"cannot read the credentials file {path} ({exc.strerror})",
                hint="Check its permissions, or point ODOOSYNC_CREDENTIALS_FILE elsewhere.",
            ) from exc
        with _PARSED_GUARD:
            _PARSED[path] = (version, data)
        return dict(data)

    def _write_file(self, data: Mapping[str, Any]) -> None:
        import tomli_w

        path = self.credentials_file
        text = (
            "# odoosync's credentials: one table per user of a mirror. Private to its owner\n"
            "# (mode 0600); odoosync refuses it if others can read it. `odoosync user\n"
            "# set-secret NAME` rewrites an entry, `odoosync user remove NAME` deletes it.\n\n"
            + tomli_w.dumps(dict(data))
        )
        # mkstemp makes the file 0600 whatever the umask; the rename makes the new content
        # appear whole or not at all, even to a reader in another process.
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise CredentialError(
                f"cannot write the credentials file {path} ({exc.strerror})",
                hint="Check that you may write to its directory and that the disk has room.",
            ) from exc

    @contextmanager
    def _file_locked(self) -> Iterator[None]:
        """Hold the credentials file's lock: two processes adding users must not lose one."""
        from filelock import FileLock, Timeout

        _make_private_dir(self.credentials_file.parent)
        lock = FileLock(str(self.credentials_file) + ".lock", timeout=30, mode=0o600)
        try:
            with lock:
                yield
        except Timeout as exc:
            raise CredentialError(
                f"the credentials file {self.credentials_file} stayed locked for 30 s",
                hint="Another odoosync process is writing it; try again in a moment.",
            ) from exc

    # ---- the encrypted store

    def _fernet(self, user: str | None) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        text = self.environ.get(KEY_ENV)
        origin = f"the environment variable {KEY_ENV}"
        if not text and self.key_file is not None:
            origin = f"the key file {self.key_file}"
            text = _read_key_file(self.key_file)
        if not text:
            who = f"user '{user}' keeps its secret encrypted in the database, but " if user else ""
            raise CredentialError(
                f"{who}no secret key is configured (the encrypted store needs one)",
                hint=f"Export {KEY_ENV} with the key, or set secret_key_file in the settings; "
                f"for a new key, {_MAKE_KEY}.",
            )
        # One key, or several (newest first) while rotating: by line, comma or space.
        keys = [
            k for line in text.splitlines() for k in line.split("#")[0].replace(",", " ").split()
        ]
        try:
            return MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError):
            raise CredentialError(
                f"{origin} does not hold a valid key (32 bytes in URL-safe base64, 44 characters)",
                hint=f"Give the key the secrets were encrypted with; for a new key, {_MAKE_KEY}.",
            ) from None

    def _decrypt(self, credential: Credential) -> SecretStr:
        from cryptography.fernet import InvalidToken

        user = credential.user
        fernet = self._fernet(user)
        try:
            payload = json.loads(fernet.decrypt((credential.location.ref or "").encode("ascii")))
        except (InvalidToken, UnicodeEncodeError, ValueError):
            raise CredentialError(
                f"user '{user}': the secret key does not open its encrypted secret (another key "
                "encrypted it, or the token is damaged)",
                hint=f"Give the key used when the secret was stored ({KEY_ENV} or "
                "secret_key_file; several keys may be listed while rotating), or store it "
                f"again with `odoosync user set-secret {user}`.",
            ) from None
        if not isinstance(payload, dict) or any(
            payload.get(k) != v for k, v in _binding(credential.account).items()
        ):
            raise CredentialError(
                f"user '{user}': its encrypted secret was stored for another account (the "
                "user, URL, database or login in the database differ from the ones it was "
                "encrypted with)",
                hint=f"If the change is yours, store the secret again with `odoosync user "
                f"set-secret {user}`; otherwise someone changed the database.",
            )
        secret = payload.get("secret")
        if not isinstance(secret, str) or not secret:
            raise CredentialError(f"user '{user}': its encrypted secret is empty")
        return SecretStr(secret)


# --------------------------------------------------------------------------- helpers


def check_store_name(store: str) -> None:
    """Raise a ConfigError unless ``store`` is one a secret may be put in."""
    if store not in CHOOSABLE:
        raise ConfigError(f"unknown secret store '{store}' (use keyring, file or encrypted)")


def check_env_name(var: str) -> None:
    if not _ENV_NAME.match(var):
        raise ConfigError(f"bad environment variable name '{var}'")


def _binding(account: Account) -> dict[str, str]:
    # What the token is bound to: a writer of the database who copies one user's token onto
    # another row, or points a row at their own server, gets a refusal, not the key sent there.
    return {
        "user": account.user,
        "url": account.url,
        "database": account.database,
        "login": account.login,
    }


def _blank(text: str, secret: SecretStr | None) -> str:
    if secret is not None and secret.get_secret_value():
        return text.replace(secret.get_secret_value(), "**********")
    return text


def _refuse_open_mode(path: Path, info: os.stat_result, what: str) -> None:
    """Refuse, as ssh does a private key, a file that the group or others may read or write."""
    mode = stat.S_IMODE(info.st_mode)
    if os.name == "posix" and mode & 0o077:
        raise CredentialError(
            f"the {what} {path} has mode {mode:o}: others on this machine can read it",
            hint=f"Run `chmod 600 {path}` (and if others may have read it, rotate the keys it "
            "holds).",
        )


def _read_key_file(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise CredentialError(
            f"cannot read the key file {path} ({exc.strerror})",
            hint="Check the secret_key_file setting (or ODOOSYNC_SECRET_KEY_FILE).",
        ) from exc
    _refuse_open_mode(path, info, "key file")
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(
            f"cannot read the key file {path} ({exc})",
            hint=f"It holds one key per line; for a new key, {_MAKE_KEY}.",
        ) from None


def _make_private_dir(path: Path) -> None:
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; this one is not
    except FileExistsError:
        return
    except OSError as exc:
        raise CredentialError(
            f"cannot create the directory of the credentials file {path} ({exc.strerror})",
            hint="Check your permissions, or point ODOOSYNC_CREDENTIALS_FILE elsewhere.",
        ) from exc

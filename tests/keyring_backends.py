"""Keyring backends for the tests only, loaded through keyring's own mechanisms.

No test may reach the real keyring of the machine it runs on (a developer's desktop has one), so
``conftest.py`` installs keyring's ``fail`` backend for every test; a test that needs a working
keyring installs one of these. They keep entries in memory (or, for subprocesses, in a JSON
file), which is exactly what odoosync must never accept from a real backend: they are honest
stand-ins for a desktop keyring, never shipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

FILE_VARIABLE = "ODOOSYNC_TEST_KEYRING_FILE"


class InMemoryTestKeyring(KeyringBackend):
    """A keyring for tests: entries in a dict; ``locked`` makes every call fail as a locked one."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = False

    def _load(self) -> dict[tuple[str, str], str]:
        if self.locked:
            raise KeyringLocked("the test keyring is locked")
        return self.entries

    def _save(self, entries: dict[tuple[str, str], str]) -> None:
        self.entries = entries

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[(service, username)] = password
        self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if (service, username) not in entries:
            raise PasswordDeleteError("no such entry")
        del entries[(service, username)]
        self._save(entries)


class FileTestKeyring(InMemoryTestKeyring):
    """The same, kept in the JSON file named by ``ODOOSYNC_TEST_KEYRING_FILE``: for subprocesses,
    which load it with ``PYTHON_KEYRING_BACKEND=tests.keyring_backends.FileTestKeyring``."""

    def _path(self) -> Path:
        return Path(os.environ[FILE_VARIABLE])

    def _load(self) -> dict[tuple[str, str], str]:
        path = self._path()
        if not path.exists():
            return {}
        return {tuple(k.split("\n", 1)): v for k, v in json.loads(path.read_text()).items()}  # type: ignore[misc]

    def _save(self, entries: dict[tuple[str, str], str]) -> None:
        data = {f"{s}\n{u}": v for (s, u), v in entries.items()}
        self._path().write_text(json.dumps(data))


class PlaintextLookalike(InMemoryTestKeyring):
    """A backend that claims a good priority from a module named like keyrings.alt's."""


PlaintextLookalike.__module__ = "keyrings.alt.file"


class LowPriorityTestKeyring(InMemoryTestKeyring):
    """A working backend that keyring itself would not recommend (priority below 1)."""

    priority = 0.5  # type: ignore[assignment]

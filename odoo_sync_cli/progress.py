"""The reporter interface the engine tells what it does; the terminal draws it in render.py.

The engine calls a :class:`Reporter` at each step of a sync. :class:`NullReporter` is the
default and does nothing; :class:`RecordingReporter` keeps every call for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from odoo_sync_cli.store import Batch


class Reporter(Protocol):
    """What a sync tells whoever watches it."""

    def user_started(self, user: str, batches_total: int, batches_done: int) -> None:
        """Stepping ``user`` starts; ``batches_done`` of ``batches_total`` are already done."""

    def batch_started(self, user: str, batch: Batch) -> None:
        """A batch gets its first (or next) page."""

    def page_stored(self, user: str, batch: Batch, records: int) -> None:
        """A page of ``records`` was committed; ``batch`` is as it is after it."""

    def batch_finished(self, user: str, batch: Batch) -> None:
        """``batch`` is done."""

    def batch_failed(self, user: str, batch: Batch, error: str) -> None:
        """``batch`` failed and keeps its cursor."""

    def note(self, user: str, message: str) -> None:
        """Something worth a line: a skipped module, a reconcile's findings."""

    def user_finished(self, user: str, status: str) -> None:
        """Stepping ``user`` ends with its sync status."""


class NullReporter:
    """Reports nothing."""

    def user_started(self, user: str, batches_total: int, batches_done: int) -> None:
        pass

    def batch_started(self, user: str, batch: Batch) -> None:
        pass

    def page_stored(self, user: str, batch: Batch, records: int) -> None:
        pass

    def batch_finished(self, user: str, batch: Batch) -> None:
        pass

    def batch_failed(self, user: str, batch: Batch, error: str) -> None:
        pass

    def note(self, user: str, message: str) -> None:
        pass

    def user_finished(self, user: str, status: str) -> None:
        pass


@dataclass
class RecordingReporter:
    """Keeps every call as ``(event, user, details)``, for tests."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def user_started(self, user: str, batches_total: int, batches_done: int) -> None:
        self.events.append(("user_started", user, {"total": batches_total, "done": batches_done}))

    def batch_started(self, user: str, batch: Batch) -> None:
        self.events.append(("batch_started", user, {"batch": batch}))

    def page_stored(self, user: str, batch: Batch, records: int) -> None:
        self.events.append(("page_stored", user, {"batch": batch, "records": records}))

    def batch_finished(self, user: str, batch: Batch) -> None:
        self.events.append(("batch_finished", user, {"batch": batch}))

    def batch_failed(self, user: str, batch: Batch, error: str) -> None:
        self.events.append(("batch_failed", user, {"batch": batch, "error": error}))

    def note(self, user: str, message: str) -> None:
        self.events.append(("note", user, {"message": message}))

    def user_finished(self, user: str, status: str) -> None:
        self.events.append(("user_finished", user, {"status": status}))

    def of(self, event: str) -> list[tuple[str, dict[str, Any]]]:
        """The ``(user, details)`` of every call of one kind."""
        return [(u, d) for e, u, d in self.events if e == event]

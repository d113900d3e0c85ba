"""The reporter interface the engine tells what it does; the terminal draws it in render.py.

The engine calls a :class:`Reporter` at each step of a sync. :class:`NullReporter` is the
default and does nothing; :class:`RecordingReporter` keeps every call for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from odoo_sync_cli.models import Batch


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


# --------------------------------------------------------------------------- the loop's reporter


class LoopReporter(Reporter, Protocol):
    """What ``loop`` (and ``test-complete``) tell whoever watches, beyond the engine's calls.

    The engine only knows :class:`Reporter`; the scheduler adds a user's state as a word
    (``preparing``, ``syncing``, ``done``, ``failed``, ``waiting``, ``busy``) and, when a turn
    starts, the totals of the user's current plan, so a display can draw a bar from the truth.
    Workers call these from several threads at once: implementations must be thread-safe.
    """

    def user_state(self, user: str, state: str, message: str | None = None) -> None:
        """``user`` is now in ``state``; ``message`` says why when there is something to say."""

    def user_totals(
        self,
        user: str,
        *,
        records_synced: int,
        records_expected: int,
        batches_done: int,
        batches_total: int,
    ) -> None:
        """Where the user's current plan stands, read from the database."""


class NullLoopReporter(NullReporter):
    """Reports nothing, to the loop either."""

    def user_state(self, user: str, state: str, message: str | None = None) -> None:
        pass

    def user_totals(
        self,
        user: str,
        *,
        records_synced: int,
        records_expected: int,
        batches_done: int,
        batches_total: int,
    ) -> None:
        pass


@dataclass
class RecordingLoopReporter(RecordingReporter):
    """Keeps every call, the loop's included, for tests."""

    def user_state(self, user: str, state: str, message: str | None = None) -> None:
        self.events.append(("user_state", user, {"state": state, "message": message}))

    def user_totals(
        self,
        user: str,
        *,
        records_synced: int,
        records_expected: int,
        batches_done: int,
        batches_total: int,
    ) -> None:
        self.events.append(
            (
                "user_totals",
                user,
                {
                    "records_synced": records_synced,
                    "records_expected": records_expected,
                    "batches_done": batches_done,
                    "batches_total": batches_total,
                },
            )
        )


class TeeReporter:
    """Tells every one of several loop reporters the same thing, in order."""

    def __init__(self, *reporters: LoopReporter) -> None:
        self.reporters = reporters

    def user_started(self, user: str, batches_total: int, batches_done: int) -> None:
        for r in self.reporters:
            r.user_started(user, batches_total, batches_done)

    def batch_started(self, user: str, batch: Batch) -> None:
        for r in self.reporters:
            r.batch_started(user, batch)

    def page_stored(self, user: str, batch: Batch, records: int) -> None:
        for r in self.reporters:
            r.page_stored(user, batch, records)

    def batch_finished(self, user: str, batch: Batch) -> None:
        for r in self.reporters:
            r.batch_finished(user, batch)

    def batch_failed(self, user: str, batch: Batch, error: str) -> None:
        for r in self.reporters:
            r.batch_failed(user, batch, error)

    def note(self, user: str, message: str) -> None:
        for r in self.reporters:
            r.note(user, message)

    def user_finished(self, user: str, status: str) -> None:
        for r in self.reporters:
            r.user_finished(user, status)

    def user_state(self, user: str, state: str, message: str | None = None) -> None:
        for r in self.reporters:
            r.user_state(user, state, message)

    def user_totals(
        self,
        user: str,
        *,
        records_synced: int,
        records_expected: int,
        batches_done: int,
        batches_total: int,
    ) -> None:
        for r in self.reporters:
            r.user_totals(
                user,
                records_synced=records_synced,
                records_expected=records_expected,
                batches_done=batches_done,
                batches_total=batches_total,
            )

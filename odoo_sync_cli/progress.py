"""What a sync tells whoever watches it: one method, ``emit(event)``, and a few kinds of event.

The engine emits :class:`UserStarted`, :class:`BatchStarted`, :class:`PageStored`,
:class:`BatchFinished`, :class:`BatchFailed`, :class:`Note` and :class:`UserFinished`; the loop
(and ``test-complete``) add :class:`UserState`, a user's state as a word (``preparing``,
``syncing``, ``done``, ``failed``, ``waiting``, ``busy``...), and :class:`UserTotals`, where the
user's current plan stands, read from the mirror, so a display can draw a bar from the truth.

A renderer matches on the events it cares about and ignores the rest, so a new fact is a new
event type and a change where it is shown, not a new method on every reporter. The terminal's
renderers are in render.py; :class:`NullReporter` is the default and :class:`RecordingReporter`
keeps what it was told, for tests. The loop's workers emit from several threads at once:
reporters must be thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from odoo_sync_cli.models import Batch


@dataclass(frozen=True)
class UserStarted:
    """Stepping ``user`` starts; ``batches_done`` of ``batches_total`` are already done."""

    user: str
    batches_total: int
    batches_done: int


@dataclass(frozen=True)
class BatchStarted:
    """A batch gets its first (or next) page."""

    user: str
    batch: Batch


@dataclass(frozen=True)
class PageStored:
    """A page of ``records`` was committed; ``batch`` is as it is after it."""

    user: str
    batch: Batch
    records: int


@dataclass(frozen=True)
class BatchFinished:
    """``batch`` is done."""

    user: str
    batch: Batch


@dataclass(frozen=True)
class BatchFailed:
    """``batch`` failed and keeps its cursor."""

    user: str
    batch: Batch
    error: str


@dataclass(frozen=True)
class Note:
    """Something worth a line: a skipped module, a reconcile's findings."""

    user: str
    message: str


@dataclass(frozen=True)
class UserFinished:
    """Stepping ``user`` ends with its sync status."""

    user: str
    status: str


@dataclass(frozen=True)
class UserState:
    """``user`` is now in ``state``; ``message`` says why when there is something to say."""

    user: str
    state: str
    message: str | None = None


@dataclass(frozen=True)
class UserTotals:
    """Where the user's current plan stands, read from the mirror."""

    user: str
    records_synced: int
    records_expected: int
    batches_done: int
    batches_total: int


Event = (
    UserStarted
    | BatchStarted
    | PageStored
    | BatchFinished
    | BatchFailed
    | Note
    | UserFinished
    | UserState
    | UserTotals
)
E = TypeVar("E", bound=Event)


class Reporter(Protocol):
    """Whoever watches a sync."""

    def emit(self, event: Event) -> None:
        """Take note of ``event``; never raise for an event of a kind it does not show."""


class NullReporter:
    """Reports nothing."""

    def emit(self, event: Event) -> None:
        pass


@dataclass
class RecordingReporter:
    """Keeps every event, in order, for tests."""

    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]


class TeeReporter:
    """Tells every one of several reporters the same thing, in order."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def emit(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.emit(event)


# --------------------------------------------------------------------------- the loop's counters


@dataclass(frozen=True)
class UserCounters:
    """What one loop process did for one user since it started (Prometheus counters)."""

    pages: int = 0
    records: int = 0
    failures: int = 0
    retries: int = 0
    request_retries: int = 0


@dataclass(frozen=True)
class LoopCounters:
    """A loop process's counters: ``worker`` names the process (``host:pid``), ``holding`` the
    users it works on now."""

    worker: str
    users: dict[str, UserCounters] = field(default_factory=dict)
    holding: tuple[str, ...] = ()

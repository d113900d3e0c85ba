"""History mode: every version of a record the mirror has seen, and the rules that keep it.

With history on for a user's table (``history = true`` in the settings), ``<table>_history``
holds one row per version of each record: the mirror row's columns except ``_synced_at`` and
``_deleted_at`` (they describe the mirror's row, not the record), then ``_version`` (1, 2, ...
per record), ``_valid_from`` and ``_valid_to`` (NULL while the version is current). Times are
UTC text in Odoo's form, ``YYYY-MM-DD HH:MM:SS``, so that they compare with ``_write_date`` and
with a date written by hand. The primary key is ``(user, id, _version)``; a unique index on
``(user, id)`` over the open versions makes "at most one current version" a rule of the
database and finds the current version of a record at once.

A backend keeps the history in the transaction of the page that changes the mirror, so a kill
never leaves them apart. After it has written a page's rows, for each record of the page it
reads the record's latest version and whether that version's values equal the row as stored
now (every column compared as stored, ``IS`` / ``IS NOT DISTINCT FROM``, so that NULLs and the
database's own conversions compare alike) and applies :func:`on_stored`. After reconcile has
marked rows gone (or deleted them), each open version whose record has no live row is closed
at :func:`closed_at`. Turning history on applies the same two rules to every row the user has
in the table (:func:`on_stored` to the live ones, :func:`closed_at` to the rest), so history
starts at the mirror's current state, and starting again after a pause mends what the pause
left behind. Turning it off stops the writes and keeps the table.

What history can see is what the syncs see: versions that came and went between two syncs
collapse into the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

HISTORY_SUFFIX = "_history"
VERSION_COLUMNS = ("_version", "_valid_from", "_valid_to")
# Columns of a mirror row that are not part of a version.
UNVERSIONED_COLUMNS = ("_synced_at", "_deleted_at")


def history_table(table: str) -> str:
    """The history table of a mirror table: ``res_partner`` -> ``res_partner_history``."""
    return f"{table}{HISTORY_SUFFIX}"


def history_time(stamp: str) -> str:
    """An odoosync timestamp (``YYYY-MM-DDTHH:MM:SSZ``) in the form of Odoo's datetimes."""
    return stamp.replace("T", " ").removesuffix("Z")


@dataclass(frozen=True)
class Latest:
    """A record's latest version: its number, its bounds, and whether its values are the
    mirror row's (which matters only while it is open)."""

    number: int
    valid_from: str
    valid_to: str | None
    same: bool

    @property
    def open(self) -> bool:
        return self.valid_to is None


@dataclass(frozen=True)
class NewVersion:
    """Open version ``number`` at ``valid_from``; first close the open one at the same time
    when ``closes`` (the version before it ends where this one begins)."""

    number: int
    valid_from: str
    closes: bool


def on_stored(latest: Latest | None, write_date: str | None, now: str) -> NewVersion | None:
    """What a record just stored (live) in the mirror does to its history at ``now``.

    - No version yet: version 1 opens at its ``write_date`` (``now`` when it has none).
    - The open version holds the same values: nothing (a record read again unchanged).
    - The open version differs: it closes and the next one opens, both at :func:`start`.
    - The latest version is closed (the record was gone): the next one opens at :func:`start`.
    """
    if latest is None:
        return NewVersion(1, write_date or now, closes=False)
    if latest.open and latest.same:
        return None
    return NewVersion(latest.number + 1, start(latest, write_date, now), closes=latest.open)


def start(latest: Latest, write_date: str | None, now: str) -> str:
    """When the version after ``latest`` begins.

    Its ``write_date``, when that is after the open version's start or not before the closed
    version's end: Odoo dated the change. Otherwise Odoo did not date it (a many2one's name
    changed with its comodel, a one2many gained a line, a record came back into the module's
    filter without a write): then the time of the sync that saw it, and never before the
    latest version's bound, so that versions never overlap and never run backwards, whatever
    the two machines' clocks say.
    """
    if latest.valid_to is None:
        bound = latest.valid_from
        if write_date is not None and write_date > bound:
            return write_date
    else:
        bound = latest.valid_to
        if write_date is not None and write_date >= bound:
            return write_date
    return max(now, bound)


def closed_at(valid_from: str, gone_at: str) -> str:
    """When the open version of a record found gone at ``gone_at`` ends (never before it
    began)."""
    return max(gone_at, valid_from)

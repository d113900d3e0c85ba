"""Pure planning: from counts, id lists and the saved state of a module to the batches of a sync.

A first sync (or ``--full``) reads id ranges of about ``batch_size`` records each; the last range
is open-ended upward, so records created while the sync runs are read by it. A later sync reads
one incremental window, ``write_date >= high_water - lookback``, paged by id like every batch.
Reconcile batches, when the policy asks for one, come after every data batch of the sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from odoo_sync_cli.domain import CursorError, window_start
from odoo_sync_cli.models import (
    FULL,
    INCREMENTAL,
    RECONCILE,
    RECONCILE_AUTO,
    IdRange,
    ModuleState,
    PlannedBatch,
)

__all__ = [
    "FULL",
    "INCREMENTAL",
    "RECONCILE",
    "RECONCILE_AUTO",
    "IdRange",
    "ModuleState",
    "PlannedBatch",
    "is_due",
    "is_first_sync",
    "order_batches",
    "plan_full",
    "plan_id_ranges",
    "plan_incremental",
    "plan_reconcile",
    "reconcile_deferral",
    "should_reconcile",
    "trusted_count",
]


def plan_id_ranges(ids: Iterable[int], batch_size: int) -> list[IdRange]:
    """Cut ascending ``ids`` into ranges of ``batch_size`` ids; the last range is open-ended.

    ``ids`` is consumed once, so a generator over pages of a server listing keeps memory flat.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ranges: list[IdRange] = []
    lo = 0
    previous = 0
    count = 0
    for record_id in ids:
        if record_id <= previous:
            raise CursorError(f"id listing is not strictly ascending: {record_id} after {previous}")
        previous = record_id
        count += 1
        if count == batch_size:
            ranges.append(IdRange(lo, record_id, count))
            lo = record_id
            count = 0
    if count or not ranges:
        ranges.append(IdRange(lo, None, count))
    else:
        last = ranges[-1]
        ranges[-1] = IdRange(last.lo_id, None, last.expected)
    return ranges


def is_first_sync(state: ModuleState | None) -> bool:
    return state is None or state.syncs == 0


def plan_full(module: str, model: str, ids: Iterable[int], batch_size: int) -> list[PlannedBatch]:
    return [
        PlannedBatch(module, model, FULL, lo_id=r.lo_id, hi_id=r.hi_id, expected=r.expected)
        for r in plan_id_ranges(ids, batch_size)
    ]


def plan_incremental(
    module: str, model: str, high_water: str | None, lookback: float, expected: int
) -> PlannedBatch:
    """One window from ``high_water - lookback``; no high water (empty model) reads all."""
    lo = window_start(high_water, lookback) if high_water else None
    return PlannedBatch(module, model, INCREMENTAL, window_lo=lo, expected=expected)


def trusted_count(count: int, listed: int) -> tuple[int, str | None]:
    """A ``search_count`` answer checked against the ids listed with the same domain.

    A count cannot be smaller than the ids the server lists for its domain (unless records
    appeared in between, when the listing is the newer figure anyway). Over JSON-2 the count
    is a bare number, so an answer a proxy cuts short is still valid JSON ("2404" -> "24"):
    the listing is the figure to trust then, and the note says why it was used.
    """
    if count >= listed:
        return count, None
    return listed, (
        f"search_count answered {count}, fewer than the {listed} ids listed (an answer cut "
        f"short on the way?); {listed} is used"
    )


def plan_reconcile(module: str, model: str, expected: int) -> PlannedBatch:
    return PlannedBatch(module, model, RECONCILE, expected=expected)


# The "auto" policy. Listing ids costs about 15 us per id on a real Odoo 19 (40,000 partners:
# an incremental sync took 3.2 s, 3.8 s with reconcile), so up to this many records a reconcile
# costs under a quarter of an incremental sync's own fixed cost and runs every sync.
AUTO_RECONCILE_RECORDS = 50_000
# Above it, a reconcile waits until its last one is this many times its duration old, so
# reconciling takes at most about a tenth of the time however often the user syncs ...
AUTO_RECONCILE_SPACING = 10
# ... and never waits longer than this: a deletion shows within a day at worst.
AUTO_RECONCILE_MAX_AGE = timedelta(days=1)


def should_reconcile(every: int, completed_syncs: int) -> bool:
    """Whether the coming sync (number ``completed_syncs + 1``) reconciles under an every-N
    policy (1: each sync, 0: never); :data:`RECONCILE_AUTO` is :func:`reconcile_deferral`'s."""
    if every <= 0:
        return False
    return (completed_syncs + 1) % every == 0


def reconcile_deferral(
    count: int,
    reconciled_at: datetime | None,
    reconcile_seconds: float | None,
    now: datetime,
) -> timedelta | None:
    """Under the auto policy, how long the module's reconcile still waits (None: it is due).

    Due when the module holds at most :data:`AUTO_RECONCILE_RECORDS` records, was never
    reconciled, or its last reconcile is :data:`AUTO_RECONCILE_SPACING` times that reconcile's
    duration old (at most :data:`AUTO_RECONCILE_MAX_AGE`)."""
    if count <= AUTO_RECONCILE_RECORDS or reconciled_at is None:
        return None
    spacing = timedelta(seconds=AUTO_RECONCILE_SPACING * max(0.0, reconcile_seconds or 0.0))
    wait = min(spacing, AUTO_RECONCILE_MAX_AGE) - (now - reconciled_at)
    return wait if wait > timedelta(0) else None


def order_batches(
    data: Sequence[Sequence[PlannedBatch]], reconciles: Sequence[PlannedBatch]
) -> list[PlannedBatch]:
    """Data batches module by module, then the reconciles: deletions are judged on fresh data."""
    ordered = [batch for batches in data for batch in batches]
    ordered.extend(reconciles)
    return ordered


def is_due(last_success: datetime | None, refresh: float, now: datetime) -> bool:
    """Whether a ``done`` user's mirror is older than its refresh period."""
    if last_success is None:
        return True
    return now - last_success >= timedelta(seconds=refresh)

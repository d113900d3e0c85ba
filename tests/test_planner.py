"""Planning: id ranges, windows, reconcile policy; and paging a plan over a changing id set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odoo_sync_cli.domain import CursorError, advance_cursor, page_domain, page_is_last
from odoo_sync_cli.models import (
    FULL,
    INCREMENTAL,
    RECONCILE,
    IdRange,
    ModuleState,
    PlannedBatch,
)
from odoo_sync_cli.planner import (
    AUTO_RECONCILE_MAX_AGE,
    AUTO_RECONCILE_RECORDS,
    AUTO_RECONCILE_SPACING,
    is_due,
    is_first_sync,
    order_batches,
    plan_full,
    plan_id_ranges,
    plan_incremental,
    plan_reconcile,
    reconcile_deferral,
    should_reconcile,
)


def test_id_ranges() -> None:
    assert plan_id_ranges([], 3) == [IdRange(0, None, 0)]
    assert plan_id_ranges([1, 2], 3) == [IdRange(0, None, 2)]
    assert plan_id_ranges([1, 2, 3], 3) == [IdRange(0, None, 3)]
    assert plan_id_ranges([2, 4, 6, 8, 10, 12, 14], 3) == [
        IdRange(0, 6, 3),
        IdRange(6, 12, 3),
        IdRange(12, None, 1),
    ]
    assert plan_id_ranges([2, 4, 6, 8, 10, 12], 3) == [IdRange(0, 6, 3), IdRange(6, None, 3)]
    with pytest.raises(CursorError, match=r"^id listing is not strictly ascending: 2 after 3$"):
        plan_id_ranges([3, 2], 3)
    with pytest.raises(CursorError, match=r"^id listing is not strictly ascending: 2 after 2$"):
        plan_id_ranges([1, 2, 2, 3], 3)
    with pytest.raises(ValueError, match=r"^batch_size must be at least 1$"):
        plan_id_ranges([1], 0)


def test_ranges_take_a_generator_once() -> None:
    consumed: list[int] = []

    def ids() -> Any:
        for i in range(1, 10_001):
            consumed.append(i)
            yield i

    ranges = plan_id_ranges(ids(), 1000)
    assert len(ranges) == 10
    assert len(consumed) == 10_000
    assert ranges[-1].hi_id is None


def test_plans() -> None:
    batches = plan_full("contacts", "res.partner", [1, 2, 3, 4], 2)
    assert batches == [
        PlannedBatch("contacts", "res.partner", FULL, lo_id=0, hi_id=2, expected=2),
        PlannedBatch("contacts", "res.partner", FULL, lo_id=2, hi_id=None, expected=2),
    ]
    inc = plan_incremental("contacts", "res.partner", "2026-01-01 00:15:00", 900, 7)
    assert inc == PlannedBatch(
        "contacts", "res.partner", INCREMENTAL, window_lo="2026-01-01 00:00:00", expected=7
    )
    assert plan_incremental("c", "m", None, 900, 0).window_lo is None
    rec = plan_reconcile("contacts", "res.partner", 9)
    assert rec == PlannedBatch("contacts", "res.partner", RECONCILE, expected=9)
    a = [PlannedBatch("a", "m.a", FULL)]
    b = [PlannedBatch("b", "m.b", INCREMENTAL)]
    assert order_batches([a, b], [rec]) == [a[0], b[0], rec]


def test_first_sync_and_reconcile_policy() -> None:
    assert is_first_sync(None)
    assert is_first_sync(ModuleState(high_water="2026-01-01 00:00:00", syncs=0))
    assert not is_first_sync(ModuleState(high_water=None, syncs=1))
    assert [should_reconcile(1, n) for n in range(4)] == [True, True, True, True]
    assert [should_reconcile(0, n) for n in range(4)] == [False, False, False, False]
    assert [should_reconcile(3, n) for n in range(7)] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


NOW = datetime(2026, 12, 7, 12, 0, 0)
BIG = AUTO_RECONCILE_RECORDS + 1


def ago(**span: float) -> datetime:
    return NOW - timedelta(**span)


def test_auto_reconcile_examples() -> None:
    # Small modules, and modules never reconciled, reconcile every sync.
    assert reconcile_deferral(AUTO_RECONCILE_RECORDS, ago(seconds=1), 3600.0, NOW) is None
    assert reconcile_deferral(10**7, None, None, NOW) is None
    # A reconcile of 15 s waits until it is 150 s old.
    assert reconcile_deferral(BIG, ago(seconds=60), 15.0, NOW) == timedelta(seconds=90)
    assert reconcile_deferral(BIG, ago(seconds=150), 15.0, NOW) is None
    # A reconcile measured as instant (whole seconds) does not hold the next one back.
    assert reconcile_deferral(BIG, ago(seconds=1), 0.0, NOW) is None
    # However slow the last one was, a day is the longest wait.
    assert reconcile_deferral(BIG, ago(hours=23), 86400.0, NOW) == timedelta(hours=1)
    assert reconcile_deferral(BIG, ago(days=1), 86400.0, NOW) is None
    # Put off for a big module, not for a small one, with the same last reconcile.
    assert reconcile_deferral(BIG, ago(seconds=10), 15.0, NOW) is not None
    assert reconcile_deferral(10, ago(seconds=10), 15.0, NOW) is None


@given(
    count=st.integers(0, 10**8),
    age=st.floats(0, 3 * 86400),
    seconds=st.none() | st.floats(0, 10 * 86400),
)
def test_auto_reconcile_bounds(count: int, age: float, seconds: float | None) -> None:
    """A reconcile is never put off past the module's spacing, nor past a day; and putting it
    off again after the wait is over never happens."""
    reconciled_at = NOW - timedelta(seconds=age)
    wait = reconcile_deferral(count, reconciled_at, seconds, NOW)
    if wait is None:
        return
    assert count > AUTO_RECONCILE_RECORDS
    assert timedelta(0) < wait <= AUTO_RECONCILE_MAX_AGE
    spacing = timedelta(seconds=AUTO_RECONCILE_SPACING * (seconds or 0.0))
    assert timedelta(seconds=age) + wait == min(spacing, AUTO_RECONCILE_MAX_AGE)
    assert reconcile_deferral(count, reconciled_at, seconds, NOW + wait) is None


def test_is_due() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0)
    assert is_due(None, 3600, now)
    assert is_due(now - timedelta(hours=1), 3600, now)
    assert not is_due(now - timedelta(minutes=59), 3600, now)


# --- paging a plan against an id set that changes while it runs ------------------------------


def _eval_leaf(record_id: int, leaf: Sequence[Any]) -> bool:
    field, op, value = leaf
    assert field == "id", "this fake only knows id bounds"
    return {">": record_id > value, "<=": record_id <= value, ">=": record_id >= value}[op]


def _fake_search(ids: set[int], domain: list[Any], limit: int) -> list[int]:
    """What Odoo answers to search(domain, order='id asc', limit): implicit AND of id leaves."""
    hits = sorted(i for i in ids if all(_eval_leaf(i, leaf) for leaf in domain))
    return hits[:limit]


@settings(max_examples=200, deadline=None)
@given(
    initial=st.sets(st.integers(1, 400), max_size=120),
    batch_size=st.integers(1, 40),
    page_size=st.integers(1, 25),
    created=st.lists(st.integers(1, 30), max_size=10),
    deleted=st.lists(st.integers(1, 400), max_size=10),
    seed=st.randoms(use_true_random=False),
)
def test_paging_a_plan_reads_every_surviving_id_once(
    initial: set[int],
    batch_size: int,
    page_size: int,
    created: list[int],
    deleted: list[int],
    seed: Any,
) -> None:
    """Every non-empty page moves the cursor strictly forward, and no id is skipped or repeated.

    Records are created (with new, higher ids, as Odoo allocates them) and deleted between pages;
    every record that exists from planning to the end is read exactly once, and so is every
    record created during the sync.
    """
    ids = set(initial)
    next_id = max(ids, default=0) + 1
    batches = plan_full("m", "x.m", sorted(ids), batch_size)
    survivors = set(ids)
    created_ids: set[int] = set()
    seen: list[int] = []
    events = [("create", n) for n in created] + [("delete", n) for n in deleted]
    seed.shuffle(events)
    for batch in batches:
        cursor = batch.lo_id
        while True:
            if events and seed.random() < 0.5:
                kind, n = events.pop()
                if kind == "create":
                    for _ in range(n):
                        ids.add(next_id)
                        created_ids.add(next_id)
                        next_id += 1
                elif n in ids:
                    ids.discard(n)
                    survivors.discard(n)
                    created_ids.discard(n)
            domain = page_domain([], cursor=cursor, hi_id=batch.hi_id)
            page = _fake_search(ids, domain, page_size)
            new_cursor = advance_cursor(cursor, page)
            if page:
                assert new_cursor > cursor
            seen.extend(page)
            cursor = new_cursor
            if page_is_last(page, page_size, batch.hi_id):
                break
    assert len(seen) == len(set(seen)), "an id was read twice"
    assert survivors <= set(seen), "an id that existed throughout was skipped"
    assert created_ids <= set(seen), "a record created during the sync was not read"

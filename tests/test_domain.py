"""Domains, windows and cursors: the pure rules every page follows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odoo_sync_cli.domain import (
    CursorError,
    advance_cursor,
    and_domains,
    format_datetime,
    id_list_domain,
    page_domain,
    page_is_last,
    parse_datetime,
    validate_cursor,
    validate_domain,
    window_domain,
    window_start,
)


@pytest.mark.parametrize(
    "domain",
    [
        [],
        [["a", "=", 1]],
        [("a", "=", 1), ("b", "!=", False)],
        ["|", ["a", "=", 1], ["b", "=", 2]],
        ["|", ["a", "=", 1], ["b", "=", 2], ["c", "=", 3]],
        ["!", ["a", "=", 1]],
        ["&", "|", ["a", "=", 1], ["b", "=", 2], "!", ["c", "in", [1, 2]]],
        [[1, "=", 1]],
        [[0, "=", 1], ["a", "=", 1]],
    ],
)
def test_valid_domains(domain: list[object]) -> None:
    validate_domain(domain)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        (["|", ["a", "=", 1]], "missing 1 condition"),
        (["&"], "missing 2 condition"),
        (["!"], "missing 1 condition"),
        ([["a", "="]], "bad domain condition"),
        ([["", "=", 1]], "bad domain condition"),
        (["xor", ["a", "=", 1], ["b", "=", 1]], "unknown domain operator"),
        ([42], "bad domain condition"),
        ("a = 1", "^a domain is a list of conditions"),
    ],
)
def test_invalid_domains(domain: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_domain(domain)  # type: ignore[arg-type]


def test_page_domains() -> None:
    flt = [["move_type", "in", ["out_invoice"]]]
    assert page_domain(flt, cursor=0) == [["move_type", "in", ["out_invoice"]], ["id", ">", 0]]
    assert page_domain([], cursor=10, hi_id=20) == [["id", "<=", 20], ["id", ">", 10]]
    assert page_domain(
        ["|", ("a", "=", 1), ("b", "=", 2)], cursor=5, window_lo="2026-01-01 00:00:00"
    ) == [
        "|",
        ["a", "=", 1],
        ["b", "=", 2],
        ["write_date", ">=", "2026-01-01 00:00:00"],
        ["id", ">", 5],
    ]
    assert id_list_domain([], cursor=7) == [["id", ">", 7]]
    assert id_list_domain(flt, cursor=7) == [*flt, ["id", ">", 7]], "listings keep the filter"
    assert window_domain([], None) == []
    assert window_domain([["a", "=", 1]], "x") == [["a", "=", 1], ["write_date", ">=", "x"]]
    # An OR filter stays one expression when ANDed with bounds: it was complete on its own.
    combined = and_domains(["|", ["a", "=", 1], ["b", "=", 2]], [["id", ">", 0]])
    validate_domain(combined)


def test_page_is_last() -> None:
    assert page_is_last([1, 2], 3, None)
    assert not page_is_last([1, 2, 3], 3, None)
    assert page_is_last([1, 2, 3], 3, 3)
    assert not page_is_last([1, 2, 3], 3, 4)
    assert page_is_last([], 3, None)


@given(
    cursor=st.integers(0, 1000),
    steps=st.lists(st.integers(1, 50), max_size=30),
)
def test_advance_cursor_moves_strictly_forward(cursor: int, steps: list[int]) -> None:
    ids = []
    last = cursor
    for gap in steps:
        last += gap
        ids.append(last)
    new = advance_cursor(cursor, ids)
    if ids:
        assert new == ids[-1] > cursor
    else:
        assert new == cursor


@given(
    ids=st.lists(st.integers(1, 200), min_size=2, max_size=20),
)
def test_advance_cursor_rejects_pages_out_of_order(ids: list[int]) -> None:
    ordered = all(b > a for a, b in zip([0, *ids], ids, strict=False))
    if ordered:
        assert advance_cursor(0, ids) == ids[-1]
    else:
        with pytest.raises(CursorError):
            advance_cursor(0, ids)


def test_advance_cursor_rejects_non_integers_and_repeats() -> None:
    with pytest.raises(CursorError, match="non-integer"):
        advance_cursor(0, [1, True])  # type: ignore[list-item]
    with pytest.raises(CursorError, match="not strictly ascending"):
        advance_cursor(5, [5])


def test_validate_cursor() -> None:
    assert validate_cursor(5, lo_id=0, hi_id=10) == 5
    for bad, lo, hi in [(-1, 0, None), ("5", 0, None), (3, 4, None), (11, 0, 10), (True, 0, None)]:
        with pytest.raises(CursorError):
            validate_cursor(bad, lo_id=lo, hi_id=hi)


def test_validate_cursor_bounds_are_inclusive_and_errors_say_why() -> None:
    # A batch's cursor starts at its lower bound (0 for the first) and may reach its top id.
    assert validate_cursor(0) == 0
    assert validate_cursor(4, lo_id=4, hi_id=10) == 4
    assert validate_cursor(10, lo_id=4, hi_id=10) == 10
    with pytest.raises(CursorError, match=r"^stored cursor -1 is not a non-negative integer id$"):
        validate_cursor(-1)
    with pytest.raises(CursorError, match=r"^stored cursor 3 is below its batch's start 4$"):
        validate_cursor(3, lo_id=4)
    with pytest.raises(CursorError, match=r"^stored cursor 11 is past its batch's end 10$"):
        validate_cursor(11, hi_id=10)


def test_datetimes() -> None:
    assert format_datetime(datetime(2026, 11, 28, 18, 55, 12, 999_999)) == "2026-11-28 18:55:12"
    assert parse_datetime("2026-11-28 18:55:12") == datetime(2026, 11, 28, 18, 55, 12)
    assert parse_datetime("2026-11-28T18:55:12.123456") == datetime(
        2026, 11, 28, 18, 55, 12, 123456
    )
    assert parse_datetime("2026-11-28T19:55:12+01:00") == datetime(2026, 11, 28, 18, 55, 12)
    with pytest.raises(ValueError, match="not an Odoo datetime"):
        parse_datetime("yesterday")
    assert window_start("2026-01-01 00:10:00", 900) == "2025-12-31 23:55:00"
    assert window_start("2026-01-01 00:10:00", 0) == "2026-01-01 00:10:00"
    assert window_start("2026-01-01 00:10:00", 0.5) == "2026-01-01 00:09:59"


@pytest.fixture
def local_zone_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone set to one five and a half hours off UTC."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_not_utc")
def test_aware_datetimes_become_utc_whatever_the_local_zone() -> None:
    plus_one = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 28, 19, 55, 12, 999_999, tzinfo=plus_one)
    assert format_datetime(moment) == "2026-11-28 18:55:12"
    assert parse_datetime("2026-11-28T19:55:12+01:00") == datetime(2026, 11, 28, 18, 55, 12)
    # Naive values are taken as UTC already, not as local time.
    assert format_datetime(datetime(2026, 11, 28, 18, 55, 12)) == "2026-11-28 18:55:12"


@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    lookback=st.floats(0, 10 * 86400, allow_nan=False),
)
def test_window_start_never_narrows_the_window(moment: datetime, lookback: float) -> None:
    high_water = format_datetime(moment)
    lo = parse_datetime(window_start(high_water, lookback))
    hw = parse_datetime(high_water)
    assert lo.microsecond == 0
    assert hw - lo >= timedelta(seconds=lookback)
    assert hw - lo < timedelta(seconds=lookback + 1)

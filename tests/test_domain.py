"""Domains, windows and cursors: the pure rules every page follows."""

from __future__ import annotations

from datetime import datetime, timedelta

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
        ("a = 1", "a domain is a list"),
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

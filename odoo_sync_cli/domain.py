"""Pure helpers for Odoo domains, windows and cursors.

Every page odoosync reads is ``module filter + batch bounds + [('id', '>', cursor)]`` ordered by
``id asc``: ids are unique and indexed, so the cursor is exact. ``write_date`` only ever appears
as a window bound (``write_date >= lo``), never as a cursor: the API reads it back cut to whole
seconds while the server compares and sorts its microseconds, so a ``(write_date, id)`` keyset
skips and repeats rows (see DESIGN.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from odoo_sync_cli.errors import CursorError

__all__ = [
    "NO_ACTIVE_TEST",
    "ORDER_BY_ID",
    "CursorError",
    "Domain",
    "advance_cursor",
    "and_domains",
    "format_datetime",
    "id_list_domain",
    "page_domain",
    "page_is_last",
    "parse_datetime",
    "validate_cursor",
    "validate_domain",
    "window_domain",
    "window_start",
]

Domain = list[Any]

ORDER_BY_ID = "id asc"
NO_ACTIVE_TEST: dict[str, Any] = {"active_test": False}

_UNARY = "!"
_BINARY = frozenset({"&", "|"})
_TRUE_LEAF = (1, "=", 1)
_FALSE_LEAF = (0, "=", 1)
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"


def _is_leaf(term: Any) -> bool:
    if not isinstance(term, list | tuple) or len(term) != 3:
        return False
    if tuple(term) in (_TRUE_LEAF, _FALSE_LEAF):
        return True
    return isinstance(term[0], str) and bool(term[0]) and isinstance(term[1], str)


def validate_domain(domain: Sequence[Any]) -> None:
    """Raise ValueError unless ``domain`` is a well-formed prefix-notation Odoo domain."""
    if not isinstance(domain, list | tuple):
        raise ValueError("a domain is a list of conditions such as ['state', '=', 'sale']")
    # Odoo normalizes by counting the expressions still expected; implicit ANDs fill gaps.
    expected = 1
    for term in domain:
        if expected == 0:
            expected = 1  # an implicit '&' joins this term to what came before
        if isinstance(term, str):
            if term in _BINARY:
                expected += 1
            elif term == _UNARY:
                pass
            else:
                raise ValueError(f"unknown domain operator {term!r} (use '&', '|' or '!')")
        elif _is_leaf(term):
            expected -= 1
        else:
            raise ValueError(f"bad domain condition {term!r}: expected [field, operator, value]")
    if domain and expected != 0:
        raise ValueError(f"domain {list(domain)!r} is missing {expected} condition(s)")


def and_domains(*domains: Sequence[Any]) -> Domain:
    """AND well-formed domains: each is complete, so Odoo's implicit AND joins them."""
    out: Domain = []
    for domain in domains:
        out.extend(list(term) if isinstance(term, tuple) else term for term in domain)
    return out


def page_domain(
    module_filter: Sequence[Any],
    *,
    cursor: int,
    hi_id: int | None = None,
    window_lo: str | None = None,
) -> Domain:
    """The domain of one page: filter, batch bounds, then ``id > cursor``."""
    bounds: Domain = []
    if window_lo is not None:
        bounds.append(["write_date", ">=", window_lo])
    if hi_id is not None:
        bounds.append(["id", "<=", hi_id])
    return and_domains(module_filter, bounds, [["id", ">", cursor]])


def id_list_domain(module_filter: Sequence[Any], *, cursor: int) -> Domain:
    """The domain of one page of an id listing (planning, reconcile)."""
    return and_domains(module_filter, [["id", ">", cursor]])


def window_domain(module_filter: Sequence[Any], window_lo: str | None) -> Domain:
    if window_lo is None:
        return and_domains(module_filter)
    return and_domains(module_filter, [["write_date", ">=", window_lo]])


def advance_cursor(cursor: int, ids: Sequence[int]) -> int:
    """The cursor after a page: its last id, checked to ascend strictly from ``cursor``."""
    previous = cursor
    for record_id in ids:
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise CursorError(f"page holds a non-integer id {record_id!r}")
        if record_id <= previous:
            raise CursorError(
                f"page ids are not strictly ascending past cursor {cursor}: "
                f"{record_id} came after {previous}"
            )
        previous = record_id
    return previous


def validate_cursor(value: Any, *, lo_id: int = 0, hi_id: int | None = None) -> int:
    """A cursor read back from storage, checked to lie inside its batch's bounds."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CursorError(f"stored cursor {value!r} is not a non-negative integer id")
    if value < lo_id:
        raise CursorError(f"stored cursor {value} is below its batch's start {lo_id}")
    if hi_id is not None and value > hi_id:
        raise CursorError(f"stored cursor {value} is past its batch's end {hi_id}")
    return value


def page_is_last(ids: Sequence[int], page_size: int, hi_id: int | None) -> bool:
    """Whether a page ends its batch: short, or reaching the batch's top id."""
    if len(ids) < page_size:
        return True
    return hi_id is not None and ids[-1] >= hi_id


def format_datetime(value: datetime) -> str:
    """A naive-UTC (or aware) datetime as Odoo's whole-second ``YYYY-MM-DD HH:MM:SS``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(ODOO_DATETIME)


def parse_datetime(text: str) -> datetime:
    """Odoo's datetime text (seconds, optional microseconds or 'T') as a naive UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an Odoo datetime: {text!r}") from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def window_start(high_water: str, lookback: float) -> str:
    """The lower bound of an incremental window: the high-water mark less the look-back.

    The result is a whole second at or before the exact instant, so the window never shrinks.
    """
    start = parse_datetime(high_water) - timedelta(seconds=lookback)
    return format_datetime(start.replace(microsecond=0))

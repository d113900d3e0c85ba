"""``validate-cursor``: check on a live server what odoosync's paging relies on.

odoosync reads every page as ``filter + bounds + [('id', '>', cursor)]`` ordered by ``id asc``,
and uses ``write_date`` only as a window bound (``>= lo``, ``< hi``). The alternative many
tools use, a ``(write_date, id)`` keyset, looks equivalent and is not: the API reads
``write_date`` back cut to whole seconds while the server sorts (and, before Odoo 19, compares)
the stored microseconds, so a cursor built from values read back skips rows, repeats them, or
never moves again. :func:`validate_cursor` runs read-only requests against one model and says,
check by check and with numbers, whether the server honours what odoosync needs, which datetime
semantics it has, and what a keyset pager would lose on this server's data.

The checks, in report order (a check fails only when the server breaks what it describes):

- ``order``: two pages in ``write_date asc, id asc`` order come back sorted by the shown
  write_date, with nothing left out; ids out of order inside one second are reported, not
  failed, since they show the server sorting by microseconds it does not return.
- ``cursor_syntax``: the keyset domain and ``[('id', '>', N)]`` are accepted and return only
  rows past the cursor.
- ``window_slice``: ``write_date >= lo``, ``< hi`` and ``id > cursor`` together return exactly
  the ids a full listing predicts.
- ``date_roundtrip``: a write_date read back finds its rows: with ``>=``/``<`` bounds always,
  and with ``=`` too unless the server compares full precision (where ``=`` cannot).
- ``semantics``: whole-second (Odoo 19) or full-precision (up to 18), from how ``=`` and ``>``
  treat the busiest seconds; then a simulated keyset pager, whose losses describe the server
  and fail nothing. It fails only when the comparisons fit neither semantics.
- ``id_cursor_exact``: paging by id (odoosync's cursor) sees every id once, as ``search`` in id
  order lists them.

Everything runs with ``active_test: False`` (archived rows count) and is bounded: at most
``max_records`` ids are listed, and every later check is confined to those ids, so the
expected answers are exact. Run it on a quiet server; rows written meanwhile can show up as
differences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from odoo_sync_cli.domain import (
    ORDER_BY_ID,
    Domain,
    and_domains,
    format_datetime,
    parse_datetime,
)
from odoo_sync_cli.errors import InvalidRequestError, ServerError
from odoo_sync_cli.odoo.client import OdooClient

__all__ = [
    "CHECK_KEYS",
    "KEYSET_ORDER",
    "Check",
    "CursorReport",
    "KeysetSimulation",
    "Semantics",
    "keyset_domain",
    "validate_cursor",
]

Semantics = Literal["whole-second", "full-precision", "unknown"]
KeysetOutcome = Literal["finished", "stuck", "gave-up"]

KEYSET_ORDER = "write_date asc, id asc"
WRITE_DATE = "write_date"
CHECK_KEYS = (
    "order",
    "cursor_syntax",
    "window_slice",
    "date_roundtrip",
    "semantics",
    "id_cursor_exact",
)

# A datetime used only to show that the server parses a cursor domain when there is no data.
_SYNTAX_PROBE_DATE = "2000-01-01 00:00:00"
# How many ids `search` may return per call while listing the reference id set.
_LIST_CHUNK = 10_000
# How many ids one `read` asks for when the listing needs write_dates the id pager missed.
_READ_CHUNK = 2_000
# How many of the busiest seconds the semantics probe looks at.
_PROBE_SECONDS = 3
_EXAMPLES = 5

_Row = tuple[int, str | None]  # (id, write_date as the API shows it, None when empty)


@dataclass(frozen=True)
class Check:
    """One diagnostic: whether it passed and a sentence saying what was seen, with numbers.

    ``facts`` holds the numbers behind ``detail`` under stable keys (for ``--json``).
    """

    key: str
    title: str
    passed: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "passed": self.passed,
            "detail": self.detail,
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class KeysetSimulation:
    """What a ``(write_date, id)`` keyset pager did on this server's data.

    ``outcome`` is ``finished`` (a short page ended it), ``stuck`` (a page gave back the cursor
    it started from, so the pager would fetch that page forever) or ``gave-up`` (it fetched
    more rows than a pager that loses nothing could need). ``skipped`` ids can never come back
    under the cursor it ended with; ``unreached`` ids still could, had it gone on. ``expected``
    counts the true ids, ``seen`` those it returned, ``rows_fetched`` every row it was sent
    (repeats included) and ``repeated`` the ids it was sent more than once.
    """

    page_size: int
    pages: int
    rows_fetched: int
    expected: int
    seen: int
    repeated: int
    skipped: int
    unreached: int
    outcome: KeysetOutcome
    stuck_at: tuple[str | None, int] | None = None
    skipped_examples: tuple[int, ...] = ()
    repeated_examples: tuple[int, ...] = ()

    @property
    def exact(self) -> bool:
        """Whether the pager saw every expected id exactly once and ended."""
        return self.outcome == "finished" and not self.repeated and not self.skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "page_size": self.page_size,
            "pages": self.pages,
            "rows_fetched": self.rows_fetched,
            "expected": self.expected,
            "seen": self.seen,
            "repeated": self.repeated,
            "skipped": self.skipped,
            "unreached": self.unreached,
            "outcome": self.outcome,
            "stuck_at": None if self.stuck_at is None else list(self.stuck_at),
            "skipped_examples": list(self.skipped_examples),
            "repeated_examples": list(self.repeated_examples),
        }


@dataclass(frozen=True)
class CursorReport:
    """Everything ``validate-cursor`` found for one model of one server."""

    user: str
    model: str
    server_version: str
    semantics: Semantics
    records: int
    examined: int
    bounded: bool
    page_size: int
    checks: list[Check]
    keyset: KeysetSimulation | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def check(self, key: str) -> Check:
        """The check named ``key`` (one of :data:`CHECK_KEYS`)."""
        for item in self.checks:
            if item.key == key:
                return item
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values, with these keys (stable across versions).

        - ``user``, ``model``, ``server_version``: what was checked.
        - ``semantics``: ``"whole-second"``, ``"full-precision"`` or ``"unknown"``.
        - ``passed``: true when every check passed.
        - ``records``: rows matching the filter, archived included (``search_count``).
        - ``examined``: ids listed and used by the checks; ``bounded``: true when that is fewer
          than ``records`` because of ``max_records``.
        - ``page_size``: the page size the pagers used.
        - ``checks``: a list, in the order of :data:`CHECK_KEYS`, of
          ``{"key", "title", "passed", "detail", "facts"}``; ``facts`` maps names to the
          numbers behind ``detail``.
        - ``keyset``: the keyset pager simulation (see :class:`KeysetSimulation`) or null when
          the server refused the cursor domain.
        """
        return {
            "user": self.user,
            "model": self.model,
            "server_version": self.server_version,
            "semantics": self.semantics,
            "passed": self.passed,
            "records": self.records,
            "examined": self.examined,
            "bounded": self.bounded,
            "page_size": self.page_size,
            "checks": [check.to_dict() for check in self.checks],
            "keyset": None if self.keyset is None else self.keyset.to_dict(),
        }


def keyset_domain(write_date: Any, record_id: int) -> Domain:
    """The ``(write_date, id)`` keyset cursor a client builds from the last row it read."""
    return [
        "|",
        [WRITE_DATE, ">", write_date],
        "&",
        [WRITE_DATE, "=", write_date],
        ["id", ">", record_id],
    ]


def validate_cursor(
    client: OdooClient,
    model: str,
    *,
    domain: Sequence[Any] | None = None,
    page_size: int = 200,
    max_records: int | None = 20_000,
    progress: Callable[[str], None] | None = None,
) -> CursorReport:
    """Check, read-only, how ``model`` on the client's server pages by id and by write_date.

    Args:
        client: a client for the server and user to check.
        model: the model to check, e.g. ``res.partner``.
        domain: a filter every request adds (a module's filter); None for every record.
        page_size: rows per page, as the sync would use.
        max_records: list at most this many ids (the lowest) and confine the checks to them;
            None lists every id.
        progress: called with a short line before each step.

    Returns:
        The report; ``report.passed`` is False when a check failed. Errors talking to the
        server (connection, authentication, a missing model) are raised as they come.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    if max_records is not None and max_records < 1:
        raise ValueError(f"max_records must be at least 1 or None, not {max_records}")
    return _Diagnosis(client, model, domain or [], page_size, max_records, progress).run()


@dataclass
class _Listing:
    rows: list[_Row]
    bounded: bool

    @property
    def ids(self) -> list[int]:
        return [rid for rid, _ in self.rows]

    @property
    def top(self) -> int:
        return self.rows[-1][0] if self.rows else 0


@dataclass(frozen=True)
class _Probe:
    second: str
    listed: int
    equal: int
    after: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "second": self.second,
            "listed": self.listed,
            "equal": self.equal,
            "after": self.after,
        }


class _Diagnosis:
    """One run of the checks; holds what they share."""

    def __init__(
        self,
        client: OdooClient,
        model: str,
        domain: Sequence[Any],
        page_size: int,
        max_records: int | None,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.client = client
        self.model = model
        self.base = and_domains(domain)
        self.filtered = bool(self.base)
        self.page_size = page_size
        self.max_records = max_records
        self._progress = progress
        self.records = 0
        self.listing = _Listing([], False)
        self.scope: Domain = self.base

    # -- plumbing -----------------------------------------------------------------------------

    def say(self, message: str) -> None:
        if self._progress is not None:
            self._progress(f"{self.model}: {message}")

    @property
    def context(self) -> dict[str, Any]:
        return {"active_test": False}

    def search(
        self, domain: Domain, *, order: str = ORDER_BY_ID, limit: int | None = None, offset: int = 0
    ) -> list[int]:
        return self.client.search(
            self.model, domain, order=order, limit=limit, offset=offset, context=self.context
        )

    def rows(
        self, domain: Domain, *, order: str, limit: int, offset: int = 0
    ) -> list[dict[str, Any]]:
        return self.client.search_read(
            self.model,
            domain,
            [WRITE_DATE],
            order=order,
            limit=limit,
            offset=offset,
            context=self.context,
        )

    def count(self, domain: Domain) -> int:
        return self.client.search_count(self.model, domain, context=self.context)

    def in_scope(self, *extra: Domain) -> Domain:
        return and_domains(self.scope, *extra)

    @property
    def bound_note(self) -> str:
        if not self.listing.bounded:
            return ""
        return (
            f" (bounded by max_records to the lowest {len(self.listing.rows):,} of "
            f"{self.records:,} ids)"
        )

    @property
    def what(self) -> str:
        return f"{self.model} rows matching the filter" if self.filtered else f"{self.model} rows"

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> CursorReport:
        self.say("counting records")
        version = self.client.server_version
        self.records = self.count(self.base)
        id_check = self.check_id_cursor()
        if self.listing.bounded:
            self.scope = and_domains(self.base, [["id", "<=", self.listing.top]])
        order_check = self.check_order()
        syntax_check, keyset_accepted = self.check_cursor_syntax()
        self.say("probing datetime comparisons")
        probes = self.probe_seconds()
        semantics = _classify(probes)
        window_check = self.check_window()
        roundtrip_check = self.check_roundtrip(semantics, probes)
        keyset = self.simulate_keyset() if keyset_accepted else None
        semantics_check = self.check_semantics(semantics, probes, keyset)
        return CursorReport(
            user=self.client.conn.user,
            model=self.model,
            server_version=version,
            semantics=semantics,
            records=self.records,
            examined=len(self.listing.rows),
            bounded=self.listing.bounded,
            page_size=self.page_size,
            checks=[
                order_check,
                syntax_check,
                window_check,
                roundtrip_check,
                semantics_check,
                id_check,
            ],
            keyset=keyset,
        )

    # -- 6. odoosync's own cursor -------------------------------------------------------------

    def check_id_cursor(self) -> Check:
        title = "Paging by id sees every record once"
        self.say(f"paging by id in pages of {self.page_size}")
        rows: list[_Row] = []
        cursor = 0
        pages = 0
        backwards: dict[str, int] | None = None
        while True:
            want = self.page_size
            if self.max_records is not None:
                want = min(want, self.max_records - len(rows))
                if want <= 0:
                    break
            page = self.rows(
                and_domains(self.base, [["id", ">", cursor]]), order=ORDER_BY_ID, limit=want
            )
            pages += 1
            previous = cursor
            for row in page:
                rid = int(row["id"])
                if rid <= previous:
                    backwards = {"cursor": cursor, "after": previous, "id": rid}
                    break
                rows.append((rid, _shown(row.get(WRITE_DATE))))
                previous = rid
            if backwards is not None or len(page) < want:
                break
            cursor = previous
            if pages % 50 == 0:
                self.say(f"paged {len(rows):,} of {self.records:,} ids")
        self.say("listing ids with search")
        reference = self.list_ids(self.max_records)
        capped = self.max_records is not None and len(reference) >= self.max_records
        bounded = capped and self.records > len(reference)
        self.listing = self.build_listing(rows, reference, bounded)
        paged = [rid for rid, _ in rows]
        paged_set = set(paged)
        ref_set = set(reference)
        missing = [rid for rid in reference if rid not in paged_set]
        extra = sorted(paged_set - ref_set)
        facts: dict[str, Any] = {
            "pages": pages,
            "paged": len(paged),
            "listed": len(reference),
            "missing": len(missing),
            "extra": len(extra),
            "bounded": bounded,
        }
        if backwards is not None:
            facts["went_backwards"] = backwards
            return Check(
                "id_cursor_exact",
                title,
                False,
                f"A page asked for ids above {backwards['cursor']} returned id "
                f"{backwards['id']} after id {backwards['after']}, so ids do not ascend and an "
                f"id cursor cannot be trusted; paging stopped after {_n(pages, 'page')}.",
                facts,
            )
        if paged == reference:
            return Check(
                "id_cursor_exact",
                title,
                True,
                f"Paging by id in pages of {self.page_size} returned each of the {len(paged):,} "
                f"{self.what} exactly once, the same ids `search` lists in id order"
                f"{self.bound_note}.",
                facts,
            )
        problems = []
        if missing:
            problems.append(f"{len(missing):,} missing ({_examples(missing)})")
        if extra:
            problems.append(f"{len(extra):,} that `search` does not list ({_examples(extra)})")
        if not problems:
            problems.append("`search` listed the same ids, but not in id order")
        return Check(
            "id_cursor_exact",
            title,
            False,
            f"Paging by id in pages of {self.page_size} returned {len(paged):,} ids where "
            f"`search` in id order lists {len(reference):,}: {'; '.join(problems)}"
            f"{self.bound_note}.",
            facts,
        )

    def build_listing(self, paged: list[_Row], reference: list[int], bounded: bool) -> _Listing:
        """The rows the other checks take as the truth: ``search``'s ids with their write_date.

        When the id pager got them all they come from its pages; otherwise the rest are read by
        id, so that a broken id cursor does not spoil the other checks.
        """
        shown = dict(paged)
        if [rid for rid, _ in paged] == reference:
            return _Listing(paged, bounded)
        unknown = [rid for rid in reference if rid not in shown]
        for start in range(0, len(unknown), _READ_CHUNK):
            chunk = unknown[start : start + _READ_CHUNK]
            for row in self.client.read(self.model, chunk, [WRITE_DATE], context=self.context):
                shown[int(row["id"])] = _shown(row.get(WRITE_DATE))
        return _Listing(
            [(rid, shown[rid]) for rid in sorted(set(reference)) if rid in shown], bounded
        )

    def list_ids(self, limit: int | None) -> list[int]:
        """The ids `search` lists in id order, in chunks by offset (an independent reference)."""
        ids: list[int] = []
        while limit is None or len(ids) < limit:
            want = _LIST_CHUNK if limit is None else min(_LIST_CHUNK, limit - len(ids))
            chunk = self.search(self.base, limit=want, offset=len(ids))
            ids.extend(chunk)
            if len(chunk) < want:
                break
        return ids

    # -- 1. multi-field order -----------------------------------------------------------------

    def check_order(self) -> Check:
        title = "Order 'write_date asc, id asc' is honoured"
        self.say(f"reading 2 pages in '{KEYSET_ORDER}' order")
        sample: list[_Row] = []
        for page_no in range(2):
            page = self.rows(
                self.base,
                order=KEYSET_ORDER,
                limit=self.page_size,
                offset=page_no * self.page_size,
            )
            sample.extend((int(r["id"]), _shown(r.get(WRITE_DATE))) for r in page)
            if len(page) < self.page_size:
                break
        complete = len(sample) < 2 * self.page_size
        if not sample:
            return Check(
                "order",
                title,
                True,
                f"Nothing to sort: there are no {self.what}.",
                {"rows": 0},
            )
        backwards = [
            i
            for i in range(1, len(sample))
            if _date_key(sample[i][1]) < _date_key(sample[i - 1][1])
        ]
        inversions = [
            i
            for i in range(1, len(sample))
            if sample[i][1] == sample[i - 1][1] and sample[i][0] < sample[i - 1][0]
        ]
        out_of_id_order = {sample[i][1] for i in inversions}
        by_key = sorted(sample, key=lambda row: (_date_key(row[1]), row[0]))
        moved = sum(1 for got, want in zip(sample, by_key, strict=True) if got[0] != want[0])
        twice = sorted(rid for rid, n in Counter(rid for rid, _ in sample).items() if n > 1)
        # Rows shown before the sample's last second sort before its last row in any
        # semantics, so a sample that skipped none of them holds them all.
        last = max((row[1] for row in sample), key=_date_key)
        seen = {rid for rid, _ in sample}
        left_out = [
            rid
            for rid, second in self.listing.rows
            if rid not in seen and (complete or _date_key(second) < _date_key(last))
        ]
        facts: dict[str, Any] = {
            "rows": len(sample),
            "backwards": len(backwards),
            "twice": len(twice),
            "left_out": len(left_out),
            "inversions": len(inversions),
            "seconds_out_of_id_order": len(out_of_id_order),
            "moved": moved,
        }
        head = f"The first {len(sample):,} {self.what} in '{KEYSET_ORDER}' order"
        if not backwards and not twice and not left_out:
            if inversions:
                detail = (
                    f"{head} came back sorted by write_date, but {moved:,} of them sit elsewhere "
                    f"than a sort by the shown second and id puts them: "
                    f"ids run out of id order inside {_n(len(out_of_id_order), 'second')} "
                    f"({_n(len(inversions), 'inversion')}), because the server sorts by the "
                    "microseconds it does not return."
                )
            else:
                detail = (
                    f"{head} came back sorted by write_date, and by id within each second "
                    "(no sub-second order was visible in this sample)."
                )
            return Check("order", title, True, detail, facts)
        problems = []
        if backwards:
            i = backwards[0]
            problems.append(
                f"{len(backwards):,} rows came after a row with a later write_date (e.g. id "
                f"{sample[i][0]} at {sample[i][1]} after id {sample[i - 1][0]} at "
                f"{sample[i - 1][1]})"
            )
        if twice:
            problems.append(f"{len(twice):,} ids came back twice ({_examples(twice)})")
        if left_out:
            problems.append(
                f"{len(left_out):,} rows that sort before the last one returned were left out "
                f"({_examples(left_out)})"
            )
        return Check(
            "order", title, False, f"{head} are not in that order: {'; '.join(problems)}.", facts
        )

    # -- 2. the cursor domains are accepted ---------------------------------------------------

    def check_cursor_syntax(self) -> tuple[Check, bool]:
        title = "Cursor domains are accepted"
        self.say("sending a keyset cursor and an id cursor")
        if self.listing.rows:
            rid, second = self.listing.rows[len(self.listing.rows) // 2]
            when: Any = second if second is not None else _SYNTAX_PROBE_DATE
        else:
            rid, when = 0, _SYNTAX_PROBE_DATE
        problems: list[str] = []
        facts: dict[str, Any] = {"write_date": when, "id": rid}

        keyset_accepted = True
        try:
            page = self.rows(
                and_domains(self.base, keyset_domain(when, rid)),
                order=KEYSET_ORDER,
                limit=self.page_size,
            )
        except (InvalidRequestError, ServerError) as exc:
            keyset_accepted = False
            problems.append(f"the keyset cursor was refused ({exc.message})")
        else:
            early = [int(r["id"]) for r in page if _date_key(_shown(r.get(WRITE_DATE))) < (0, when)]
            facts["keyset_rows"] = len(page)
            if early:
                problems.append(
                    f"the keyset cursor returned {len(early):,} rows written before {when} "
                    f"({_examples(early)})"
                )
        try:
            ids = self.search(and_domains(self.base, [["id", ">", rid]]), limit=self.page_size)
        except (InvalidRequestError, ServerError) as exc:
            problems.append(f"the id cursor was refused ({exc.message})")
        else:
            facts["id_rows"] = len(ids)
            wrong = [i for i in ids if i <= rid]
            if wrong:
                problems.append(
                    f"the id cursor returned {len(wrong):,} ids not above {rid} "
                    f"({_examples(wrong)})"
                )
            elif ids != sorted(ids):
                problems.append("the id cursor's page did not come back in id order")
        facts["keyset_accepted"] = keyset_accepted
        if problems:
            return (
                Check("cursor_syntax", title, False, _sentence("; ".join(problems)), facts),
                keyset_accepted,
            )
        return (
            Check(
                "cursor_syntax",
                title,
                True,
                f"The server accepted the keyset cursor (write_date {when}, id {rid}) and the id "
                f"cursor (id > {rid}), and both returned only rows past the cursor.",
                facts,
            ),
            keyset_accepted,
        )

    # -- 3. a date window with an id cursor ---------------------------------------------------

    def check_window(self) -> Check:
        title = "A date window with an id cursor returns the exact slice"
        seconds = sorted({s for _, s in self.listing.rows if s is not None})
        if not seconds:
            return Check(
                "window_slice",
                title,
                True,
                f"Nothing to cut: there are no {self.what} with a write_date.",
                {"expected": 0},
            )
        busiest = _busiest(self.listing.rows, 1)[0]
        i = seconds.index(busiest)
        j = i + max(1, (len(seconds) - i) // 2)
        lo = busiest
        hi = seconds[j] if j < len(seconds) else _next_second(seconds[-1])
        inside = sorted(rid for rid, s in self.listing.rows if s is not None and lo <= s < hi)
        cut = len(inside) // 3
        cursor = inside[cut - 1] if cut else 0
        expected = [rid for rid in inside if rid > cursor]
        self.say(f"reading the window [{lo}, {hi}) after id {cursor}")
        got = self.search(
            self.in_scope([[WRITE_DATE, ">=", lo], [WRITE_DATE, "<", hi], ["id", ">", cursor]])
        )
        facts: dict[str, Any] = {
            "lo": lo,
            "hi": hi,
            "cursor": cursor,
            "window": len(inside),
            "expected": len(expected),
            "returned": len(got),
        }
        head = f"The window write_date >= '{lo}' and < '{hi}' after id {cursor}"
        if got == expected:
            return Check(
                "window_slice",
                title,
                True,
                f"{head} returned exactly the {len(expected):,} ids a full listing predicts "
                f"(the window holds {len(inside):,} listed rows){self.bound_note}.",
                facts,
            )
        got_set = set(got)
        want_set = set(expected)
        missing = [rid for rid in expected if rid not in got_set]
        extra = sorted(got_set - want_set)
        facts["missing"] = len(missing)
        facts["extra"] = len(extra)
        problems = []
        if missing:
            problems.append(f"{len(missing):,} missing ({_examples(missing)})")
        if extra:
            problems.append(f"{len(extra):,} that do not belong ({_examples(extra)})")
        if not problems:
            problems.append("the right ids, but not in id order")
        return Check(
            "window_slice",
            title,
            False,
            f"{head} returned {len(got):,} ids where a full listing predicts "
            f"{len(expected):,}: {'; '.join(problems)}{self.bound_note}.",
            facts,
        )

    # -- 4. a write_date read back finds its record -------------------------------------------

    def check_roundtrip(self, semantics: Semantics, probes: list[_Probe]) -> Check:
        title = "A write_date read back finds its record"
        if not probes:
            return Check(
                "date_roundtrip",
                title,
                True,
                f"Nothing to look up: there are no {self.what} with a write_date.",
                {"listed": 0},
            )
        probe = probes[0]
        when = probe.second
        ids = [rid for rid, s in self.listing.rows if s == when]
        rid = ids[len(ids) // 2]
        self.say(f"looking up write_date {when}")
        window = self.search(
            self.in_scope([[WRITE_DATE, ">=", when], [WRITE_DATE, "<", _next_second(when)]])
        )
        found = self.search(self.in_scope([[WRITE_DATE, "=", when], ["id", "=", rid]]))
        facts: dict[str, Any] = {
            "write_date": when,
            "id": rid,
            "listed": probe.listed,
            "equal": probe.equal,
            "window": len(window),
            "found": found == [rid],
        }
        window_ok = window == ids
        equal_ok = found == [rid] and probe.equal == probe.listed
        if window_ok and equal_ok:
            return Check(
                "date_roundtrip",
                title,
                True,
                f"('write_date', '=', '{when}') finds record {rid} it was read from, and counts "
                f"{probe.equal:,} rows, as many as the listing shows at that second"
                f"{self.bound_note}.",
                facts,
            )
        if window_ok and semantics == "full-precision":
            return Check(
                "date_roundtrip",
                title,
                True,
                f"('write_date', '=', '{when}') matches {probe.equal:,} of the {probe.listed:,} "
                f"rows showing that second (record {rid} "
                f"{'among them' if found == [rid] else 'not among them'}), as expected where "
                f"the server compares the hidden microseconds; the bounds >= '{when}' and < "
                f"'{_next_second(when)}' that odoosync uses find all {len(window):,}.",
                facts,
            )
        problems = []
        if not window_ok:
            problems.append(
                f"the bounds write_date >= '{when}' and < '{_next_second(when)}' returned "
                f"{len(window):,} "
                f"ids where the listing shows {len(ids):,} at that second"
            )
        if not equal_ok:
            problems.append(
                f"('write_date', '=', '{when}') counts {probe.equal:,} rows where the listing "
                f"shows {probe.listed:,}, and "
                f"{'finds' if found == [rid] else 'does not find'} record {rid} it was read from"
            )
        return Check("date_roundtrip", title, False, _sentence("; ".join(problems)), facts)

    # -- 5. datetime semantics and the keyset trap --------------------------------------------

    def probe_seconds(self) -> list[_Probe]:
        """Compare ``=`` and ``>`` on the busiest seconds with what the listing shows there."""
        listed = Counter(s for _, s in self.listing.rows if s is not None)
        probes = []
        for second in _busiest(self.listing.rows, _PROBE_SECONDS):
            equal = self.count(self.in_scope([[WRITE_DATE, "=", second]]))
            after = self.count(
                self.in_scope([[WRITE_DATE, ">", second], [WRITE_DATE, "<", _next_second(second)]])
            )
            probes.append(_Probe(second, listed[second], equal, after))
        return probes

    def simulate_keyset(self) -> KeysetSimulation:
        """Page the listed rows as a keyset pager would, and compare with the true id set."""
        self.say(f"simulating a (write_date, id) keyset pager in pages of {self.page_size}")
        truth = set(self.listing.ids)
        # A pager that loses nothing reads each row once; far beyond that it is going round.
        budget = 3 * len(truth) + 2 * self.page_size
        seen: Counter[int] = Counter()
        cursor: tuple[Any, int] | None = None
        pages = 0
        outcome: KeysetOutcome = "finished"
        while True:
            extra = [] if cursor is None else keyset_domain(*cursor)
            page = self.rows(self.in_scope(extra), order=KEYSET_ORDER, limit=self.page_size)
            pages += 1
            seen.update(int(r["id"]) for r in page)
            if len(page) < self.page_size:
                break
            last = page[-1]
            following = (last.get(WRITE_DATE), int(last["id"]))
            if following == cursor:
                outcome = "stuck"
                break
            cursor = following
            if seen.total() >= budget:
                outcome = "gave-up"
                break
        unseen = sorted(truth - set(seen))
        still: set[int] = set()
        if outcome != "finished" and unseen and cursor is not None:
            still = set(self.search(self.in_scope(keyset_domain(*cursor))))
        skipped = [rid for rid in unseen if rid not in still]
        repeated = sorted(rid for rid, n in seen.items() if n > 1)
        return KeysetSimulation(
            page_size=self.page_size,
            pages=pages,
            rows_fetched=seen.total(),
            expected=len(truth),
            seen=len(set(seen) & truth),
            repeated=len(repeated),
            skipped=len(skipped),
            unreached=len(unseen) - len(skipped),
            outcome=outcome,
            stuck_at=(_shown(cursor[0]), cursor[1]) if outcome == "stuck" and cursor else None,
            skipped_examples=tuple(skipped[:_EXAMPLES]),
            repeated_examples=tuple(repeated[:_EXAMPLES]),
        )

    def check_semantics(
        self, semantics: Semantics, probes: list[_Probe], keyset: KeysetSimulation | None
    ) -> Check:
        title = "Datetime semantics, and what a (write_date, id) keyset would do"
        facts: dict[str, Any] = {
            "semantics": semantics,
            "probes": [probe.to_dict() for probe in probes],
            "keyset": None if keyset is None else keyset.to_dict(),
        }
        if not probes:
            sentence = f"There are no {self.what} with a write_date to probe, so the datetime "
            sentence += "semantics are unknown"
        else:
            p = (
                max(probes, key=lambda probe: probe.after)
                if semantics != "whole-second"
                else probes[0]
            )
            if semantics == "whole-second":
                sentence = (
                    f"The server compares datetimes per whole second: ('write_date', '>', "
                    f"'{p.second}') leaves out all {p.listed:,} rows showing that second and "
                    f"('write_date', '=', '{p.second}') finds all {p.equal:,}"
                )
            elif semantics == "full-precision":
                sentence = (
                    f"The server compares datetimes at full precision: ('write_date', '>', "
                    f"'{p.second}') still matches {p.after:,} of the {p.listed:,} rows showing "
                    f"that second, by their hidden microseconds"
                )
            else:
                sentence = (
                    "The server's datetime comparisons fit neither known semantics: "
                    + "; ".join(
                        f"of {q.listed:,} rows showing {q.second}, '=' matches {q.equal:,} and "
                        f"'>' (within the second) {q.after:,}"
                        for q in probes
                    )
                )
        sentence += f"{self.bound_note}. " + _keyset_sentence(keyset, self.what)
        return Check("semantics", title, semantics != "unknown" or not probes, sentence, facts)


def _keyset_sentence(keyset: KeysetSimulation | None, what: str) -> str:
    if keyset is None:
        return "The keyset pager was not simulated, since the server refused its cursor domain."
    head = (
        f"A (write_date, id) keyset pager in pages of {keyset.page_size} over the "
        f"{keyset.expected:,} {what}"
    )
    if keyset.exact:
        return f"{head} would see each exactly once on this data; odoosync pages by id anyway."
    losses = (
        f"having returned {_n(keyset.repeated, 'id')} more than once and skipped "
        f"{keyset.skipped:,} for good"
    )
    if keyset.outcome == "stuck":
        assert keyset.stuck_at is not None
        ending = (
            f"would fetch one page forever from page {keyset.pages:,} on (its cursor stays at "
            f"write_date {keyset.stuck_at[0]}, id {keyset.stuck_at[1]}), {losses}"
        )
    elif keyset.outcome == "gave-up":
        ending = (
            f"was stopped without ending after {_n(keyset.pages, 'page')} and "
            f"{_n(keyset.rows_fetched, 'row')}, {losses}"
        )
    else:
        ending = f"would end after {_n(keyset.pages, 'page')}, {losses}"
    if keyset.unreached:
        ending += f", with {keyset.unreached:,} still ahead of it"
    return f"{head} {ending}; odoosync pages by id, so this does not affect it."


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _classify(probes: list[_Probe]) -> Semantics:
    """Whole-second iff ``>`` leaves out and ``=`` finds every row showing each second probed;
    full precision iff ``>`` keeps some of them and ``=`` finds exactly the rest."""
    if not probes:
        return "unknown"
    if all(p.after == 0 and p.equal == p.listed for p in probes):
        return "whole-second"
    if any(p.after for p in probes) and all(p.equal + p.after == p.listed for p in probes):
        return "full-precision"
    return "unknown"


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop (the rest left as it is)."""
    return text[:1].upper() + text[1:] + "."


def _shown(value: Any) -> str | None:
    """A write_date as the API shows it; None for an empty one (``False``)."""
    return value if isinstance(value, str) and value else None


def _date_key(value: str | None) -> tuple[int, str]:
    # Empty datetimes sort last in ascending order, as PostgreSQL puts NULLs.
    return (1, "") if value is None else (0, value)


def _next_second(value: str) -> str:
    return format_datetime(parse_datetime(value).replace(microsecond=0) + timedelta(seconds=1))


def _busiest(rows: Iterable[_Row], n: int) -> list[str]:
    """The ``n`` seconds that hold the most rows (the earliest first among equals)."""
    counts = Counter(s for _, s in rows if s is not None)
    return sorted(counts, key=lambda s: (-counts[s], s))[:n]


def _examples(ids: Sequence[int]) -> str:
    shown = ", ".join(str(rid) for rid in ids[:_EXAMPLES])
    more = len(ids) - _EXAMPLES
    return f"e.g. {shown} and {more:,} more" if more > 0 else f"ids {shown}"

"""Deterministic, realistic Odoo data for the simulator, streamed in the dataset row format.

A seed fixes everything: the same ``(records, seed, end)`` gives the same rows on any machine.
Rows look like the recorded dataset's: API values (many2one ``[id, "display name"]``, x2many id
lists, datetimes in whole seconds) plus ``__write_date_us`` / ``__create_date_us`` with the
stored microseconds. Fields left out read as False/0/[] per their type.

What the data is made to exercise, besides plain volume:

- write_dates spread over five years, with ``create_date <= write_date`` on every row;
- bulk imports: hundreds to thousands of partners created in one transaction, so they share one
  exact microsecond write_date (the keyset trap of paging by ``(write_date, id)``);
- mass updates that stamp one write_date on records scattered over the whole id range;
- bursts of small transactions a few milliseconds apart, so one displayed second holds several
  distinct stored write_dates;
- the cross-transaction trap of a busy server: now and then the newest two hundred or so partners
  are rewritten one transaction each, highest id first, all inside one second, so that inside
  that second a later transaction holds lower ids. A ``(write_date, id)`` keyset whose page
  ends inside such a second skips the rows of lower id that follow it (validate-cursor shows
  how many);
- employees with skills (``employee_skill_ids``, whose comodel order ties on skill type and
  level) so that two reads can list the same ids in different orders;
- archived partners and employees (about 20% and 10%);
- companies with child contacts (``complete_name`` "Company, Contact", ``child_ids`` listing
  the active children in res.partner order), orders and invoices pointing at existing partners;
- order lines (one to six per order, sections and notes among them) and journal items (an
  invoice's product lines, its tax line and its payment term; a miscellaneous entry's debits
  and credit, which the invoice lines' filter leaves out: about one move in eleven) whose
  amounts add up to their document's. They are written with their document (one exact
  write_date), rewritten when it is confirmed or posted, the payment term again when paid,
  and now and then edited later. They are drawn from a generator of their own, so the other
  models' rows are the same with or without them.

Memory stays flat: partners are produced block by block, each block's orders and moves next to
it, and :func:`populate` streams them into ``store.load_rows``. Only employees (about N/120)
are held at once.
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, Protocol

from .models import draft_move_name

# Generated history ends here. It is fixed (not "now") so data is reproducible, and it lies in
# the past so that anything written live (control API, tests) is newer than all of it.
DEFAULT_END = datetime(2026, 1, 1)
HISTORY_YEARS = 5
# Partners handed to one store.load_rows call by populate().
LOAD_BATCH = 50_000
# The trap: at most this many of a block's newest partners rewritten inside one second, each
# in its own transaction this many microseconds after the previous one (highest id first).
TRAP_ROWS = 250
TRAP_STEP_US = 2_000

_EPOCH = datetime(1970, 1, 1)
_SECOND = 1_000_000
_DAY = 86_400 * _SECOND

COMPANY = [1, "YourCompany"]
USD = [1, "USD"]
ODOOBOT = [1, "OdooBot"]
ADMIN = [2, "Mitchell Admin"]
DEMO = [5, "Marc Demo"]
SALESPEOPLE = [ADMIN, DEMO, [6, "Sarah Lambert"], [7, "Kevin Ortega"], [8, "Nadia Haddad"]]
SALES_TEAMS = [[1, "Sales"], [2, "Website"], [3, "Pre-Sales"]]
JOURNALS = {
    "sale": [1, "Customer Invoices"],
    "purchase": [2, "Vendor Bills"],
    "general": [3, "Miscellaneous Operations"],
}
UNITS = [1, "Units"]
# (product.product id, display name, description line) as in Odoo's demo data.
PRODUCTS: tuple[tuple[int, str, str], ...] = (
    (5, "[FURN_7777] Office Chair", "Comfortable yellow chair for daily work"),
    (6, "[FURN_8888] Office Lamp", ""),
    (7, "[FURN_9999] Office Design Software", "Design and plan smart offices with ease"),
    (8, "[FURN_7800] Desk Combination", "Desk combination, black-brown: chair + desk + drawer."),
    (13, "[FURN_0096] Customizable Desk (White, Steel)", "160x80cm, with large legs."),
    (19, "[E-COM06] Corner Desk Right Sit", ""),
    (20, "[E-COM07] Large Cabinet", ""),
    (21, "[E-COM08] Storage Box", ""),
    (26, "[E-COM10] Pedal Bin", ""),
    (29, "[E-COM12] Conference Chair (Steel)", ""),
    (31, "[FURN_0269] Office Chair Black", ""),
    (33, "[FURN_8900] Drawer Black", ""),
    (34, "[FURN_9001] Flipover", ""),
    (35, "[FURN_7888] Desk Stand with Screen", ""),
    (36, "[FURN_0789] Individual Workplace", ""),
    (39, "[FURN_8855] Drawer", ""),
    (40, "[FURN_8220] Four Person Desk", ""),
    (41, "[FURN_6741] Large Meeting Table", ""),
    (43, "Two-Seat Sofa (Linen)", ""),
    (47, "Furniture Assembly", ""),
    (49, "[FURN_0001] Desk Organizer", ""),
    (54, "Chair floor protection", ""),
)
QUANTITIES = (1, 1, 1, 2, 2, 3, 4, 5, 10, 12)
SECTIONS = ("Furniture", "Services", "Options", "Delivery")
NOTES = ("Delivery in two weeks", "Prices valid for 30 days", "Assembly included")
# account.account and account.tax records of a fresh US chart, as [id, display name].
ACCOUNTS = {
    "income": [26, "Product Sales"],
    "expense": [32, "Expenses"],
    "receivable": [5, "Account Receivable"],
    "payable": [15, "Account Payable"],
    "tax_sale": [21, "Tax Received"],
    "tax_purchase": [9, "Tax Paid"],
}
MISC_ACCOUNTS = (
    [1, "Current Assets"],
    [8, "Prepaid Expenses"],
    [14, "Current Liabilities"],
    [17, "Deferred Revenue"],
    [35, "Rent"],
    [36, "Bank Fees"],
    [37, "Salary Expenses"],
    [48, "Outstanding Receipts"],
    [49, "Outstanding Payments"],
)
TAXES = {"sale": [1, "15%"], "purchase": [2, "15%"]}
MOVE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund", "entry")
MOVE_TYPE_WEIGHTS = (66, 10, 10, 5, 9)
CATEGORIES = [1, 2, 3, 4, 5, 6, 7, 8]  # res.partner.category ids, listed in their name order


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Aaron Abigail Adèle Agnès Alan Alice Amir Amy Ana Andrea Anna Arthur Audrey Ben Bianca "
    "Björn Bruno Camille Carla Carlos Chloé Chris Clara Colette Dan Daniel Diana Dora Doris "
    "Edith Eli Elena Emma Eric Ernest Eva Fatima Felix Frank Gabriel Gordon Grace Hana Hans "
    "Hélène Igor Inès Irene Isaac Ivan Jacob Jan Jana Jeff Jérôme João Joel Julia Julie "
    "Karim Käthe Kevin Kim Laura Lea Leo Lina Lucas Lucía Luis Maja Marc Marco Maria Marie "
    "Mark Megan Mia Miguel Nadia Nina Noah Olga Omar Oscar Pablo Paul Pedro Peter Quentin "
    "Rachel Raúl Rita Robert Ronnie Rosa Ryan Sabine Sam Sandra Sara Simon Sofia Sophie "
    "Søren Tanja Thomas Tina Tom Toni Ursula Victor Wendy Willie Xavier Yara Yusuf Zoé"
)
LAST_NAMES = _words(
    "Adams Alvarez Baker Bauer Bernard Brown Camilleri Campbell Carter Clark Cole Collins "
    "Costa Dubois Dupont Durand Evans Fischer Fox Garcia Gómez Green Guerra Hall Hart Heser "
    "Hill Hoffmann Hussain Jackson Janssens Jimenez Johnson Jones Kelly King Klein Koch "
    "Lambert Lee Léger Lewis López Martin Martínez Meyer Miller Moore Müller Nguyen Oliver "
    "Owens Parker Peeters Peterson Petit Ramos Reed Rhodes Richard Richards Robinson Rossi "
    "Ruijs Sanchez Schmidt Schneider Smith Stumpf Taylor Thomas Thompson Turner Walker Weber "
    "White Wiek Williams Williamson Willis Wilson Wright Young Zimmermann Øberg Šimek"
)
COMPANY_SUFFIXES = (
    "Inc",
    "LLC",
    "Ltd",
    "Group",
    "and Sons",
    "GmbH",
    "SA",
    "SARL",
    "BV",
    "& Co",
    "Partners",
    "Industries",
    "Logistics",
    "Furniture",
    "Consulting",
)
FUNCTIONS = (
    "Sales Manager",
    "Purchaser",
    "Accountant",
    "Chief Executive Officer",
    "Consultant",
    "Office Manager",
    "Developer",
    "Warehouse Manager",
    False,
    False,
)
STREETS = (
    "Main St",
    "Oak Ave",
    "Peony Dr",
    "Vine St",
    "Rue de la Loi",
    "Avenue Louise",
    "Hauptstraße",
    "Kerkstraat",
    "Baker Street",
    "Market Square",
)
# (city, zip prefix, state [id, name] or False, country [id, name], timezone, vat prefix)
PLACES: tuple[tuple[str, str, Any, list[Any], str, str], ...] = (
    ("Tracy", "953", [13, "California (US)"], [233, "United States"], "America/Los_Angeles", "US"),
    (
        "San Francisco",
        "941",
        [13, "California (US)"],
        [233, "United States"],
        "America/Los_Angeles",
        "US",
    ),
    (
        "Scranton",
        "185",
        [47, "Pennsylvania (US)"],
        [233, "United States"],
        "America/New_York",
        "US",
    ),
    ("Eugene", "974", [40, "Oregon (US)"], [233, "United States"], "America/Los_Angeles", "US"),
    ("Austin", "787", [52, "Texas (US)"], [233, "United States"], "America/Chicago", "US"),
    ("New York", "100", [36, "New York (US)"], [233, "United States"], "America/New_York", "US"),
    ("Brussels", "10", False, [20, "Belgium"], "Europe/Brussels", "BE"),
    ("Namur", "50", False, [20, "Belgium"], "Europe/Brussels", "BE"),
    ("Antwerpen", "20", False, [20, "Belgium"], "Europe/Brussels", "BE"),
    ("Paris", "75", False, [75, "France"], "Europe/Paris", "FR"),
    ("Lyon", "69", False, [75, "France"], "Europe/Paris", "FR"),
    ("Berlin", "10", False, [57, "Germany"], "Europe/Berlin", "DE"),
    ("München", "80", False, [57, "Germany"], "Europe/Berlin", "DE"),
    ("Amsterdam", "10", False, [165, "Netherlands"], "Europe/Amsterdam", "NL"),
    ("London", "EC", False, [231, "United Kingdom"], "Europe/London", "GB"),
)


def _move_display(move: dict[str, Any]) -> str:
    """An account.move's display name as the simulator gives it (a draft has no number)."""
    return str(move["name"]) if move["name"] else draft_move_name(move)


class RowSink(Protocol):
    """What :func:`populate` needs from a store."""

    def load_rows(self, model: str, rows: Any) -> int: ...


@dataclass(frozen=True)
class Sizes:
    """How many records of each model a run makes for ``records`` partners."""

    partners: int
    orders: int
    moves: int
    employees: int

    @classmethod
    def for_records(cls, records: int) -> Sizes:
        if records < 10:
            raise ValueError(f"generate at least 10 partners, not {records}")
        return cls(
            partners=records,
            orders=max(3, round(records / 60)),
            moves=max(3, round(records / 70)),
            employees=max(5, round(records / 120)),
        )


def _fmt(us: int) -> str:
    """Microseconds since the epoch as Odoo stores a datetime: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(sep=" ", timespec="microseconds")


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _stamp(row: dict[str, Any], create_us: int, write_us: int, creator: list[Any]) -> None:
    created, written = _fmt(create_us), _fmt(write_us)
    row["create_date"] = created[:19]
    row["write_date"] = written[:19]
    row["create_uid"] = creator
    row["write_uid"] = creator if write_us == create_us else ADMIN
    row["__write_date_us"] = written
    row["__create_date_us"] = created


def _digits(rng: random.Random, *widths: int) -> str:
    """Random digit groups, e.g. widths (3, 2) -> "481 07" (one draw: this runs per row)."""
    total = sum(widths)
    digits = f"{rng.randrange(10**total):0{total}d}"
    groups, start = [], 0
    for width in widths:
        groups.append(digits[start : start + width])
        start += width
    return " ".join(groups)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _sort_desc_nulls_first(rows: list[Any], key: Any) -> None:
    """Stable sort descending on ``key(row)``, rows whose key is None first (PostgreSQL DESC)."""
    rows.sort(key=lambda r: (key(r) is None, key(r) if key(r) is not None else 0), reverse=True)


@dataclass
class _Partner:
    id: int
    name: str
    display: str
    company: bool
    parent: _Partner | None
    active: bool
    create_us: int
    row: dict[str, Any]
    order_ids: list[tuple[str, int]] = field(default_factory=list)
    move_keys: list[tuple[Any, ...]] = field(default_factory=list)


class _Clock:
    """Transaction start times: bursts a few milliseconds apart, and long quiet gaps."""

    def __init__(self, rng: random.Random, start_us: int, end_us: int, expected_tx: float) -> None:
        self.rng = rng
        self.now = start_us
        self.end = end_us
        # Overestimated on purpose: running out of ticks early only ends creation sooner.
        self.remaining = max(1.0, expected_tx * 1.3)

    def tick(self) -> int:
        rng = self.rng
        if rng.random() < 0.4:
            self.now += rng.randint(300, 60_000)
        else:
            # Long gaps share what is left of the history, so the timeline ends near `end`.
            # Never more than half the time left, so a long run bunches up near `end` but
            # never piles onto one clamped instant.
            room = self.end - self.now
            mean = max(1.0, room / (self.remaining * 0.6))
            self.now += min(int(rng.expovariate(1.0 / mean)), room // 2)
        self.remaining = max(1.0, self.remaining - 1)
        return self.now


class Generator:
    """Produces the rows of one simulated company; iterate :meth:`blocks` once."""

    BLOCK = 2000  # partners per block; a block's orders and moves follow it

    def __init__(self, records: int, *, seed: int = 0, end: datetime = DEFAULT_END) -> None:
        self.sizes = Sizes.for_records(records)
        self.seed = seed
        self.rng = random.Random(seed)
        self.end_us = _us(end)
        self.start_us = _us(end.replace(year=end.year - HISTORY_YEARS))
        rng = self.rng
        span = self.end_us - self.start_us
        # Mass updates (e.g. a price list change touching many partners) in the last two years.
        self.partner_mass = sorted(
            self.end_us - rng.randint(_DAY, 2 * 365 * _DAY) + rng.randint(0, 999_999)
            for _ in range(4)
        )
        self.order_mass = sorted(self.end_us - rng.randint(_DAY, span // 2) for _ in range(3))
        self.move_mass = sorted(self.end_us - rng.randint(_DAY, span // 2) for _ in range(3))
        self.next_order = 1
        self.next_move = 1
        self.next_order_line = 1
        self.next_move_line = 1
        self.sequences: dict[str, int] = {}
        self.employee_contacts: list[_Partner] = []
        # Drawn apart from self.rng, so the rest of the data stays what it was without them.
        self.trap_rng = random.Random(f"{seed}/trap")
        self.skill_rng = random.Random(f"{seed}/skills")
        self.next_skill = 1
        self.line_rng = random.Random(f"{seed}/lines")
        # Lines of the documents made since blocks() last yielded them.
        self.order_line_rows: list[dict[str, Any]] = []
        self.move_line_rows: list[dict[str, Any]] = []

    # -- shared helpers --------------------------------------------------------------------

    def _modified(self, create_us: int, mass: list[int], p_mass: float, p_edit: float) -> int:
        """When a record created at ``create_us`` was last written."""
        rng = self.rng
        roll = rng.random()
        if roll < p_mass:
            later = [t for t in mass if t >= create_us]
            if later:
                return rng.choice(later)
        elif roll < p_mass + p_edit:
            return rng.randint(create_us, max(create_us, self.end_us - _SECOND))
        return create_us

    def _person(self) -> tuple[str, str, str]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        return first, last, f"{first} {last}"

    def _company_name(self) -> str:
        rng = self.rng
        roll = rng.random()
        a, b = rng.choice(LAST_NAMES), rng.choice(LAST_NAMES)
        if roll < 0.3:
            return f"{a} & {b}"
        if roll < 0.45:
            return f"{a}-{b}"
        return f"{a} {rng.choice(COMPANY_SUFFIXES)}"

    def _phone(self, place: tuple[Any, ...]) -> str | bool:
        rng = self.rng
        if rng.random() < 0.15:
            return False
        if place[5] == "US":
            area, exchange, line = _digits(rng, 3, 3, 4).split()
            return f"({area})-{exchange}-{line}"
        return f"+{rng.randint(31, 49)} {_digits(rng, 2, 3, 2, 2)}"

    # -- partners -----------------------------------------------------------------------------

    def _system_partners(self) -> list[_Partner]:
        """Partners 1..6 as on a fresh Odoo: the company, OdooBot, the admin, template users."""
        t0 = self.start_us
        specs = [
            (1, "YourCompany", True, None, True),
            (2, "OdooBot", False, None, False),
            (3, "Mitchell Admin", False, 1, True),
            (4, "Public user", False, None, False),
            (5, "Portal User Template", False, None, False),
            (6, "Marc Demo", False, 1, True),
        ]
        out: list[_Partner] = []
        for pid, name, company, parent_id, active in specs:
            parent = out[parent_id - 1] if parent_id else None
            display = f"{parent.name}, {name}" if parent else name
            row: dict[str, Any] = {
                "id": pid,
                "name": name,
                "complete_name": display,
                "is_company": company,
                "active": active,
                "type": "contact",
                "lang": "en_US",
                "partner_share": pid in (4, 5),
                "employee": pid in (3, 6),
                "parent_id": [parent.id, parent.display] if parent else False,
                "commercial_partner_id": [parent.id, parent.display] if parent else [pid, name],
                "commercial_company_name": parent.name if parent else (name if company else False),
                "company_id": COMPANY if pid != 1 else False,
                "email": {
                    1: "info@yourcompany.com",
                    2: "odoobot@example.com",
                    3: "admin@yourcompany.example.com",
                    6: "mark.brown23@example.com",
                }.get(pid, False),
                "user_id": {3: ADMIN, 6: DEMO}.get(pid, False),
                "tz": "Europe/Brussels" if pid in (2, 3, 6) else False,
            }
            row["email_normalized"] = row["email"]
            if pid == 1:
                row.update(
                    street="8000 Marina Blvd, Suite 300",
                    city="Brisbane",
                    zip="94005",
                    state_id=[13, "California (US)"],
                    country_id=[233, "United States"],
                    website="http://www.example.com",
                )
            _stamp(row, t0 + pid, t0 + pid, ODOOBOT)
            out.append(_Partner(pid, name, display, company, parent, active, t0 + pid, row))
        out[0].row["child_ids"] = [6, 3]  # "YourCompany, Marc Demo" sorts first
        return out

    def _partner_row(
        self, pid: int, name: str, parent: _Partner | None, company: bool, create_us: int
    ) -> _Partner:
        rng = self.rng
        place = parent.row["_place"] if parent else rng.choice(PLACES)
        display = f"{parent.display}, {name}" if parent else name
        active = rng.random() >= 0.2
        if parent is not None:
            email: str | bool = (
                f"{_ascii(name).replace(' ', '.')}{rng.randint(1, 99)}@"
                f"{_ascii(parent.name).replace(' ', '').replace('&', '')[:20]}.example.com"
            )
        elif company:
            email = f"info@{_ascii(name).replace(' ', '').replace('&', '')[:24]}.example.com"
        else:
            email = f"{_ascii(name).replace(' ', '.')}{rng.randint(1, 99)}@example.com"
        if rng.random() < 0.1:
            email = False
        phone = self._phone(place)
        row: dict[str, Any] = {
            "id": pid,
            "name": name,
            "complete_name": display,
            "is_company": company,
            "active": active,
            "type": rng.choice(("contact", "contact", "contact", "invoice", "delivery"))
            if parent
            else "contact",
            "parent_id": [parent.id, parent.display] if parent else False,
            "commercial_partner_id": [parent.id, parent.display] if parent else [pid, name],
            "commercial_company_name": parent.name if parent else (name if company else False),
            "function": rng.choice(FUNCTIONS) if parent else False,
            "email": email,
            "email_normalized": email,
            "phone": phone,
            "phone_sanitized": phone,
            "street": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
            "street2": f"Suite {rng.randint(100, 999)}" if rng.random() < 0.1 else False,
            "city": place[0],
            "zip": f"{place[1]}{rng.randint(10, 99)}",
            "state_id": place[2],
            "country_id": place[3],
            "lang": "en_US",
            "tz": place[4] if rng.random() < 0.6 else False,
            "vat": (
                parent.row["vat"]
                if parent
                else (f"{place[5]}{rng.randint(10**8, 10**9 - 1)}" if company else False)
            ),
            "ref": f"C{pid:06d}" if company and rng.random() < 0.5 else False,
            "company_id": COMPANY if rng.random() < 0.5 else False,
            "user_id": rng.choice(SALESPEOPLE) if not parent and rng.random() < 0.3 else False,
            "category_id": sorted(rng.sample(CATEGORIES, rng.randint(1, 2)))
            if rng.random() < 0.3
            else [],
            "customer_rank": rng.choice((0, 0, 1, 2, 3, 5, 8, 13)) if not parent else 0,
            "supplier_rank": rng.choice((1, 2, 4)) if not parent and rng.random() < 0.1 else 0,
            "partner_share": True,
            "employee": False,
            "trust": "normal",
            "autopost_bills": "ask",
            "color": rng.randint(0, 11) if rng.random() < 0.2 else 0,
            "credit_limit": float(rng.choice((0, 0, 0, 1000, 5000))),
            "_place": place,
        }
        return _Partner(pid, name, display, company, parent, active, create_us, row)

    def _partner_units(self, first_id: int, count: int) -> Iterator[tuple[str, int]]:
        """Family shapes for ids ``first_id..``: ("company", n_children) or ("person", 0)."""
        rng = self.rng
        pid, end = first_id, first_id + count
        while pid < end:
            if rng.random() < 0.143:
                kids = min(rng.choice((0, 1, 2, 3, 3, 4, 5, 6)), end - pid - 1)
                yield "company", kids
                pid += 1 + kids
            else:
                yield "person", 0
                pid += 1

    def _creation_times(self, first_id: int, count: int) -> Iterator[int]:
        """A creation timestamp per partner id: small transactions and bulk imports."""
        rng = self.rng
        n = self.sizes.partners
        q_bulk = 0.0005
        avg_tx = (1 - q_bulk) * 2 + q_bulk * 1600
        clock = _Clock(rng, self.start_us, self.end_us - 30 * _DAY, count / avg_tx)
        forced_at = first_id + count // 3
        forced_size = max(150, min(3000, n // 5))
        pid = first_id
        end = first_id + count
        forced_done = False
        while pid < end:
            if not forced_done and pid >= forced_at:
                size, forced_done = forced_size, True
            elif rng.random() < q_bulk:
                size = rng.randint(200, 3000)
            else:
                size = rng.randint(1, 3)
            size = min(size, end - pid)
            ts = clock.tick()
            for _ in range(size):
                yield ts
            pid += size

    def partner_blocks(self) -> Iterator[list[_Partner]]:
        """Every partner, in id order, in blocks of about :attr:`BLOCK` whole families."""
        rng = self.rng
        system = self._system_partners()
        yield system
        first = len(system) + 1
        count = self.sizes.partners - len(system)
        times = self._creation_times(first, count)
        pid = first
        block: list[_Partner] = []
        for kind, kids in self._partner_units(first, count):
            if kind == "company":
                name = self._company_name()
                company = self._partner_row(pid, name, None, True, next(times))
                family = [company]
                for k in range(kids):
                    child = self._partner_row(
                        pid + 1 + k, self._person()[2], company, False, next(times)
                    )
                    family.append(child)
                active_kids = [c for c in family[1:] if c.active]
                active_kids.sort(key=lambda c: -c.id)
                active_kids.sort(key=lambda c: c.display.encode())
                company.row["child_ids"] = [c.id for c in active_kids]
                block.extend(family)
                pid += 1 + kids
            else:
                person = self._partner_row(pid, self._person()[2], None, False, next(times))
                block.append(person)
                pid += 1
                if (
                    person.active
                    and len(self.employee_contacts) < self.sizes.employees
                    and rng.random() < 0.5
                ):
                    self.employee_contacts.append(person)
            if len(block) >= self.BLOCK:
                yield block
                block = []
        if block:
            yield block

    def _rewrite_newest(self, rows: list[dict[str, Any]]) -> None:
        """The trap: rewrite the newest partners of a block inside one second, highest id first.

        Each rewrite is its own small transaction a few milliseconds after the previous one,
        as when a busy server's users save records one after another; a row written later
        than the trap keeps its later write.
        """
        rng = self.trap_rng
        newest = sorted((r for r in rows if r["id"] > 6), key=lambda r: r["id"], reverse=True)[
            : min(TRAP_ROWS, len(rows) // 4)
        ]
        if len(newest) < 2:
            return
        created = max(_us(datetime.fromisoformat(r["__create_date_us"])) for r in newest)
        latest = self.end_us - 2 * _SECOND
        if created >= latest:
            return
        moment = min(latest, created + rng.randint(_SECOND, 30 * _DAY))
        start = moment - moment % _SECOND + rng.randint(1, 9_999)
        for step, row in enumerate(newest):
            written = start + step * TRAP_STEP_US
            if written > _us(datetime.fromisoformat(row["__write_date_us"])):
                created_us = _us(datetime.fromisoformat(row["__create_date_us"]))
                creator = row["create_uid"]
                _stamp(row, created_us, written, creator)
                row["write_uid"] = ADMIN

    def _finish_partner(self, p: _Partner) -> dict[str, Any]:
        row = p.row
        row.pop("_place", None)
        if p.id > 6:
            write_us = self._modified(p.create_us, self.partner_mass, 0.03, 0.25)
            if not p.active and write_us == p.create_us:
                # Archiving is a write: it happened after the record was created.
                write_us = self.rng.randint(p.create_us, self.end_us - _SECOND)
            creator = ODOOBOT if self.rng.random() < 0.2 else ADMIN
            _stamp(row, p.create_us, write_us, creator)
        if p.order_ids:
            p.order_ids.sort(key=lambda o: (o[0], o[1]), reverse=True)
            row["sale_order_ids"] = [oid for _, oid in p.order_ids]
        if p.move_keys:
            # account.move order: date desc, name desc (unnamed drafts first), id desc.
            keys = sorted(p.move_keys, key=lambda k: k[2], reverse=True)
            _sort_desc_nulls_first(keys, lambda k: k[1])
            keys.sort(key=lambda k: k[0], reverse=True)
            row["invoice_ids"] = [k[2] for k in keys]
        return row

    # -- sale orders and invoices -----------------------------------------------------------

    def _block_times(self, count: int, lo: int) -> list[int]:
        """Creation times for ``count`` documents made after ``lo``: one of three rhythms."""
        rng = self.rng
        hi = self.end_us - _SECOND
        lo = min(lo, hi)
        roll = rng.random()
        if roll < 0.15:
            ts = rng.randint(lo, hi)
            return [ts] * count  # imported together: one transaction
        if roll < 0.35:
            ts = rng.randint(lo, hi)
            out = []
            for _ in range(count):
                out.append(min(ts, hi))
                ts += rng.randint(2_000, 80_000)  # a script creating them one by one
            return out
        return sorted(rng.randint(lo, hi) for _ in range(count))

    def _take(self, quota: int, done: int, block_share: float) -> int:
        """How many documents this block gets so that the total ends at ``quota``."""
        want = round(quota * block_share) - done
        return max(0, min(want, quota - done))

    def sale_orders(self, block: list[_Partner], count: int) -> list[dict[str, Any]]:
        rng = self.rng
        customers = [p for p in block if p.active and (p.company or p.parent is None)] or block
        lo = min(p.create_us for p in block)
        rows = []
        for create_us in self._block_times(count, lo):
            partner = rng.choice(customers)
            create_us = max(create_us, partner.create_us)
            oid = self.next_order
            self.next_order += 1
            roll = rng.random()
            state = (
                "draft"
                if roll < 0.35
                else "sent"
                if roll < 0.43
                else "sale"
                if roll < 0.93
                else "cancel"
            )
            confirm_us = create_us
            if state in ("sale", "cancel"):
                confirm_us = min(create_us + rng.randint(_SECOND, 20 * _DAY), self.end_us - _SECOND)
            write_us = max(confirm_us, self._modified(create_us, self.order_mass, 0.05, 0.15))
            untaxed = round(rng.uniform(40, 25_000), 2)
            tax = round(untaxed * 0.15, 2) if rng.random() < 0.7 else 0.0
            lines = rng.randint(1, 6)
            date_order = _fmt(confirm_us if state == "sale" else create_us)
            validity = (_EPOCH + timedelta(microseconds=create_us) + timedelta(days=30)).date()
            ref = [partner.id, partner.display]
            row: dict[str, Any] = {
                "id": oid,
                "name": f"S{oid:05d}",
                "partner_id": ref,
                "partner_invoice_id": ref,
                "partner_shipping_id": ref,
                "state": state,
                "locked": False,
                "date_order": date_order[:19],
                "validity_date": validity.isoformat(),
                "amount_untaxed": untaxed,
                "amount_tax": tax,
                "amount_total": round(untaxed + tax, 2),
                "currency_id": USD,
                "currency_rate": 1.0,
                "company_id": COMPANY,
                "user_id": rng.choice(SALESPEOPLE),
                "team_id": rng.choice(SALES_TEAMS),
                "invoice_status": (
                    rng.choice(("invoiced", "invoiced", "to invoice", "upselling"))
                    if state == "sale"
                    else "no"
                ),
                "order_line": list(range(self.next_order_line, self.next_order_line + lines)),
                "client_order_ref": f"PO-{rng.randint(1000, 99999)}"
                if rng.random() < 0.2
                else False,
                "require_signature": True,
                "require_payment": True,
                "prepayment_percent": 1.0,
            }
            self.next_order_line += lines
            _stamp(row, create_us, write_us, ADMIN)
            partner.order_ids.append((date_order, oid))
            rows.append(row)
            self.order_line_rows.extend(self.order_lines(row, create_us, confirm_us, write_us))
        return rows

    def _split(self, total: float, parts: int) -> list[tuple[int, float, float]]:
        """``total`` as ``parts`` lines of (quantity, unit price, subtotal) summing to it."""
        rng = self.line_rng
        weights = [rng.uniform(0.2, 1.0) for _ in range(parts)]
        out: list[tuple[int, float, float]] = []
        left = total
        for i, weight in enumerate(weights):
            if i == parts - 1:
                price = round(left, 2)
                out.append((1, price, price))
                break
            qty = rng.choice(QUANTITIES)
            price = max(0.01, round(total * weight / sum(weights) / qty, 2))
            subtotal = round(qty * price, 2)
            out.append((qty, price, subtotal))
            left -= subtotal
        return out

    def _layout(self, count: int) -> list[str | None]:
        """Per line: a display type (``line_section``, ``line_note``) or None for a product."""
        rng = self.line_rng
        kinds: list[str | None] = [None] * count
        if count >= 3 and rng.random() < 0.15:
            kinds[0] = "line_section"
        if count >= 4 and rng.random() < 0.1:
            kinds[-1] = "line_note"
        return kinds

    def _line_write(self, create_us: int, settled_us: int, last_us: int) -> int:
        """A line's write_date: its document's settling (confirm, post), or a later edit."""
        if self.line_rng.random() < 0.1 and last_us > settled_us:
            return self.line_rng.randint(settled_us, last_us)
        return max(create_us, settled_us)

    def order_lines(
        self, order: dict[str, Any], create_us: int, confirm_us: int, write_us: int
    ) -> list[dict[str, Any]]:
        """The sale.order.line rows of ``order``: they sum to its untaxed amount and tax."""
        rng = self.line_rng
        ids = order["order_line"]
        kinds = self._layout(len(ids))
        products = [i for i, kind in enumerate(kinds) if kind is None]
        amounts = iter(self._split(order["amount_untaxed"], len(products)))
        tax_left = order["amount_tax"]
        state, status = order["state"], order["invoice_status"]
        settled = confirm_us if state in ("sale", "cancel") else create_us
        rows: list[dict[str, Any]] = []
        for i, (lid, kind) in enumerate(zip(ids, kinds, strict=True)):
            row: dict[str, Any] = {
                "id": lid,
                "order_id": [order["id"], order["name"]],
                "sequence": 10 + i,
                "display_type": kind or False,
                "state": state,
                "company_id": COMPANY,
                "currency_id": USD,
                "order_partner_id": order["partner_id"],
                "salesman_id": order["user_id"],
                "customer_lead": 0.0,
                "qty_delivered_method": "manual",
                "invoice_status": "no",
            }
            if kind is not None:
                row["name"] = rng.choice(SECTIONS if kind == "line_section" else NOTES)
            else:
                qty, price, subtotal = next(amounts)
                last = i == products[-1]
                line_tax = (
                    (round(tax_left, 2) if last else round(subtotal * 0.15, 2))
                    if order["amount_tax"]
                    else 0.0
                )
                tax_left -= line_tax
                pid, display, description = rng.choice(PRODUCTS)
                invoiced = qty if state == "sale" and status in ("invoiced", "upselling") else 0
                row.update(
                    name=f"{display}\n{description}" if description else display,
                    product_id=[pid, display],
                    product_uom_id=UNITS,
                    product_uom_qty=float(qty),
                    price_unit=price,
                    technical_price_unit=price,
                    price_subtotal=subtotal,
                    price_tax=line_tax,
                    price_total=round(subtotal + line_tax, 2),
                    price_reduce_taxexcl=price,
                    price_reduce_taxinc=round((subtotal + line_tax) / qty, 2),
                    tax_ids=[TAXES["sale"][0]] if line_tax else [],
                    qty_delivered=float(qty) if state == "sale" else 0.0,
                    qty_invoiced=float(invoiced),
                    qty_to_invoice=float(qty - invoiced) if state == "sale" else 0.0,
                    untaxed_amount_invoiced=subtotal if invoiced else 0.0,
                    untaxed_amount_to_invoice=subtotal if state == "sale" and not invoiced else 0.0,
                    invoice_status=status if state == "sale" else "no",
                )
            _stamp(row, create_us, self._line_write(create_us, settled, write_us), ADMIN)
            rows.append(row)
        return rows

    def _move_name(self, move_type: str, when: datetime) -> tuple[str, str, int]:
        prefix = {
            "out_invoice": f"INV/{when.year}/",
            "out_refund": f"RINV/{when.year}/",
            "in_invoice": f"BILL/{when.year}/{when.month:02d}/",
            "in_refund": f"RBILL/{when.year}/{when.month:02d}/",
            "entry": f"MISC/{when.year}/",
        }[move_type]
        number = self.sequences.get(prefix, 0) + 1
        self.sequences[prefix] = number
        width = 4 if move_type.startswith("in_") else 5
        return f"{prefix}{number:0{width}d}", prefix, number

    def account_moves(self, block: list[_Partner], count: int) -> list[dict[str, Any]]:
        rng = self.rng
        partners = [p for p in block if p.company or p.parent is None] or block
        lo = min(p.create_us for p in block)
        rows = []
        for create_us in self._block_times(count, lo):
            move_type = rng.choices(MOVE_TYPES, MOVE_TYPE_WEIGHTS)[0]
            partner = None if move_type == "entry" and rng.random() < 0.7 else rng.choice(partners)
            if partner is not None:
                create_us = max(create_us, partner.create_us)
            mid = self.next_move
            self.next_move += 1
            roll = rng.random()
            state = "posted" if roll < 0.75 else "draft" if roll < 0.97 else "cancel"
            when = _EPOCH + timedelta(microseconds=create_us)
            day = when.date()
            invoice = move_type != "entry"
            post_us = create_us
            name: str | bool = False
            prefix: str | bool = False
            number = 0
            if state != "draft":
                post_us = min(create_us + rng.randint(0, 3 * _DAY), self.end_us - _SECOND)
                name, prefix, number = self._move_name(move_type, when)
            write_us = max(post_us, self._modified(create_us, self.move_mass, 0.05, 0.2))
            untaxed = round(rng.uniform(20, 30_000), 2)
            tax = round(untaxed * 0.15, 2) if invoice and rng.random() < 0.7 else 0.0
            total = round(untaxed + tax, 2)
            if state == "posted" and invoice:
                payment_state = rng.choice(("not_paid", "paid", "paid", "partial", "in_payment"))
            else:
                payment_state = "not_paid"
            residual = {"paid": 0.0, "in_payment": 0.0, "partial": round(total / 2, 2)}.get(
                payment_state, total if invoice and state != "cancel" else 0.0
            )
            sign = -1 if move_type in ("out_refund", "in_invoice") else 1
            lines = rng.randint(1, 5)
            # Products, then a tax line when taxed, then the payment term (an entry: all items).
            items = lines + 1 + (1 if invoice and tax else 0)
            line_ids = list(range(self.next_move_line, self.next_move_line + items))
            self.next_move_line += items
            journal = JOURNALS[
                "sale" if move_type.startswith("out_") else "purchase" if invoice else "general"
            ]
            commercial = partner.parent if partner and partner.parent else partner
            row: dict[str, Any] = {
                "id": mid,
                "name": name,
                "move_type": move_type,
                "state": state,
                "date": day.isoformat(),
                "journal_id": journal,
                "company_id": COMPANY,
                "currency_id": USD,
                "invoice_currency_rate": 1.0,
                "partner_id": [partner.id, partner.display] if partner else False,
                "commercial_partner_id": [commercial.id, commercial.display]
                if commercial
                else False,
                "partner_shipping_id": (
                    [partner.id, partner.display]
                    if partner and move_type == "out_invoice"
                    else False
                ),
                "invoice_partner_display_name": partner.display if partner else False,
                "invoice_date": day.isoformat() if invoice and state != "draft" else False,
                "invoice_date_due": (day + timedelta(days=30)).isoformat() if invoice else False,
                "amount_untaxed": untaxed,
                "amount_tax": tax,
                "amount_total": total,
                "amount_residual": residual,
                "amount_untaxed_signed": sign * untaxed,
                "amount_untaxed_in_currency_signed": sign * untaxed,
                "amount_tax_signed": sign * tax,
                "amount_total_signed": sign * total,
                "amount_total_in_currency_signed": sign * total,
                "amount_residual_signed": sign * residual,
                "payment_state": payment_state,
                "invoice_line_ids": line_ids[:lines] if invoice else [],
                "line_ids": line_ids,
                "payment_reference": name if invoice and name else False,
                "ref": f"REF-{rng.randint(1000, 99999)}"
                if not invoice and rng.random() < 0.5
                else False,
                "invoice_origin": (
                    f"S{rng.randint(1, max(1, self.next_order - 1)):05d}"
                    if move_type == "out_invoice" and self.next_order > 1 and rng.random() < 0.4
                    else False
                ),
                "invoice_user_id": rng.choice(SALESPEOPLE) if invoice else False,
                "sequence_prefix": prefix,
                "sequence_number": number,
                "posted_before": state != "draft",
                "checked": state == "posted",
                "auto_post": "no",
            }
            _stamp(row, create_us, write_us, ADMIN)
            if partner is not None:
                partner.move_keys.append((row["date"], name if name else None, mid))
            rows.append(row)
            settled = post_us if state != "draft" else create_us
            self.move_line_rows.extend(
                self.move_lines(row, lines, create_us, settled, write_us)
                if invoice
                else self.entry_lines(row, create_us, settled, write_us)
            )
        return rows

    def _move_line(self, move: dict[str, Any], lid: int, sequence: int) -> dict[str, Any]:
        """What every journal item copies from its move."""
        return {
            "id": lid,
            "move_id": [move["id"], _move_display(move)],
            "move_name": move["name"],
            "parent_state": move["state"],
            "date": move["date"],
            "invoice_date": move["invoice_date"],
            "ref": move["ref"],
            "journal_id": move["journal_id"],
            "company_id": COMPANY,
            "company_currency_id": USD,
            "currency_id": USD,
            "partner_id": move["commercial_partner_id"],
            "sequence": sequence,
            "display_type": "product",
            "quantity": 1.0,
            "deductible_amount": 100.0,
        }

    @staticmethod
    def _balance(row: dict[str, Any], balance: float) -> None:
        balance = round(balance, 2)
        row.update(
            balance=balance,
            amount_currency=balance,
            debit=balance if balance > 0 else 0.0,
            credit=-balance if balance < 0 else 0.0,
        )

    def move_lines(
        self, move: dict[str, Any], products: int, create_us: int, settled_us: int, write_us: int
    ) -> list[dict[str, Any]]:
        """An invoice's journal items: products, a tax line when taxed, the payment term.

        Customer invoices and vendor credit notes credit income (or expense) and debit the
        receivable (payable); the other two the other way round, so the items balance.
        """
        rng = self.line_rng
        move_type = move["move_type"]
        customer = move_type.startswith("out_")
        inbound = move_type in ("out_invoice", "in_refund")
        side = -1 if inbound else 1
        ids = move["line_ids"]
        tax = move["amount_tax"]
        tax_ref = TAXES["sale" if customer else "purchase"]
        rows: list[dict[str, Any]] = []
        amounts = self._split(move["amount_untaxed"], products)
        tax_left = tax
        for i, (qty, price, subtotal) in enumerate(amounts):
            line_tax = (
                (round(tax_left, 2) if i == products - 1 else round(subtotal * 0.15, 2))
                if tax
                else 0.0
            )
            tax_left -= line_tax
            pid, display, _ = rng.choice(PRODUCTS)
            row = self._move_line(move, ids[i], 10 + i)
            row.update(
                name=display,
                product_id=[pid, display],
                product_uom_id=UNITS,
                account_id=ACCOUNTS["income" if customer else "expense"],
                quantity=float(qty),
                price_unit=price,
                price_subtotal=subtotal,
                price_total=round(subtotal + line_tax, 2),
                tax_ids=[tax_ref[0]] if tax else [],
            )
            self._balance(row, side * subtotal)
            _stamp(row, create_us, self._line_write(create_us, settled_us, write_us), ADMIN)
            rows.append(row)
        if tax:
            row = self._move_line(move, ids[products], 10 + products)
            row.update(
                name=tax_ref[1],
                display_type="tax",
                account_id=ACCOUNTS["tax_sale" if customer else "tax_purchase"],
                tax_line_id=tax_ref,
                tax_base_amount=move["amount_untaxed"],
                quantity=0.0,
            )
            self._balance(row, side * tax)
            _stamp(row, create_us, max(create_us, settled_us), ADMIN)
            rows.append(row)
        paid = move["payment_state"]
        term = self._move_line(move, ids[-1], 9 + len(ids))
        residual = -side * move["amount_residual"]
        term.update(
            name=move["name"] or "",
            display_type="payment_term",
            account_id=ACCOUNTS["receivable" if customer else "payable"],
            date_maturity=move["invoice_date_due"],
            quantity=0.0,
            amount_residual=residual,
            amount_residual_currency=residual,
            reconciled=paid in ("paid", "in_payment"),
            matching_number=(
                f"{'P' if paid == 'partial' else 'A'}{move['id']:05d}"
                if paid in ("paid", "in_payment", "partial")
                else False
            ),
        )
        self._balance(term, -side * move["amount_total"])
        # A payment rewrites the residual of the payment term: the move's last write.
        term_write = write_us if paid != "not_paid" else max(create_us, settled_us)
        _stamp(term, create_us, term_write, ADMIN)
        rows.append(term)
        return rows

    def entry_lines(
        self, move: dict[str, Any], create_us: int, settled_us: int, write_us: int
    ) -> list[dict[str, Any]]:
        """A miscellaneous entry's items: debits on some accounts, one credit balancing them."""
        rng = self.line_rng
        ids = move["line_ids"]
        debits = self._split(move["amount_total"], len(ids) - 1)
        label = move["ref"] or rng.choice(("Accrual", "Reclassification", "Depreciation"))
        rows: list[dict[str, Any]] = []
        for i, lid in enumerate(ids):
            row = self._move_line(move, lid, 10 + i)
            row.update(name=label, account_id=rng.choice(MISC_ACCOUNTS))
            last = i == len(ids) - 1
            self._balance(row, -move["amount_total"] if last else debits[i][2])
            row.update(price_unit=0.0, price_subtotal=row["balance"], price_total=row["balance"])
            _stamp(row, create_us, self._line_write(create_us, settled_us, write_us), ADMIN)
            rows.append(row)
        return rows

    # -- employees ----------------------------------------------------------------------------

    def employees(self) -> list[dict[str, Any]]:
        rng = self.rng
        n = self.sizes.employees
        people: list[tuple[str, _Partner | None]] = [("Mitchell Admin", None), ("Marc Demo", None)]
        people += [(p.name, p) for p in self.employee_contacts[: max(0, n - 2)]]
        while len(people) < n:
            people.append((self._person()[2], None))
        clock = _Clock(rng, self.start_us, self.end_us - _DAY, n)
        rows: list[dict[str, Any]] = []
        for i, (name, contact) in enumerate(people, start=1):
            create_us = self.start_us + 10 * _SECOND if i <= 2 else clock.tick()
            if contact is not None:
                create_us = max(create_us, contact.create_us)
            active = i <= 2 or rng.random() >= 0.1
            parent = 1 if i <= 2 else rng.randint(1, max(1, min(i - 1, 1 + i // 4)))
            coach = parent if rng.random() < 0.6 else rng.randint(1, i - 1) if i > 1 else False
            first_last = _ascii(name).replace(" ", ".")
            row: dict[str, Any] = {
                "id": i,
                "name": name,
                "active": active,
                "company_id": COMPANY,
                "resource_id": [i, name],
                "work_email": f"{first_last}@yourcompany.example.com",
                "work_phone": f"+32 2 {_digits(rng, 3, 2, 2)}" if rng.random() < 0.6 else False,
                "mobile_phone": f"+32 4{_digits(rng, 2, 2, 2, 2)}" if rng.random() < 0.5 else False,
                "private_email": f"{first_last}{rng.randint(1, 99)}@example.com"
                if rng.random() < 0.4
                else False,
                "legal_name": name,
                "lang": "en_US" if rng.random() < 0.3 else False,
                "parent_id": parent if i > 1 else 1,
                "coach_id": coach if i > 1 else 1,
                "user_id": {1: ADMIN, 2: DEMO}.get(
                    i, rng.choice(SALESPEOPLE[2:]) if rng.random() < 0.05 else False
                ),
                "work_contact_id": (
                    [3, "YourCompany, Mitchell Admin"]
                    if i == 1
                    else [6, "YourCompany, Marc Demo"]
                    if i == 2
                    else [contact.id, contact.display]
                    if contact
                    else False
                ),
                "color": 0,
                "_create_us": create_us,
            }
            rows.append(row)
        names = {r["id"]: r["name"] for r in rows}
        for row in rows:
            for key in ("parent_id", "coach_id"):
                if row[key]:
                    row[key] = [row[key], names[row[key]]]
        # Skills, one hr.employee.skill record each, listed by skill type as Odoo sorts them
        # (the simulator does not store that comodel, only these ids).
        for row in rows:
            count = self.skill_rng.choice((0, 0, 1, 2, 3, 4, 5, 6, 8))
            row["employee_skill_ids"] = list(range(self.next_skill, self.next_skill + count))
            self.skill_rng.shuffle(row["employee_skill_ids"])
            self.next_skill += count
        # child_ids: active direct reports in hr.employee order (name).
        reports: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            if row["parent_id"] and row["active"] and row["parent_id"][0] != row["id"]:
                reports.setdefault(row["parent_id"][0], []).append(row)
        for row in rows:
            kids = reports.get(row["id"], [])
            row["child_ids"] = [k["id"] for k in sorted(kids, key=lambda k: k["name"].encode())]
            create_us = row.pop("_create_us")
            write_us = self._modified(create_us, [], 0.0, 0.3)
            if not row["active"] and write_us == create_us:
                write_us = rng.randint(create_us, self.end_us - _SECOND)
            _stamp(row, create_us, write_us, ADMIN)
        return rows

    # -- the whole run ------------------------------------------------------------------------

    def blocks(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield ``(model, rows)`` chunks: partners with their orders and moves, then employees."""
        sizes = self.sizes
        orders_done = moves_done = partners_seen = 0
        for block in self.partner_blocks():
            partners_seen += len(block)
            share = partners_seen / sizes.partners
            orders = self.sale_orders(block, self._take(sizes.orders, orders_done, share))
            moves = self.account_moves(block, self._take(sizes.moves, moves_done, share))
            orders_done += len(orders)
            moves_done += len(moves)
            finished = [self._finish_partner(p) for p in block]
            self._rewrite_newest(finished)
            yield "res.partner", finished
            if orders:
                yield "sale.order", orders
                yield "sale.order.line", self.order_line_rows
                self.order_line_rows = []
            if moves:
                yield "account.move", moves
                yield "account.move.line", self.move_line_rows
                self.move_line_rows = []
        yield "hr.employee", self.employees()


def generate(
    records: int, *, seed: int = 0, end: datetime = DEFAULT_END
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Rows for ``records`` partners and the proportional orders, moves and employees."""
    return Generator(records, seed=seed, end=end).blocks()


def populate(
    store: RowSink, records: int, *, seed: int = 0, end: datetime = DEFAULT_END
) -> dict[str, int]:
    """Generate into ``store``; returns the number of rows loaded per model.

    Partners stream into ``load_rows`` calls of :data:`LOAD_BATCH` rows (few calls, each a
    bounded transaction); the orders, moves and employees produced alongside wait in temporary
    files and load after them. Memory stays flat whatever ``records`` is.
    """
    counts: dict[str, int] = {"res.partner": 0}
    blocks = generate(records, seed=seed, end=end)
    exhausted = False
    with contextlib.ExitStack() as stack:
        spools: dict[str, IO[str]] = {}

        def spool(model: str, rows: list[dict[str, Any]]) -> None:
            if model not in spools:
                spools[model] = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            spools[model].writelines(json.dumps(row) + "\n" for row in rows)

        def batch() -> Iterator[dict[str, Any]]:
            nonlocal exhausted
            loaded = 0
            for model, rows in blocks:
                if model != "res.partner":
                    spool(model, rows)
                    continue
                yield from rows
                loaded += len(rows)
                if loaded >= LOAD_BATCH:
                    return
            exhausted = True

        while not exhausted:
            counts["res.partner"] += store.load_rows("res.partner", batch())
        for model, handle in spools.items():
            handle.seek(0)
            counts[model] = store.load_rows(model, (json.loads(line) for line in handle))
    return counts


def expected_sizes(records: int) -> dict[str, int]:
    """Rows :func:`populate` makes per model for ``records`` partners, lines aside.

    Lines follow their documents: one to six per order, two to seven items per move.
    """
    s = Sizes.for_records(records)
    return {
        "res.partner": s.partners,
        "sale.order": s.orders,
        "account.move": s.moves,
        "hr.employee": s.employees,
    }


__all__ = [
    "DEFAULT_END",
    "Generator",
    "Sizes",
    "expected_sizes",
    "generate",
    "populate",
]

"""What the campaigns share: results, running odoosync, and comparing the mirror with the server."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql as pgsql

from odoo_sync_cli.config import Settings, load_settings
from odoo_sync_cli.simulator.store import SimStore

Scale = Literal["short", "long"]

# The methods a page of records is read with: web_search_read on Odoo 17 and later (with a
# field specification), search_read before.
READS = ("search_read", "web_search_read")

# Figures that must be 0 in every campaign, whatever else it counts. ``extra``: records in a
# mirror that the server does not hold (or that left the module's filter); ``restored``:
# records reconcile had to read back though no late commit explains them (see mirror_diff);
# ``history``: records whose history disagrees with the mirror (see history_diff).
ZERO_FIGURES = (
    "lost",
    "duplicated",
    "differing",
    "extra",
    "restored",
    "history",
    "leaked",
    "crashed",
    "unclear",
)


@dataclass
class CampaignResult:
    """One campaign's figures; ``ok`` when every must-be-zero figure is 0 and nothing failed."""

    name: str
    figures: dict[str, int | float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        zero = all(self.figures.get(k, 0) == 0 for k in ZERO_FIGURES)
        return zero and not self.failures

    def line(self) -> str:
        shown = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.figures.items()
        )
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name:<12} {verdict:<6} {shown}"


@dataclass
class MirrorDiff:
    """How one user's mirror differs from the server's data, per record."""

    records: int = 0
    lost: int = 0
    duplicated: int = 0
    extra: int = 0
    differing: int = 0
    restored: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """The mirror equals the server, and reconcile had nothing to repair that it should
        not have had to."""
        return not (self.lost or self.duplicated or self.extra or self.differing or self.restored)

    def note(self, example: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(example)

    def add(self, other: MirrorDiff) -> None:
        self.records += other.records
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.extra += other.extra
        self.differing += other.differing
        self.restored += other.restored
        self.examples.extend(other.examples[: max(0, 10 - len(self.examples))])


# --------------------------------------------------------------------------- where mirrors live

# The PostgreSQL server the campaigns keep their mirrors on (``--backend postgresql``), if any;
# each work directory gets a schema of its own there. Otherwise a SQLite file in it.
_server: list[str] = []
_schemas: list[str] = []


@dataclass(frozen=True)
class Where:
    """Where one mirror is: a SQLite file, or a schema of a PostgreSQL database."""

    db: str
    schema: str = "odoosync"

    @property
    def is_postgres(self) -> bool:
        return self.db.startswith(("postgresql:", "postgres:"))

    @classmethod
    def of(cls, settings: Settings) -> Where:
        db = str(settings.db) if settings.db is not None else str(settings.db_path)
        return cls(db, settings.pg_schema)

    def query(
        self, query: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Read with plain SQL (``?`` placeholders, ``"user"`` quoted): the column names and
        the rows, PostgreSQL's values written as README's "Tables" says SQLite holds them."""
        if not self.is_postgres:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                cur = conn.execute(query, tuple(params))
                return [d[0] for d in cur.description or ()], cur.fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
            pg_cur = conn.execute(query.replace("?", "%s"), tuple(params))  # type: ignore[arg-type]
            names = [d.name for d in pg_cur.description or ()]
            return names, [tuple(_as_cell(v) for v in row) for row in pg_cur.fetchall()]

    def has_table(self, table: str) -> bool:
        if self.is_postgres:
            found = self.query(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                (self.schema, table),
            )
        else:
            found = self.query(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            )
        return bool(found[1])


def _as_cell(value: Any) -> Any:
    """A PostgreSQL value as the SQLite mirror holds the same field (README's "Tables")."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def where(workdir: Path) -> Where:
    """Where the mirror of a campaign's work directory is."""
    if not _server:
        return Where(str(workdir / "odoosync.db"))
    schema = "t_" + hashlib.blake2b(str(workdir).encode(), digest_size=8).hexdigest()
    if schema not in _schemas:
        _schemas.append(schema)
    return Where(_server[0], schema)


@contextlib.contextmanager
def on_postgres(url: str | None) -> Iterator[None]:
    """Keep the mirrors of the campaigns run inside on this server (None: SQLite files); their
    schemas are dropped afterwards."""
    if url is None:
        yield
        return
    _server.append(url)
    try:
        yield
    finally:
        _server.remove(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in _schemas:
                conn.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
                )
        _schemas.clear()


def settings_for(workdir: Path, config_text: str) -> Settings:
    """Settings from a TOML text in ``workdir``, with the mirror where :func:`where` says."""
    place = where(workdir)
    if place.is_postgres:
        config_text = f'pg_schema = "{place.schema}"\n' + config_text
    config = workdir / "odoosync.toml"
    config.write_text(config_text, encoding="utf-8")
    return load_settings(config, db=place.db)


def odoosync(
    workdir: Path,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the odoosync command line with workdir's settings and database."""
    command = [
        sys.executable,
        "-m",
        "odoo_sync_cli",
        "--config",
        str(workdir / "odoosync.toml"),
        "--db",
        where(workdir).db,
        *args,
    ]
    return subprocess.run(
        command,
        input=input,
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def odoosync_command(workdir: Path, *args: str) -> list[str]:
    """The argv of :func:`odoosync`, for a subprocess the caller manages (to kill it, say)."""
    return [
        sys.executable,
        "-m",
        "odoo_sync_cli",
        "--config",
        str(workdir / "odoosync.toml"),
        "--db",
        where(workdir).db,
        *args,
    ]


def mirror_diff(
    settings: Settings,
    user: str,
    server: SimStore,
    *,
    late: Iterable[tuple[str, int]] | None = None,
    before: Mapping[str, set[int]] | None = None,
    only: Mapping[str, Iterable[str]] | None = None,
    mirrored_models: frozenset[str] | None = None,
) -> MirrorDiff:
    """Compare ``user``'s mirror with the simulator's stored records, every module, every field.

    Neither side goes through odoosync: the records come straight from the simulator's store
    (``exact_rows``), kept or not by the harness's own filters (``MIRRORED``); the mirror is read
    with plain SQL, and each stored value is compared with its encoding as README's "Tables"
    describes it (``expected_cells``; a PostgreSQL mirror's values are written back as the SQLite
    ones first, by the harness's own ``_as_cell``). Only where the mirror is is taken from the
    settings.

    With ``late`` (the ``(model, id)`` of records the campaign committed later than the
    look-back could see, during this sync) the reconcile of the user's last sync is judged too:
    the records it restored beyond those, that were not live in the mirror ``before`` the sync
    (:func:`live_ids`), are counted as ``restored``: a record the data batches should have read.

    ``only`` (model -> field names) is for a module whose settings name its ``fields``: those
    are compared, with ``id``, ``write_date`` and ``active``, which every module mirrors.

    ``mirrored_models``: the models the user's modules mirror (a many2one to one of them has
    no name); the six default ones unless given.
    """
    diff = MirrorDiff()
    db = Where.of(settings)
    late_ids = set(late or ())
    restored = reconcile_restored(db, user) if late is not None else {}
    for mirrored in MIRRORED:
        fields = expected_fields(server, mirrored.model)
        if only is not None and mirrored.model in only:
            chosen = {"id", "write_date", "active", *only[mirrored.model]}
            fields = {name: ftype for name, ftype in fields.items() if name in chosen}
        unnamed = unnamed_fields(server, mirrored.model, mirrored_models or MIRRORED_MODELS)
        theirs = {row["id"]: row for row in server.exact_rows(mirrored.model) if mirrored.keep(row)}
        columns, rows = _mirror_rows(db, mirrored.table, user)
        seen = {row["id"]: row for row in rows if row["_deleted_at"] is None}
        diff.records += len(theirs)
        diff.duplicated += _duplicate_ids(db, mirrored.table, user)
        for rid in sorted(theirs.keys() - seen.keys()):
            diff.lost += 1
            diff.note(f"{mirrored.model} {rid} missing from the mirror")
        for rid in sorted(seen.keys() - theirs.keys()):
            diff.extra += 1
            diff.note(f"{mirrored.model} {rid} in the mirror, not on the server")
        absent = [
            c for f, t in fields.items() for c in expected_cells(f, t, False) if c not in columns
        ]
        if absent and theirs:
            diff.note(f"{mirrored.table} has no column {', '.join(absent[:5])}")
        for rid in sorted(seen.keys() & theirs.keys()):
            wrong = _differences(fields, theirs[rid], seen[rid], columns, unnamed)
            if wrong:
                diff.differing += 1
                diff.note(f"{mirrored.model} {rid}: " + "; ".join(wrong[:3]))
        if late is not None:
            had = (before or {}).get(mirrored.table, set())
            explained = sum(
                1
                for model, rid in late_ids
                if model == mirrored.model and rid in theirs and rid not in had
            )
            count = restored.get(mirrored.module, 0)
            if count > explained:
                diff.restored += count - explained
                diff.note(
                    f"{mirrored.module}: reconcile restored {count} records, only {explained} "
                    "committed later than the look-back"
                )
    return diff


# --------------------------------------------------------------------------- the harness's truth

# What odoosync promises to mirror (README: default modules, fields and "Tables"), written here
# apart from its code: a bug in odoosync's filters, field choice or encoding cannot agree with
# itself.
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")
UNMIRRORED_TYPES = frozenset({"binary", "properties", "properties_definition"})
UNMIRRORED_FIELDS = ("message_*", "activity_*", "website_message_ids", "rtc_*", "channel_*")


@dataclass(frozen=True)
class Mirrored:
    """A default module: its model, its table, and which server records belong to it."""

    module: str
    model: str
    keep: Callable[[Mapping[str, Any]], bool]

    @property
    def table(self) -> str:
        return self.model.replace(".", "_")


MIRRORED = (
    Mirrored("contacts", "res.partner", lambda row: True),
    Mirrored("sale_orders", "sale.order", lambda row: True),
    Mirrored("invoices", "account.move", lambda row: row.get("move_type") in INVOICE_TYPES),
    Mirrored("employees", "hr.employee", lambda row: True),
)


# Every model the campaigns' users mirror (README: the six default modules). A many2one whose
# comodel is one of them is mirrored as its id alone, its ``<field>_name`` column left NULL (the
# current name is in the comodel's own table); any other many2one also keeps its display name.
MIRRORED_MODELS = frozenset(
    {
        "res.partner",
        "sale.order",
        "account.move",
        "hr.employee",
        "sale.order.line",
        "account.move.line",
    }
)


def unnamed_fields(server: SimStore, model: str, mirrored: frozenset[str]) -> frozenset[str]:
    """The many2one fields of ``model`` whose comodel is in ``mirrored``, from the simulator's
    own schema: their ``_name`` column must stay NULL."""
    return frozenset(
        name
        for name, spec in server.registry[model].fields.items()
        if spec.type == "many2one" and spec.relation in mirrored
    )


def expected_fields(server: SimStore, model: str) -> dict[str, str]:
    """The fields a default module mirrors (name -> type), from the simulator's own schema:
    every stored field except binary and properties fields and the chatter relations, plus
    ``id``, ``write_date`` and ``active``."""
    specs = server.registry[model].fields
    out = {"id": "integer"}
    for name, spec in specs.items():
        always = name in ("write_date", "active")
        if always or (
            spec.store
            and spec.type not in UNMIRRORED_TYPES
            and not any(fnmatchcase(name, pattern) for pattern in UNMIRRORED_FIELDS)
        ):
            out[name] = spec.type
    return out


def expected_cells(name: str, ftype: str, value: Any, *, named: bool = True) -> dict[str, Any]:
    """The columns one server value fills, and what each must hold (README's "Tables").

    x2many cells hold the ids as a JSON array, compared as a set (Odoo's order of them is not
    stable); ``json`` cells hold JSON, compared decoded. A many2one not ``named`` (its comodel
    is mirrored) has a NULL ``_name``.
    """
    empty = value is False or value is None
    if ftype == "many2one":
        name_cell = None if empty or not named else value[1]
        return {name: None if empty else value[0], f"{name}_name": name_cell}
    if ftype in ("one2many", "many2many"):
        return {name: _IdSet(value or [])}
    if ftype == "json":
        return {name: None if empty else _Json(value)}
    if ftype == "boolean":
        return {name: int(bool(value))}
    if ftype in ("integer", "float", "monetary"):
        return {name: value}
    if ftype in ("char", "text", "html", "selection", "date", "datetime"):
        return {name: None if empty else value}
    raise ValueError(f"the harness does not know how a {ftype} field is mirrored ({name})")


@dataclass(frozen=True)
class _IdSet:
    ids: list[int]

    def matches(self, stored: Any) -> bool:
        try:
            got = json.loads(stored)
        except (TypeError, ValueError):
            return False
        return (
            isinstance(got, list)
            and all(type(i) is int for i in got)
            and len(got) == len(set(got))
            and set(got) == set(self.ids)
        )

    def __repr__(self) -> str:
        return json.dumps(self.ids)


@dataclass(frozen=True)
class _Json:
    value: Any

    def matches(self, stored: Any) -> bool:
        try:
            return bool(json.loads(stored) == self.value)
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return json.dumps(self.value)


def _same(stored: Any, want: Any) -> bool:
    if isinstance(want, _IdSet | _Json):
        return want.matches(stored)
    if want is None or stored is None:
        return want is None and stored is None
    if isinstance(want, bool) or isinstance(stored, bool):
        return False
    return bool(type(stored) is type(want) and stored == want) or (
        isinstance(want, float) and isinstance(stored, int | float) and float(stored) == want
    )


def _differences(
    fields: Mapping[str, str],
    row: Mapping[str, Any],
    stored: Mapping[str, Any],
    columns: set[str],
    unnamed: frozenset[str],
) -> list[str]:
    wrong: list[str] = []
    for name, ftype in fields.items():
        value = row.get(name, False)
        for column, want in expected_cells(name, ftype, value, named=name not in unnamed).items():
            if column not in columns:
                wrong.append(f"{column} not in the mirror")
            elif not _same(stored[column], want):
                wrong.append(f"{column} {stored[column]!r} != {want!r}")
    write_date = row.get("write_date") or None
    if stored.get("_write_date") != write_date:
        wrong.append(f"_write_date {stored.get('_write_date')!r} != {write_date!r}")
    return wrong


def _mirror_rows(db: Where, table: str, user: str) -> tuple[set[str], list[dict[str, Any]]]:
    """The columns of a mirror table and ``user``'s rows in it, deleted ones included."""
    if not db.has_table(table):  # the module was never synced
        return set(), []
    names, rows = db.query(f'SELECT * FROM "{table}" WHERE "user" = ? ORDER BY id', (user,))
    return set(names), [dict(zip(names, row, strict=True)) for row in rows]


def live_ids(db: Where, user: str) -> dict[str, set[int]]:
    """Per mirror table of a default module: the ids of ``user`` not marked deleted."""
    out: dict[str, set[int]] = {}
    for mirrored in MIRRORED:
        _, rows = _mirror_rows(db, mirrored.table, user)
        out[mirrored.table] = {r["id"] for r in rows if r["_deleted_at"] is None}
    return out


def reconcile_restored(db: Where, user: str) -> dict[str, int]:
    """Per module: the records the reconcile batches of ``user``'s current (or last) plan read
    back because the mirror lacked them, as the database says."""
    _, rows = db.query(
        'SELECT module, sum(restored) FROM _odoosync_batches WHERE "user" = ? '
        "AND kind = 'reconcile' GROUP BY module",
        (user,),
    )
    return {module: int(n or 0) for module, n in rows}


def _duplicate_ids(db: Where, table: str, user: str) -> int:
    if not db.has_table(table):
        return 0
    _, rows = db.query(
        f'SELECT COUNT(*) FROM (SELECT id FROM "{table}" WHERE "user" = ? '
        "GROUP BY id HAVING COUNT(*) > 1) AS twice",
        (user,),
    )
    return int(rows[0][0])


# Columns of a history table that are not the mirror row's (README, "History").
VERSION_COLUMNS = ("_version", "_valid_from", "_valid_to")


def _place(db: Where | Path | str) -> Where:
    return db if isinstance(db, Where) else Where(str(db))


def _table_columns(db: Where, table: str) -> list[str]:
    """The columns of a table of the mirror, in order."""
    if db.is_postgres:
        _, rows = db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            (db.schema, table),
        )
    else:
        _, rows = db.query(f"SELECT name FROM pragma_table_info('{table}')")
    return [r[0] for r in rows]


def history_tables(db: Where | Path | str) -> list[str]:
    """The mirror tables that have a history table beside them."""
    place = _place(db)
    if place.is_postgres:
        _, rows = place.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND table_type = 'BASE TABLE'",
            (place.schema,),
        )
    else:
        _, rows = place.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    names = {r[0] for r in rows}
    return sorted(
        n[: -len("_history")]
        for n in names
        if n.endswith("_history") and n[: -len("_history")] in names
    )


def history_diff(db: Where | Path | str, user: str) -> tuple[int, list[str]]:
    """How many of ``user``'s records have a history that disagrees with the mirror, and
    examples, read with plain SQL as README's "History" promises it (a SQLite file, or a
    PostgreSQL schema).

    Per record: a live mirror row has exactly one current version (``_valid_to`` NULL) and it
    holds the row's values (every column the two tables share, ``user`` and ``id`` aside); a
    row marked deleted, or gone, has none; versions are numbered 1, 2, ... without a gap, none
    ends before it starts, and each ends no later than the next one starts.
    """
    place = _place(db)
    wrong: set[tuple[str, int]] = set()
    examples: list[str] = []

    def note(table: str, rid: int, text: str) -> None:
        wrong.add((table, rid))
        if len(examples) < 10:
            examples.append(f"{table} {rid}: {text}")

    for table in history_tables(place):
        h = f'"{table}_history"'
        t = f'"{table}"'
        mine = set(_table_columns(place, table))
        shared = [
            c
            for c in _table_columns(place, f"{table}_history")
            if c in mine and c not in ("user", "id")
        ]
        same = " AND ".join(f'r."{c}" IS NOT DISTINCT FROM v."{c}"' for c in shared) or "1 = 1"
        _, rows = place.query(
            f"SELECT r.id, count(v.id), coalesce(sum(CASE WHEN {same} THEN 1 ELSE 0 END), 0) "
            f'FROM {t} r LEFT JOIN {h} v ON v."user" = r."user" AND v.id = r.id '
            'AND v._valid_to IS NULL WHERE r."user" = ? AND r._deleted_at IS NULL GROUP BY r.id',
            (user,),
        )
        for rid, open_count, equal in rows:
            if open_count != 1 or equal != 1:
                note(table, rid, f"live, {open_count} current version(s), {equal} equal")
        _, rows = place.query(
            f'SELECT v.id FROM {h} v LEFT JOIN {t} r ON r."user" = v."user" AND r.id = v.id '
            'WHERE v."user" = ? AND v._valid_to IS NULL '
            "AND (r.id IS NULL OR r._deleted_at IS NOT NULL)",
            (user,),
        )
        for (rid,) in rows:
            note(table, rid, "gone from the mirror, with a current version")
        _, rows = place.query(
            f'SELECT id, min(_version), max(_version), count(*) FROM {h} WHERE "user" = ? '
            "GROUP BY id",
            (user,),
        )
        for rid, first, last, count in rows:
            if (first, last) != (1, count):
                note(table, rid, f"versions {first}..{last} in {count} rows")
        _, rows = place.query(
            f'SELECT a.id, a._version FROM {h} a LEFT JOIN {h} b ON b."user" = a."user" '
            'AND b.id = a.id AND b._version = a._version + 1 WHERE a."user" = ? AND ('
            "a._valid_to < a._valid_from OR (b.id IS NOT NULL AND "
            "(a._valid_to IS NULL OR a._valid_to > b._valid_from)))",
            (user,),
        )
        for rid, number in rows:
            note(table, rid, f"version {number} overlaps the next or ends before it starts")
    return len(wrong), examples


def history_rows(db: Where | Path | str, user: str) -> int:
    """How many versions ``user`` has in every history table."""
    place = _place(db)
    total = 0
    for table in history_tables(place):
        _, rows = place.query(f'SELECT count(*) FROM "{table}_history" WHERE "user" = ?', (user,))
        total += int(rows[0][0])
    return total


def dump_database(path: Path) -> str:
    """Everything stored in a SQLite file, as SQL text; '' when there is no file."""
    if not path.exists():
        return ""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def count_hits(secret: str, texts: Sequence[str | bytes]) -> int:
    """How many of ``texts`` contain ``secret``."""
    needle = secret.encode()
    hits = 0
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        if needle in data:
            hits += 1
    return hits


def scale_pick(scale: Scale, short: Any, long: Any) -> Any:
    return short if scale == "short" else long


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then closed at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A throw-away certificate and key for 127.0.0.1 made by openssl; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    made = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return (cert, key) if made.returncode == 0 and cert.exists() else None


class TlsProxy:
    """HTTPS on loopback with a self-signed certificate, relaying bytes to a plain-HTTP port.

    It stands for an Odoo behind a proxy whose certificate nobody trusts: a client that verifies
    certificates must refuse it, one told not to verify gets the simulator's answers.
    """

    def __init__(self, cert: Path, key: Path, target_port: int) -> None:
        self.target_port = target_port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: Any) -> None:
        try:
            client.settimeout(10)
            tls = self._context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()  # the client refused the certificate: exactly what should happen
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)

        def pump(src: Any, dst: Any) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
        back.start()
        pump(tls, upstream)
        back.join(timeout=30)
        tls.close()
        upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TlsProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

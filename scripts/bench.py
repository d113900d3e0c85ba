"""Where the time goes: odoosync's sync against a raw page fetch and write_date-ordered paging.

Run it through ``scripts/bench``. Each figure comes from its own child process, so that peak memory
(``ru_maxrss``) is that measurement's alone. The simulator runs in another process, as a real
server would, so the client's and the server's work do not share one interpreter.

Measurements, on res.partner at each size:
  (a) raw:      page by id (``id > cursor``, ``order='id asc'``) with odoosync's fields;
                stores nothing
  (b) odoosync: a full sync of the contacts module (prepare, then step to the end) into SQLite
  (c) keyset:   page in ``write_date asc, id asc`` order with offset paging, store nothing
  (d) history:  (b) with ``history = true``: every record's first version kept with its page
and the wall time of a sync of 1 user against 20 users at 50 ms latency (``odoosync loop --once``).

PostgreSQL (its own section, ``postgres_section``; ``--postgres-only`` runs it alone), on a
throwaway server (``odoo_sync_cli.pgcluster``):
  (e) the full sync of (b) into a PostgreSQL schema, beside (b) run again, and their ratio;
  (f) page writes, the two ways the backend could write a page of partners in its transaction:
      ``executemany`` of ``INSERT ... ON CONFLICT`` (psycopg pipelines it) against ``COPY`` into
      a temporary table plus one ``INSERT ... SELECT ... ON CONFLICT`` (what the backend does).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000
REPEATS = 3
CONTACTS_ONLY = """\
page_size = {page}
batch_size = 20000
reconcile = "never"

[modules.sale_orders]
enabled = false
[modules.invoices]
enabled = false
[modules.employees]
enabled = false
[modules.order_lines]
enabled = false
[modules.invoice_lines]
enabled = false
"""


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def simulator(*args: str) -> Iterator[dict[str, Any]]:
    from odoo_sync_cli.simulator.testing import simulator_process

    with simulator_process(*args) as sim:
        yield sim.info


def _private_secrets(workdir: Path) -> dict[str, str]:
    """The benchmark's users keep their secrets in its own folder, not the user's keyring."""
    return {
        "ODOOSYNC_CREDENTIALS_FILE": str(workdir / "credentials.toml"),
        "ODOOSYNC_SECRET_STORE": "file",
    }


def child(mode: str, info: dict[str, Any], workdir: Path) -> dict[str, Any]:
    env = dict(os.environ, ODOOSYNC_DB=str(workdir / "odoosync.db"), **_private_secrets(workdir))
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--info", json.dumps(info), str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"bench child {mode} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _settings(workdir: Path, history: bool = False) -> Any:
    from odoo_sync_cli.config import load_settings

    config = workdir / "odoosync.toml"
    config.write_text(("history = true\n" if history else "") + CONTACTS_ONLY.format(page=PAGE))
    return load_settings(config, db=workdir / "odoosync.db")


def _client(info: dict[str, Any]) -> Any:
    from pydantic import SecretStr

    from odoo_sync_cli.odoo import Connection, OdooClient

    return OdooClient(
        Connection(
            user="bench",
            url=info["url"],
            database=info["database"],
            login=info["login"],
            secret=SecretStr(info["api_key"]),
        )
    )


def _fields(client: Any, settings: Any) -> list[str]:
    from odoo_sync_cli.engine import select_fields

    module = next(m for m in settings.for_user("bench").modules if m.name == "contacts")
    return list(
        select_fields(module, client.fields_get("res.partner", attributes=["type", "store"]))
    )


def run_child(mode: str, info: dict[str, Any], workdir: Path) -> dict[str, Any]:
    if mode == "pgsync":
        return run_pg_child(info, workdir)
    settings = _settings(workdir, history=mode == "history")
    started = time.perf_counter()
    records = 0
    distinct = 0
    if mode in ("raw", "keyset"):
        with _client(info) as client:
            fields = _fields(client, settings)
            context = {"active_test": False}
            seen: set[int] = set()
            cursor, offset = 0, 0
            while True:
                if mode == "raw":
                    page = client.search_read(
                        "res.partner",
                        [["id", ">", cursor]],
                        fields,
                        order="id asc",
                        limit=PAGE,
                        context=context,
                    )
                else:
                    page = client.search_read(
                        "res.partner",
                        [],
                        fields,
                        order="write_date asc, id asc",
                        offset=offset,
                        limit=PAGE,
                        context=context,
                    )
                    offset += len(page)
                records += len(page)
                seen.update(row["id"] for row in page)
                if len(page) < PAGE:
                    break
                cursor = page[-1]["id"]
            distinct = len(seen)
    elif mode in ("sync", "history"):
        from pydantic import SecretStr

        from odoo_sync_cli import engine
        from odoo_sync_cli.credentials import NewSecret

        engine.user_add(
            settings,
            name="bench",
            url=info["url"],
            database=info["database"],
            login=info["login"],
            secret=NewSecret(SecretStr(info["api_key"])),
        )
        engine.prepare(settings, users=["bench"])
        report = engine.step(settings, users=["bench"])
        seconds = time.perf_counter() - started
        records = sum(u.records for u in report.users)
        with sqlite3.connect(workdir / "odoosync.db") as db:
            # Count what the mirror holds, not what the engine says it did.
            distinct = db.execute("SELECT COUNT(DISTINCT id) FROM res_partner").fetchone()[0]
    else:
        raise SystemExit(f"unknown mode {mode}")
    if mode not in ("sync", "history"):
        seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "records": records,
        "distinct": distinct,
        "seconds": seconds,
        "peak_mib": peak_rss_mib(),
    }


def multi_user(users: int, records: int, latency: float) -> float:
    dbs = ",".join(f"db{i}:{records}" for i in range(users))
    with (
        simulator("--databases", dbs, "--latency", str(latency)) as info,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = dict(
            os.environ, ODOOSYNC_DB=str(Path(tmp) / "odoosync.db"), **_private_secrets(Path(tmp))
        )
        config = Path(tmp) / "odoosync.toml"
        config.write_text(CONTACTS_ONLY.format(page=PAGE))
        odoosync = [sys.executable, "-m", "odoo_sync_cli", "--config", str(config)]
        keys = {d["database"]: d["api_key"] for d in info.get("databases", [info])}
        for i in range(users):
            subprocess.run(
                [
                    *odoosync,
                    "user",
                    "add",
                    f"u{i}",
                    "--url",
                    info["url"],
                    "--db",
                    f"db{i}",
                    "--login",
                    info["login"],
                    "--no-check",
                ],
                input=keys[f"db{i}"] + "\n",
                text=True,
                env=env,
                check=True,
                capture_output=True,
            )
        started = time.perf_counter()
        subprocess.run(
            [*odoosync, "loop", "--once", "--interval", "1", "--quiet"],
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


# --------------------------------------------------------------------------- PostgreSQL


def run_pg_child(info: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """(e): the full sync of (b), into the PostgreSQL schema ODOOSYNC_DB / ODOOSYNC_PG_SCHEMA
    name."""
    import psycopg
    from pydantic import SecretStr

    from odoo_sync_cli import engine
    from odoo_sync_cli.config import load_settings
    from odoo_sync_cli.credentials import NewSecret

    url, schema = os.environ["ODOOSYNC_DB"], os.environ["ODOOSYNC_PG_SCHEMA"]
    config = workdir / "odoosync.toml"
    config.write_text(CONTACTS_ONLY.format(page=PAGE))
    settings = load_settings(config, db=url)
    started = time.perf_counter()
    engine.user_add(
        settings,
        name="bench",
        url=info["url"],
        database=info["database"],
        login=info["login"],
        secret=NewSecret(SecretStr(info["api_key"])),
    )
    engine.prepare(settings, users=["bench"])
    report = engine.step(settings, users=["bench"])
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT COUNT(DISTINCT id) FROM "{schema}".res_partner').fetchone()
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {
        "mode": "pgsync",
        "records": sum(u.records for u in report.users),
        "distinct": row[0] if row else 0,
        "seconds": seconds,
        "peak_mib": peak_rss_mib(),
    }


def pg_child(info: dict[str, Any], workdir: Path, url: str, run: int) -> dict[str, Any]:
    env = dict(
        os.environ,
        ODOOSYNC_DB=url,
        ODOOSYNC_PG_SCHEMA=f"bench_{run}",
        **_private_secrets(workdir),
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", "pgsync", "--info", json.dumps(info), str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"bench child pgsync failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def page_writes(info: dict[str, Any], url: str, pages: int = 20) -> tuple[float, float]:
    """(f): records/s of ``pages`` partner pages written by executemany and by COPY, each
    page one transaction, alternating, the best of REPEATS rounds each."""
    from psycopg import sql

    from odoo_sync_cli.mirror.codec import encode, encoding
    from odoo_sync_cli.mirror.postgres import PgMirror
    from odoo_sync_cli.mirror.postgres.columns import copy_plan, table_columns, to_copy
    from odoo_sync_cli.models import utc_now

    with tempfile.TemporaryDirectory() as tmp, _client(info) as client:
        settings = _settings(Path(tmp))
        fields = _fields(client, settings)
        types = client.fields_get("res.partner", attributes=["type"])
        rows = client.search_read(
            "res.partner", [], fields, order="id asc", limit=PAGE, context={"active_test": False}
        )
    field_types = {f: str(types[f]["type"]) for f in fields}
    with PgMirror.open(url, schema="bench_pages", create=True) as store:
        spec = store.ensure_table("res.partner", field_types)
        names = [name for name, _ in table_columns(spec)]
        rewrite = copy_plan([t for _, t in table_columns(spec)])
        plan = encoding(spec)
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
            for n in names
            if n not in ("user", "id")
        )
        insert = sql.SQL(
            'INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ("user", id) DO UPDATE SET {}'
        ).format(
            sql.Identifier(spec.table),
            columns,
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
            updates,
        )

        def by_executemany(page: list[dict[str, Any]], now: str) -> None:
            # The same text COPY sends, so the server parses each value by its column's type.
            params = [
                [
                    None if v is None else str(v)
                    for v in to_copy([user, *encode(plan, r), now, None], rewrite)
                ]
                for r in page
            ]
            with store.conn.transaction(), store.conn.cursor() as cur:
                cur.executemany(insert, params)

        def by_copy(page: list[dict[str, Any]], now: str) -> None:
            stage = store._stage(spec)
            with store.conn.transaction(), store.conn.cursor() as cur:
                store._write_rows(cur, user, spec, page, now, stage)

        best = {"executemany": float("inf"), "copy": float("inf")}
        for round_ in range(REPEATS):
            for name, write in (("executemany", by_executemany), ("copy", by_copy)):
                user = f"{name}-{round_}"  # new rows each round: inserts, then updates
                started = time.perf_counter()
                for _ in range(pages):
                    write(rows, utc_now())
                best[name] = min(best[name], time.perf_counter() - started)
        store.conn.execute("DROP SCHEMA bench_pages CASCADE")
    return pages * len(rows) / best["executemany"], pages * len(rows) / best["copy"]


def postgres_section(sizes: list[int]) -> None:
    """(e) and (f): the PostgreSQL backend beside SQLite, on a throwaway server."""
    from odoo_sync_cli.pgcluster import start_cluster

    print("PostgreSQL backend (a throwaway server on loopback; the same simulator and settings)")
    with start_cluster() as cluster:
        url = cluster.url()
        for size in sizes:
            with simulator("--records", str(size)) as info:
                sqlite_runs, pg_runs = [], []
                # Alternating, so that a busy moment of this machine falls on both alike.
                for run in range(REPEATS):
                    with tempfile.TemporaryDirectory() as tmp:
                        sqlite_runs.append(child("sync", info, Path(tmp)))
                    with tempfile.TemporaryDirectory() as tmp:
                        pg_runs.append(pg_child(info, Path(tmp), url, run))
                lite = min(sqlite_runs, key=lambda x: x["seconds"])
                pg = min(pg_runs, key=lambda x: x["seconds"])
                for label, r in (
                    ("(b) full sync, SQLite", lite),
                    ("(e) full sync, PostgreSQL", pg),
                ):
                    print(
                        f"{size:>8} {label:<34} {r['records']:>8} {r['seconds']:>8.2f} "
                        f"{r['records'] / r['seconds']:>8.0f} {r['peak_mib']:>9.1f}"
                    )
                print(
                    f"{size:>8} ratio: e/b = {pg['seconds'] / lite['seconds']:.2f} "
                    f"(target <= 1.3); PostgreSQL holds {pg['distinct']} distinct of {size}"
                )
        with simulator("--records", str(PAGE)) as info:
            many, copy = page_writes(info, url)
        print(
            f"page writes ({PAGE} partners a page, one transaction each): executemany "
            f"{many:.0f} rec/s, COPY + INSERT ... SELECT {copy:.0f} rec/s, COPY/executemany = "
            f"{copy / many:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--info")
    parser.add_argument("workdir", nargs="?")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--postgres-only", action="store_true", help="only the PostgreSQL section: (e) and (f)"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, json.loads(args.info), Path(args.workdir))))
        return
    if args.postgres_only:
        postgres_section([int(s) for s in args.sizes.split(",")])
        return

    print(f"odoosync benchmark: res.partner, pages of {PAGE}, simulator in its own process")
    print(f"each figure is the best of {REPEATS} runs, each run in a fresh process")
    heads = ("records", "seconds", "rec/s")
    print(f"{'size':>8} {'measurement':<34} " + " ".join(f"{h:>8}" for h in heads) + " peak MiB")
    for size in (int(s) for s in args.sizes.split(",")):
        with simulator("--records", str(size)) as info:
            results = {}
            for mode, label in (
                ("raw", "(a) raw page fetch, stores nothing"),
                ("sync", "(b) odoosync full sync"),
                ("keyset", "(c) write_date asc, id asc paging"),
                ("history", "(d) odoosync full sync, history"),
            ):
                runs = []
                for _ in range(REPEATS):
                    with tempfile.TemporaryDirectory() as tmp:
                        runs.append(child(mode, info, Path(tmp)))
                # The best of a few runs: the figure least disturbed by whatever else runs here.
                r = min(runs, key=lambda x: x["seconds"])
                results[mode] = r
                rate = r["records"] / r["seconds"] if r["seconds"] else 0.0
                print(
                    f"{size:>8} {label:<34} {r['records']:>8} {r['seconds']:>8.2f} "
                    f"{rate:>8.0f} {r['peak_mib']:>9.1f}"
                )
            a, b, c, d = (results[m]["seconds"] for m in ("raw", "sync", "keyset", "history"))
            print(
                f"{size:>8} ratios: b/a = {b / a:.2f} (target <= 1.25), c/b = {c / b:.2f}, "
                f"d/b = {d / b:.2f}; "
                f"mirror holds {results['sync']['distinct']} distinct of {size}"
            )
    postgres_section([int(s) for s in args.sizes.split(",")])
    per_user = 5000
    if os.environ.get("BENCH_SKIP_LOOP"):
        return
    one = multi_user(1, per_user, 0.05)
    twenty = multi_user(20, per_user, 0.05)
    print(
        f"loop --once, {per_user} partners per user, 50 ms latency: 1 user {one:.1f} s, "
        f"20 users {twenty:.1f} s ({twenty / one:.1f}x the time for 20x the work)"
    )


if __name__ == "__main__":
    main()

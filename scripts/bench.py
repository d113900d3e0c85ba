"""Where the time goes: odoosync against a raw fetch, many users at once, streams, big mirrors.

Run it through ``scripts/bench``. Every odoosync run is a child process of its own, so its peak
memory (``ru_maxrss``) and CPU time are that run's alone. The simulator runs in another process,
as a real server would: the client's and the server's work do not share an interpreter (each
holds one of this machine's cores at most, Python's lock being per process).

Sections (``--only`` picks some; all by default), on res.partner with the contacts module's
default fields (74):

  sync         at each ``--sizes``: (a) raw: pages by id with the very requests odoosync makes
               (``read_page``: web_search_read, display names only where odoosync asks them),
               storing nothing; (b) odoosync's full sync into SQLite (prepare, then step);
               (c) ``search_read`` pages, storing nothing (what read_page spares; the
               simulator's names are cheap, so the gain is small here: see scripts/bench-real
               for a real server's); (d) ``write_date asc, id asc`` offset paging. b/a is the
               client's own overhead; (e) (b) with ``history = true``, every record's first
               version kept with its page. Best of --repeats.
  pages        a full sync at each page size: seconds and peak memory
  big          a full sync of ``--big`` partners (peak memory against the sync section's), then
               100 partners changed and an incremental sync without and with reconcile
  users        ``loop --once``: one user of 500 partners against 50 such users, 100 ms latency,
               each the best of --repeats
  users_heavy  ``loop --once``: 50 users of 5,000 partners, 50 ms latency, against the CPU floor
  postgres     at each ``--sizes``: (b) again, beside (f) the same full sync into a schema of a
               throwaway PostgreSQL (``odoo_sync_cli.pgcluster``), alternating, best of
               --repeats, and their ratio; then the two ways of writing a page of 1,000
               partners in its transaction: ``executemany`` of ``INSERT ... ON CONFLICT``
               (psycopg pipelines it) against ``COPY`` into a temporary table plus one
               ``INSERT ... SELECT ... ON CONFLICT`` (what the backend does)
  streams      one user's first sync (prepare and step) with 1 and with 4 streams, 50 ms latency,
               pages of ``--streams-page`` (100)

The CPU floor of users_heavy is the issue's: the users' records divided by one process's
records/s syncing the same simulator at zero latency (a user of 50,000 partners, in the same
simulator process). One such process leaves a core idle most of the time (client and server
take turns), so 2 cores can beat it; the figures also give the CPU seconds the client and the
server spent, and ``floor_2core_s``, the time if both cores were busy all along:
``max(client CPU, server CPU, (client + server) / 2)`` of the zero-latency run, scaled to the
records.

The streams section stands for a prefork Odoo, where each worker spends the latency on a request
while the others serve theirs. The simulator is one process: its own CPU per request is served
in turn, not in parallel, and this machine's 2 cores also run the client. So its pages are of
100 records by default, where the simulator's CPU per page (``server_cpu_per_page_ms``) is small
against the 50 ms: with pages of 500 it is about as large as the latency, and the section then
measures the simulator's core, not the streams (``--streams-page 500`` shows it).

``--json PATH`` writes every figure. The load average (``/proc/loadavg``) is recorded before and
after each section: other work on the machine slows every figure down.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

import httpx

ROOT = Path(__file__).resolve().parent.parent
PAGE = 500
REPEATS = 3
SECTIONS = ("sync", "pages", "big", "users", "users_heavy", "streams", "postgres")
MODEL = "res.partner"
CONTEXT = {"active_test": False}
CONTACTS_ONLY = """\
history = {history}
page_size = {page}
batch_size = {batch}
reconcile = "{reconcile}"
streams = {streams}

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


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@contextmanager
def simulator(*args: str) -> Iterator[dict[str, Any]]:
    from odoo_sync_cli.simulator.testing import simulator_process

    with simulator_process(*args) as sim:
        yield {**sim.info, "pid": sim.process.pid}


def control(info: dict[str, Any], action: str, body: dict[str, Any]) -> Any:
    """The simulator's control API (not delayed, faulted or counted)."""
    response = httpx.post(
        f"{info['url']}/_sim/{action}",
        json=body,
        headers={"X-Sim-Key": info["api_key"]},
        timeout=600,
    )
    response.raise_for_status()
    return response.json()["result"]


def _private_secrets(workdir: Path) -> dict[str, str]:
    """The benchmark's users keep their secrets in its own folder, not the user's keyring."""
    return {
        "ODOOSYNC_CREDENTIALS_FILE": str(workdir / "credentials.toml"),
        "ODOOSYNC_SECRET_STORE": "file",
    }


def write_config(workdir: Path, **values: Any) -> Path:
    options = {
        "page": PAGE,
        "batch": 20000,
        "reconcile": "never",
        "streams": 1,
        "history": "false",
        **values,
    }
    config = workdir / "odoosync.toml"
    config.write_text(CONTACTS_ONLY.format(**options))
    return config


# --------------------------------------------------------------------------- child processes


def child(
    mode: str,
    info: dict[str, Any],
    workdir: Path,
    *,
    environ: dict[str, str] | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Run one measurement in a process of its own; its figures, with the server's CPU.
    ``environ`` overrides the child's variables (the database a PostgreSQL run writes to)."""
    env = dict(os.environ, ODOOSYNC_DB=str(workdir / "odoosync.db"), **_private_secrets(workdir))
    env.update(environ or {})
    server_before = cpu_of(info["pid"])
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--info",
            json.dumps(info),
            "--opts",
            json.dumps(opts),
            str(workdir),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"bench child {mode} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = cpu_of(info["pid"]) - server_before
    return result


def _client(info: dict[str, Any], database: str | None = None) -> Any:
    from pydantic import SecretStr

    from odoo_sync_cli.odoo import Connection, OdooClient

    db = next(
        d for d in info.get("databases", [info]) if d["database"] == (database or info["database"])
    )
    return OdooClient(
        Connection(
            user="bench",
            url=info["url"],
            database=db["database"],
            login=db["login"],
            secret=SecretStr(db["api_key"]),
        ),
        timeout=600,
    )


def _reading(client: Any) -> tuple[list[str], list[str]]:
    """The fields odoosync's contacts module reads, and those it asks the display name of."""
    from odoo_sync_cli.config import Settings
    from odoo_sync_cli.engine.prepare import FIELD_ATTRIBUTES, named_fields, select_fields

    module = next(m for m in Settings().for_user("bench").modules if m.name == "contacts")
    info = client.fields_get(MODEL, attributes=FIELD_ATTRIBUTES)
    types = select_fields(module, info)
    return list(types), list(named_fields(types, info, {MODEL}))


def run_child(
    mode: str, info: dict[str, Any], workdir: Path, opts: dict[str, Any]
) -> dict[str, Any]:
    if mode == "pgsync":
        return run_pg_child(info, workdir)
    page = int(opts.get("page", PAGE))
    started = time.perf_counter()
    figures: dict[str, Any] = {"mode": mode, "page": page}
    records = distinct = 0
    if mode in ("raw", "search_read", "keyset"):
        with _client(info) as client:
            fields, names = _reading(client)
            seen: set[int] = set()
            cursor, offset = 0, 0
            while True:
                if mode == "raw":
                    rows = client.read_page(
                        MODEL,
                        [["id", ">", cursor]],
                        fields,
                        names=names,
                        order="id asc",
                        limit=page,
                        context=CONTEXT,
                    )
                elif mode == "search_read":
                    rows = client.search_read(
                        MODEL, [["id", ">", cursor]], fields, order="id asc", limit=page,
                        context=CONTEXT,
                    )  # fmt: skip
                else:
                    rows = client.search_read(
                        MODEL, [], fields, order="write_date asc, id asc", offset=offset,
                        limit=page, context=CONTEXT,
                    )  # fmt: skip
                    offset += len(rows)
                records += len(rows)
                seen.update(row["id"] for row in rows)
                if len(rows) < page:
                    break
                cursor = rows[-1]["id"]
            distinct = len(seen)
    elif mode in ("sync", "history", "incremental"):
        from pydantic import SecretStr

        from odoo_sync_cli import engine
        from odoo_sync_cli.config import load_settings
        from odoo_sync_cli.credentials import NewSecret

        config = write_config(
            workdir,
            page=page,
            batch=int(opts.get("batch", 20000)),
            reconcile=opts.get("reconcile", "never"),
            streams=int(opts.get("streams", 1)),
            history="true" if mode == "history" else "false",
        )
        settings = load_settings(config, db=workdir / "odoosync.db")
        if mode in ("sync", "history"):
            db = next(
                d for d in info.get("databases", [info])
                if d["database"] == opts.get("database", info["database"])
            )  # fmt: skip
            engine.user_add(
                settings,
                name="bench",
                url=info["url"],
                database=db["database"],
                login=db["login"],
                secret=NewSecret(SecretStr(db["api_key"])),
                check=False,
            )
        else:
            engine.queue(settings, users=["bench"])
        started = time.perf_counter()
        engine.prepare(settings, users=["bench"])
        figures["prepare_s"] = time.perf_counter() - started
        report = engine.step(settings, users=["bench"])
        if report.users[0].status != "done":
            sys.exit(f"the sync ended {report.users[0].status}: {report.users[0].error}")
        records = report.users[0].records
        with sqlite3.connect(workdir / "odoosync.db") as db:
            # Count what the mirror holds, not what the engine says it did.
            distinct = db.execute(
                "SELECT COUNT(DISTINCT id) FROM res_partner WHERE _deleted_at IS NULL"
            ).fetchone()[0]
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    return {
        **figures,
        "records": records,
        "distinct": distinct,
        "seconds": seconds,
        "step_s": seconds - figures.get("prepare_s", 0.0),
        "peak_mib": peak_rss_mib(),
        "cpu_s": cpu_self(),
    }


def best_of(repeats: int, mode: str, info: dict[str, Any], **opts: Any) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(child(mode, info, Path(tmp), **opts))
    # The best of a few runs: the figure least disturbed by whatever else runs here.
    best = min(runs, key=lambda r: r["seconds"])
    best["all_s"] = [round(r["seconds"], 2) for r in runs]
    best["peak_mib"] = max(r["peak_mib"] for r in runs)
    return best


def _line(size: int, label: str, r: dict[str, Any]) -> None:
    rate = r["records"] / r["seconds"] if r["seconds"] else 0.0
    print(
        f"{size:>8} {label:<40} {r['records']:>8} {r['seconds']:>8.2f} {rate:>8.0f} "
        f"{r['peak_mib']:>9.1f} {r['cpu_s']:>8.1f} {r['server_cpu_s']:>8.1f}",
        flush=True,
    )


def _head() -> None:
    heads = ("records", "seconds", "rec/s", "peak MiB", "CPU s", "srv CPU")
    print(f"{'size':>8} {'measurement':<40} " + " ".join(f"{h:>8}" for h in heads))


# --------------------------------------------------------------------------- the sections


def section_sync(args: Any, out: dict[str, Any]) -> None:
    for size in args.sizes:
        with simulator("--records", str(size)) as info:
            if "sync" in args.only:
                measure_sync(args, info, size, out)
            if "pages" in args.only and size == max(args.sizes):
                section_pages(args, info, size, out)


def measure_sync(args: Any, info: dict[str, Any], size: int, out: dict[str, Any]) -> None:
    print(f"== sync: pages of {PAGE}, best of {args.repeats}, each run a fresh process")
    _head()
    modes = [
        ("raw", "(a) raw fetch as odoosync asks, no store"),
        ("sync", "(b) odoosync full sync"),
        ("search_read", "(c) search_read fetch, no store"),
        ("history", "(e) odoosync full sync, history on"),
    ]
    if size <= args.keyset_max:
        modes.append(("keyset", "(d) write_date asc, id asc paging"))
    results = {}
    for mode, label in modes:
        repeats = 1 if mode == "keyset" else args.repeats
        results[mode] = r = best_of(repeats, mode, info)
        _line(size, label, r)
    a, b, c, e = (results[m]["seconds"] for m in ("raw", "sync", "search_read", "history"))
    figures = {
        "records": size,
        "raw_s": round(a, 2),
        "odoosync_s": round(b, 2),
        "ratio": round(b / a, 3),
        "search_read_s": round(c, 2),
        "read_page_gain": round(c / a, 3),
        "history_s": round(e, 2),
        "history_ratio": round(e / b, 3),
        "peak_mib": round(results["sync"]["peak_mib"], 1),
        "raw_peak_mib": round(results["raw"]["peak_mib"], 1),
        "odoosync_cpu_s": round(results["sync"]["cpu_s"], 2),
        "server_cpu_s": round(results["sync"]["server_cpu_s"], 2),
        "mirrored": results["sync"]["distinct"],
        "runs_s": {m: r["all_s"] for m, r in results.items()},
    }
    if "keyset" in results:
        figures["keyset_s"] = round(results["keyset"]["seconds"], 2)
    out.setdefault("sync", {})[str(size)] = figures
    print(
        f"{size:>8} b/a = {b / a:.2f} (target <= 1.25); c/a = {c / a:.2f} (what "
        f"read_page spares here); e/b = {e / b:.2f} (history's cost); mirror holds "
        f"{figures['mirrored']} of {size}"
    )


def section_pages(args: Any, info: dict[str, Any], size: int, out: dict[str, Any]) -> None:
    print(f"== pages: a full sync of {size} at each page size, best of {args.repeats}")
    _head()
    pages = out.setdefault("pages", {"records": size})
    for page in args.page_sizes:
        r = best_of(args.repeats, "sync", info, page=page)
        _line(size, f"page_size {page}", r)
        pages[str(page)] = {
            "seconds": round(r["seconds"], 2),
            "peak_mib": round(r["peak_mib"], 1),
            "runs_s": r["all_s"],
        }


def section_big(args: Any, out: dict[str, Any]) -> None:
    size = args.big
    print(f"== big: {size:,} partners (the simulator takes a minute or two to start)")
    started = time.perf_counter()
    with simulator("--records", str(size)) as info, tempfile.TemporaryDirectory() as tmp:
        print(f"simulator ready after {time.perf_counter() - started:.0f} s", flush=True)
        workdir = Path(tmp)
        _head()
        full = child("sync", info, workdir)
        _line(size, "odoosync full sync", full)
        small = out.get("sync", {}).get("100000", {}).get("peak_mib")
        memory: dict[str, Any] = {f"{size}_mib": round(full["peak_mib"], 1)}
        if small:
            memory["100000_mib"] = small
            memory["ratio"] = round(full["peak_mib"] / small, 3)
            print(f"peak memory {full['peak_mib']:.0f} MiB at {size:,}, {small:.0f} at 100,000: "
                  f"{full['peak_mib'] / small:.2f} (target <= 1.10)")  # fmt: skip
        out["memory"] = memory
        ids = control(info, "info", {})
        partners = ids["databases"][info["database"]]["res.partner"]
        rng = random.Random(14)
        runs: dict[str, list[dict[str, Any]]] = {"never": [], "every": []}
        for round_ in range(args.incremental_rounds):
            for policy in ("never", "every"):
                changed = rng.sample(range(1, partners + 1), 100)
                control(
                    info,
                    "write",
                    {"model": MODEL, "ids": changed, "vals": {"phone": f"+1 555 {round_:04d}"}},
                )
                r = child("incremental", info, workdir, reconcile=policy)
                runs[policy].append(r)
                _line(size, f"incremental, 100 changed, reconcile {policy}", r)
        never = min(runs["never"], key=lambda r: r["seconds"])
        every = min(runs["every"], key=lambda r: r["seconds"])
        out["incremental"] = {
            "mirrored": full["distinct"],
            "changed": 100,
            "without_reconcile_s": round(never["seconds"], 2),
            "with_reconcile_s": round(every["seconds"], 2),
            "ratio": round(every["seconds"] / never["seconds"], 2),
            "without_prepare_s": round(never["prepare_s"], 2),
            "with_prepare_s": round(every["prepare_s"], 2),
            "runs_s": {p: [round(r["seconds"], 2) for r in rs] for p, rs in runs.items()},
            "full_sync_s": round(full["seconds"], 1),
        }
        ratio = every["seconds"] / never["seconds"]
        print(
            f"incremental sync of {size:,} with 100 changed: {never['seconds']:.1f} s without "
            f"reconcile, {every['seconds']:.1f} s with it ({ratio:.1f}x)"
        )


def loop_once(
    info: dict[str, Any], names: list[str], *, workers: int | None = None, **config: Any
) -> dict[str, float]:
    """Add a user per database in ``names`` and time ``odoosync loop --once`` over them all."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = dict(
            os.environ, ODOOSYNC_DB=str(workdir / "odoosync.db"), **_private_secrets(workdir)
        )
        config_file = write_config(workdir, **config)
        odoosync = [sys.executable, "-m", "odoo_sync_cli", "--config", str(config_file)]
        keys = {d["database"]: d for d in info.get("databases", [info])}
        for i, name in enumerate(names):
            subprocess.run(
                [*odoosync, "user", "add", f"u{i}", "--url", info["url"], "--db", name,
                 "--login", keys[name]["login"], "--no-check"],
                input=keys[name]["api_key"] + "\n", text=True, env=env, check=True,
                capture_output=True,
            )  # fmt: skip
        command = [*odoosync, "loop", "--once", "--interval", "1", "--quiet"]
        if workers is not None:
            command += ["--workers", str(workers)]
        server_before, client_before = cpu_of(info["pid"]), cpu_children()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"loop failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        with sqlite3.connect(workdir / "odoosync.db") as db:
            statuses = {s for (s,) in db.execute("SELECT status FROM _odoosync_users")}
            mirrored = db.execute("SELECT count(*) FROM res_partner").fetchone()[0]
        if statuses != {"done"}:
            sys.exit(f"loop --once left users {statuses}")
        return {
            "seconds": seconds,
            "client_cpu_s": cpu_children() - client_before,
            "server_cpu_s": cpu_of(info["pid"]) - server_before,
            "mirrored": mirrored,
        }


def section_users(args: Any, out: dict[str, Any]) -> None:
    count, per_user, latency = args.users, 500, 0.1
    print(f"== users: loop --once, {per_user} partners each, {latency * 1000:.0f} ms latency")
    dbs = ",".join(f"db{i}:{per_user}" for i in range(count))
    with simulator("--databases", dbs, "--latency", str(latency)) as info:
        ones = [loop_once(info, ["db0"]) for _ in range(args.repeats)]
        one = min(ones, key=lambda r: r["seconds"])
        # Best of as many runs on both sides: one slow turn of this machine is not the figure.
        manys = [loop_once(info, [f"db{i}" for i in range(count)]) for _ in range(args.repeats)]
        many = min(manys, key=lambda r: r["seconds"])
    ratio = many["seconds"] / one["seconds"]
    out["users"] = {
        "count": count,
        "records_per_user": per_user,
        "latency_s": latency,
        "one_s": round(one["seconds"], 2),
        "many_s": round(many["seconds"], 2),
        "ratio": round(ratio, 2),
        "one_runs_s": [round(r["seconds"], 2) for r in ones],
        "many_runs_s": [round(r["seconds"], 2) for r in manys],
        "many_client_cpu_s": round(many["client_cpu_s"], 1),
        "many_server_cpu_s": round(many["server_cpu_s"], 1),
    }
    print(
        f"1 user {one['seconds']:.1f} s, {count} users {many['seconds']:.1f} s: {ratio:.2f}x the "
        f"time for {count}x the work (target <= 3)"
    )


def section_users_heavy(args: Any, out: dict[str, Any]) -> None:
    count, per_user, latency, rate_size = args.users, 5000, 0.05, 50000
    print(f"== users_heavy: loop --once, {count} users of {per_user} partners, "
          f"{latency * 1000:.0f} ms latency")  # fmt: skip
    dbs = ",".join([f"db{i}:{per_user}" for i in range(count)] + [f"rate:{rate_size}"])
    with simulator("--databases", dbs) as info:
        # One process at zero latency: the records/s the floor is made of.
        rate_run = best_of(args.repeats, "sync", info, database="rate")
        control(info, "latency", {"seconds": latency})
        many = loop_once(info, [f"db{i}" for i in range(count)])
    records = many["mirrored"]
    rate = rate_run["records"] / rate_run["seconds"]
    floor = records / rate
    per_record_client = rate_run["cpu_s"] / rate_run["records"]
    per_record_server = rate_run["server_cpu_s"] / rate_run["records"]
    floor2 = records * max(
        per_record_client, per_record_server, (per_record_client + per_record_server) / 2
    )
    out["users_heavy"] = {
        "count": count,
        "records": records,
        "latency_s": latency,
        "many_s": round(many["seconds"], 2),
        "floor_s": round(floor, 2),
        "floor_ratio": round(many["seconds"] / floor, 3),
        "rate_records_s": round(rate),
        "rate_runs_s": rate_run["all_s"],
        "floor_2core_s": round(floor2, 2),
        "floor_2core_ratio": round(many["seconds"] / floor2, 3),
        "many_client_cpu_s": round(many["client_cpu_s"], 1),
        "many_server_cpu_s": round(many["server_cpu_s"], 1),
        "rate_client_cpu_s": round(rate_run["cpu_s"], 1),
        "rate_server_cpu_s": round(rate_run["server_cpu_s"], 1),
    }
    print(
        f"{count} users, {records:,} records: {many['seconds']:.1f} s; floor {floor:.1f} s "
        f"({rate:.0f} rec/s of one process at zero latency): {many['seconds'] / floor:.2f} "
        f"(target <= 1.3); both cores busy all along would take {floor2:.1f} s "
        f"({many['seconds'] / floor2:.2f})"
    )


def section_streams(args: Any, out: dict[str, Any]) -> None:
    size, latency, width, page = args.streams_size, 0.05, 4, args.streams_page
    batch = max(1, size // (4 * width))
    print(f"== streams: first sync of {size} partners, {latency * 1000:.0f} ms latency, "
          f"batches of {batch}, pages of {page}")  # fmt: skip
    _head()
    with simulator("--records", str(size), "--latency", str(latency)) as info:
        one = best_of(args.repeats, "sync", info, batch=batch, streams=1, page=page)
        _line(size, "1 stream", one)
        many = best_of(args.repeats, "sync", info, batch=batch, streams=width, page=page)
        _line(size, f"{width} streams", many)
    out["streams"] = {
        "count": width,
        "records": size,
        "latency_s": latency,
        "batch_size": batch,
        "page_size": page,
        # The simulator's CPU per page: one process, serving in turn what a prefork Odoo
        # serves in parallel; against the latency it bounds what streams can gain here.
        "server_cpu_per_page_ms": round(1000 * one["server_cpu_s"] / max(1, size // page), 1),
        "one_s": round(one["seconds"], 2),
        "many_s": round(many["seconds"], 2),
        "ratio": round(one["seconds"] / many["seconds"], 2),
        "one_step_s": round(one["step_s"], 2),
        "many_step_s": round(many["step_s"], 2),
        "step_ratio": round(one["step_s"] / many["step_s"], 2),
        "prepare_s": round(one["prepare_s"], 2),
    }
    print(
        f"1 stream {one['seconds']:.1f} s, {width} streams {many['seconds']:.1f} s: "
        f"{one['seconds'] / many['seconds']:.2f}x faster (target >= 3); the batches alone "
        f"(step): {one['step_s'] / many['step_s']:.2f}x"
    )


# --------------------------------------------------------------------------- PostgreSQL

# Pages of this size when timing the two ways of writing one.
PG_WRITE_PAGE = 1000


def run_pg_child(info: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The sync section's (b), into the PostgreSQL schema ODOOSYNC_DB / ODOOSYNC_PG_SCHEMA
    name."""
    import psycopg
    from pydantic import SecretStr

    from odoo_sync_cli import engine
    from odoo_sync_cli.config import load_settings
    from odoo_sync_cli.credentials import NewSecret

    url, schema = os.environ["ODOOSYNC_DB"], os.environ["ODOOSYNC_PG_SCHEMA"]
    settings = load_settings(write_config(workdir), db=url)
    started = time.perf_counter()
    engine.user_add(
        settings,
        name="bench",
        url=info["url"],
        database=info["database"],
        login=info["login"],
        secret=NewSecret(SecretStr(info["api_key"])),
        check=False,
    )
    engine.prepare(settings, users=["bench"])
    report = engine.step(settings, users=["bench"])
    seconds = time.perf_counter() - started
    if report.users[0].status != "done":
        sys.exit(f"the sync ended {report.users[0].status}: {report.users[0].error}")
    with psycopg.connect(url) as conn:
        # Count what the mirror holds, not what the engine says it did.
        row = conn.execute(f'SELECT COUNT(DISTINCT id) FROM "{schema}".res_partner').fetchone()
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {
        "mode": "pgsync",
        "records": report.users[0].records,
        "distinct": row[0] if row else 0,
        "seconds": seconds,
        "peak_mib": peak_rss_mib(),
        "cpu_s": cpu_self(),
    }


def page_writes(
    info: dict[str, Any], url: str, repeats: int, pages: int = 20
) -> tuple[float, float]:
    """Records/s of ``pages`` partner pages written by executemany and by COPY, each page one
    transaction, alternating, the best of ``repeats`` rounds each."""
    from psycopg import sql

    from odoo_sync_cli.mirror.codec import encode, encoding
    from odoo_sync_cli.mirror.postgres import PgMirror
    from odoo_sync_cli.mirror.postgres.columns import copy_plan, table_columns, to_copy
    from odoo_sync_cli.models import utc_now

    with _client(info) as client:
        fields, _ = _reading(client)
        types = client.fields_get(MODEL, attributes=["type"])
        rows = client.search_read(
            MODEL, [], fields, order="id asc", limit=PG_WRITE_PAGE, context=CONTEXT
        )
    field_types = {f: str(types[f]["type"]) for f in fields}
    with PgMirror.open(url, schema="bench_pages", create=True) as store:
        spec = store.ensure_table(MODEL, field_types)
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
        for round_ in range(repeats):
            for name, write in (("executemany", by_executemany), ("copy", by_copy)):
                user = f"{name}-{round_}"  # new rows each round: inserts, then updates
                started = time.perf_counter()
                for _ in range(pages):
                    write(rows, utc_now())
                best[name] = min(best[name], time.perf_counter() - started)
        store.conn.execute("DROP SCHEMA bench_pages CASCADE")
    return pages * len(rows) / best["executemany"], pages * len(rows) / best["copy"]


def section_postgres(args: Any, out: dict[str, Any]) -> None:
    """The full sync into PostgreSQL beside SQLite's, and the two ways of writing a page."""
    from odoo_sync_cli.pgcluster import start_cluster

    print("PostgreSQL backend (a throwaway server on loopback; the same simulator and settings)")
    figures: dict[str, Any] = {}
    out["postgres"] = figures
    with start_cluster() as cluster:
        url = cluster.url()
        for size in args.sizes:
            with simulator("--records", str(size)) as info:
                lite_runs, pg_runs = [], []
                # Alternating, so that a busy moment of this machine falls on both alike.
                for run in range(args.repeats):
                    with tempfile.TemporaryDirectory() as tmp:
                        lite_runs.append(child("sync", info, Path(tmp)))
                    with tempfile.TemporaryDirectory() as tmp:
                        schema = {"ODOOSYNC_DB": url, "ODOOSYNC_PG_SCHEMA": f"bench_{run}"}
                        pg_runs.append(child("pgsync", info, Path(tmp), environ=schema))
            lite = min(lite_runs, key=lambda r: r["seconds"])
            pg = min(pg_runs, key=lambda r: r["seconds"])
            _line(size, "(b) full sync, SQLite", lite)
            _line(size, "(f) full sync, PostgreSQL", pg)
            ratio = pg["seconds"] / lite["seconds"]
            figures[str(size)] = {
                "sqlite_s": round(lite["seconds"], 2),
                "postgres_s": round(pg["seconds"], 2),
                "ratio": round(ratio, 2),
                "distinct": pg["distinct"],
            }
            print(
                f"{size:>8} PostgreSQL / SQLite = {ratio:.2f} (target <= 1.3); PostgreSQL holds "
                f"{pg['distinct']} distinct of {size}"
            )
        with simulator("--records", str(PG_WRITE_PAGE)) as info:
            many, copy = page_writes(info, url, args.repeats)
    figures["page_writes"] = {
        "page": PG_WRITE_PAGE,
        "executemany_rps": round(many),
        "copy_rps": round(copy),
        "copy_over_executemany": round(copy / many, 2),
    }
    print(
        f"page writes ({PG_WRITE_PAGE} partners a page, one transaction each): executemany "
        f"{many:.0f} rec/s, COPY + INSERT ... SELECT {copy:.0f} rec/s, COPY/executemany = "
        f"{copy / many:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--info")
    parser.add_argument("--opts", default="{}")
    parser.add_argument("workdir", nargs="?")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--keyset-max", type=int, default=100000)
    parser.add_argument("--page-sizes", default="200,500,1000,2000")
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--incremental-rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--streams-size", type=int, default=20000)
    parser.add_argument("--streams-page", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if args.child:
        opts = json.loads(args.opts)
        print(json.dumps(run_child(args.child, json.loads(args.info), Path(args.workdir), opts)))
        return
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown sections {sorted(unknown)}; choose among {', '.join(SECTIONS)}")
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.page_sizes = [int(s) for s in args.page_sizes.split(",")]
    out: dict[str, Any] = {"cores": os.cpu_count(), "load": {}}
    print(f"odoosync benchmark, {os.cpu_count()} cores, load {load():.2f}")
    sections = {
        "sync": section_sync,
        "big": section_big,
        "users": section_users,
        "users_heavy": section_users_heavy,
        "streams": section_streams,
        "postgres": section_postgres,
    }
    for name, run in sections.items():
        if name not in args.only and not (name == "sync" and "pages" in args.only):
            continue
        before = load()
        started = time.perf_counter()
        run(args, out)
        out["load"][name] = {"before": before, "after": load()}
        print(f"   ({name}: {time.perf_counter() - started:.0f} s, load {before:.2f} -> "
              f"{load():.2f})", flush=True)  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Ask a server for less: search_read against web_search_read, and the page size, on any Odoo.

Run it through ``scripts/bench-real``. Reads every res.partner (archived included) by id keyset
(``id > cursor``, ``order='id asc'``) with the fields of odoosync's contacts module (chosen as
the engine chooses them from ``fields_get``), storing nothing, in one of these ways:

  search_read   ``search_read``, as odoosync reads pages today
  web_bare      ``OdooClient.read_page`` with no names: web_search_read, many2one as bare ids
  web_names     ``OdooClient.read_page`` asking the display name of every many2one
  noload        ``search_read`` with ``load=''``: every many2one a bare id (for comparison)
  web_count     web_search_read with bare ids but no ``count_limit``: Odoo counts every match
                for each full page (what ``count_limit`` spares)

The comparison runs the chosen ways in turn, round after round (so that a server that warms up
or slows down touches every way alike); then a paired run reads each page in every way, one
after the other in a rotating order, and adds up each way's time: on a server that others use
too, both ways then meet the same load within the same second. The page sweep reads with
``web_bare`` at each page size. Every run is a fresh child process, so its peak memory
(``ru_maxrss``) is its own. With ``--server-pid`` (a server on this machine) each run also
reports the CPU seconds the server process spent meanwhile.

Against a real server::

    ODOOSYNC_BENCH_SECRET=... scripts/bench-real --url http://127.0.0.1:8069 --db odoobig \\
        --login admin --protocol json2

The secret (API key or password) is read from the variable ``--secret-env`` names, never from
the command line, and is never printed. Without ``--url`` a simulator with ``--sim`` partners is
started in its own process and read the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The benchmark's simulator starter: one copy of it.
from bench import simulator

MODEL = "res.partner"
WAYS = ("search_read", "web_bare", "web_names", "noload", "web_count")
CONTEXT = {"active_test": False}


def _client(target: dict[str, Any]) -> Any:
    from pydantic import SecretStr

    from odoo_sync_cli.odoo import Connection, OdooClient

    secret = os.environ.get(target["secret_env"], "")
    if not secret:
        sys.exit(f"Set {target['secret_env']} to the API key or password of {target['login']}.")
    return OdooClient(
        Connection(
            user="bench",
            url=target["url"],
            database=target["db"],
            login=target["login"],
            secret=SecretStr(secret),
            protocol=target["protocol"],
        ),
        timeout=600.0,
    )


def contacts_fields(client: Any) -> dict[str, str]:
    """The contacts module's default fields, as the engine picks them."""
    from odoo_sync_cli.config import DEFAULT_EXCLUDE, Module
    from odoo_sync_cli.engine import select_fields

    info = client.fields_get(MODEL, attributes=["type", "store"])
    module = Module(name="contacts", model=MODEL, domain=(), fields=None, exclude=DEFAULT_EXCLUDE)
    return select_fields(module, info)


def fetch_page(client: Any, way: str, fields: dict[str, str], cursor: int, page: int) -> Any:
    """One page after ``cursor`` read in ``way``."""
    domain = [["id", ">", cursor]]
    if way == "search_read":
        return client.search_read(
            MODEL, domain, list(fields), order="id asc", limit=page, context=CONTEXT
        )
    if way == "noload":
        kwargs = {"domain": domain, "fields": list(fields), "order": "id asc"}
        kwargs.update(limit=page, context=CONTEXT, load="")
        return client.call(MODEL, "search_read", kwargs=kwargs)
    if way == "web_count":
        spec = {"domain": [["active", "in", [True, False]], *domain], "order": "id asc"}
        spec.update(specification={name: {} for name in fields}, limit=page)
        return client.call(MODEL, "web_search_read", kwargs=spec)["records"]
    names = [f for f, t in fields.items() if t == "many2one"] if way == "web_names" else []
    return client.read_page(
        MODEL, domain, list(fields), names=names, order="id asc", limit=page, context=CONTEXT
    )


def read_all(ways: list[str], target: dict[str, Any], page: int) -> dict[str, Any]:
    """Read the whole model once in each of ``ways``, page by page; runs in a child process.

    With several ways each page is read in all of them in turn (the first way rotating), and
    each way's time is the sum of its own requests.
    """
    with _client(target) as client:
        fields = contacts_fields(client)
        for way in ways:  # connect, and learn the field types, before the clock starts
            fetch_page(client, way, fields, 2**31 - 1, 1)
        spent = dict.fromkeys(ways, 0.0)
        started = time.perf_counter()
        cursor, records, seen, turn = 0, 0, set(), 0
        while True:
            order = ways[turn % len(ways) :] + ways[: turn % len(ways)]
            turn += 1
            pages = {}
            for way in order:
                began = time.perf_counter()
                pages[way] = fetch_page(client, way, fields, cursor, page)
                spent[way] += time.perf_counter() - began
            rows = pages[ways[0]]
            if any([r["id"] for r in p] != [r["id"] for r in rows] for p in pages.values()):
                sys.exit("the ways read different records; is the server being written to?")
            records += len(rows)
            seen.update(r["id"] for r in rows)
            if len(rows) < page:
                break
            cursor = rows[-1]["id"]
        return {
            "way": "+".join(ways),
            "page": page,
            "fields": len(fields),
            "many2one": sum(1 for t in fields.values() if t == "many2one"),
            "records": records,
            "distinct": len(seen),
            "seconds": time.perf_counter() - started,
            "spent": spent,
            "requests": client.stats.requests,
            # Linux reports ru_maxrss in KiB.
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) process ``pid`` has used so far; 0 without a pid."""
    if pid is None:
        return 0.0
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(way: str, target: dict[str, Any], page: int, server_pid: int | None) -> dict[str, Any]:
    before = cpu_seconds(server_pid)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            way,
            "--target",
            json.dumps(target),
            "--page",
            str(page),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"bench child {way} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = cpu_seconds(server_pid) - before if server_pid else None
    return result


def _row(r: dict[str, Any]) -> str:
    rate = r["records"] / r["seconds"] if r["seconds"] else 0.0
    cpu = f"{r['server_cpu_s']:>11.1f}" if r.get("server_cpu_s") is not None else f"{'-':>11}"
    return (
        f"{r['way']:<12} {r['page']:>6} {r['records']:>8} {r['seconds']:>9.2f} {rate:>8.0f} "
        f"{r['peak_mib']:>9.1f} {cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the Odoo server; without it a simulator is started")
    parser.add_argument("--db", default="odoo")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--protocol", default="json2", choices=["auto", "json2", "jsonrpc"])
    parser.add_argument("--secret-env", default="ODOOSYNC_BENCH_SECRET")
    parser.add_argument("--sim", type=int, default=40000, help="partners of the simulator")
    parser.add_argument("--ways", default="search_read,web_bare,web_names")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of whole reads (0: none)")
    parser.add_argument("--paired", type=int, default=1, help="paired runs (0: none)")
    parser.add_argument("--page", type=int, default=500, help="page size of the comparison")
    parser.add_argument("--pages", default="200,500,1000,2000", help="sizes of the sweep")
    parser.add_argument("--sweep-rounds", type=int, default=2)
    parser.add_argument("--server-pid", type=int, help="the server's process, to report its CPU")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child")
    parser.add_argument("--target")
    args = parser.parse_args()
    if args.child:
        result = read_all(args.child.split("+"), json.loads(args.target), args.page)
        print(json.dumps(result))
        return

    ways = [w for w in args.ways.split(",") if w]
    unknown = set(ways) - set(WAYS)
    if unknown or not ways:
        sys.exit(f"Give --ways among {', '.join(WAYS)}")
    with ExitStack() as stack:
        if args.url:
            target = {
                "url": args.url,
                "db": args.db,
                "login": args.login,
                "protocol": args.protocol,
                "secret_env": args.secret_env,
            }
            where = f"{args.url} database {args.db} over {args.protocol}"
        else:
            info = stack.enter_context(simulator("--records", str(args.sim)))
            os.environ["ODOOSYNC_BENCH_SIM_KEY"] = info["api_key"]
            target = {
                "url": info["url"],
                "db": info["database"],
                "login": info["login"],
                "protocol": args.protocol,
                "secret_env": "ODOOSYNC_BENCH_SIM_KEY",
            }
            where = f"a simulator of {args.sim} partners (its own process) over {args.protocol}"
        summary = run(args, ways, target, where)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


def run(args: Any, ways: list[str], target: dict[str, Any], where: str) -> dict[str, Any]:
    pid = args.server_pid
    print(f"{MODEL} read by id keyset from {where}")
    heads = ("page", "records", "seconds", "rec/s", "peak MiB", "server CPU")
    print(
        f"{'way':<12} "
        + " ".join(f"{h:>{w}}" for h, w in zip(heads, (6, 8, 9, 8, 9, 11), strict=True))
    )
    summary: dict[str, Any] = {"where": where, "page": args.page, "whole": {}, "paired": {}}
    summary["pages"] = {}
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in ways}
    for _ in range(args.rounds):
        for way in ways:
            result = child(way, target, args.page, pid)
            runs[way].append(result)
            print(_row(result), flush=True)
    if args.rounds:
        print(f"whole reads, pages of {args.page}:")
        base = min(r["seconds"] for r in runs[ways[0]])
        for way in ways:
            times = [r["seconds"] for r in runs[way]]
            cpu = [r["server_cpu_s"] for r in runs[way]]
            summary["whole"][way] = {"seconds": times, "best_s": min(times), "server_cpu_s": cpu}
            print(
                f"  {way:<12} {' '.join(f'{t:.1f}' for t in times)} s, best {min(times):.1f}, "
                f"{min(times) / base:.2f} of {ways[0]}'s best"
            )
    if args.paired and len(ways) > 1:
        print(f"paired: each page read in every way in turn, pages of {args.page}:")
        for _ in range(args.paired):
            result = child("+".join(ways), target, args.page, pid)
            print(_row(result), flush=True)
            spent = result["spent"]
            for way in ways:
                summary["paired"].setdefault(way, []).append(spent[way])
            print(
                "  "
                + ", ".join(f"{w} {spent[w]:.1f} s ({spent[w] / spent[ways[0]]:.2f})" for w in ways)
            )
    sizes = [int(p) for p in args.pages.split(",") if p]
    if sizes and args.sweep_rounds:
        print(f"page sweep, web_bare, best of {args.sweep_rounds}:")
        for size in sizes:
            sweep = [child("web_bare", target, size, pid) for _ in range(args.sweep_rounds)]
            best = min(sweep, key=lambda r: r["seconds"])
            summary["pages"][str(size)] = {
                "seconds": [r["seconds"] for r in sweep],
                "best_s": best["seconds"],
                "peak_mib": max(r["peak_mib"] for r in sweep),
                "requests": best["requests"],
                "server_cpu_s": [r["server_cpu_s"] for r in sweep],
            }
            print(_row(best), flush=True)
    return summary


if __name__ == "__main__":
    main()

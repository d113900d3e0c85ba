"""How the simulator holds a large database: start-up time, peak memory, and paging it all by id.

Usage: ``.venv/bin/python scripts/sim_scale.py [--records 1000000] [--page 1000]``. Starts
``python -m odoo_sync_cli.simulator --records N`` in its own process, waits for it to serve, then
pages every res.partner over ``/jsonrpc`` with ``id > cursor``, ``order='id asc'`` (archived
included) and prints the figures. Peak memory is the simulator process's ``VmHWM``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from odoo_sync_cli.simulator.testing import simulator_process

FIELDS = [
    "name",
    "email",
    "phone",
    "city",
    "zip",
    "country_id",
    "parent_id",
    "active",
    "write_date",
]


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()

    started = time.perf_counter()
    with simulator_process("--records", str(args.records), quiet=False) as sim:
        info, proc = sim.info, sim.process
        ready = time.perf_counter() - started
        print(f"simulator with {args.records:,} partners serving after {ready:.1f} s")

        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": "object", "method": "execute_kw", "args": []},
        }
        cursor, pages, rows = 0, 0, 0
        t0 = time.perf_counter()
        with httpx.Client(base_url=info["url"], timeout=120) as http:
            while True:
                body["params"]["args"] = [  # type: ignore[index]
                    info["database"], 2, info["password"], "res.partner", "search_read",
                    [[["id", ">", cursor]]],
                    {"fields": FIELDS, "order": "id asc", "limit": args.page,
                     "context": {"active_test": False}},
                ]  # fmt: skip
                page = http.post("/jsonrpc", json=body).json()["result"]
                pages += 1
                rows += len(page)
                if len(page) < args.page:
                    break
                cursor = page[-1]["id"]
        paging = time.perf_counter() - t0
        print(
            f"paged {rows:,} partners by id in {pages:,} pages of {args.page} over /jsonrpc "
            f"in {paging:.1f} s ({rows / paging:,.0f} rows/s); "
            f"simulator peak memory {vm_hwm_mib(proc.pid):.0f} MiB"
        )


if __name__ == "__main__":
    main()

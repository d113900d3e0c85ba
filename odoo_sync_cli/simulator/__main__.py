"""``python -m odoo_sync_cli.simulator``: serve simulated Odoo databases until SIGINT/SIGTERM.

The first line on stdout is one JSON object a script can read to connect::

    {"url": ..., "database": ..., "login": ..., "password": ..., "api_key": ...,
     "odoo_version": 19, "records": N}

(with ``--databases``, also ``"databases": [{...}, ...]`` for every database, the first one
being the one described by the top-level keys). Readable progress lines follow. The control API
(``POST /_sim/<action>``, header ``X-Sim-Key: <api_key>``) is described in
:mod:`odoo_sync_cli.simulator.server`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from odoo_sync_cli.simulator.server import (
    DEFAULT_DATABASE,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    Fault,
    SimDatabase,
    SimulatorServer,
)
from odoo_sync_cli.simulator.store import SimStore
from odoo_sync_cli.simulator.testing import build_store


def _parse_databases(spec: str) -> list[tuple[str, int]]:
    out = []
    for part in spec.split(","):
        name, sep, records = part.strip().partition(":")
        if not sep or not name or not records.isdigit():
            raise argparse.ArgumentTypeError(f"expected name:N[,name:N...], got {part!r}")
        out.append((name, int(records)))
    return out


def _parse_kinds(spec: str) -> list[Fault]:
    try:
        return [Fault.parse(k.strip()) for k in spec.split(",") if k.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m odoo_sync_cli.simulator",
        description="Serve an Odoo 19 (or 17) look-alike on loopback for demos, tests and "
        "benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8069, help="port; 0 picks a free one")
    parser.add_argument(
        "--records", type=int, default=2000, help="partners to generate (others follow)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--odoo-version", type=int, choices=(19, 17), default=19)
    parser.add_argument("--dataset", type=Path, help="load this dataset directory instead")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="database name")
    parser.add_argument(
        "--databases",
        type=_parse_databases,
        help="several generated databases, e.g. small:500,big:20000 (overrides --database)",
    )
    parser.add_argument("--login", default=DEFAULT_LOGIN)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--api-key", help="admin API key (default: a fixed one per database)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="probability that a request fails"
    )
    parser.add_argument(
        "--fail-kinds",
        type=_parse_kinds,
        help="faults drawn by --fail-rate, e.g. 502,503,429:5,drop,slow:3,truncate,cut "
        "(default: 429,502,503,504,drop)",
    )
    parser.add_argument(
        "--fixed-tie-order",
        action="store_true",
        help="answer rows and x2many ids that tie under their order in one fixed order "
        "(default: shuffled on each read, seeded by --seed, as a real server may)",
    )
    parser.add_argument(
        "--store-dir",
        type=Path,
        help="keep the stores' SQLite files here (default: temporary files, removed at exit)",
    )
    return parser


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan: list[tuple[str, int | Path]]
    if args.databases:
        plan = [(name, n) for name, n in args.databases]
    else:
        plan = [(args.database, args.dataset if args.dataset is not None else args.records)]
    store_dir: Path | None = args.store_dir
    stores: list[SimStore] = []
    started = time.monotonic()
    try:
        databases: dict[str, SimDatabase] = {}
        counts: dict[str, dict[str, int]] = {}
        for i, (name, src) in enumerate(plan):
            path = None if store_dir is None else store_dir / f"{name}.sqlite"
            if path is not None and path.exists():
                path.unlink()
            store = build_store(
                src,
                seed=args.seed + i,
                odoo_version=args.odoo_version,
                path=path,
                shuffle_ties=not args.fixed_tie_order,
            )
            stores.append(store)
            counts[name] = {m: len(store.ids(m)) for m in store.registry}
            key = args.api_key if len(plan) == 1 else None
            databases[name] = SimDatabase(
                name, store, login=args.login, password=args.password, api_key=key
            )
        loaded = time.monotonic() - started
        server = SimulatorServer(
            databases,
            host=args.host,
            port=args.port,
            odoo_version=args.odoo_version,
            latency=args.latency,
            fail_rate=args.fail_rate,
            fail_kinds=args.fail_kinds,
        )
        first = server.primary
        info: dict[str, Any] = {
            "url": server.url,
            "database": first.name,
            "login": first.admin.login,
            "password": first.admin.password,
            "api_key": first.admin.api_key,
            "odoo_version": args.odoo_version,
            "records": counts[first.name].get("res.partner", 0),
        }
        if len(databases) > 1:
            info["databases"] = [
                {
                    "database": db.name,
                    "login": db.admin.login,
                    "password": db.admin.password,
                    "api_key": db.admin.api_key,
                    "records": counts[db.name].get("res.partner", 0),
                }
                for db in databases.values()
            ]
        _say(json.dumps(info))
        _say(f"loaded in {loaded:.1f} s")
        for name, per_model in counts.items():
            listed = ", ".join(f"{m} {n:,}" for m, n in per_model.items())
            _say(f"database {name}: {listed}")
        _say(f"serving Odoo {args.odoo_version} on {server.url} (Ctrl-C to stop)")
        return _serve(server)
    finally:
        for store in stores:
            store.close()


def _serve(server: SimulatorServer) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        thread.join(timeout=10)
    _say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m torture [--short] [--only NAME ...] [--seed N] [--backend postgresql]``: run the
campaigns, print figures.

One figure line per campaign, then a summary line; exit 1 if any campaign is not clean. With
``--backend postgresql`` the campaigns that have a PostgreSQL variant (kill, faults,
concurrency) keep their mirrors in a throwaway PostgreSQL server started for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

from odoo_sync_cli.pgcluster import start_cluster
from torture.common import ZERO_FIGURES, CampaignResult, on_postgres

CAMPAIGNS = ("kill", "faults", "changes", "badinput", "concurrency", "secrets")
# The campaigns that run on PostgreSQL too; the others test SQLite files as such.
ON_POSTGRES = ("kill", "faults", "concurrency")


def run_campaign(name: str, scale: str, seed: int, server: str | None = None) -> CampaignResult:
    """One campaign; with ``server`` (a PostgreSQL URL) its mirrors are schemas there."""
    if server is not None and name not in ON_POSTGRES:
        raise SystemExit(
            f"the {name} campaign has no PostgreSQL variant ({', '.join(ON_POSTGRES)} do)"
        )
    module = importlib.import_module(f"torture.{name}")
    with (
        tempfile.TemporaryDirectory(prefix=f"odoosync-torture-{name}-") as tmp,
        on_postgres(server),
    ):
        # The users a campaign adds keep their secrets in the default store: the credentials
        # file of the user config directory, here one inside the campaign's folder, never the
        # real one, and never the OS keyring of the machine (keyring's "none here" backend).
        saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "PYTHON_KEYRING_BACKEND")}
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        try:
            result: CampaignResult = module.run(scale, Path(tmp), seed)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torture", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the short version CI runs")
    parser.add_argument("--only", action="append", choices=CAMPAIGNS, help="run only these")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="where the mirrors are (postgresql: a throwaway server; kill, faults, concurrency)",
    )
    args = parser.parse_args(argv)
    scale = "short" if args.short else "long"
    started = time.monotonic()
    results: list[CampaignResult] = []
    names = args.only or (ON_POSTGRES if args.backend == "postgresql" else CAMPAIGNS)
    with contextlib.ExitStack() as stack:
        server = None
        if args.backend == "postgresql":
            server = stack.enter_context(start_cluster()).url()
        for name in names:
            results.append(_timed(name, scale, args.seed, server))
    return _summary(results, scale, started)


def _timed(name: str, scale: str, seed: int, server: str | None) -> CampaignResult:
    t0 = time.monotonic()
    result = run_campaign(name, scale, seed, server)
    result.figures["seconds"] = round(time.monotonic() - t0, 1)
    if server is not None:
        result.name = f"{name}/pg"
    print(result.line(), flush=True)
    for failure in result.failures[:10]:
        print(f"    {failure}", flush=True)
    return result


def _summary(results: list[CampaignResult], scale: str, started: float) -> int:
    totals = {k: sum(int(r.figures.get(k, 0)) for r in results) for k in ZERO_FIGURES}
    clean = sum(1 for r in results if r.ok)
    print(
        f"summary: {clean}/{len(results)} campaigns clean ({scale}); "
        + ", ".join(f"{k} {v}" for k, v in totals.items())
        + f"; {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0 if clean == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

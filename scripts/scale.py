"""Scaling out, measured: 1 then 4 ``odoosync loop`` processes against one PostgreSQL mirror.

A measurement, not a test. What it does:

1. Starts a throwaway PostgreSQL (``odoo_sync_cli.pgcluster``) and several simulator processes
   (``python -m odoo_sync_cli.simulator``), each serving its share of the users' databases
   (default: 100 databases of 500 partners, 100 ms added to every request, as a remote Odoo).
2. Adds one odoosync user per database, its API key in the encrypted store (the key in
   ``ODOOSYNC_SECRET_KEY``, as every machine of a real deployment would get it).
3. Syncs them all with 1 ``loop --once`` process (``--workers 4``) into one schema, and again
   with 4 such processes started together into a second schema, one of which is killed with
   SIGKILL midway (the users it held are taken over by the others once its connections go).
   Each process has the same pool, so the figure measures adding processes, as adding machines
   would, not a bigger pool.
4. Compares every user's mirror with the simulator's stored records, every module and field
   (``torture.common.mirror_diff``: the mirror read with plain SQL, the truth read from the
   simulators' own store files), and checks that every user ended ``done``.

Its last line::

    scale: users 100, processes 1 -> 4, seconds A -> B, speed-up X.XX, lost 0, duplicated 0,
    taken over K

and it exits 0 only when nothing was lost, duplicated, different or extra, every user is
``done``, and the speed-up reaches the target (``--target``, default 2.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from odoo_sync_cli import engine  # noqa: E402
from odoo_sync_cli.config import Settings, load_settings  # noqa: E402
from odoo_sync_cli.credentials import NewSecret  # noqa: E402
from odoo_sync_cli.mirror import Mirror, open_mirror  # noqa: E402
from odoo_sync_cli.mirror.base import owner_where  # noqa: E402
from odoo_sync_cli.pgcluster import start_cluster  # noqa: E402
from odoo_sync_cli.simulator.testing import make_store  # noqa: E402
from torture.common import MirrorDiff, mirror_diff  # noqa: E402

CONFIG = """
page_size = {page_size}
reconcile = "every"
secret_store = "encrypted"

[http.retry]
attempts = 5
wait_initial = 0.05
wait_max = 0.5
"""
# Contacts read with a handful of fields (unless --all-fields): the processes here share this
# machine's cores, where machines would each bring their own, so the measurement keeps the
# work per record small and the waiting on the servers (what more processes overlap) large.
CONTACT_FIELDS = ("name", "email", "phone", "city", "parent_id", "is_company", "country_id")
FEW_FIELDS = f"""
[modules.contacts]
fields = {json.dumps(list(CONTACT_FIELDS))}
"""


@dataclass
class Simulators:
    """The simulator processes and, per database, its url, key and store file."""

    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_simulators(
    work: Path, users: int, partners: int, count: int, latency: float
) -> Simulators:
    sims = Simulators()
    names = [f"db{i:03d}" for i in range(users)]
    shares = [names[i::count] for i in range(count)]
    for n, share in enumerate(shares):
        if not share:
            continue
        store_dir = work / f"sim{n}"
        store_dir.mkdir()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "odoo_sync_cli.simulator",
                "--port",
                "0",
                "--seed",
                str(1000 * n),
                "--latency",
                str(latency),
                "--store-dir",
                str(store_dir),
                "--databases",
                ",".join(f"{name}:{partners}" for name in share),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        sims.procs.append(proc)
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        # Keep reading its output so that the pipe never fills.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        for db in info.get("databases") or [info]:
            sims.databases[db["database"]] = {
                "url": info["url"],
                "login": db["login"],
                "api_key": db["api_key"],
                "store": store_dir / f"{db['database']}.sqlite",
            }
    return sims


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time of a live process (Linux /proc), with its reaped children's when asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICKS


def server_cpu(sims: Simulators, postmaster: int) -> float:
    """CPU used so far by the simulators and the PostgreSQL server (its ended sessions too)."""
    return sum(cpu_seconds(p.pid) for p in sims.procs) + cpu_seconds(postmaster, children=True)


def pg_sessions(url: str) -> int:
    """Sessions the server has opened so far (each costs a process and a login)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()
    return int(row[0] or 0) if row else 0


def add_users(settings: Settings, sims: Simulators) -> dict[str, str]:
    users = {}
    for database, db in sims.databases.items():
        name = f"u-{database}"
        engine.user_add(
            settings,
            name=name,
            url=db["url"],
            database=database,
            login=db["login"],
            secret=NewSecret(SecretStr(db["api_key"]), store="encrypted"),
            check=False,
        )
        users[name] = database
    return users


def loop_command(config: Path, url: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "odoo_sync_cli",
        "--config",
        str(config),
        "--db",
        url,
        "loop",
        "--once",
        "--workers",
        str(workers),
        "--quiet",
    ]


def watch(store: Mirror, pid: int) -> tuple[int, set[str]]:
    """Users done, and those the process ``pid`` works now: the holders ``status`` shows as
    heldBy (a live lock and the lease row naming the process), one light read."""
    done = sum(1 for u in store.list_users() if u.status == "done")
    held = {name for name, owner in store.holders().items() if owner_where(owner)[1] == str(pid)}
    return done, held


def run_loops(
    settings: Settings, config: Path, url: str, processes: int, workers: int, kill_one: bool
) -> tuple[float, int, list[str]]:
    """Run ``processes`` loops until every user is done; seconds, users taken over, problems."""
    logs = [config.parent / f"loop{processes}-{i}.log" for i in range(processes)]
    started = time.monotonic()
    procs = []
    for log in logs:
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    loop_command(config, url, workers), stdout=out, stderr=subprocess.STDOUT
                )
            )
    taken_over = 0
    problems: list[str] = []
    if kill_one:
        victim = procs[-1]
        store = open_mirror(settings)
        total = len(store.list_users())
        # Midway: once about half of the users are done, while the victim holds some.
        while victim.poll() is None:
            done, held = watch(store, victim.pid)
            if done >= total // 2 and held:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                taken_over = len(held)
                print(
                    f"  killed pid {victim.pid} (SIGKILL) holding {len(held)} user(s) "
                    f"at {done}/{total} done",
                    flush=True,
                )
                break
            time.sleep(0.5)
        else:
            problems.append("the process to kill ended before it could be killed midway")
        store.close()
    for proc, log in zip(procs, logs, strict=True):
        code = proc.wait()
        if code not in (0, -signal.SIGKILL):
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            problems.append(f"loop pid {proc.pid} exited {code}: {tail[-300:]}")
    return time.monotonic() - started, taken_over, problems


def check(
    settings: Settings, users: dict[str, str], sims: Simulators, all_fields: bool
) -> tuple[MirrorDiff, int]:
    """Every user's mirror against its simulator store; the totals, and users not ``done``."""
    total = MirrorDiff()
    states = {s.info.name: s.info.status for s in engine.status(settings)}
    not_done = 0
    for user, database in users.items():
        if states.get(user) != "done":
            not_done += 1
            total.note(f"{user} ended {states.get(user)}")
        store = make_store(path=sims.databases[database]["store"])
        try:
            only = None if all_fields else {"res.partner": CONTACT_FIELDS}
            total.add(mirror_diff(settings, user, store, only=only))
        finally:
            store.close()
    return total, not_done


def one_run(
    work: Path,
    url: str,
    schema: str,
    config_text: str,
    sims: Simulators,
    processes: int,
    workers: int,
    all_fields: bool,
    postmaster: int,
) -> tuple[float, int, MirrorDiff, int, list[str]]:
    run_dir = work / schema
    run_dir.mkdir()
    config = run_dir / "odoosync.toml"
    config.write_text(f'pg_schema = "{schema}"\n' + config_text, encoding="utf-8")
    settings = load_settings(config, db=url)
    users = add_users(settings, sims)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    servers = server_cpu(sims, postmaster)
    sessions = pg_sessions(url)
    seconds, taken_over, problems = run_loops(
        settings, config, url, processes, workers, kill_one=processes > 1
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    servers = server_cpu(sims, postmaster) - servers
    sessions = pg_sessions(url) - sessions
    # With os.cpu_count() cores, a run cannot take less than all of it divided among them.
    print(
        f"  {processes} process(es): CPU used: loops {used:.1f} s, simulators and PostgreSQL "
        f"{servers:.1f} s ({os.cpu_count()} cores here); {sessions} PostgreSQL sessions",
        flush=True,
    )
    diff, not_done = check(settings, users, sims, all_fields)
    return seconds, taken_over, diff, not_done, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--partners", type=int, default=500, help="partners per database")
    parser.add_argument("--simulators", type=int, default=4, help="simulator processes")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per request")
    parser.add_argument("--processes", type=int, default=4, help="loop processes, second run")
    parser.add_argument("--workers", type=int, default=4, help="--workers of each loop")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--target", type=float, default=2.5, help="speed-up required")
    parser.add_argument(
        "--all-fields", action="store_true", help="contacts with every field, not a handful"
    )
    args = parser.parse_args()

    config_text = CONFIG.format(page_size=args.page_size) + ("" if args.all_fields else FEW_FIELDS)
    os.environ["ODOOSYNC_SECRET_KEY"] = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="odoosync-scale.") as tmp:
        work = Path(tmp)
        # The loops' own settings and secrets only: never the caller's.
        os.environ["HOME"] = str(work)
        os.environ["XDG_CONFIG_HOME"] = str(work / "config")
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        print(
            f"scale: {args.users} users of {args.partners} partners on {args.simulators} "
            f"simulator processes ({args.latency * 1000:.0f} ms latency), loops with "
            f"--workers {args.workers}",
            flush=True,
        )
        with start_cluster() as cluster:
            url = cluster.url()
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
            sims = start_simulators(work, args.users, args.partners, args.simulators, args.latency)
            try:
                runs = []
                for processes, schema in ((1, "scale_one"), (args.processes, "scale_many")):
                    seconds, taken, diff, not_done, problems = one_run(
                        work,
                        url,
                        schema,
                        config_text,
                        sims,
                        processes,
                        args.workers,
                        args.all_fields,
                        postmaster,
                    )
                    runs.append((seconds, taken, diff, not_done, problems))
                    print(
                        f"  {processes} process(es): {seconds:.1f} s, {diff.records} records "
                        f"compared, lost {diff.lost}, duplicated {diff.duplicated}, "
                        f"differing {diff.differing}, extra {diff.extra}, not done {not_done}",
                        flush=True,
                    )
                    for line in [*problems, *diff.examples[:5]]:
                        print(f"    {line}", flush=True)
            finally:
                sims.stop()
    (one, _, d1, nd1, p1), (many, taken, d2, nd2, p2) = runs
    speedup = one / many if many else 0.0
    lost = d1.lost + d2.lost
    duplicated = d1.duplicated + d2.duplicated
    wrong = d1.differing + d2.differing + d1.extra + d2.extra
    print(
        f"scale: users {args.users}, processes 1 -> {args.processes}, seconds {one:.1f} -> "
        f"{many:.1f}, speed-up {speedup:.2f}, lost {lost}, duplicated {duplicated}, "
        f"taken over {taken}"
    )
    ok = not (lost or duplicated or wrong or nd1 or nd2 or p1 or p2) and speedup >= args.target
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

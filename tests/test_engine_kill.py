"""Kill -9 a syncing `odoosync step` at random moments, resume, and find the mirror exact, on
both backends (a SQLite file; a PostgreSQL schema, where the killed client's connection takes
its transaction and its lock with it).

The simulator runs in its own process (as a real server would), `odoosync step` in another,
killed with SIGKILL after a random delay, several times. Whatever page it was reading or writing,
the next run resumes from the last committed cursor: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from odoo_sync_cli import engine, mirror
from odoo_sync_cli.config import load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.odoo import Connection, OdooClient
from odoo_sync_cli.simulator.testing import simulator_process
from tests.backends import Backend

CONFIG = """
page_size = 40
batch_size = 700

[http.retry]
attempts = 2
wait_initial = 0.01
wait_max = 0.05
"""


@pytest.fixture
def server() -> Iterator[dict[str, Any]]:
    """A simulator in its own process; yields the JSON line it prints first."""
    args = ["--records", "3000", "--seed", "21", "--latency", "0.02"]
    with simulator_process(*args) as sim:
        yield sim.info


def server_records(
    info: dict[str, Any], model: str, domain: list[Any], fields: list[str], mirrored: set[str]
) -> list[dict[str, Any]]:
    """The server's records as the mirror keeps them: x2many ascending, a many2one to a
    ``mirrored`` model without its name."""
    conn = Connection(
        "check", info["url"], info["database"], info["login"], SecretStr(info["api_key"])
    )
    out: list[dict[str, Any]] = []
    with OdooClient(conn) as client:
        types = client.fields_get(model, attributes=["type", "relation"])
        x2many = {f for f, a in types.items() if a["type"] in ("one2many", "many2many")}
        unnamed = {
            f for f, a in types.items() if a["type"] == "many2one" and a["relation"] in mirrored
        }
        cursor = 0
        while True:
            page = client.search_read(
                model,
                [*domain, ["id", ">", cursor]],
                fields,
                order="id asc",
                limit=1000,
                context={"active_test": False},
            )
            # x2many are sets, read in no fixed order; the mirror keeps them ascending.
            out.extend(
                {
                    k: sorted(v) if k in x2many else [v[0], None] if k in unnamed and v else v
                    for k, v in r.items()
                }
                for r in page
            )
            if len(page) < 1000:
                return out
            cursor = page[-1]["id"]


def test_kill_9_at_random_pages_then_resume(
    tmp_path: Path, server: dict[str, Any], backend: Backend
) -> None:
    config = tmp_path / "odoosync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = backend.db
    settings = load_settings(config, db=db)
    engine.user_add(
        settings,
        name="alice",
        url=server["url"],
        database=server["database"],
        login=server["login"],
        secret=NewSecret(SecretStr(server["api_key"])),
    )
    engine.prepare(settings)

    rng = random.Random(20261128)
    command = [
        sys.executable,
        "-c",
        "from odoo_sync_cli.cli import main; main()",
        "--config",
        str(config),
        "--db",
        db,
        "step",
    ]
    killed_mid_sync = 0
    for _ in range(5):
        proc = subprocess.Popen(
            command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.7, 1.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (
            proc.returncode == -signal.SIGKILL
            and engine.user_get(settings, "alice").status == "in_progress"
        ):
            killed_mid_sync += 1
    assert killed_mid_sync >= 3, "the kills should land while the sync is running"

    with mirror.open_mirror(settings) as store:
        assert any(b.status == "running" or b.status == "done" for b in store.batches("alice"))
    report = engine.step(settings)
    assert not report.errors
    assert engine.user_get(settings, "alice").status == "done"

    mirrored = {m.model for m in settings.for_user("alice").modules}
    with mirror.open_mirror(settings) as store:
        for module in settings.for_user("alice").modules:
            mine = store.read_records("alice", module.table)
            fields = list(mine[0]) if mine else ["id"]
            theirs = server_records(server, module.model, module.domain_list(), fields, mirrored)
            assert [r["id"] for r in mine] == [r["id"] for r in theirs], module.name
            assert mine == theirs, module.name
    progress = engine.status(settings)[0].to_json()["progress"]
    assert progress["recordsSynced"] == progress["recordsExpected"], "a page was stored twice"
    assert progress["percent"] == 100.0

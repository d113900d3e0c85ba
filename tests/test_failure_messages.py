"""What a sync that failed on a server says: how many tries it took, and how to resume from the
batch's cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.simulator.testing import Simulator

FAST = {"retry": {"attempts": 3, "wait_initial": 0.01, "wait_max": 0.01, "wait_jitter": 0}}


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "odoosync.db",
        page_size=100,
        http=FAST,
        modules={"sale_orders": {"enabled": False}},
    )


def _add(settings: Settings, sim: Simulator, name: str = "carol") -> None:
    creds = sim.credentials()
    engine.user_add(
        settings,
        name=name,
        url=creds.url,
        database=creds.database,
        login=creds.login,
        secret=NewSecret(SecretStr(creds.api_key)),
    )


def test_failure_past_the_retries_says_so_and_how_to_resume(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    """Found by the faults campaign: the stored error read "try again later", as if nothing had
    been retried, and did not say that `step` now skips the user until `retry`."""
    sim = make_simulator(records=500, seed=3)
    settings = _settings(tmp_path)
    _add(settings, sim)
    engine.prepare(settings)
    engine.step(settings, max_pages=2)
    sim.script_faults(["503"] * 3, match={"method": "web_search_read"})
    runner = CliRunner()
    config = tmp_path / "odoosync.toml"
    config.write_text(
        "page_size = 100\n[modules.sale_orders]\nenabled = false\n"
        "[http.retry]\nattempts = 3\nwait_initial = 0.01\nwait_max = 0.01\nwait_jitter = 0\n",
        encoding="utf-8",
    )
    args = ["--config", str(config), "--db", str(settings.db_path)]
    failed = runner.invoke(app, [*args, "step", "--user", "carol"])
    assert failed.exit_code == 6
    status = runner.invoke(app, [*args, "status", "--json", "--user", "carol"])
    user = json.loads(status.stdout)["users"][0]
    assert user["syncStatus"] == "failed"
    error = user["lastError"]
    assert "res.partner" in error and "HTTP 503" in error
    assert "gave up after 3 tries" in error
    assert "odoosync retry --user carol" in error
    sim.clear_faults()
    assert runner.invoke(app, [*args, "retry", "--user", "carol"]).exit_code == 0
    assert runner.invoke(app, [*args, "step", "--user", "carol"]).exit_code == 0
    assert engine.user_get(settings, "carol").status == "done"


def test_a_failure_on_the_first_try_claims_no_retries(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=200, seed=4)
    settings = Settings(
        db=tmp_path / "odoosync.db",
        http={"retry": {"attempts": 1, "wait_initial": 0.01, "wait_max": 0.01}},
    )
    _add(settings, sim)
    engine.prepare(settings)
    sim.script_faults(["502"], match={"method": "web_search_read"})
    report = engine.step(settings)
    assert report.errors
    message = str(report.errors[0])
    assert "HTTP 502" in message and "gave up" not in message


def test_connection_lost_for_good_at_step_start_says_how_to_resume(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=200, seed=6)
    settings = _settings(tmp_path)
    _add(settings, sim)
    engine.prepare(settings)
    sim.script_faults(["502"] * 3, match={"path": "/web/version"})
    report = engine.step(settings)
    assert report.errors
    user = engine.user_get(settings, "carol")
    assert user.status == "failed" and user.last_error is not None
    assert "gave up after 3 tries" in user.last_error
    assert "odoosync retry --user carol" in user.last_error
    engine.retry(settings, users=["carol"])
    assert engine.step(settings).users[0].status == "done"

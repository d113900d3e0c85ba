"""A count cut short on the way is not taken for a smaller number.

Over JSON-2, ``search_count`` answers a bare number: a proxy that cuts the body in half leaves
valid JSON ("300" -> "3") that no client can tell from a real answer. Planning and
test-complete list the ids anyway, and a count cannot be smaller than the ids listed: the
listing is used instead, and ``status`` (or the test-complete report) says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.planner import trusted_count
from odoo_sync_cli.simulator.testing import Simulator

ONLY_CONTACTS = {
    m: {"enabled": False}
    for m in ("sale_orders", "invoices", "employees", "order_lines", "invoice_lines")
}


def test_trusted_count() -> None:
    assert trusted_count(300, 300) == (300, None)
    assert trusted_count(305, 300) == (305, None)  # records deleted since the count: fine
    figure, note = trusted_count(3, 300)
    assert figure == 300
    assert note == (
        "search_count answered 3, fewer than the 300 ids listed (an answer cut short on the "
        "way?); 300 is used"
    )


def _alice(tmp_path: Path, sim: Simulator) -> Settings:
    settings = Settings(db=tmp_path / "odoosync.db", modules=ONLY_CONTACTS)
    engine.user_add(
        settings,
        name="alice",
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=NewSecret(SecretStr(sim.api_key)),
    )
    return settings


def test_a_truncated_count_is_checked_against_the_listed_ids(
    tmp_path: Path, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=300)
    settings = _alice(tmp_path, sim)
    # The first count checks the key (connect); the second counts the partners.
    sim.reset_stats()
    sim.script_faults([None, "truncate"], match={"method": "search_count"})
    engine.prepare(settings)
    assert sim.server.faults.pending == 0, "the count was cut short"
    assert sim.stats.count(method="search_count") == 2, "nothing was retried"
    assert engine.step(settings).users[0].status == "done"
    status = engine.status(settings, user="alice")[0]
    contacts = status.modules[0].progress
    assert (contacts.records_expected, contacts.records_synced) == (300, 300)
    assert contacts.note is not None and "answered 3, fewer than the 300 ids" in contacts.note
    shown = CliRunner().invoke(app, ["--db", str(settings.db_path), "status"])
    assert "contacts: search_count answered 3" in shown.output

    # test-complete's own count is cut too: the listing it compares ids with is used.
    sim.script_faults([None, "truncate"], match={"method": "search_count"})
    report = engine.check_complete(settings, user="alice", sample=10, sync=False)
    assert report.passed, report.problems()
    check = report.modules[0]
    assert check.server_count == 300 and check.note is not None
    assert "answered 3" in check.note

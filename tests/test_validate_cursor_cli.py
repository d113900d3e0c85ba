"""`odoosync validate-cursor`: the six checks against simulated Odoo 19 and 17, table and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from odoo_sync_cli import engine
from odoo_sync_cli.cli import app
from odoo_sync_cli.config import Settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.engine import diagnostics
from odoo_sync_cli.simulator.testing import Simulator

SEMANTICS = {19: "whole-second", 17: "full-precision"}


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def add_user(sim: Simulator, name: str = "alice") -> None:
    engine.user_add(
        Settings(),
        name=name,
        url=sim.url,
        database=sim.database,
        login=sim.login,
        secret=NewSecret(SecretStr(sim.api_key if sim.odoo_version >= 19 else sim.password)),
    )


@pytest.mark.parametrize("version", [19, 17])
def test_validate_cursor_passes_and_names_the_semantics(
    version: int, make_simulator: Callable[..., Simulator]
) -> None:
    sim = make_simulator(records=600, odoo_version=version)
    add_user(sim)

    table = run("validate-cursor")
    assert table.exit_code == 0, table.output
    out = table.output
    assert f"res.partner on Odoo {version}.0" in out
    assert f"datetime semantics: {SEMANTICS[version]}" in out
    assert out.count("PASS") == 6 and "FAIL" not in out
    assert "All 6 checks passed." in out
    assert "\x1b" not in out

    as_json = run("validate-cursor", "--user", "alice", "--json")
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["semantics"] == SEMANTICS[version]
    assert report["passed"] is True
    assert [c["key"] for c in report["checks"]] == list(diagnostics.CHECK_KEYS)
    assert all(c["detail"] for c in report["checks"])
    assert report["records"] == 600 and report["user"] == "alice"
    assert sim.api_key not in as_json.output and sim.password not in as_json.output


def test_another_model_and_the_module_filter(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=400)
    add_user(sim)
    result = run("validate-cursor", "--model", "account.move", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    invoices = sim.store.search_count(
        "account.move",
        [["move_type", "in", ["out_invoice", "out_refund", "in_invoice", "in_refund"]]],
        context={"active_test": False},
    )
    assert report["model"] == "account.move" and report["records"] == invoices


def test_a_failed_check_exits_with_the_verification_code(
    make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_simulator(records=200)
    add_user(sim)
    real = diagnostics.validate_cursor

    def order_not_honoured(*args: Any, **kwargs: Any) -> diagnostics.CursorReport:
        report = real(*args, **kwargs)
        checks = [
            replace(c, passed=False, detail="Rows came back out of order.")
            if c.key == "order"
            else c
            for c in report.checks
        ]
        return replace(report, checks=checks)

    monkeypatch.setattr(diagnostics, "validate_cursor", order_not_honoured)
    result = run("validate-cursor")
    assert result.exit_code == 8, result.output
    assert "FAIL" in result.output and "Rows came back out of order." in result.output
    assert "1 of 6 checks failed" in result.output
    assert "Error: validate-cursor: 1 of 6 checks failed on res.partner for user 'alice'" in (
        result.output
    )


def test_which_user(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(records=50)
    add_user(sim, "alice")
    add_user(sim, "bob")
    ambiguous = run("validate-cursor")
    assert ambiguous.exit_code == 3
    assert "validate-cursor works on one user; there are 2 (alice, bob)" in ambiguous.output
    unknown = run("validate-cursor", "--user", "carol")
    assert unknown.exit_code == 3 and "unknown user 'carol'" in unknown.output
    missing_model = run("validate-cursor", "--user", "bob", "--model", "no.such.model")
    assert missing_model.exit_code == 5, missing_model.output

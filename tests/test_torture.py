"""The short version of every reliability campaign (``scripts/torture`` runs the long one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from torture.__main__ import CAMPAIGNS, run_campaign


@pytest.mark.parametrize("name", CAMPAIGNS)
def test_campaign_short(name: str, tmp_path: Path) -> None:
    result = run_campaign(name, "short", seed=20261128)
    assert result.figures, f"{name} measured nothing"
    assert result.ok, result.line() + "\n" + "\n".join(result.failures)


def test_the_short_campaign_covers_the_issue_list() -> None:
    from torture.badinput import cases

    names = {case.name for case in cases()}
    for needed in (
        "url-wrong-scheme",
        "unreachable-host",
        "https-to-plain-http-server",
        "wrong-database",
        "wrong-login",
        "wrong-password",
        "revoked-api-key-json2",
        "no-access-to-model",
        "unknown-module",
        "bad-toml",
        "unknown-settings-key",
        "negative-page-size",
        "read-only-database",
        "not-sqlite",
        "database-locked",
        "disk-full",
        "unknown-user",
        "missing-secret-variable",
        "max-pages-zero",
    ):
        assert needed in names
    assert len(names) >= 25
    assert sys.version_info >= (3, 11)

"""The short version of every reliability campaign (``scripts/torture`` runs the long one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torture.__main__ import CAMPAIGNS, run_campaign


@pytest.mark.parametrize("name", CAMPAIGNS)
def test_campaign_short(name: str, tmp_path: Path) -> None:
    result = run_campaign(name, "short", seed=20261128)
    assert result.figures, f"{name} measured nothing"
    assert result.ok, result.line() + "\n" + "\n".join(result.failures)

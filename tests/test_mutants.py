"""``scripts/mutants`` itself: every planted bug still finds its target, a stale one stops the run
loudly, and a bug no check catches is reported as SURVIVED.

The first test is what keeps the mutants honest through refactors: when code a mutant plants
its bug in moves or changes, this test fails here, in ``scripts/test``, naming the mutant.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from torture.__main__ import CAMPAIGNS
from torture.mutants import MUTANTS, PACKAGE, ROOT, Edit, HarnessError, Mutant, plant, run_mutants


def package_copy(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(ROOT / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_every_mutant_finds_its_target_exactly_once_and_compiles(tmp_path: Path) -> None:
    assert len(MUTANTS) >= 14
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for mutant in MUTANTS:
        copy = package_copy(tmp_path, mutant.name)
        changed = plant(mutant, copy)  # raises, naming the mutant, if its text is gone
        for path in set(changed):
            assert (copy / path).read_text() != (ROOT / path).read_text(), mutant.name


def test_every_check_named_exists() -> None:
    campaigns = {c.partition(":")[2] for m in MUTANTS for c in m.checks if c.startswith("torture:")}
    assert campaigns <= set(CAMPAIGNS)
    for mutant in MUTANTS:
        assert mutant.checks, mutant.name
        for check in mutant.checks:
            if check.startswith("torture:"):
                continue
            path, _, test = check.partition("::")
            assert (ROOT / path).is_file(), f"{mutant.name}: no file {path}"
            tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert not test or test in names, f"{mutant.name}: no test {check}"


def test_a_missing_or_repeated_target_stops_the_run(tmp_path: Path) -> None:
    copy = package_copy(tmp_path, "stale")
    gone = Mutant("gone", "a target that moved", (Edit("text no file holds", "x"),), ("x",))
    with pytest.raises(HarnessError, match="mutant gone: target text not found"):
        plant(gone, copy)
    twice = Mutant("twice", "a target found twice", (Edit("from __future__", "x"),), ("x",))
    with pytest.raises(HarnessError, match=r"mutant twice: target text found [0-9]+ times"):
        plant(twice, copy)
    broken = Mutant(
        "broken",
        "a mutation that does not compile",
        (Edit("def window_start(", "def window_start(("),),
        ("x",),
    )
    with pytest.raises(HarnessError, match="does not compile"):
        plant(broken, copy)


def test_a_caught_mutant_and_a_surviving_one(capsys: pytest.CaptureFixture[str]) -> None:
    # A real bug, caught by the test named for it; and a change that behaves as the original
    # (format_datetime drops microseconds), which no test can catch.
    caught = next(m for m in MUTANTS if m.name == "last_id_range_closed")
    harmless = Mutant(
        "harmless",
        "a microsecond that never reaches the result",
        (
            Edit(
                "return format_datetime(start.replace(microsecond=0))",
                "return format_datetime(start.replace(microsecond=1))",
            ),
        ),
        ("tests/test_domain.py::test_datetimes",),
    )
    code = run_mutants(
        [caught, harmless], thorough=False, every=False, jobs=1, check_baseline=False, keep=False
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert lines[-1] == "mutants: 2 planted, 1 caught, 1 survived"
    assert "caught by tests/test_planner.py::test_id_ranges" in lines[-4]
    assert lines[-3].startswith("harmless") and "SURVIVED" in lines[-3]

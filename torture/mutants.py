"""``scripts/mutants``: plant known bugs one at a time in a copy of the code; each must be caught.

A *mutant* is a bug we fear, written as exact-text replacements in the package. For each one the
code, tests and campaigns are copied to a temporary directory, the replacement is made there (the
working tree is never touched), and the checks named for it run in the copy, in order, until one
fails: ``caught by`` names that check. If none fails, the mutant ``SURVIVED``: the suite would let
that bug through. Before any mutant, every check named runs once on the unchanged copy and must
pass, so a check that fails anyway can never pass for a catch.

Checks are pytest node ids or paths (run with ``-x``; the first failing test is named) and
``torture:NAME``, the short version of a reliability campaign. ``--thorough`` runs the whole suite
(the short campaigns included, ``tests/test_mutants.py`` aside) against every mutant instead, and
names every test that fails.

A mutation's target text is looked up in every ``.py`` file of the package (or in ``path`` when
given) and must occur exactly once: when code moves to another file the mutant follows it, and
when the text changes the run stops with exit 2 and names the mutant, so a refactor cannot turn a
planted bug into a silent pass. Adding a mutant is one more entry in ``MUTANTS``.

``--pure`` runs mutmut on the pure core instead (``domain.py`` and ``planner.py`` against their
own tests, configured under ``[tool.mutmut]`` in pyproject.toml) and prints the score; survivors
must be listed in ``EQUIVALENT`` with the reason they cannot be told apart from the original.

Exit 0 when every mutant was caught, 1 when one survived, 2 when the harness itself is wrong (a
target text missing or repeated, a mutant that does not compile, a check failing without a
mutant, a test id that does not exist).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "odoo_sync_cli"
# What a copy holds: enough to run the tests and the campaigns.
COPIED = (
    PACKAGE,
    "tests",
    "torture",
    "fixtures",
    "scripts",
    "pyproject.toml",
    "README.md",
    "ARCHITECTURE.md",
)
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", ".mypy_cache", "mutants"
)
SEED = "20261128"
CHECK_TIMEOUT = 900.0


class HarnessError(Exception):
    """The mutant list or a check is wrong, not the code under test."""


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (exactly once in the package, or in ``path``) with ``new``."""

    old: str
    new: str
    path: str | None = None


@dataclass(frozen=True)
class Mutant:
    """A named bug, the edits that plant it, and the checks that should catch it, cheapest
    first."""

    name: str
    bug: str
    edits: tuple[Edit, ...]
    checks: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "page_drops_last_record",
        "every stored page loses its last record",
        (
            Edit(
                "user, records = page.lease.user, page.records\n"
                "        rows = encode_rows(user, page.spec, records, now)",
                "user, records = page.lease.user, page.records\n"
                "        rows = encode_rows(user, page.spec, records[:-1], now)",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_no_record_needs_restoring_after_a_quiet_sync",
            "torture:kill",
        ),
    ),
    Mutant(
        "reconcile_never_tombstones",
        "reconcile marks nothing gone",
        (
            Edit(
                'f"AND _deleted_at IS NULL AND {listed}",',
                'f"AND _deleted_at IS NULL AND 0 AND {listed}",',
            ),
        ),
        (
            "tests/test_mirror_store.py::test_reconcile_page_marks_gone_and_restores_within_bounds",
            "torture:faults",
        ),
    ),
    Mutant(
        "window_ignores_lookback",
        "the incremental window starts at the high-water mark, without the look-back",
        (
            Edit(
                "start = parse_datetime(high_water) - timedelta(seconds=lookback)",
                "start = parse_datetime(high_water)",
            ),
        ),
        ("tests/test_domain.py::test_datetimes", "torture:changes"),
    ),
    Mutant(
        "cursor_before_rows",
        "the cursor is committed before the rows, in a separate transaction",
        (
            Edit(
                "            self._renew_lease(user, page.lease.owner, page.lease.ttl)\n"
                "            self._write_rows(rows, now)\n"
                "            self._advance(page.batch, page.cursor, len(records), page.done, now)",
                "            self._renew_lease(user, page.lease.owner, page.lease.ttl)\n"
                "            self._advance(page.batch, page.cursor, len(records), page.done, now)\n"
                "        with self._write():\n"
                "            self._write_rows(rows, now)",
            ),
        ),
        ("tests/test_page_atomicity.py", "torture:kill"),
    ),
    Mutant(
        "stale_page_accepted",
        "the page's guard compares the stored cursor with the page's new cursor, not the one "
        "it was read from, so a page read from an old cursor is stored",
        (
            Edit(
                "WHERE id = ? AND cursor = ? AND status = 'running'",
                "WHERE id = ? AND cursor <= ? AND status = 'running'",
            ),
            Edit(
                "                batch.id,\n                batch.cursor,\n",
                "                batch.id,\n                cursor,\n",
                path="odoo_sync_cli/mirror/sqlite/state.py",
            ),
        ),
        ("tests/test_mirror_store.py::test_store_page_refuses_a_stale_batch_and_a_lost_lease",),
    ),
    Mutant(
        "stored_cursor_unchecked",
        "a cursor read back from the database is not checked against its batch's end",
        (
            Edit(
                'validate_cursor(d["cursor"], lo_id=d["lo_id"], hi_id=d["hi_id"])',
                'validate_cursor(d["cursor"], lo_id=d["lo_id"], hi_id=None)',
                path="odoo_sync_cli/mirror/sqlite/state.py",
            ),
        ),
        ("tests/test_mirror_store.py::test_damaged_cursor_is_caught_when_read",),
    ),
    Mutant(
        "pages_without_active_test",
        "data pages are read without active_test: False, so archived records are skipped",
        (
            Edit(
                "limit=page_size,\n        context=dict(NO_ACTIVE_TEST),",
                "limit=page_size,\n        context={},",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_no_record_needs_restoring_after_a_quiet_sync",
            "torture:kill",
        ),
    ),
    Mutant(
        "last_page_skipped",
        "the last page of a batch ends the batch without being stored",
        (
            Edit(
                "spec=reading.spec, records=records, cursor=cursor, done=done)",
                "spec=reading.spec, records=[] if done else records, cursor=cursor, done=done)",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_no_record_needs_restoring_after_a_quiet_sync",
            "torture:kill",
        ),
    ),
    Mutant(
        "id_range_top_excluded",
        "an id range's upper bound is exclusive: the top id of each range is read by none",
        (Edit('bounds.append(["id", "<=", hi_id])', 'bounds.append(["id", "<", hi_id])'),),
        ("tests/test_domain.py::test_page_domains", "torture:kill"),
    ),
    Mutant(
        "lease_unchecked_on_commit",
        "a page is committed without checking that this process still holds the user's lease",
        (
            Edit(
                "        with self._write():\n"
                "            self._renew_lease(user, page.lease.owner, page.lease.ttl)\n"
                "            self._write_rows(rows, now)",
                "        with self._write():\n            self._write_rows(rows, now)",
            ),
        ),
        ("tests/test_mirror_store.py::test_store_page_refuses_a_stale_batch_and_a_lost_lease",),
    ),
    Mutant(
        "page_stored_twice",
        "the cursor after a page stops one record short, so each page's last record is read "
        "and stored again with the next page",
        (
            Edit(
                "cursor = advance_cursor(batch.cursor, ids)  # type: ignore[arg-type]",
                "cursor = advance_cursor(batch.cursor, ids[:-1] or ids)  # type: ignore",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_no_record_needs_restoring_after_a_quiet_sync",
            "tests/test_engine_kill.py",
        ),
    ),
    Mutant(
        "high_water_moved_at_planning",
        "the high-water mark moves when the sync is planned, not when it is done",
        (
            Edit(
                "candidate = excluded.candidate, last_count = excluded.last_count,",
                "candidate = excluded.candidate, last_count = excluded.last_count, "
                "high_water = coalesce(excluded.candidate, high_water),",
                path="odoo_sync_cli/mirror/sqlite/state.py",
            ),
        ),
        ("tests/test_engine_sync.py::test_a_sync_planned_again_starts_from_the_old_mark",),
    ),
    Mutant(
        "tombstone_not_lifted",
        "a record stored again keeps its tombstone",
        (Edit('if c not in ("user", "id")', 'if c not in ("user", "id", "_deleted_at")'),),
        (
            "tests/test_mirror_store.py::test_reconcile_page_marks_gone_and_restores_within_bounds",
            "torture:faults",
        ),
    ),
    Mutant(
        "reconcile_restores_nothing",
        "reconcile's second direction is skipped: ids missing from the mirror are not read",
        (
            Edit(
                "missing = sink.missing_ids(lease.user, reading.spec.table, ids)",
                "missing: list[int] = []",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_changes_during_and_between_syncs_are_caught",
            "torture:kill",
        ),
    ),
    Mutant(
        "lookback_short_by_a_second",
        "the incremental window starts one second later than the look-back says",
        (
            Edit(
                "start = parse_datetime(high_water) - timedelta(seconds=lookback)",
                "start = parse_datetime(high_water) - timedelta(seconds=lookback - 1)",
            ),
        ),
        ("tests/test_domain.py::test_datetimes",),
    ),
    Mutant(
        "failed_batch_marked_done",
        "a batch that failed is marked done, so retry skips the rest of it",
        (
            Edit(
                "UPDATE _odoosync_batches SET status = 'failed', last_error = ?",
                "UPDATE _odoosync_batches SET status = 'done', last_error = ?",
            ),
        ),
        (
            "tests/test_engine_sync.py::test_retriable_failure_keeps_the_cursor_and_retry_resumes",
            "torture:faults",
        ),
    ),
    Mutant(
        "last_id_range_closed",
        "the last id range of a first sync ends at the last listed id, so records created "
        "during the sync are not read by it",
        (
            Edit(
                "ranges.append(IdRange(lo, None, count))",
                "ranges.append(IdRange(lo, previous, count))",
            ),
        ),
        ("tests/test_planner.py::test_id_ranges",),
    ),
    Mutant(
        "hard_delete_other_users",
        "reconcile with hard_delete deletes every user's rows in the id range, not only its own",
        (
            Edit(
                'f"DELETE FROM {table} WHERE {bounds} AND {listed}",',
                "f\"DELETE FROM {table} WHERE {bounds.replace('user = ?', '? IS NOT NULL')} "
                'AND {listed}",',
            ),
        ),
        ("tests/test_mirror_store.py::test_hard_delete", "torture:kill"),
    ),
    Mutant(
        "plan_made_twice",
        "prepare does not check that another process planned the user while it waited for the "
        "lease, so two loops plan (and read) one sync twice",
        (
            Edit(
                "        if not restart:\n            _unchanged_since_read(store, user)\n",
                "",
            ),
        ),
        # The concurrency campaign meets it only when two loops race for one user.
        ("tests/test_plan_race.py",),
    ),
    Mutant(
        "history_outside_page_transaction",
        "a page's versions are written after the page commits, in a transaction of their own "
        "(and a record reconcile restores gets none)",
        (
            Edit(
                "        if self._history_on(rows.user, rows.table):\n"
                "            self._versions_after_write(rows.user, rows.table, rows.ids, now)\n",
                "",
            ),
            Edit(
                "            self._advance(page.batch, page.cursor, len(records), page.done, now)\n"
                "\n    @translated\n    def reconcile_page",
                "            self._advance(page.batch, page.cursor, len(records), page.done, now)\n"
                "        if self._history_on(user, page.spec.table):\n"
                "            with self._write():\n"
                "                self._versions_after_write(user, page.spec.table, rows.ids, now)\n"
                "\n    @translated\n    def reconcile_page",
            ),
        ),
        (
            "tests/test_history.py::"
            "test_a_failure_inside_the_page_leaves_neither_versions_nor_rows_nor_cursor",
        ),
    ),
    Mutant(
        "history_gone_left_open",
        "reconcile marks a record gone but leaves its current version open",
        (
            Edit(
                "        if self._history_on(user, spec.table):\n"
                "            self._versions_after_gone(user, spec.table, after=after, "
                "hi_id=hi_id, now=now)\n",
                "",
            ),
        ),
        (
            "tests/test_history.py::test_a_record_deleted_in_odoo_closes_its_last_version",
            "torture:changes",
        ),
    ),
    Mutant(
        "history_unchanged_adds_version",
        "a record read again unchanged closes its version and opens an identical one",
        (
            Edit(
                "    if latest.open and latest.same:\n        return None",
                "    if latest.open and latest.same and latest.number < 0:\n        return None",
            ),
        ),
        (
            "tests/test_history.py::"
            "test_the_version_rules_keep_one_current_version_and_never_overlap",
            "tests/test_history.py::test_renames_between_syncs_close_the_original_and_open_the_last",
        ),
    ),
    Mutant(
        "view_joins_other_users",
        "a view takes a many2one's current name from the comodel's rows of any user",
        (
            Edit(
                """f'ON {alias}."user" = t."user" AND {alias}."id" = t.{quote(col.column)}'""",
                """f'ON {alias}."id" = t.{quote(col.column)}'""",
            ),
        ),
        ("tests/test_views.py::test_each_user_gets_names_from_its_own_mirror",),
    ),
    Mutant(
        "stream_batch_shared",
        "the lanes of a user's streams are started without looking at the batches other lanes "
        "work, so two streams page one batch from the same cursor",
        (
            Edit(
                "for batch in startable(self._ordered(), self._lanes, room):",
                "for batch in startable(self._ordered(), (), room):",
            ),
        ),
        (
            "tests/test_streams.py::"
            "test_a_sync_with_streams_equals_the_server_and_reads_each_page_once",
            "torture:concurrency",
        ),
    ),
    Mutant(
        "stream_reconcile_early",
        "a reconcile batch starts while other streams still page the user's data batches, so "
        "it reads back as missing what they have not stored yet",
        (
            Edit(
                "if batch.kind == RECONCILE and data_left:",
                "if batch.kind == RECONCILE and data_left and batch.attempts < 0:",
            ),
        ),
        (
            "tests/test_streams.py::"
            "test_startable_never_hands_out_a_busy_batch_nor_reconcile_early",
            "torture:kill",
        ),
    ),
    Mutant(
        "stream_inflight_dropped",
        "when one stream fails, the pages the other streams have in flight are thrown away, "
        "to be fetched again by the next run",
        (
            Edit(
                "            if future is None:\n                continue\n",
                "            if future is None or lane.cursor >= 0:\n                continue\n",
            ),
        ),
        (
            "tests/test_streams.py::"
            "test_a_failing_stream_fails_its_batch_and_keeps_what_the_others_read",
            "torture:faults",
        ),
    ),
    Mutant(
        "x2many_in_order",
        "test-complete compares x2many values as ordered lists, so a server whose comodel "
        "order ties fails a mirror that is exact",
        (
            Edit(
                "            return sorted(a) == sorted(b)\n",
                "            return bool(a == b)\n",
                path="odoo_sync_cli/engine/verify.py",
            ),
        ),
        ("tests/test_test_complete.py::test_x2many_are_sets_on_a_server_whose_order_ties",),
    ),
    Mutant(
        "auto_reconcile_forgotten",
        "the mirror does not record a module's reconcile, so under the auto policy a big "
        "module's deletions wait a day instead of ten reconcile durations (or forever once "
        "the day is measured from the first one)",
        (
            Edit(
                "            self.conn.executemany(\n"
                '                "UPDATE _odoosync_modules SET reconciled_at = ?, '
                'reconcile_seconds = ? "\n',
                "            (lambda *a: None)(\n"
                '                "UPDATE _odoosync_modules SET reconciled_at = ?, '
                'reconcile_seconds = ? "\n',
                path="odoo_sync_cli/mirror/sqlite/state.py",
            ),
        ),
        ("tests/test_engine_sync.py::test_auto_reconcile_spaces_a_big_module",),
    ),
    Mutant(
        "auto_reconcile_unbounded",
        "a big module's reconcile is put off whatever its age, so deletions never show",
        (
            Edit(
                "    wait = min(spacing, AUTO_RECONCILE_MAX_AGE) - (now - reconciled_at)\n",
                "    wait = min(spacing, AUTO_RECONCILE_MAX_AGE) + (now - reconciled_at)\n",
                path="odoo_sync_cli/planner.py",
            ),
        ),
        (
            "tests/test_planner.py",
            "tests/test_engine_sync.py::test_auto_reconcile_spaces_a_big_module",
        ),
    ),
)


# Surviving mutmut mutants of the pure core that no test can kill: the mutated line (as
# ``mutmut show`` prints it after "+"), in its function, and why it behaves as the original.
EQUIVALENT: dict[tuple[str, str], str] = {
    ("domain.window_start", "return format_datetime(start.replace(microsecond=1))"): (
        "format_datetime writes whole seconds, so the microsecond set just before it never "
        "reaches the result"
    ),
}


# --------------------------------------------------------------------------- planting


def make_copy(dest: Path) -> Path:
    """Copy what the checks need into ``dest``; returns it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED, symlinks=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def check_imports(copy: Path) -> None:
    """The checks must import the copy, not the package installed in .venv."""
    code, out = _run(
        [
            sys.executable,
            "-c",
            f"import {PACKAGE}, torture; print({PACKAGE}.__file__); print(torture.__file__)",
        ],
        copy,
        120,
    )
    paths = out.split()
    if code != 0 or len(paths) != 2 or not all(Path(p).is_relative_to(copy) for p in paths):
        raise HarnessError(f"a copy in {copy} does not import its own code: {out.strip()[-500:]}")


def plant(mutant: Mutant, copy: Path) -> list[str]:
    """Make the mutant's edits in ``copy``; returns the files changed. Raises HarnessError when
    a target text is missing or repeated, or the result does not compile."""
    changed: list[str] = []
    for edit in mutant.edits:
        if edit.old == edit.new:
            raise HarnessError(f"mutant {mutant.name}: an edit changes nothing")
        candidates = [copy / edit.path] if edit.path else sorted((copy / PACKAGE).rglob("*.py"))
        hits = [
            (path, path.read_text(encoding="utf-8").count(edit.old))
            for path in candidates
            if path.exists()
        ]
        found = [(path, n) for path, n in hits if n]
        total = sum(n for _, n in found)
        where = edit.path or f"{PACKAGE}/"
        if total == 0:
            raise HarnessError(
                f"mutant {mutant.name}: target text not found in {where}: "
                f"{_first_line(edit.old)!r} (did the code change? re-point the mutant)"
            )
        if total > 1:
            places = ", ".join(f"{p.relative_to(copy)} x{n}" for p, n in found)
            raise HarnessError(
                f"mutant {mutant.name}: target text found {total} times ({places}): "
                f"{_first_line(edit.old)!r}; make it unique"
            )
        path = found[0][0]
        text = path.read_text(encoding="utf-8").replace(edit.old, edit.new)
        try:
            compile(text, str(path), "exec")
        except SyntaxError as exc:
            raise HarnessError(
                f"mutant {mutant.name}: the mutated {path.name} does not compile: {exc}"
            ) from exc
        path.write_text(text, encoding="utf-8")
        changed.append(str(path.relative_to(copy)))
    return changed


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# --------------------------------------------------------------------------- checking


@dataclass
class Outcome:
    """What one check found: ``failed`` names what failed (None when all passed)."""

    failed: str | None
    seconds: float
    detail: str = ""
    failures: list[str] = field(default_factory=list)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy's package, not the one installed in .venv, in this process and every child.
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(command: Sequence[str], copy: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``command`` in ``copy``; (exit code or None on timeout, output)."""
    proc = subprocess.Popen(
        command,
        cwd=copy,
        env=_env(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
    return proc.returncode, out


_FAILED_LINE = re.compile(r"^(FAILED|ERROR) (\S+)", re.MULTILINE)


def run_pytest(targets: Sequence[str], copy: Path, *, stop_first: bool = True) -> Outcome:
    """Run pytest on ``targets`` in ``copy``; names the first failing test."""
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rfE",
        "--no-header",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-seed={SEED}",
        *(["-x"] if stop_first else []),
        *targets,
    ]
    code, out = _run(command, copy, CHECK_TIMEOUT)
    seconds = time.monotonic() - started
    label = " ".join(targets) if len(targets) < 4 else f"{len(targets)} test targets"
    if code is None:
        return Outcome(f"{label} (timed out after {CHECK_TIMEOUT:.0f} s)", seconds)
    if code == 0:
        return Outcome(None, seconds)
    if code in (4, 5):
        raise HarnessError(
            f"pytest {label}: exit {code} (no such test, or none collected):\n{out[-1500:]}"
        )
    failures = [m.group(2) for m in _FAILED_LINE.finditer(out)]
    if not failures:
        raise HarnessError(f"pytest {label}: exit {code} and no failing test named:\n{out[-1500:]}")
    return Outcome(failures[0], seconds, failures=failures)


def run_campaign(name: str, copy: Path) -> Outcome:
    """The short version of campaign ``name`` in ``copy``; names what was not clean."""
    started = time.monotonic()
    command = [sys.executable, "-m", "torture", "--short", "--only", name, "--seed", SEED]
    code, out = _run(command, copy, CHECK_TIMEOUT)
    seconds = time.monotonic() - started
    label = f"torture {name} (short)"
    if code is None:
        return Outcome(f"{label}, timed out after {CHECK_TIMEOUT:.0f} s", seconds)
    if code == 0:
        return Outcome(None, seconds)
    lines = out.strip().splitlines()
    figure = next((line for line in lines if line.startswith(name)), "")
    from torture.common import ZERO_FIGURES

    pairs = re.findall(r"(?:^|, )([a-z_ ]+?) (\d+(?:\.\d+)?)", figure.split(None, 2)[-1])
    bad = [f"{k} {v}" for k, v in pairs if k in ZERO_FIGURES and float(v) != 0]
    first = next((line.strip() for line in lines if line.startswith("    ")), "")
    detail = ", ".join(bad) if bad else (first[:160] or (lines[-1] if lines else f"exit {code}"))
    return Outcome(f"{label}: {detail}", seconds)


def run_checks(checks: Sequence[str], copy: Path, *, every: bool = False) -> Outcome:
    """Run ``checks`` in order until one fails (pytest targets side by side go in one run);
    with ``every``, run them all and name every one that failed."""
    total = 0.0
    caught: list[str] = []
    for group in _groups(checks) if not every else [[c] for c in checks]:
        if group[0].startswith("torture:"):
            outcome = run_campaign(group[0].partition(":")[2], copy)
        else:
            outcome = run_pytest(group, copy)
        total += outcome.seconds
        if outcome.failed:
            caught.append(outcome.failed)
            if not every:
                break
    if not caught:
        return Outcome(None, total)
    missed = len(checks) - len(caught) if every else 0
    note = f"{missed} of {len(checks)} checks did not catch it" if missed else ""
    return Outcome(", ".join(caught), total, detail=note)


def _groups(checks: Sequence[str]) -> list[list[str]]:
    groups: list[list[str]] = []
    for check in checks:
        if check.startswith("torture:") or not groups or groups[-1][0].startswith("torture:"):
            groups.append([check])
        else:
            groups[-1].append(check)
    return groups


# --------------------------------------------------------------------------- the runs


def baseline(mutants: Sequence[Mutant], work: Path) -> float:
    """Every check named runs once on the unchanged code and must pass."""
    copy = make_copy(work / "baseline")
    checks = list(dict.fromkeys(c for m in mutants for c in m.checks))
    tests = [c for c in checks if not c.startswith("torture:")]
    campaigns = [c for c in checks if c.startswith("torture:")]
    started = time.monotonic()
    for group in ([tests] if tests else []) + [[c] for c in campaigns]:
        outcome = run_checks(group, copy)
        if outcome.failed:
            raise HarnessError(
                f"without any mutant, {outcome.failed} fails: fix that first "
                "(a failing check would pass for a catch)"
            )
    return time.monotonic() - started


def try_mutant(
    mutant: Mutant, work: Path, thorough: bool, every: bool = False
) -> tuple[Mutant, Outcome]:
    copy = make_copy(work / mutant.name)
    plant(mutant, copy)
    try:
        if thorough:
            # tests/test_mutants.py checks this runner against the unchanged code: every
            # mutant changes a target text it looks for, so it would count as a catch.
            outcome = run_pytest(
                ["tests", "--ignore=tests/test_mutants.py"], copy, stop_first=False
            )
            if outcome.failed:
                names = [f.removeprefix("tests/") for f in outcome.failures]
                outcome.detail = f"{len(names)} tests failed: " + ", ".join(names[:12])
        else:
            outcome = run_checks(mutant.checks, copy, every=every)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return mutant, outcome


def report_line(mutant: Mutant, outcome: Outcome) -> str:
    took = f"({outcome.seconds:.0f} s)"
    if outcome.failed is None:
        return f"{mutant.name:<30} SURVIVED {took}: {mutant.bug}"
    extra = f"; {outcome.detail}" if outcome.detail else ""
    return f"{mutant.name:<30} caught by {outcome.failed}{extra} {took}"


def run_mutants(
    mutants: Sequence[Mutant],
    *,
    thorough: bool,
    every: bool,
    jobs: int,
    check_baseline: bool,
    keep: bool,
) -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="odoosync-mutants-"))
    try:
        # Every target text first: a stale mutant stops the run before anything slow.
        for mutant in mutants:
            plant(mutant, make_copy(work / "probe" / mutant.name))
        check_imports(work / "probe" / mutants[0].name)
        shutil.rmtree(work / "probe")
        if check_baseline and not thorough:
            seconds = baseline(mutants, work)
            print(f"{'(no mutant)':<30} every check passes ({seconds:.0f} s)", flush=True)
        caught = 0
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(try_mutant, m, work, thorough, every) for m in mutants]
            for future in futures:
                mutant, outcome = future.result()
                caught += outcome.failed is not None
                print(report_line(mutant, outcome), flush=True)
        survived = len(mutants) - caught
        print(f"took {time.monotonic() - started:.0f} s", flush=True)
        print(f"mutants: {len(mutants)} planted, {caught} caught, {survived} survived", flush=True)
        return 0 if survived == 0 else 1
    finally:
        if keep:
            print(f"copies kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- mutmut


def run_pure(keep: bool) -> int:
    """mutmut on domain.py and planner.py with their own tests; prints the score."""
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        raise HarnessError("mutmut is not installed in this environment: run scripts/bootstrap")
    work = Path(tempfile.mkdtemp(prefix="odoosync-mutmut-"))
    started = time.monotonic()
    try:
        copy = make_copy(work / "repo")
        code, out = _run([str(mutmut), "run", "--max-children", "2"], copy, 3600)
        if code != 0:
            raise HarnessError(f"mutmut run exited {code}:\n{out[-2000:]}")
        code, out = _run([str(mutmut), "results", "--all", "true"], copy, 600)
        statuses = dict(line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
        killed = [n for n, s in statuses.items() if s == "killed"]
        survivors = [n for n, s in statuses.items() if s != "killed"]
        explained: list[str] = []
        unexplained: list[str] = []
        for name in survivors:
            _, show = _run([str(mutmut), "show", name], copy, 600)
            key = (_function_of(name), _mutated_line(show))
            why = EQUIVALENT.get(key)
            if why:
                explained.append(f"  equivalent {name}: {key[1]}\n      {why}")
            else:
                unexplained.append(f"  SURVIVED {name} ({statuses[name]}):\n{_diff_lines(show)}")
        total = len(statuses)
        score = 100.0 * (len(killed) + len(explained)) / total if total else 0.0
        for line in explained + unexplained:
            print(line)
        print(f"took {time.monotonic() - started:.0f} s")
        print(
            f"mutmut: {total} mutants of domain.py and planner.py, {len(killed)} killed, "
            f"{len(explained)} equivalent, {len(unexplained)} survived; "
            f"score {100.0 * len(killed) / total if total else 0.0:.1f}% "
            f"({score:.1f}% counting the equivalent ones)"
        )
        return 0 if not unexplained else 1
    finally:
        if keep:
            print(f"copy kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _function_of(name: str) -> str:
    # odoo_sync_cli.domain.x_window_start__mutmut_7 -> domain.window_start
    module, _, rest = name.removeprefix(f"{PACKAGE}.").partition(".x_")
    return f"{module}.{rest.rpartition('__mutmut_')[0]}"


def _mutated_line(show: str) -> str:
    added = [
        line[1:].strip()
        for line in show.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return " / ".join(added)


def _diff_lines(show: str) -> str:
    return "\n".join(
        f"      {line}"
        for line in show.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


# --------------------------------------------------------------------------- the command


def _select(names: Iterable[str] | None) -> list[Mutant]:
    if not names:
        return list(MUTANTS)
    known = {m.name: m for m in MUTANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise HarnessError(f"unknown mutant(s) {', '.join(unknown)}; see --list")
    return [known[n] for n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/mutants",
        description="Plant known bugs one at a time in a copy of the code; each must be caught.",
    )
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and their checks")
    parser.add_argument(
        "--thorough", action="store_true", help="run the whole suite against each mutant"
    )
    parser.add_argument(
        "--every-check",
        action="store_true",
        help="run every check named for a mutant, not only until the first catch",
    )
    parser.add_argument("--pure", action="store_true", help="mutmut on domain.py and planner.py")
    parser.add_argument("--jobs", type=int, default=1, help="mutants at once (default 1)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip running the checks without a mutant"
    )
    parser.add_argument("--keep", action="store_true", help="keep the copies (to debug)")
    args = parser.parse_args(argv)
    try:
        if args.pure:
            return run_pure(args.keep)
        mutants = _select(args.only)
        if args.list:
            for m in mutants:
                print(f"{m.name:<30} {m.bug}\n{'':<30} checks: {', '.join(m.checks)}")
            return 0
        return run_mutants(
            mutants,
            thorough=args.thorough,
            every=args.every_check,
            jobs=args.jobs,
            check_baseline=not args.no_baseline,
            keep=args.keep,
        )
    except HarnessError as exc:
        print(f"scripts/mutants: {exc}", file=sys.stderr)
        return 2


__all__ = ["EQUIVALENT", "MUTANTS", "Edit", "HarnessError", "Mutant", "main", "plant"]

if __name__ == "__main__":
    sys.exit(main())

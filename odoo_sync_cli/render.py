"""Everything the terminal shows: lines, tables, JSON, errors. The only module that imports rich."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from odoo_sync_cli.engine import (
    ClearResult,
    PrepareResult,
    QueueResult,
    SecretChanged,
    SecretsUpgrade,
    StepReport,
    UserAdded,
    UserInfo,
    UserRemoved,
    UserStatus,
    status_json,
)
from odoo_sync_cli.engine.diagnostics import CursorReport
from odoo_sync_cli.engine.verify import SHOWN_PROBLEMS, CompletenessReport
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.models import RECONCILE, Batch
from odoo_sync_cli.progress import (
    BatchFailed,
    BatchFinished,
    BatchStarted,
    Event,
    Note,
    PageStored,
    Reporter,
    TeeReporter,
    UserFinished,
    UserStarted,
    UserState,
    UserTotals,
)
from odoo_sync_cli.scheduler import LoopSummary

# Consoles resolve sys.stdout/sys.stderr when they print, so test runners can capture them.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {
    "done": "green",
    "in_progress": "cyan",
    "not_started": "yellow",
    "failed": "red",
    "idle": "dim",
}


def _line(*parts: str | tuple[str, str]) -> None:
    out.print(Text.assemble(*parts))


def _table(table: Table) -> None:
    # A pipe or a file gets the whole table: rich would otherwise cut cells to 80 columns.
    if out.is_terminal:
        out.print(table)
    else:
        Console(highlight=False, width=240, file=sys.stdout).print(table)


def error(message: str) -> None:
    """One red line on stderr."""
    err.print(Text(f"Error: {message}", style="red"))


def traceback_text() -> None:
    """The traceback of the exception being handled, for --debug."""
    sys.stderr.write(traceback.format_exc())


def _dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def user_added(result: UserAdded) -> None:
    u = result.user
    if result.checked:
        _line(
            "Added user ",
            (u.name, "bold"),
            f": {u.url} database {u.database} as {u.login}; server {_dash(u.server_version)} "
            f"over {_dash(u.protocol_used)}. Secret kept in {result.secret_where}. "
            "Status: not_started.",
        )
    else:
        _line(
            "Added user ",
            (u.name, "bold"),
            f": {u.url} database {u.database} as {u.login} (connection not checked). "
            f"Secret kept in {result.secret_where}. Status: not_started.",
        )


def secret_changed(changed: SecretChanged) -> None:
    user = changed.user
    if changed.moved:
        _line(
            "Moved the secret of ",
            (user.name, "bold"),
            f" to {changed.secret_where} (secretSource {user.secret_source}).",
        )
    else:
        _line(
            "Replaced the secret of ",
            (user.name, "bold"),
            f" (kept in {changed.secret_where}); server {_dash(user.server_version)} over "
            f"{_dash(user.protocol_used)}.",
        )
    if changed.note:
        err.print(Text(f"Warning: {changed.note}", style="yellow"))


def secrets_moved(upgrade: SecretsUpgrade) -> None:
    """The upgrade of a database that held secrets in clear: one line per secret, on stderr."""
    for m in upgrade.moved:
        err.print(
            Text(
                f"Moved the secret of user '{m.user}' out of the database into {m.where} "
                f"(secretSource {m.source}).",
                style="yellow",
            )
        )
    if upgrade.moved and upgrade.scrubbed:
        err.print(
            Text(
                "The database no longer holds any secret; its freed pages were overwritten. "
                "Copies made before now still hold them: delete those, or rotate the keys.",
                style="yellow",
            )
        )
    elif upgrade.scrubbed:
        err.print(
            Text(
                "The database's old pages (which may have held secrets an older odoosync "
                "kept) are now overwritten.",
                style="yellow",
            )
        )
    elif upgrade.scrubbed is False:
        err.print(
            Text(
                "Another process holds the database open, so its old pages (which may hold "
                "secrets an older odoosync kept) are not overwritten yet; the next command "
                "tries again.",
                style="yellow",
            )
        )


def user_table(users: Sequence[UserInfo], *, as_json: bool = False) -> None:
    if as_json:
        rows = [
            {
                "user": u.name,
                "url": u.url,
                "database": u.database,
                "login": u.login,
                "protocolSetting": u.protocol,
                "secretSource": u.secret_source,
                "syncStatus": u.status,
                "serverVersion": u.server_version,
                "protocol": u.protocol_used,
                "lastSuccess": u.last_success,
            }
            for u in users
        ]
        _json({"users": rows})
        return
    if not users:
        out.print(
            "No users yet. Add one with `odoosync user add NAME --url ... --db ... --login ...`."
        )
        return
    table = Table("user", "url", "database", "login", "protocol", "secret", "status", "server")
    for u in users:
        table.add_row(
            u.name,
            u.url,
            u.database,
            u.login,
            u.protocol_used or u.protocol,
            u.secret_source,
            Text(u.status, style=STATUS_STYLE.get(u.status, "")),
            _dash(u.server_version),
        )
    _table(table)


def removed(result: UserRemoved) -> None:
    if result.secret_source.startswith("env:"):
        secret = f"; its secret stays in {result.secret_where}, which odoosync never changes"
    elif result.secret_source == "none" or result.note:
        secret = ""
    else:
        secret = f"; its secret is removed from {result.secret_where}"
    _line(
        "Removed user ",
        (result.user, "bold"),
        f" and {result.counts.records} mirrored record(s){secret}.",
    )
    if result.note:
        err.print(Text(f"Warning: {result.note}", style="yellow"))


def prepare_results(results: Sequence[PrepareResult]) -> None:
    for r in results:
        if r.refused:
            _line((r.user, "bold"), ": ", (r.refused, "yellow"))
            continue
        if r.error is not None:
            error(f"{r.user}: {r.error}")
            continue
        total = sum(m.batches for m in r.modules) + sum(1 for m in r.modules if m.reconcile)
        _line(
            (r.user, "bold"),
            f": planned {total} batch(es) on {_dash(r.server_version)} over {_dash(r.protocol)};"
            " status in_progress",
        )
        for m in r.modules:
            if m.skipped:
                _line(f"  {m.module}: ", (m.skipped, "yellow"))
                continue
            what = (
                f"{m.batches} id range(s)"
                if m.kind == "full"
                else f"changes since {m.window_lo or 'the start'}"
            )
            extra = ", then reconcile" if m.reconcile else ""
            _line(
                f"  {m.module} ({m.model}, {m.fields} fields): {m.kind} sync, {what}, "
                f"~{m.expected} record(s){extra}"
            )


class StepPrinter:
    """A reporter that prints one line per finished batch, and the notes worth reading."""

    def emit(self, event: Event) -> None:
        match event:
            case BatchFinished(user=user, batch=batch) if batch.kind != RECONCILE:
                # A reconcile's note says more than its batch line would.
                if batch.kind == "full":
                    top = "+" if batch.hi_id is None else str(batch.hi_id)
                    where = f"ids {batch.lo_id + 1}..{top}"
                else:
                    where = f"changed since {batch.window_lo or 'the start'}"
                _line(
                    (user, "bold"),
                    f" {batch.module} batch {batch.seq} ({batch.kind}, {where}): "
                    f"{batch.synced} record(s) in {batch.pages} page(s)",
                )
            case BatchFailed(user=user, batch=batch, error=error):
                _line(
                    (user, "bold"),
                    f" {batch.module} batch {batch.seq} failed at cursor {batch.cursor}: ",
                    (error, "red"),
                )
            case Note(user=user, message=message):
                _line((user, "bold"), f" {message}")
            case UserFinished(user=user, status=status):
                _line((user, "bold"), ": sync ", (status, STATUS_STYLE.get(status, "")))


def step_report(report: StepReport) -> None:
    worked = [u for u in report.users if u.pages or u.error or u.note or u.status]
    if not worked:
        out.print("Nothing to do: no user is in progress.")
        return
    for u in report.users:
        if u.error is not None:
            error(f"{u.user}: {u.error}")
        elif u.note:
            _line((u.user, "bold"), f": {u.note}")
        elif u.status == "in_progress" and u.pages:
            _line(
                (u.user, "bold"),
                f": {u.pages} page(s), {u.records} record(s) this step; still in progress",
            )
    if report.budget_exhausted and any(u.status == "in_progress" for u in report.users):
        out.print(Text("Budget used up; run `odoosync step` again to continue.", style="dim"))


def status_table(statuses: Sequence[UserStatus], *, as_json: bool = False) -> None:
    if as_json:
        _json(status_json(statuses))
        return
    if not statuses:
        out.print("No users yet. Add one with `odoosync user add`.")
        return
    for s in statuses:
        i = s.info
        _line(
            (i.name, "bold"),
            f"  {i.url} db {i.database} as {i.login}  ",
            (i.status, STATUS_STYLE.get(i.status, "")),
            f"  {s.percent:.1f}%",
        )
        _line(
            f"  server {_dash(i.server_version)} over {_dash(i.protocol_used)}; "
            f"connection info {'available' if s.connection_info_available else 'MISSING'}; "
            f"batches {s.batches_done}/{s.batches_total}; "
            f"records {s.records_synced}/{s.records_expected}"
        )
        _line(f"  last success {_dash(i.last_success)}")
        if i.last_error:
            _line("  last error ", (i.last_error, "red"))
        if s.modules:
            table = Table("module", "model", "batches", "records", "%", "mirrored", "high water")
            for m in s.modules:
                p = m.progress
                if p.state != "ok":
                    table.add_row(
                        p.module, p.model, "-", "-", "-", "-", Text(p.note or p.state, "yellow")
                    )
                    continue
                table.add_row(
                    p.module,
                    p.model,
                    f"{p.batches_done}/{p.batches_total}",
                    f"{p.records_synced}/{p.records_expected}",
                    f"{m.percent:.1f}",
                    str(p.mirrored),
                    _dash(m.high_water),
                )
            _table(table)
            for m in s.modules:
                if m.progress.state == "ok" and m.progress.note:
                    _line(f"  {m.progress.module}: ", (m.progress.note, "yellow"))


def clear_results(results: Sequence[ClearResult]) -> None:
    for r in results:
        scope = f"module {r.module}" if r.module else "all modules"
        after = "" if r.module else "; status idle (queue it again with `odoosync queue`)"
        versions = f", {r.counts.versions} history version(s)" if r.counts.versions else ""
        _line(
            "Cleared ",
            (r.user, "bold"),
            f" ({scope}): {r.counts.records} record(s){versions}, "
            f"{r.counts.batches} batch(es){after}",
        )


def queue_results(results: Sequence[QueueResult], *, verb: str = "queued") -> None:
    for r in results:
        if r.refused:
            _line((r.user, "bold"), ": ", (r.refused, "yellow"))
        elif r.requeued_batches:
            _line(
                (r.user, "bold"),
                f": {r.requeued_batches} failed batch(es) re-queued; status {r.status}. "
                "Continue with `odoosync step`.",
            )
        else:
            _line(
                (r.user, "bold"), f": {verb}; status {r.status}. Plan it with `odoosync prepare`."
            )


def _json(data: Any) -> None:
    # Plain text, not rich: scripts parse this, so no colour and no wrapping.
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- loop and test-complete

LOOP_LOG = logging.getLogger("odoosync.loop")

LOOP_STATE_STYLE = {
    **STATUS_STYLE,
    "preparing": "yellow",
    "syncing": "cyan",
    "retrying": "yellow",
    "waiting": "magenta",
    "busy": "magenta",
}
_WARN_STATES = frozenset({"failed", "waiting"})


@dataclass
class _Tally:
    """A user's plan as a display last knew it: updated from totals and from pages."""

    synced: int = 0
    expected: int = 0
    batches_done: int = 0
    batches_total: int = 0
    state: str = ""
    module: str = ""
    message: str | None = None

    def take(self, totals: UserTotals) -> None:
        """The figures read from the mirror replace the ones counted from pages."""
        self.synced, self.expected = totals.records_synced, totals.records_expected
        self.batches_done, self.batches_total = totals.batches_done, totals.batches_total

    def fraction(self) -> str:
        return (
            f"{self.synced:,}/{self.expected:,} records, "
            f"{self.batches_done}/{self.batches_total} batches"
        )


def _where(batch: Batch) -> str:
    if batch.kind == RECONCILE:
        return "reconcile"
    if batch.kind == "full":
        top = "+" if batch.hi_id is None else str(batch.hi_id)
        return f"full, ids {batch.lo_id + 1}..{top}"
    return f"{batch.kind}, changed since {batch.window_lo or 'the start'}"


class LogRenderer:
    """Plain timestamped lines for a pipe, a file or cron, through the ``odoosync.loop`` logger.

    One line per finished batch and per change of a user's state; ``--verbose`` (DEBUG) adds
    one per page. No colour, no cursor movement: what a log file can hold. Thread-safe.
    """

    def __init__(self, log: logging.Logger = LOOP_LOG) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._users: dict[str, _Tally] = {}

    def _tally(self, user: str) -> _Tally:
        return self._users.setdefault(user, _Tally())

    def emit(self, event: Event) -> None:
        match event:
            case UserStarted(user=user):
                with self._lock:
                    t = self._tally(user)
                    t.batches_total, t.batches_done = event.batches_total, event.batches_done
            case BatchStarted(user=user, batch=batch):
                self.log.debug(
                    "%s %s batch %d (%s) started", user, batch.module, batch.seq, _where(batch)
                )
            case PageStored(user=user, batch=batch, records=records):
                with self._lock:
                    if batch.kind != RECONCILE:
                        self._tally(user).synced += records
                self.log.debug(
                    "%s %s batch %d: page of %d record(s), cursor at id %d",
                    user,
                    batch.module,
                    batch.seq,
                    records,
                    batch.cursor,
                )
            case BatchFinished(user=user, batch=batch):
                self._batch_finished(user, batch)
            case BatchFailed(user=user, batch=batch, error=error):
                self.log.warning(
                    "%s %s batch %d failed at cursor %d: %s",
                    user,
                    batch.module,
                    batch.seq,
                    batch.cursor,
                    error,
                )
            case Note(user=user, message=message):
                self.log.info("%s: %s", user, message)
            case UserFinished(user=user, status=status):
                with self._lock:
                    t = self._tally(user)
                    t.state = status
                    where = t.fraction()
                self.log.info("%s: %s; %s", user, status, where)
            case UserState(user=user, state=state, message=message):
                self._state(user, state, message)
            case UserTotals(user=user):
                with self._lock:
                    self._tally(user).take(event)

    def _batch_finished(self, user: str, batch: Batch) -> None:
        with self._lock:
            t = self._tally(user)
            t.batches_done += 1
            where = t.fraction()
        if batch.kind == RECONCILE:
            return  # the reconcile's note says what it found
        self.log.info(
            "%s %s batch %d done (%s): %d record(s) in %d page(s); %s",
            user,
            batch.module,
            batch.seq,
            _where(batch),
            batch.synced,
            batch.pages,
            where,
        )

    def _state(self, user: str, state: str, message: str | None) -> None:
        with self._lock:
            t = self._tally(user)
            if t.state == state and t.message == message:
                return
            t.state, t.message = state, message
        level = logging.WARNING if state in _WARN_STATES else logging.INFO
        if message:
            self.log.log(level, "%s: %s: %s", user, state, message)
        else:
            self.log.log(level, "%s: %s", user, state)


class _RecordsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = int(task.total) if task.total is not None else 0
        return Text(f"{int(task.completed):,}/{total:,} rec")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-" if not speed else f"{speed:,.0f}/s", style="dim")


class ProgressRenderer:
    """One rich progress bar per user, for a terminal; notes and failures print above them.

    Each bar shows the user, a status word, records synced of expected, batches done of
    planned, the rate (records per second), the time left and the module being synced; the
    columns are kept narrow so that a bar fits on one line of an 80-column terminal.
    Thread-safe: rich's ``Progress`` locks its own updates, and this class locks its per-user
    state.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or out
        self.progress = Progress(
            TextColumn("[bold]{task.fields[user]}"),
            TextColumn("{task.fields[state]}"),
            BarColumn(bar_width=16),
            _RecordsColumn(table_column=Column(no_wrap=True)),
            TextColumn("batches {task.fields[batches]}", table_column=Column(no_wrap=True)),
            _RateColumn(table_column=Column(no_wrap=True)),
            TimeRemainingColumn(),
            TextColumn(
                "{task.fields[module]}",
                style="dim",
                table_column=Column(no_wrap=True, overflow="ellipsis", max_width=14),
            ),
            console=self.console,
            refresh_per_second=4,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._users: dict[str, _Tally] = {}

    def __enter__(self) -> ProgressRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, user: str) -> tuple[TaskID, _Tally]:
        task = self._tasks.get(user)
        if task is None:
            task = self._tasks[user] = self.progress.add_task(
                user, total=None, user=escape(user), state="", batches="0/0", module=""
            )
        return task, self._users.setdefault(user, _Tally())

    def _draw(self, task: TaskID, t: _Tally) -> None:
        style = LOOP_STATE_STYLE.get(t.state, "")
        total = max(t.expected, t.synced)
        self.progress.update(
            task,
            total=total if total or t.state == "done" else None,
            completed=t.synced,
            state=f"[{style}]{escape(t.state)}[/]" if style else escape(t.state),
            batches=f"{t.batches_done}/{t.batches_total}",
            module=escape(t.module),
        )

    def _say(self, *parts: str | tuple[str, str]) -> None:
        self.console.print(Text.assemble(*parts))

    def emit(self, event: Event) -> None:
        match event:
            case BatchFailed(user=user, batch=batch, error=error):
                self._say(
                    (user, "bold"),
                    f" {batch.module} batch {batch.seq} failed at cursor {batch.cursor}: ",
                    (error, "red"),
                )
                return
            case Note(user=user, message=message):
                self._say((user, "bold"), f": {message}")
                return
        with self._lock:
            task, t = self._task(event.user)
            said = self._update(t, event)
            self._draw(task, t)
        if said is not None:
            self._say((event.user, "bold"), ": ", said[0], f": {said[1]}")

    def _update(self, t: _Tally, event: Event) -> tuple[tuple[str, str], str] | None:
        """Bring the user's tally up to date; a state change worth a line, if any."""
        match event:
            case UserStarted():
                t.batches_total, t.batches_done = event.batches_total, event.batches_done
            case BatchStarted(batch=batch):
                t.module = (
                    batch.module if batch.kind != RECONCILE else f"{batch.module} (reconcile)"
                )
            case PageStored(batch=batch, records=records) if batch.kind != RECONCILE:
                t.synced += records
            case BatchFinished():
                t.batches_done += 1
            case UserFinished(status=status):
                t.state, t.module = status, ""
                if status == "done":
                    t.synced = max(t.synced, t.expected)
            case UserState(state=state, message=message):
                changed = (t.state, t.message) != (state, message)
                t.state, t.message = state, message
                if changed and message and state in _WARN_STATES | {"busy", "retrying"}:
                    return (state, LOOP_STATE_STYLE.get(state, "")), message
            case UserTotals():
                t.take(event)
        return None


@contextmanager
def loop_logging(
    *, stream: IO[str] | None, level: int, log_file: Path | None
) -> Iterator[logging.Logger]:
    """Send the loop's log lines to ``stream`` (at ``level``) and to ``log_file``, for a while."""
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    # A NullHandler keeps logging's last-resort handler from printing when no other is set.
    handlers: list[logging.Handler] = [logging.NullHandler()]
    if stream is not None:
        handlers.append(logging.StreamHandler(stream))
        handlers[-1].setLevel(level)
    if log_file is not None:
        try:
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot write the log file {log_file} ({exc.strerror})") from exc
        handlers[-1].setLevel(min(level, logging.INFO))
    for h in handlers:
        h.setFormatter(formatter)
        LOOP_LOG.addHandler(h)
    LOOP_LOG.setLevel(logging.DEBUG)
    LOOP_LOG.propagate = False
    try:
        yield LOOP_LOG
    finally:
        for h in handlers:
            LOOP_LOG.removeHandler(h)
            h.close()


@contextmanager
def loop_reporter(
    *, verbose: bool = False, quiet: bool = False, log_file: Path | None = None
) -> Iterator[Reporter]:
    """Bars in a terminal, plain log lines elsewhere (and in ``log_file`` either way)."""
    bars = out.is_terminal and not quiet
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    with loop_logging(stream=None if bars else sys.stdout, level=level, log_file=log_file):
        log = LogRenderer()
        if not bars:
            yield log
            return
        with ProgressRenderer() as display:
            yield TeeReporter(display, log)


def say(message: str, style: str = "") -> None:
    """One line of the loop's own (a URL, a stop request), plain when not in a terminal."""
    _line((message, style))


def loop_summary(summary: LoopSummary) -> None:
    how = "Stopped" if summary.stopped else "Finished"
    rate = f" ({summary.records / summary.seconds:,.0f} records/s)" if summary.seconds > 0 else ""
    counts = ", ".join(
        f"{n} {status}"
        for status in ("done", "in_progress", "failed", "not_started", "idle")
        if (n := summary.count(status))
    )
    _line(
        (f"{how} after {summary.seconds:.1f} s: ", "bold"),
        f"{len(summary.users)} user(s) ({counts or 'none'}); {summary.records:,} record(s) in "
        f"{summary.pages:,} page(s){rate}",
    )
    for u in summary.failed:
        later = f" (next try in {u.retry_in:.0f} s)" if u.retry_in else ""
        _line((u.user, "bold"), ": ", (f"failed: {u.last_error or 'see status'}{later}", "red"))


def cursor_report(report: CursorReport, *, as_json: bool = False) -> None:
    if as_json:
        _json(report.to_dict())
        return
    bound = f" (the first {report.examined:,})" if report.bounded else ""
    _line(
        (report.user, "bold"),
        f": {report.model} on Odoo {report.server_version}, {report.records:,} record(s)"
        f"{bound}, pages of {report.page_size}; datetime semantics: ",
        (report.semantics, "bold"),
    )
    table = Table("#", "check", "result", "what was seen", show_lines=True)
    for n, check in enumerate(report.checks, start=1):
        table.add_row(
            str(n),
            check.title,
            Text("PASS", "green") if check.passed else Text("FAIL", "bold red"),
            check.detail,
        )
    _table(table)
    if report.passed:
        _line((f"All {len(report.checks)} checks passed.", "green"))
    else:
        _line((f"{len(report.failed)} of {len(report.checks)} checks failed.", "red"))


def cursor_progress(message: str) -> None:
    """A step of validate-cursor, on stderr so that --json output stays clean."""
    if err.is_terminal:
        err.print(Text(message, style="dim"))


def complete_report(report: CompletenessReport) -> None:
    table = Table(
        "module",
        "model",
        "records",
        "in Odoo",
        "batches",
        "pages",
        "time",
        "records/s",
        "retries",
        "sampled",
        "result",
    )
    for m in report.modules:
        if m.skipped:
            table.add_row(m.module, m.model, *["-"] * 8, Text(f"skipped: {m.skipped}", "yellow"))
            continue
        problems = len(m.problems())
        table.add_row(
            m.module,
            m.model,
            f"{m.mirror_count:,}",
            f"{m.server_count:,}",
            str(m.batches),
            str(m.pages),
            f"{m.seconds:.1f} s" if report.synced else "-",
            f"{m.rate:,.0f}" if m.rate and report.synced else "-",
            str(m.retries),
            str(m.sampled),
            Text("ok", "green") if not problems else Text(f"{problems} problem(s)", "bold red"),
        )
    _table(table)
    for m in report.modules:
        if m.note:
            _line(f"  {m.module}: ", (m.note, "yellow"))
    what = f"synced in {report.sync_seconds:.1f} s, " if report.synced else ""
    if report.passed:
        _line(
            ("test-complete passed", "bold green"),
            f" for {report.user}: {what}verified in {report.verify_seconds:.1f} s.",
        )
        return
    listed = report.problems()
    for problem in listed[:SHOWN_PROBLEMS]:
        _line(("  " + problem, "red"))
    if len(listed) > SHOWN_PROBLEMS:
        _line((f"  ... and {len(listed) - SHOWN_PROBLEMS} more", "red"))

"""Everything the terminal shows: lines, tables, JSON, errors. The only module that imports rich."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from odoo_sync_cli.engine import (
    ClearResult,
    PrepareResult,
    QueueResult,
    StepReport,
    UserAdded,
    UserInfo,
    UserStatus,
    status_json,
)
from odoo_sync_cli.planner import RECONCILE
from odoo_sync_cli.store import Batch, ClearCounts

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
    out.print(table, width=None if out.is_terminal else 240)


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
            f"over {_dash(u.protocol_used)}. Status: not_started.",
        )
    else:
        _line(
            "Added user ",
            (u.name, "bold"),
            f": {u.url} database {u.database} as {u.login} (connection not checked). "
            "Status: not_started.",
        )


def secret_replaced(user: UserInfo) -> None:
    _line(
        "Replaced the secret of ",
        (user.name, "bold"),
        f" (kept in {user.secret_source}); server {_dash(user.server_version)} over "
        f"{_dash(user.protocol_used)}.",
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


def removed(name: str, counts: ClearCounts) -> None:
    _line("Removed user ", (name, "bold"), f" and {counts.records} mirrored record(s).")


def prepare_results(results: Sequence[PrepareResult]) -> None:
    for r in results:
        if r.refused:
            _line((r.user, "bold"), ": ", (r.refused, "yellow"))
            continue
        if r.error is not None:
            _line((r.user, "bold"), ": ", (str(r.error), "red"))
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

    def user_started(self, user: str, batches_total: int, batches_done: int) -> None:
        pass

    def batch_started(self, user: str, batch: Batch) -> None:
        pass

    def page_stored(self, user: str, batch: Batch, records: int) -> None:
        pass

    def batch_finished(self, user: str, batch: Batch) -> None:
        if batch.kind == RECONCILE:
            return  # the reconcile note says more
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

    def batch_failed(self, user: str, batch: Batch, error: str) -> None:
        _line(
            (user, "bold"),
            f" {batch.module} batch {batch.seq} failed at cursor {batch.cursor}: ",
            (error, "red"),
        )

    def note(self, user: str, message: str) -> None:
        _line((user, "bold"), f" {message}")

    def user_finished(self, user: str, status: str) -> None:
        _line((user, "bold"), ": sync ", (status, STATUS_STYLE.get(status, "")))


def step_report(report: StepReport) -> None:
    worked = [u for u in report.users if u.pages or u.error or u.note or u.status]
    if not worked:
        out.print("Nothing to do: no user is in progress.")
        return
    for u in report.users:
        if u.error is not None:
            _line((u.user, "bold"), ": ", (str(u.error), "red"))
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


def clear_results(results: Sequence[ClearResult]) -> None:
    for r in results:
        scope = f"module {r.module}" if r.module else "all modules"
        after = "" if r.module else "; status idle (queue it again with `odoosync queue`)"
        _line(
            "Cleared ",
            (r.user, "bold"),
            f" ({scope}): {r.counts.records} record(s), {r.counts.batches} batch(es){after}",
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

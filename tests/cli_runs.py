"""Running the command line in-process, and what a one-line error looks like."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from odoo_sync_cli.cli import app


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def one_line(result: Result) -> str:
    """The one line an error is said in (on stderr, after ``Error: ``), never a traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]

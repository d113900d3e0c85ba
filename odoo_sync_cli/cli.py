"""The `odoosync` command line: parse, call one engine function, render."""

from __future__ import annotations

from typing import Annotated

import typer

from odoo_sync_cli import __version__

app = typer.Typer(
    name="odoosync",
    help="Keep an exact local SQLite mirror of Odoo records for one or more Odoo accounts.",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"odoosync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Keep an exact local SQLite mirror of Odoo records for one or more Odoo accounts."""


def main() -> None:
    app()

"""Every command of the CLI has help text and is shown in README.md as `odoosync <command>`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from odoo_sync_cli.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command under ``group``, subcommands included, as ('user add', command)."""
    for name, command in group.commands.items():
        if command.hidden:
            continue
        path = " ".join((*prefix, name))
        yield path, command
        if hasattr(command, "commands"):  # a group: walk into it
            yield from commands(command, (*prefix, name))


def top() -> Any:
    return typer.main.get_command(app)


def test_the_walk_finds_the_commands() -> None:
    found = dict(commands(top()))
    for name in ("loop", "validate-cursor", "test-complete", "status", "user", "user add"):
        assert name in found, sorted(found)


def test_every_command_has_help_text() -> None:
    missing = [
        name
        for name, command in commands(top())
        if not (command.help or command.short_help or "").strip()
    ]
    assert not missing, f"commands without help text: {', '.join(missing)}"


def test_every_command_appears_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    missing = [f"odoosync {name}" for name, _ in commands(top()) if f"odoosync {name}" not in text]
    assert not missing, "README.md does not show: " + ", ".join(missing)

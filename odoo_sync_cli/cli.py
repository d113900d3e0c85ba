"""The `odoosync` command line: parse, call one engine function, render.

Errors meet one handler (:class:`_Group`): an ``OdooSyncError`` becomes one red line on stderr
and the exit code of its class; anything unexpected becomes one line too, unless ``--debug``
asks for the traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from typer.core import TyperGroup

from odoo_sync_cli import __version__, engine, render
from odoo_sync_cli.config import Settings, load_settings
from odoo_sync_cli.credentials import NewSecret
from odoo_sync_cli.errors import ConfigError, OdooSyncError, VerificationError
from odoo_sync_cli.monitor import StatusServer
from odoo_sync_cli.odoo import AUTO, PROTOCOLS
from odoo_sync_cli.scheduler import WORKERS_CEILING, Scheduler, stop_on_signals


@dataclass
class _State:
    config: Path | None = None
    db: str | None = None
    debug: bool = False

    def settings(self) -> Settings:
        settings = load_settings(self.config, db=self.db)
        # A database from before secrets left it is upgraded on its first use, and says so.
        render.secrets_moved(engine.move_plain_secrets(settings))
        return settings


class _Group(TyperGroup):
    """The one error handler of every command."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as exc:  # the root's own options, e.g. `odoosync --bogus status`
            if _is_usage_error(exc):
                _usage_line(exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Abort:
            # A declined confirmation, or no answer at all (no terminal, Ctrl-C at the prompt).
            render.error(
                "not confirmed, so nothing was changed"
                + (" (pass --yes to skip the question)" if _takes_yes(self, ctx) else "")
            )
            raise typer.Exit(1) from None
        except (typer.Exit, typer.TyperException) as exc:
            if _is_usage_error(exc):
                _usage_line(exc)
            raise
        except OdooSyncError as exc:
            if _debug(ctx):
                render.traceback_text()
            render.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if _debug(ctx):
                render.traceback_text()
                render.error(f"unexpected {type(exc).__name__}: {exc}")
            else:
                render.error(
                    f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)"
                )
            raise typer.Exit(1) from None


def _debug(ctx: Any) -> bool:
    state = ctx.find_object(_State)
    return bool(state and state.debug)


def _is_usage_error(exc: BaseException) -> bool:
    """A bad command line (unknown option, missing value...), not a request for the help text."""
    # By name: typer ships its own copy of click's exception classes, older typers use click's.
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "UsageError" in names and "NoArgsIsHelpError" not in names


def _usage_line(exc: Any) -> None:
    """Say a usage error in one line (typer draws a box of several) and exit 2."""
    where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "odoosync"
    message = exc.format_message().strip()
    if message and message[-1] not in ".!?":
        message += "."
    render.error(f"{message} Run `{where} --help` for the options.")
    raise typer.Exit(2) from None


def _takes_yes(group: TyperGroup, ctx: Any) -> bool:
    name = ctx.invoked_subcommand
    command = group.get_command(ctx, name) if name else None
    return command is not None and any(p.name == "yes" for p in command.params)


# stamina reports each retry as a warning; with no logging set up Python would print it bare on
# stderr. The client counts retries itself, and the loop's log says what matters.
logging.getLogger("stamina").addHandler(logging.NullHandler())

app = typer.Typer(
    name="odoosync",
    cls=_Group,
    help="Keep an exact local SQLite mirror of Odoo records for one or more Odoo accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(
    cls=_Group,
    help="Add, list and remove Odoo accounts; replace a rotated secret.",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")


# The choices of --protocol, from the protocol registry.
ProtocolChoice = StrEnum("ProtocolChoice", {name: name for name in PROTOCOLS})  # type: ignore[misc]
DEFAULT_PROTOCOL = ProtocolChoice(AUTO)


class SecretStoreChoice(StrEnum):
    keyring = "keyring"
    file = "file"
    encrypted = "encrypted"


SecretStoreOpt = Annotated[
    SecretStoreChoice | None,
    typer.Option(
        "--secret-store",
        help="Where to keep the secret: keyring (the OS keyring), file (the private credentials "
        "file), encrypted (in the database, with ODOOSYNC_SECRET_KEY). Default: the "
        "secret_store setting, else encrypted when a key is set, else the keyring when usable, "
        "else the file.",
    ),
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"odoosync {__version__}")
        raise typer.Exit()


def _database_option(value: str | None) -> str | None:
    """A path must not name a directory; a database URL goes on as it is, to the mirror."""
    if value is not None and "://" not in value and Path(value).expanduser().is_dir():
        raise typer.BadParameter(f"file {value!r} is a directory.")
    return value


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Settings file (TOML). Default: ./odoosync.toml over the user config file.",
            dir_okay=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="The odoosync database file (also ODOOSYNC_DB). Default: in the user data dir.",
            callback=_database_option,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    """Keep an exact local SQLite mirror of Odoo records for one or more Odoo accounts."""
    ctx.obj = _State(config=config, db=db, debug=debug)


def _state(ctx: typer.Context) -> _State:
    state = ctx.find_object(_State)
    return state if state is not None else _State()


def _new_secret(prompt: str, env: str | None, store: SecretStoreChoice | None) -> NewSecret:
    """The secret a command is given: the name of an environment variable, else read now from
    a hidden prompt at a terminal, else from the first line of stdin."""
    chosen = store.value if store else None
    if env:
        return NewSecret(env=env, store=chosen)
    if sys.stdin is not None and sys.stdin.isatty():
        value = typer.prompt(prompt, hide_input=True)
    else:
        value = sys.stdin.readline() if sys.stdin is not None else ""
    return NewSecret(SecretStr(value.rstrip("\r\n")), store=chosen)


UserOpt = Annotated[
    list[str] | None,
    typer.Option("--user", "-u", help="A user's name; repeat for several. Default: every user."),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every user (the default without --user).")]
StreamsOpt = Annotated[
    int | None,
    typer.Option(
        "--streams",
        help="Batches of one user read at once (default: each user's `streams` setting, 1).",
    ),
]


def _users(user: list[str] | None, all_users: bool) -> list[str] | None:
    if user and all_users:
        raise ConfigError("give --user or --all, not both")
    return list(user) if user else None


# --------------------------------------------------------------------------- user


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for this account, e.g. 'acme-admin'.")],
    url: Annotated[
        str, typer.Option("--url", help="The Odoo server, e.g. https://odoo.example.com.")
    ],
    database: Annotated[str, typer.Option("--db", "--database", help="The Odoo database name.")],
    login: Annotated[str, typer.Option("--login", help="The Odoo login.")],
    protocol: Annotated[
        ProtocolChoice,
        typer.Option(
            "--protocol", help="auto: JSON-2 on Odoo 19+ when the key allows, else JSON-RPC."
        ),
    ] = DEFAULT_PROTOCOL,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            help="Read the password or API key from this environment variable at each use; "
            "only its name is stored.",
        ),
    ] = None,
    secret_store: SecretStoreOpt = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Save without checking the connection.")
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow plain http:// to a host other than this machine, and skip the TLS "
            "certificate check: the secret can then be read on the way.",
        ),
    ] = False,
) -> None:
    """Add an Odoo account; the secret comes from a hidden prompt, stdin, or --secret-env."""
    settings = _state(ctx).settings()
    secret = _new_secret("Password or API key", secret_env, secret_store)
    result = engine.user_add(
        settings,
        name=name,
        url=url,
        database=database,
        login=login,
        protocol=protocol.value,
        secret=secret,
        check=not no_check,
        insecure=insecure,
    )
    render.user_added(result)


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the users (never their secrets)."""
    render.user_table(engine.user_list(_state(ctx).settings()), as_json=as_json)


@user_app.command("remove")
def user_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a user with its sync state, all its mirrored records, and its stored secret."""
    settings = _state(ctx).settings()
    engine.user_get(settings, name)
    if not yes:
        typer.confirm(f"Remove user '{name}', its secret and its mirrored records?", abort=True)
    render.removed(engine.user_remove(settings, name))


@user_app.command("set-secret")
def user_set_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user whose secret changed.")],
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", help="Read it from this environment variable from now on."),
    ] = None,
    secret_store: SecretStoreOpt = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Save without checking the connection.")
    ] = False,
) -> None:
    """Replace a user's password or API key (e.g. a rotated key), where it is kept or elsewhere."""
    settings = _state(ctx).settings()
    engine.user_get(settings, name)
    secret = _new_secret(f"New password or API key for {name}", secret_env, secret_store)
    changed = engine.user_set_secret(settings, name, secret=secret, check=not no_check)
    render.secret_changed(changed)


@user_app.command("move-secret")
def user_move_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user whose secret moves.")],
    to: Annotated[
        SecretStoreChoice,
        typer.Option("--to", help="The store to move it to: keyring, file or encrypted."),
    ],
) -> None:
    """Move a user's secret to another store as it is, removing it from the old one."""
    render.secret_changed(engine.user_move_secret(_state(ctx).settings(), name, to=to.value))


# --------------------------------------------------------------------------- sync


@app.command()
def prepare(
    ctx: typer.Context,
    user: UserOpt = None,
    all_users: AllOpt = False,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything again, not only recent changes.")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Plan again a user whose sync is in progress.")
    ] = False,
) -> None:
    """Plan a sync: id ranges the first time (or --full), else changes since the last one."""
    settings = _state(ctx).settings()
    results = engine.prepare(settings, users=_users(user, all_users), full=full, restart=restart)
    render.prepare_results(results)
    errors = [r.error for r in results if r.error is not None]
    if errors:
        raise typer.Exit(errors[0].exit_code)


@app.command()
def step(
    ctx: typer.Context,
    user: UserOpt = None,
    all_users: AllOpt = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Stop starting pages after this long.")
    ] = None,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", help="Read at most this many pages.")
    ] = None,
    streams: StreamsOpt = None,
) -> None:
    """Work the planned batches page by page until the budget ends or the sync is done."""
    settings = _state(ctx).settings()
    report = engine.step(
        settings,
        users=_users(user, all_users),
        max_seconds=max_seconds,
        max_pages=max_pages,
        reporter=render.StepPrinter(),
        streams=streams,
    )
    render.step_report(report)
    if report.errors:
        raise typer.Exit(report.errors[0].exit_code)


@app.command()
def status(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the documented JSON.")] = False,
) -> None:
    """Show each user's connection, server, sync status and progress."""
    render.status_table(engine.status(_state(ctx).settings(), user=user), as_json=as_json)


@app.command()
def clear(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user.")] = None,
    module: Annotated[str | None, typer.Option("--module", "-m", help="Only this module.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete mirrored records and batches; the user becomes idle (see `queue`)."""
    settings = _state(ctx).settings()
    names = engine.clear_targets(settings, user=user, module=module)
    if not yes:
        scope = f"module '{module}' of " if module else "every module of "
        typer.confirm(
            f"Delete the mirrored records and batches of {scope}{', '.join(names)}?", abort=True
        )
    render.clear_results(engine.clear(settings, user=user, module=module))


@app.command()
def queue(ctx: typer.Context, user: UserOpt = None, all_users: AllOpt = False) -> None:
    """Queue users for a new sync (status not_started), e.g. after `clear`."""
    render.queue_results(engine.queue(_state(ctx).settings(), users=_users(user, all_users)))


@app.command()
def retry(ctx: typer.Context, user: UserOpt = None, all_users: AllOpt = False) -> None:
    """Re-queue failed work: failed batches resume from their cursor."""
    results = engine.retry(_state(ctx).settings(), users=_users(user, all_users))
    render.queue_results(results, verb="re-queued")


# --------------------------------------------------------------------------- loop and diagnostics


def _stopping(signal_name: str) -> None:
    render.say(
        f"Got {signal_name}: finishing the pages in flight, then stopping "
        "(send it again to stop at once).",
        "yellow",
    )


def _exit_now(code: int) -> None:
    """End the process without waiting for worker threads (a second stop signal)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def loop(
    ctx: typer.Context,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            help="Seconds between looks at the users: queued ones, done ones due for a "
            "refresh, failed ones whose back-off is over.",
        ),
    ] = 10.0,
    once: Annotated[
        bool,
        typer.Option("--once", help="Exit once no selected user has work left (for cron)."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="How many users sync at the same time (default: as many as have work, "
            f"up to {WORKERS_CEILING}).",
        ),
    ] = None,
    streams: StreamsOpt = None,
    user: UserOpt = None,
    slice_seconds: Annotated[
        float,
        typer.Option(
            "--slice-seconds",
            help="Longest turn of one user before it waits behind the others.",
        ),
    ] = 5.0,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            help="Serve GET /odoo/status, /healthz and /metrics on this port (0: any free port).",
        ),
    ] = None,
    http_host: Annotated[
        str, typer.Option("--http-host", help="Address for --http-port.")
    ] = "127.0.0.1",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only failures: no bars, no progress lines.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="A log line per page, too.")
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file", help="Append timestamped log lines to this file.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Sync every user on a schedule, several at once, until SIGINT/SIGTERM (or --once)."""
    if quiet and verbose:
        raise ConfigError("give --quiet or --verbose, not both")
    if http_port is not None and not 0 <= http_port <= 65535:
        raise ConfigError(f"--http-port must be between 0 and 65535, not {http_port}")
    settings = _state(ctx).settings()
    scheduler = Scheduler(
        settings,
        users=user,
        interval=interval,
        once=once,
        workers=workers,
        slice_seconds=slice_seconds,
        streams=streams,
    )
    with render.loop_reporter(verbose=verbose, quiet=quiet, log_file=log_file) as reporter:
        scheduler.reporter = reporter
        server = None
        if http_port is not None:
            server = StatusServer(
                settings,
                host=http_host,
                port=http_port,
                health=scheduler.health,
                counters=scheduler.counters,
            ).start()
            render.say(
                f"Status at {server.url}/odoo/status, health at {server.url}/healthz, "
                f"metrics at {server.url}/metrics"
            )
        try:
            with stop_on_signals(scheduler, on_first=_stopping):
                summary = scheduler.run()
        finally:
            if server is not None:
                server.close()
    if summary.aborted:
        render.say("Stopped at once; every stored page was committed with its cursor.", "yellow")
        _exit_now(128 + (summary.signal_number or signal.SIGTERM))
    if not quiet or summary.failed:
        render.loop_summary(summary)
    if once and not summary.stopped and summary.failed:
        raise typer.Exit(summary.failed[0].exit_code or 1)


@app.command("validate-cursor")
def validate_cursor(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="The user (default: the only one).")
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="The model to check.")
    ] = "res.partner",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check, read-only, that the server pages the way odoosync relies on."""
    settings = _state(ctx).settings()
    report = engine.validate_cursor(
        settings, user=user, model=model, progress=render.cursor_progress
    )
    render.cursor_report(report, as_json=as_json)
    if not report.passed:
        raise VerificationError(
            f"validate-cursor: {len(report.failed)} of {len(report.checks)} checks failed on "
            f"{report.model} for user '{report.user}': "
            + "; ".join(c.title for c in report.failed),
            hint="odoosync's paging may not be exact on this server; see the sentences above.",
        )


@app.command("test-complete")
def complete_check(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="The user (default: the only one).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    sample: Annotated[
        int, typer.Option("--sample", help="Records per module compared field by field.")
    ] = 50,
    verify_only: Annotated[
        bool,
        typer.Option("--verify-only", help="Check the mirror as it is: no clearing, no sync."),
    ] = False,
) -> None:
    """Clear a user's mirror, sync it all again, and check that it equals Odoo."""
    settings = _state(ctx).settings()
    name = engine.pick_user(settings, user, "test-complete")
    if not verify_only and not yes:
        typer.confirm(
            f"Delete the mirror of user '{name}' and sync it again from scratch?", abort=True
        )
    with render.loop_reporter() as reporter:
        report = engine.check_complete(
            settings, user=name, sample=sample, sync=not verify_only, reporter=reporter
        )
    render.complete_report(report)
    if not report.passed:
        raise report.error()


def main() -> None:
    app()

"""``prepare``: per user and module, count, list ids, read the high point, and save the batches.

A first sync (or ``--full``) plans id ranges; a later one a window of changes since the
high-water mark less the look-back; then reconcile when the policy says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from odoo_sync_cli.allocator import keep_large_blocks_apart
from odoo_sync_cli.config import Module, Settings, UserSettings
from odoo_sync_cli.domain import NO_ACTIVE_TEST, CursorError, and_domains, window_domain
from odoo_sync_cli.engine.common import (
    ClientFactory,
    Held,
    chosen_users,
    known_user,
    make_client,
    open_mirror,
)
from odoo_sync_cli.engine.results import ModulePlanInfo, PrepareResult
from odoo_sync_cli.errors import (
    AccessDeniedError,
    ConfigError,
    LeaseError,
    ModelNotFoundError,
    OdooError,
    OdooSyncError,
    ServerError,
)
from odoo_sync_cli.mirror import Mirror
from odoo_sync_cli.mirror.history import history_table
from odoo_sync_cli.models import (
    FAILED,
    FULL,
    IN_PROGRESS,
    INCREMENTAL,
    MODULE_FORBIDDEN,
    MODULE_MISSING,
    RECONCILE_AUTO,
    ModulePlan,
    ModuleRow,
    ModuleState,
    PlannedBatch,
    UserRecord,
    parse_timestamp,
)
from odoo_sync_cli.odoo import OdooClient
from odoo_sync_cli.planner import (
    is_first_sync,
    order_batches,
    plan_full,
    plan_incremental,
    plan_reconcile,
    reconcile_deferral,
    should_reconcile,
    trusted_count,
)
from odoo_sync_cli.progress import Note, NullReporter, Reporter
from odoo_sync_cli.runner import list_ids

UNSTORED_TYPES = frozenset({"binary", "properties", "properties_definition"})
FIELD_ATTRIBUTES = ["type", "store", "relation", "string"]


def select_fields(module: Module, info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The fields a module mirrors (name -> type), ``id``, ``write_date`` and ``active`` always."""
    if module.fields is not None:
        unknown = [f for f in module.fields if f not in info]
        if unknown:
            raise ConfigError(
                f"module '{module.name}': {module.model} has no field "
                + ", ".join(f"'{f}'" for f in unknown),
                hint=f"Fix modules.{module.name}.fields in the settings.",
            )
        chosen = list(module.fields)
    else:
        chosen = [
            name
            for name, attrs in info.items()
            if attrs.get("store")
            and attrs.get("type") not in UNSTORED_TYPES
            and not any(fnmatchcase(name, pattern) for pattern in module.exclude)
        ]
    always = ["id", "write_date"] + (["active"] if "active" in info else [])
    result: dict[str, str] = {}
    for name in always + chosen:
        if name in result:
            continue
        if name == "id" and name not in info:
            result[name] = "integer"
        elif name in info:
            result[name] = str(info[name].get("type", "char"))
    return result


def comodels(
    info: Mapping[str, Mapping[str, Any]], field_types: Mapping[str, str]
) -> dict[str, str]:
    """The comodel of each many2one among ``field_types``, as ``fields_get`` names it."""
    return {
        name: str(info[name]["relation"])
        for name, ftype in field_types.items()
        if ftype == "many2one" and info.get(name, {}).get("relation")
    }


def _switch_history(
    store: Mirror, user: str, module: Module, table: str, reporter: Reporter
) -> None:
    """Turn history on or off for the module's table as the settings say, and say so."""
    if module.history:
        opened = store.start_history(user, table)
        if opened is not None:
            start = f" ({opened} version(s) opened from the mirror as it is)" if opened else ""
            reporter.emit(
                Note(user, f"{module.name}: history on, kept in {history_table(table)}{start}")
            )
    elif store.stop_history(user, table):
        reporter.emit(Note(user, f"{module.name}: history off; {history_table(table)} is kept"))


def _high_point(client: OdooClient, model: str, domain: Sequence[Any]) -> str | None:
    """The newest write_date of the module's records (a scan on the server, once per prepare)."""
    rows = client.search_read(
        model,
        and_domains(domain, [["write_date", "!=", False]]),
        ["write_date"],
        order="write_date desc",
        limit=1,
        context=dict(NO_ACTIVE_TEST),
    )
    if not rows or not rows[0].get("write_date"):
        return None
    return str(rows[0]["write_date"])


def named_fields(
    field_types: Mapping[str, str],
    info: Mapping[str, Mapping[str, Any]],
    mirrored: Collection[str],
) -> tuple[str, ...]:
    """The many2one fields to read with their display name: those whose comodel is not in
    ``mirrored`` (the models the user's modules mirror). The name of a mirrored comodel's
    record is in its own table, current, so the server is spared working it out."""
    return tuple(
        name
        for name, ftype in field_types.items()
        if ftype == "many2one" and info.get(name, {}).get("relation") not in mirrored
    )


def _reconcile_now(
    every: int,
    state: ModuleRow | None,
    count: int,
    user: str,
    module: str,
    reporter: Reporter,
) -> bool:
    """The reconcile policy for a module's incremental sync; an auto reconcile put off says
    why, so an operator sees when deletions will show."""
    if every != RECONCILE_AUTO:
        return should_reconcile(every, state.syncs if state else 0)
    reconciled_at = parse_timestamp(state.reconciled_at) if state else None
    seconds = state.reconcile_seconds if state else None
    now = datetime.now(UTC)
    wait = reconcile_deferral(count, reconciled_at, seconds, now)
    if wait is None:
        return True
    assert reconciled_at is not None
    reporter.emit(
        Note(
            user,
            f"{module}: reconcile put off for {_minutes(wait)} ({count:,} records; the "
            f"last one, {_minutes(now - reconciled_at)} ago, took {seconds or 0:.0f} s)",
        )
    )
    return False


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes >= 1 else f"{span.total_seconds():.0f} s"


def _plan_user(
    store: Mirror,
    client: OdooClient,
    user: UserRecord,
    us: UserSettings,
    *,
    full: bool,
    reporter: Reporter,
) -> tuple[list[ModulePlan], list[PlannedBatch], list[ModulePlanInfo]]:
    plans: list[ModulePlan] = []
    data: list[list[PlannedBatch]] = []
    reconciles: list[PlannedBatch] = []
    infos: list[ModulePlanInfo] = []
    described: dict[str, dict[str, dict[str, Any]] | Exception] = {}
    for module in us.modules:
        try:
            described[module.name] = client.fields_get(module.model, attributes=FIELD_ATTRIBUTES)
        except (ModelNotFoundError, AccessDeniedError) as exc:
            described[module.name] = exc
    # Which models this user mirrors is known only once every module's model was looked at.
    mirrored = {m.model for m in us.modules if not isinstance(described[m.name], Exception)}
    for module in us.modules:
        state = store.module_row(user.name, module.name)
        info = described[module.name]
        if isinstance(info, Exception):
            missing = isinstance(info, ModelNotFoundError)
            why = "model not installed" if missing else "no read access"
            note = f"{module.model}: {why}, skipped"
            reporter.emit(Note(user.name, f"{module.name}: {note}"))
            plans.append(
                ModulePlan(
                    module.name,
                    module.model,
                    module.table,
                    state=MODULE_MISSING if missing else MODULE_FORBIDDEN,
                    note=note,
                    domain=module.domain_list(),
                )
            )
            infos.append(ModulePlanInfo(module.name, module.model, None, 0, 0, False, 0, note))
            continue
        field_types = select_fields(module, info)
        spec = store.ensure_table(module.model, field_types, comodels(info, field_types))
        _switch_history(store, user.name, module, spec.table, reporter)
        names = named_fields(field_types, info, mirrored)
        domain = module.domain_list()
        count = client.search_count(module.model, domain, context=dict(NO_ACTIVE_TEST))
        candidate = _high_point(client, module.model, domain)
        from_state = None if state is None else ModuleState(state.high_water, state.syncs)
        count_note = None
        if full or is_first_sync(from_state):
            ids = list_ids(client, module.model, domain, us.id_page_size)
            try:
                batches = plan_full(module.name, module.model, ids, us.batch_size)
            except CursorError as exc:
                raise ServerError(
                    f"the server listed ids out of order ({exc})",
                    user=user.name,
                    url=user.url,
                    model=module.model,
                    method="search",
                ) from exc
            count, count_note = trusted_count(count, sum(b.expected for b in batches))
            if count_note:
                reporter.emit(Note(user.name, f"{module.name}: {count_note}"))
            kind = FULL
        else:
            assert state is not None
            inc = plan_incremental(module.name, module.model, state.high_water, us.lookback, 0)
            expected = client.search_count(
                module.model, window_domain(domain, inc.window_lo), context=dict(NO_ACTIVE_TEST)
            )
            batches = [replace(inc, expected=expected)]
            kind = INCREMENTAL
        data.append(batches)
        # Under "auto" a full sync always reconciles: it is the sync asked to be exact.
        reconcile = (kind == FULL and us.reconcile_every == RECONCILE_AUTO) or _reconcile_now(
            us.reconcile_every, state, count, user.name, module.name, reporter
        )
        if reconcile:
            reconciles.append(plan_reconcile(module.name, module.model, count))
        plans.append(
            ModulePlan(
                module.name,
                module.model,
                spec.table,
                fields=tuple(spec.fields),
                candidate=candidate,
                count=count,
                domain=domain,
                note=count_note,
                names=names,
            )
        )
        infos.append(
            ModulePlanInfo(
                module=module.name,
                model=module.model,
                kind=kind,
                batches=len(batches),
                expected=sum(b.expected for b in batches),
                reconcile=reconcile,
                fields=len(spec.fields),
                window_lo=batches[0].window_lo,
            )
        )
    return plans, order_batches(data, reconciles), infos


def prepare(
    settings: Settings,
    *,
    users: Sequence[str] | None = None,
    full: bool = False,
    restart: bool = False,
    reporter: Reporter | None = None,
    connect: ClientFactory = make_client,
) -> list[PrepareResult]:
    """Plan a sync for each user: id ranges the first time (or ``full``), else one window."""
    keep_large_blocks_apart()  # the id listing's pages are large blocks too (allocator.py)
    reporter = reporter or NullReporter()
    explicit = bool(users)
    results: list[PrepareResult] = []
    with open_mirror(settings) as store:
        for user in chosen_users(store, users):
            if user.status == IN_PROGRESS and not restart:
                refusal = OdooSyncError(
                    f"user '{user.name}' is already in progress",
                    hint=f"Continue it with `odoosync step --user {user.name}`, or plan it "
                    f"again with `odoosync prepare --user {user.name} --restart`.",
                )
                if explicit:
                    raise refusal
                results.append(PrepareResult(user.name, refused=str(refusal)))
                continue
            try:
                results.append(
                    _prepare_user(store, settings, user, full, reporter, connect, restart)
                )
            except LeaseError as exc:
                if explicit:
                    raise
                results.append(PrepareResult(user.name, refused=str(exc)))
            except (OdooError, ConfigError) as exc:
                store.set_status(user.name, FAILED, error=str(exc))
                if explicit:
                    raise
                results.append(PrepareResult(user.name, error=exc))
    return results


def _prepare_user(
    store: Mirror,
    settings: Settings,
    user: UserRecord,
    full: bool,
    reporter: Reporter,
    connect: ClientFactory,
    restart: bool = False,
) -> PrepareResult:
    us = settings.for_user(user.name)
    with Held(store, user.name) as lease:
        if not restart:
            _unchanged_since_read(store, user)
        with connect(user, settings) as client:
            client.connect()
            store.set_server_info(
                user.name, server_version=client.server_version, protocol_used=client.protocol
            )
            plans, batches, infos = _plan_user(
                store, client, user, us, full=full, reporter=reporter
            )
            # The plan is the last thing this turn writes: the lease goes back with it (one
            # transaction less on SQLite's single writer; Held's release then finds it done).
            store.save_plan(user.name, lease.owner, lease.ttl, plans, batches, release=True)
            return PrepareResult(
                user.name,
                modules=tuple(infos),
                server_version=client.server_version,
                protocol=client.protocol,
            )


def _unchanged_since_read(store: Mirror, user: UserRecord) -> None:
    """Refuse to plan a user another process planned between our read and our lease.

    Two loops can both read a user as queued; the one that takes the lease second must not
    plan it again, which would throw away the first plan and read its pages twice.
    """
    now = known_user(store, user.name)
    if (now.status, now.prepared_at) != (user.status, user.prepared_at):
        raise LeaseError(
            f"user '{user.name}' was just planned by another odoosync process (now {now.status})",
            hint=f"See `odoosync status --user {user.name}`; the loop carries on with that plan.",
        )

"""Settings: a TOML file, ``ODOOSYNC_*`` environment variables and command-line flags.

Layers, later ones win: built-in defaults, the user's config file (``odoosync.toml`` in the
platform's config directory), ``./odoosync.toml`` (or only the file given by ``--config`` /
``ODOOSYNC_CONFIG``), the environment, then flags. Every layer is validated by one pydantic
model with unknown keys refused; a validation error is reported as one line naming the key and
the file or variable it came from.

Modules merge with the six defaults by name: ``[modules.contacts] fields = [...]`` changes the
contacts module only, ``[modules.employees] enabled = false`` drops one, and a new name with a
``model`` adds one. A module of the settings that mirrors the model of a default module the
settings do not name replaces that default (a ``[modules.lines]`` on ``sale.order.line`` written
before ``order_lines`` existed keeps working, table and all).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic import model_validator as _model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from odoo_sync_cli.domain import validate_domain
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.models import RECONCILE_AUTO

APP_NAME = "odoosync"
CONFIG_FILE_NAME = "odoosync.toml"
DB_FILE_NAME = "odoosync.db"
CREDENTIALS_FILE_NAME = "credentials.toml"
ENV_PREFIX = "ODOOSYNC_"
# Batches of one user read at once at most: more would hammer one server for little gain.
MAX_STREAMS = 16

# The chatter and technical relations: on a real Odoo 19 they cost about a third of a full
# partner read and carry nothing a mirror of business records needs.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    "message_*",
    "activity_*",
    "website_message_ids",
    "rtc_*",
    "channel_*",
)

INVOICE_TYPES = ["out_invoice", "out_refund", "in_invoice", "in_refund"]

# Lines have no chatter. On a real Odoo 19 their read cost is spread over the fields, a
# many2one costing most (its comodel's display names), then an x2many (a query per page); left
# out are those that cost that and tell an analyst nothing a join with the document does not,
# and the technical ones (README.md has the figures).
_LINE_TECHNICAL: tuple[str, ...] = (
    "create_uid",  # who typed the line: the document says who made it
    "write_uid",
    "analytic_line_ids",  # ids of generated analytic items; analytic_distribution stays
    "collapse_*",
    "extra_tax_data",
)
ORDER_LINE_EXCLUDE: tuple[str, ...] = (
    *DEFAULT_EXCLUDE,
    *_LINE_TECHNICAL,
    "order_partner_id",  # copies of the order's partner_id and user_id
    "salesman_id",
    "invoice_lines",  # an invoice line lists its order lines (sale_line_ids)
    "product_custom_attribute_value_ids",  # the product configurator's choices
    "product_no_variant_attribute_value_ids",
    "product_document_ids",
    "linked_*",  # optional products and combos tied to another line
    "virtual_id",
    "combo_item_id",
    "technical_price_unit",
    "qty_delivered_method",
)
INVOICE_LINE_EXCLUDE: tuple[str, ...] = (
    *DEFAULT_EXCLUDE,
    *_LINE_TECHNICAL,
    "matched_debit_ids",  # reconciliation records: matching_number and reconciled say it
    "matched_credit_ids",
    "full_reconcile_id",
    "tax_tag_ids",  # tax report plumbing; tax_ids and tax_line_id stay
    "tax_repartition_line_id",
    "group_tax_id",
    "statement_id",  # bank statements and payments: empty on invoice lines
    "statement_line_id",
    "payment_id",
    "reconcile_model_id",
    "discount_amount_currency",  # early payment discount terms
    "discount_balance",
    "discount_date",
    "deductible_amount",
    "is_imported",
    "no_followup",
)

DEFAULT_MODULES: dict[str, dict[str, Any]] = {
    "contacts": {"model": "res.partner", "domain": []},
    "sale_orders": {"model": "sale.order", "domain": []},
    "invoices": {"model": "account.move", "domain": [["move_type", "in", INVOICE_TYPES]]},
    "employees": {"model": "hr.employee", "domain": []},
    "order_lines": {"model": "sale.order.line", "domain": [], "exclude": ORDER_LINE_EXCLUDE},
    # account.move.line's own `move_type` is an unstored related field: Odoo 19 compiles a
    # search on it or on this path to the same join on account_move's primary key (Odoo 17
    # counts the same); the path names the stored column and works on older servers too.
    "invoice_lines": {
        "model": "account.move.line",
        "domain": [["move_id.move_type", "in", INVOICE_TYPES]],
        "exclude": INVOICE_LINE_EXCLUDE,
    },
}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """Seconds from ``900``, ``"900"``, ``"15m"``, ``"1h30m"`` or ``"2d"``; the rest passes on."""
    if isinstance(value, bool):
        return value  # let pydantic reject it: True is not a duration
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) if "." in text else int(text)
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if text[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        pos = match.end()
    else:
        if pos and not text[pos:].strip():
            return int(total) if total == int(total) else total
    raise ValueError(f"not a duration: {value!r} (use seconds, or e.g. '90s', '15m', '1h30m')")


_RECONCILE_CHOICES = "use 'auto', 'every', 'never' or {every_n = N}"


def parse_reconcile(value: Any) -> Any:
    """Every how many syncs to reconcile: ``"every"`` is 1, ``"never"`` 0, ``{every_n = N}`` N,
    ``"auto"`` :data:`RECONCILE_AUTO` (decided per module from its size, see the planner)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return RECONCILE_AUTO
        if text == "every":
            return 1
        if text == "never":
            return 0
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not a reconcile policy: {value!r}") from exc
        elif text.isdigit():
            return int(text)
        else:
            raise ValueError(f"not a reconcile policy: {value!r} ({_RECONCILE_CHOICES})")
    if isinstance(value, Mapping):
        if set(value) != {"every_n"}:
            raise ValueError("a reconcile table takes exactly one key, every_n")
        value = value["every_n"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError("reconcile.every_n must be a whole number of syncs, 1 or more")
        return value
    # RECONCILE_AUTO itself is the default, which validation sees too.
    if isinstance(value, int) and not isinstance(value, bool) and value < RECONCILE_AUTO:
        raise ValueError(f"not a reconcile policy: {value} ({_RECONCILE_CHOICES})")
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
ReconcileEvery = Annotated[int, BeforeValidator(parse_reconcile), Field(ge=RECONCILE_AUTO)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(_Strict):
    """How the client retries passing failures (see odoo_sync_cli.odoo.RetryPolicy)."""

    attempts: int = Field(default=5, ge=1)
    total_timeout: Seconds = 120.0
    wait_initial: Seconds = 0.5
    wait_max: Seconds = 30.0
    wait_jitter: Seconds = 1.0


class HttpSettings(_Strict):
    """Timeouts and retries of every request to Odoo."""

    timeout: Seconds = Field(default=60.0, gt=0)
    connect_timeout: Seconds = Field(default=10.0, gt=0)
    verify: bool = True
    retry: RetrySettings = RetrySettings()


def _path_text(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _check_schema(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValueError(
            f"{value!r} is not a schema name odoosync uses: lower-case letters, digits and _, "
            "at most 63 characters, not starting with a digit"
        )
    return value


def _check_domain(value: Any) -> Any:
    if isinstance(value, list):
        validate_domain(value)
    return value


class ModuleSettings(_Strict):
    """One module as written in a settings file; unset keys come from the default of that name."""

    model: str | None = None
    domain: Annotated[list[Any] | None, BeforeValidator(_check_domain)] = None
    fields: list[str] | None = None
    exclude: list[str] | None = None
    enabled: bool = True
    history: bool | None = None

    @_model_validator(mode="after")
    def _fields_or_exclude(self) -> ModuleSettings:
        if self.fields is not None and self.exclude is not None:
            raise ValueError("give either `fields` (a list to read) or `exclude`, not both")
        return self


class UserOverrides(_Strict):
    """Settings that differ for one user; unset keys take the global value."""

    page_size: int | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    lookback: Seconds | None = None
    reconcile: ReconcileEvery | None = None
    refresh: Seconds | None = None
    hard_delete: bool | None = None
    streams: int | None = Field(default=None, ge=1, le=MAX_STREAMS)
    history: bool | None = None
    modules: list[str] | None = None


@dataclass(frozen=True)
class Module:
    """A module resolved from defaults and settings: what to mirror, and how to pick fields."""

    name: str
    model: str
    domain: tuple[Any, ...]
    fields: tuple[str, ...] | None
    exclude: tuple[str, ...]
    history: bool = False

    @property
    def table(self) -> str:
        return self.model.replace(".", "_")

    def domain_list(self) -> list[Any]:
        """The filter as JSON-shaped lists, ready to send."""
        value: list[Any] = json.loads(json.dumps(list(self.domain)))
        return value


@dataclass(frozen=True)
class UserSettings:
    """The settings one user syncs with, after its overrides."""

    page_size: int
    batch_size: int
    id_page_size: int
    lookback: float
    reconcile_every: int
    refresh: float
    hard_delete: bool
    modules: tuple[Module, ...]
    streams: int = 1

    def module(self, name: str) -> Module:
        for module in self.modules:
            if module.name == name:
                return module
        known = ", ".join(m.name for m in self.modules) or "none"
        raise ConfigError(f"unknown module '{name}' (configured: {known})")


_toml_layer: ContextVar[dict[str, Any] | None] = ContextVar("odoosync_toml_layer", default=None)


class _TomlLayer(PydanticBaseSettingsSource):
    """The merged settings files, handed over by :func:`load_settings` through a context var."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _toml_layer.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_layer.get() or {})


class Settings(BaseSettings):
    """Every setting odoosync reads; README.md has the reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # A path (a SQLite file) or a postgresql:// URL; kept as text for mirror.open_mirror.
    db: Annotated[str | None, BeforeValidator(_path_text)] = None
    # The schema of a PostgreSQL mirror: lower case, as psql and BI tools write names unquoted.
    pg_schema: Annotated[str, AfterValidator(_check_schema)] = "odoosync"
    # Where new secrets go (see credentials.py): auto = encrypted when a key is configured, else
    # the OS keyring when it has a safe backend, else the credentials file.
    secret_store: Literal["auto", "keyring", "file", "encrypted"] = "auto"
    credentials_file: Path | None = None
    secret_key_file: Path | None = None
    page_size: int = Field(default=500, gt=0)
    batch_size: int = Field(default=10_000, gt=0)
    id_page_size: int = Field(default=5_000, gt=0)
    lookback: Seconds = 900.0
    reconcile: ReconcileEvery = RECONCILE_AUTO
    refresh: Seconds = 3600.0
    hard_delete: bool = False
    # How many of a user's batches are read at once (off by default: a small Odoo should not
    # be hammered; a prefork one serves several at once).
    streams: int = Field(default=1, ge=1, le=MAX_STREAMS)
    # Keep every version of each record in <table>_history (mirror/history.py).
    history: bool = False
    http: HttpSettings = HttpSettings()
    modules: dict[str, ModuleSettings] = Field(default_factory=dict)
    users: dict[str, UserOverrides] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlLayer(settings_cls))

    @_model_validator(mode="after")
    def _check_modules(self) -> Settings:
        modules = self.resolved_modules()
        if not modules:
            raise ValueError("every module is disabled: nothing to sync")
        names = {m.name for m in modules}
        for user, overrides in self.users.items():
            for name in overrides.modules or ():
                if name not in names:
                    raise ValueError(f"users.{user}.modules names unknown module '{name}'")
        return self

    @property
    def db_path(self) -> Path:
        if self.db is not None:
            return Path(self.db).expanduser()
        return platformdirs.user_data_path(APP_NAME) / DB_FILE_NAME

    @property
    def credentials_path(self) -> Path:
        """The credentials file of the ``file`` secret store."""
        if self.credentials_file is not None:
            return self.credentials_file.expanduser()
        return platformdirs.user_config_path(APP_NAME) / CREDENTIALS_FILE_NAME

    def resolved_modules(self) -> tuple[Module, ...]:
        """The default modules merged with the configured ones, in a stable order."""
        names = list(DEFAULT_MODULES) + [n for n in self.modules if n not in DEFAULT_MODULES]
        # Models that modules of the settings mirror: a default module the settings do not
        # name gives way to them rather than make a settings file of before it an error.
        claimed = {
            given.model or DEFAULT_MODULES.get(name, {}).get("model")
            for name, given in self.modules.items()
            if given.enabled
        }
        result: list[Module] = []
        models: dict[str, str] = {}
        for name in names:
            base = DEFAULT_MODULES.get(name, {})
            given = self.modules.get(name, ModuleSettings())
            if not given.enabled:
                continue
            if name not in self.modules and base.get("model") in claimed:
                continue
            model = given.model or base.get("model")
            if not model:
                raise ValueError(f"modules.{name} needs a `model` (an Odoo model name)")
            if model in models:
                # One mirror table per model: two filters on it would tombstone each other's rows.
                raise ValueError(
                    f"modules.{name} and modules.{models[model]} both mirror {model}; "
                    "a model can belong to one module only"
                )
            models[model] = name
            domain = given.domain if given.domain is not None else base.get("domain", [])
            exclude = (
                tuple(base.get("exclude", DEFAULT_EXCLUDE))
                if given.exclude is None
                else tuple(given.exclude)
            )
            result.append(
                Module(
                    name=name,
                    model=model,
                    domain=tuple(_freeze(domain)),
                    fields=tuple(given.fields) if given.fields is not None else None,
                    exclude=exclude,
                    history=self.history if given.history is None else given.history,
                )
            )
        return tuple(result)

    def for_user(self, name: str) -> UserSettings:
        """The settings of user ``name``: its overrides over the global values."""
        o = self.users.get(name, UserOverrides())
        modules = self.resolved_modules()
        if o.modules is not None:
            wanted = set(o.modules)
            modules = tuple(m for m in modules if m.name in wanted)
        if o.history is not None:
            # The user's word is the most specific: it holds for every module it syncs.
            modules = tuple(replace(m, history=o.history) for m in modules)
        return UserSettings(
            page_size=o.page_size or self.page_size,
            batch_size=o.batch_size or self.batch_size,
            id_page_size=self.id_page_size,
            lookback=self.lookback if o.lookback is None else o.lookback,
            reconcile_every=self.reconcile if o.reconcile is None else o.reconcile,
            refresh=self.refresh if o.refresh is None else o.refresh,
            hard_delete=self.hard_delete if o.hard_delete is None else o.hard_delete,
            modules=modules,
            streams=o.streams or self.streams,
        )


def _freeze(domain: Sequence[Any]) -> list[Any]:
    # Leaves become tuples so a Module is hashable and immutable; values stay JSON-able.
    out: list[Any] = []
    for term in domain:
        if isinstance(term, list | tuple):
            out.append(tuple(tuple(v) if isinstance(v, list) else v for v in term))
        else:
            out.append(term)
    return out


def user_config_file() -> Path:
    return platformdirs.user_config_path(APP_NAME) / CONFIG_FILE_NAME


def config_files(explicit: Path | None, cwd: Path | None = None) -> list[Path]:
    """The settings files to read, lowest precedence first."""
    if explicit is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        explicit = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    if explicit is not None:
        explicit = explicit.expanduser()
        if not explicit.is_file():
            raise ConfigError(
                f"settings file {explicit} does not exist",
                hint="Give the path of an existing TOML file to --config.",
            )
        return [explicit]
    files = [user_config_file(), (cwd or Path.cwd()) / CONFIG_FILE_NAME]
    return [f for f in files if f.is_file()]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from exc


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@contextmanager
def _layer(data: dict[str, Any] | None) -> Iterator[None]:
    token = _toml_layer.set(data)
    try:
        yield
    finally:
        _toml_layer.reset(token)


def _has_path(data: Mapping[str, Any], loc: Sequence[Any]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _origin(
    loc: Sequence[Any], flags: Mapping[str, Any], files: list[tuple[Path, dict[str, Any]]]
) -> str:
    """Where the value at ``loc`` came from: a flag, an environment variable, or a file."""
    if not loc:
        return "settings"
    head = str(loc[0])
    if head in flags:
        return f"--{head.replace('_', '-')}"
    env_name = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
    for name in (env_name, f"{ENV_PREFIX}{head.upper()}"):
        if name in os.environ:
            return f"environment variable {name}"
    for depth in range(len(loc), 0, -1):
        for path, data in reversed(files):
            if _has_path(data, loc[:depth]):
                return str(path)
    return "settings"


def _format_error(
    err: Mapping[str, Any], flags: Mapping[str, Any], files: list[tuple[Path, dict[str, Any]]]
) -> str:
    loc = [p for p in err.get("loc", ()) if not (isinstance(p, str) and "[" in p)]
    key = ".".join(str(p) for p in loc)
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    named = re.match(r"(\w+)\.([\w-]+)", message)
    # A check across keys has no location; its message starts with the key it is about.
    origin = _origin(loc or (list(named.groups()) if named else []), flags, files)
    if err.get("type") == "extra_forbidden":
        return f"{origin}: unknown key '{key}'"
    if key:
        return f"{origin}: {key}: {message}"
    return f"{origin}: {message}"


def load_settings(
    config: Path | None = None,
    *,
    db: Path | str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Read the settings files, the environment and the flags; raise ConfigError when wrong."""
    files = [(path, _read_toml(path)) for path in config_files(config, cwd)]
    merged: dict[str, Any] = {}
    for _, data in files:
        merged = _deep_merge(merged, data)
    flags: dict[str, Any] = {}
    if db is not None:
        flags["db"] = db
    try:
        with _layer(merged):
            return Settings(**flags)
    except ValidationError as exc:
        errors = exc.errors()
        first = _format_error(errors[0], flags, files)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{first}{more}") from None

"""Settings: defaults, TOML layers, environment, flags, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odoo_sync_cli.config import (
    DEFAULT_EXCLUDE,
    INVOICE_LINE_EXCLUDE,
    ORDER_LINE_EXCLUDE,
    Settings,
    load_settings,
    parse_duration,
    user_config_file,
)
from odoo_sync_cli.errors import ConfigError
from odoo_sync_cli.models import RECONCILE_AUTO


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory and config home, with no ODOOSYNC_* variables."""
    for name in list(__import__("os").environ):
        if name.startswith("ODOOSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(home: Path, tmp_path: Path) -> None:
    s = load_settings()
    assert (s.page_size, s.batch_size, s.lookback, s.reconcile) == (
        500,
        10_000,
        900,
        RECONCILE_AUTO,
    )
    modules = {m.name: m for m in s.resolved_modules()}
    assert {n: m.model for n, m in modules.items()} == {
        "contacts": "res.partner",
        "sale_orders": "sale.order",
        "invoices": "account.move",
        "employees": "hr.employee",
        "order_lines": "sale.order.line",
        "invoice_lines": "account.move.line",
    }
    invoice_types = ["out_invoice", "out_refund", "in_invoice", "in_refund"]
    assert modules["invoices"].domain_list() == [["move_type", "in", invoice_types]]
    assert modules["invoice_lines"].domain_list() == [["move_id.move_type", "in", invoice_types]]
    assert modules["order_lines"].domain_list() == []
    assert modules["contacts"].exclude == DEFAULT_EXCLUDE
    assert modules["contacts"].fields is None
    assert modules["order_lines"].exclude == ORDER_LINE_EXCLUDE
    assert modules["invoice_lines"].exclude == INVOICE_LINE_EXCLUDE
    for lines in (ORDER_LINE_EXCLUDE, INVOICE_LINE_EXCLUDE):
        assert set(DEFAULT_EXCLUDE) < set(lines)
        assert not {"order_id", "move_id", "product_id", "price_subtotal", "write_date"} & set(
            lines
        )
    assert s.db_path == tmp_path / "xdg-data" / "odoosync" / "odoosync.db"


def test_line_modules_take_settings_like_the_others(home: Path) -> None:
    write(
        home / "odoosync.toml",
        """
[modules.order_lines]
exclude = []

[modules.invoice_lines]
domain = [["move_id.move_type", "=", "out_invoice"]]
fields = ["move_id", "product_id", "price_subtotal"]
""",
    )
    modules = {m.name: m for m in load_settings().resolved_modules()}
    assert modules["order_lines"].exclude == ()
    assert modules["invoice_lines"].fields == ("move_id", "product_id", "price_subtotal")
    assert modules["invoice_lines"].domain_list() == [["move_id.move_type", "=", "out_invoice"]]
    assert modules["invoice_lines"].model == "account.move.line"


def test_a_module_of_the_settings_replaces_a_default_on_its_model(home: Path) -> None:
    """A settings file written before the line modules existed keeps its own modules."""
    write(
        home / "odoosync.toml",
        """
[modules.lines]
model = "sale.order.line"
fields = ["order_id", "name"]

[modules.journal_items]
model = "account.move.line"
""",
    )
    modules = {m.name: m for m in load_settings().resolved_modules()}
    assert "order_lines" not in modules and "invoice_lines" not in modules
    assert modules["lines"].table == "sale_order_line"
    assert modules["journal_items"].domain_list() == []  # every journal item, as before
    assert modules["journal_items"].exclude == DEFAULT_EXCLUDE
    # Naming both is a real conflict: one table cannot hold two filters.
    write(
        home / "odoosync.toml",
        "[modules.order_lines]\n[modules.lines]\nmodel = 'sale.order.line'\n",
    )
    with pytest.raises(ConfigError, match=r"modules\.lines and modules\.order_lines both mirror"):
        load_settings()


def test_file_merges_modules_with_defaults(home: Path) -> None:
    write(
        home / "odoosync.toml",
        """
page_size = 200
lookback = "30m"
reconcile = { every_n = 3 }

[modules.contacts]
fields = ["name", "email"]

[modules.employees]
enabled = false

[modules.leads]
model = "crm.lead"
domain = [["type", "=", "opportunity"], "|", ["active", "=", true], ["active", "=", false]]
exclude = []
""",
    )
    s = load_settings()
    assert (s.page_size, s.lookback, s.reconcile) == (200, 1800, 3)
    modules = {m.name: m for m in s.resolved_modules()}
    assert list(modules) == [
        "contacts",
        "sale_orders",
        "invoices",
        "order_lines",
        "invoice_lines",
        "leads",
    ]
    assert modules["contacts"].fields == ("name", "email")
    assert modules["contacts"].model == "res.partner"
    assert modules["leads"].exclude == ()
    assert modules["leads"].table == "crm_lead"


def test_user_config_file_under_cwd_file(home: Path) -> None:
    write(user_config_file(), "page_size = 100\nbatch_size = 7\n")
    write(home / "odoosync.toml", "page_size = 300\n")
    s = load_settings()
    assert (s.page_size, s.batch_size) == (300, 7)


def test_explicit_config_replaces_the_others(home: Path, tmp_path: Path) -> None:
    write(home / "odoosync.toml", "page_size = 300\n")
    other = write(tmp_path / "other.toml", "batch_size = 9\n")
    s = load_settings(other)
    assert (s.page_size, s.batch_size) == (500, 9)


def test_environment_over_file_and_flag_over_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(home / "odoosync.toml", 'page_size = 300\ndb = "from-file.db"\n')
    monkeypatch.setenv("ODOOSYNC_PAGE_SIZE", "42")
    monkeypatch.setenv("ODOOSYNC_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("ODOOSYNC_HTTP__TIMEOUT", "5")
    s = load_settings()
    assert s.page_size == 42
    assert s.db_path == tmp_path / "env.db"
    assert s.http.timeout == 5
    assert load_settings(db=tmp_path / "flag.db").db_path == tmp_path / "flag.db"


def test_per_user_overrides(home: Path) -> None:
    write(
        home / "odoosync.toml",
        """
page_size = 300
[users.alice]
page_size = 50
lookback = 0
reconcile = "never"
modules = ["contacts", "invoices"]
[users.carol]
reconcile = "every"
[users.dave]
reconcile = "AUTO"
""",
    )
    s = load_settings()
    alice, bob = s.for_user("alice"), s.for_user("bob")
    assert (alice.page_size, alice.lookback, alice.reconcile_every) == (50, 0, 0)
    assert [m.name for m in alice.modules] == ["contacts", "invoices"]
    assert (bob.page_size, bob.lookback, bob.reconcile_every) == (300, 900, RECONCILE_AUTO)
    assert s.for_user("carol").reconcile_every == 1
    assert s.for_user("dave").reconcile_every == RECONCILE_AUTO
    assert len(bob.modules) == 6
    with pytest.raises(ConfigError, match="unknown module 'nope'"):
        alice.module("nope")


def test_history_is_settled_per_user_and_module(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        home / "odoosync.toml",
        """
[modules.contacts]
history = true
[modules.invoices]
history = false
[users.carol]
history = false
[users.dave]
history = true
""",
    )

    def keeping(user: str) -> set[str]:
        return {m.name for m in load_settings().for_user(user).modules if m.history}

    # The module's word over the global value (off by default); the user's over both.
    assert keeping("alice") == {"contacts"}
    assert keeping("carol") == set()
    assert len(keeping("dave")) == 6
    monkeypatch.setenv("ODOOSYNC_HISTORY", "true")
    assert keeping("alice") == {
        "contacts",
        "sale_orders",
        "employees",
        "order_lines",
        "invoice_lines",
    }
    write(home / "odoosync.toml", "[modules.contacts]\nhistory = 'often'\n")
    with pytest.raises(ConfigError, match=r"modules\.contacts\.history"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[modules.contacts]\nfeilds = ['name']\n", "unknown key 'modules.contacts.feilds'"),
        ("pagesize = 3\n", "unknown key 'pagesize'"),
        ("[http]\ntimeout = 5\ntimeot = 3\n", "unknown key 'http.timeot'"),
        ("page_size = 0\n", "page_size: Input should be greater than 0"),
        ("lookback = 'soon'\n", "lookback: not a duration"),
        ("lookback = -5\n", "lookback: Input should be greater than or equal to 0"),
        ("reconcile = 'sometimes'\n", "reconcile: not a reconcile policy"),
        ("reconcile = { every_n = 0 }\n", "every_n must be a whole number"),
        ("reconcile = -2\n", "reconcile: not a reconcile policy: -2 (use 'auto'"),
        ("[modules.x]\ndomain = [['a', '=', 1]]\n", "modules.x needs a `model`"),
        ("[modules.contacts]\ndomain = ['|', ['a', '=', 1]]\n", "missing 1 condition"),
        ("[modules.contacts]\ndomain = [['a', '=']]\n", "bad domain condition"),
        (
            "[modules.contacts]\n[modules.c2]\nmodel = 'res.partner'\n",
            "modules.c2 and modules.contacts both mirror res.partner",
        ),
        ("[modules.contacts]\nfields = ['a']\nexclude = []\n", "either `fields`"),
        ("[users.a]\nmodules = ['nope']\n", "unknown module 'nope'"),
        ("[users.a]\ncolour = 'red'\n", "unknown key 'users.a.colour'"),
    ],
)
def test_bad_settings_name_the_key_and_the_file(home: Path, text: str, expected: str) -> None:
    path = write(home / "odoosync.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    if "unknown key" in expected or ":" in expected:
        assert str(path) in message


def test_bad_environment_value_names_the_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODOOSYNC_BATCH_SIZE", "many")
    with pytest.raises(ConfigError, match="environment variable ODOOSYNC_BATCH_SIZE: batch_size"):
        load_settings()


def test_unrelated_environment_is_ignored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODOOSYNC_SECRET_ALICE", "not a setting")
    assert load_settings().page_size == 500


def test_missing_explicit_file_and_bad_toml(home: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(home / "nope.toml")
    write(home / "odoosync.toml", "page_size = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_disabling_every_module_is_refused(home: Path) -> None:
    write(
        home / "odoosync.toml",
        "".join(
            f"[modules.{m}]\nenabled = false\n"
            for m in (
                "contacts",
                "sale_orders",
                "invoices",
                "employees",
                "order_lines",
                "invoice_lines",
            )
        ),
    )
    with pytest.raises(ConfigError, match="nothing to sync"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "15 minutes", "1h 30", "-5m", "5x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(h=st.integers(0, 99), m=st.integers(0, 59), s=st.integers(0, 59))
def test_duration_parts_add_up(h: int, m: int, s: int) -> None:
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.page_size = 3  # type: ignore[misc]

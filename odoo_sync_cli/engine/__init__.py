"""One function per command: wires settings, the Odoo client and the mirror, returns plain data.

The command line (cli.py) parses, calls one of these, and hands the result to render.py. These
functions never print. A per-user failure aimed at one named user is raised; with several users
(``--all``) each user's failure is kept in its result, so one bad account does not stop the rest.

One module per job: ``accounts`` (users and their secrets), ``prepare``, ``step``, ``admin``
(status, clear, queue, retry), ``checks`` (validate-cursor, test-complete, with ``verify`` and
``diagnostics``); ``common`` holds what they share and ``results`` what they return.
"""

from odoo_sync_cli.engine.accounts import (
    user_add,
    user_get,
    user_list,
    user_move_secret,
    user_remove,
    user_set_secret,
)
from odoo_sync_cli.engine.admin import clear, clear_targets, queue, retry, status, status_json
from odoo_sync_cli.engine.checks import check_complete, pick_user, validate_cursor
from odoo_sync_cli.engine.common import (
    ClientFactory,
    make_client,
    move_plain_secrets,
    open_mirror,
    secret_stores,
)
from odoo_sync_cli.engine.prepare import prepare, select_fields
from odoo_sync_cli.engine.results import (
    ClearResult,
    Holder,
    ModulePlanInfo,
    ModuleStatus,
    PrepareResult,
    QueueResult,
    SecretChanged,
    SecretMoved,
    SecretsUpgrade,
    StepReport,
    UserAdded,
    UserInfo,
    UserRemoved,
    UserStatus,
    UserStep,
)
from odoo_sync_cli.engine.step import check_streams, step

__all__ = [
    "ClearResult",
    "ClientFactory",
    "Holder",
    "ModulePlanInfo",
    "ModuleStatus",
    "PrepareResult",
    "QueueResult",
    "SecretChanged",
    "SecretMoved",
    "SecretsUpgrade",
    "StepReport",
    "UserAdded",
    "UserInfo",
    "UserRemoved",
    "UserStatus",
    "UserStep",
    "check_complete",
    "check_streams",
    "clear",
    "clear_targets",
    "make_client",
    "move_plain_secrets",
    "open_mirror",
    "pick_user",
    "prepare",
    "queue",
    "retry",
    "secret_stores",
    "select_fields",
    "status",
    "status_json",
    "step",
    "user_add",
    "user_get",
    "user_list",
    "user_move_secret",
    "user_remove",
    "user_set_secret",
    "validate_cursor",
]

"""Errors the simulator raises, shaped like the Python exceptions an Odoo server serializes.

Odoo reports a failed call by the dotted name of the exception class (``data.name`` in JSON-RPC,
``name`` in JSON-2) and its text. The simulator raises :class:`OdooServerError` with the same
name and text; the HTTP layer turns it into the envelope of the protocol that was called.
"""

from __future__ import annotations

from typing import Any

# JSON-2 HTTP status per exception name; anything not listed answers 500.
JSON2_STATUS: dict[str, int] = {
    "odoo.exceptions.UserError": 422,
    "odoo.exceptions.ValidationError": 422,
    "odoo.exceptions.AccessError": 403,
    "odoo.exceptions.AccessDenied": 403,
    "odoo.exceptions.MissingError": 404,
    "odoo.exceptions.LockError": 409,
    "werkzeug.exceptions.NotFound": 404,
    "werkzeug.exceptions.Unauthorized": 401,
}


class OdooServerError(Exception):
    """An error as Odoo would raise it: exception class name, message and ``args``."""

    def __init__(self, name: str, message: str, arguments: list[Any] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.arguments: list[Any] = [message] if arguments is None else arguments

    @property
    def json2_status(self) -> int:
        return JSON2_STATUS.get(self.name, 500)


def value_error(message: str) -> OdooServerError:
    return OdooServerError("builtins.ValueError", message)


def user_error(message: str) -> OdooServerError:
    return OdooServerError("odoo.exceptions.UserError", message)

"""Every recorded Odoo 19 case the client can send, answered through httpx.MockTransport, maps to
a result or an error.

Each case's recorded response is fed to the transport that speaks its protocol; the transport is
driven with the call that produces the recorded request, and the test checks both the request it
sent (method, path, body without ``id``, credentials headers) and what it made of the answer.
Cases whose request no transport of odoosync can make (a body that is not JSON, another
authorization scheme, a verb other than POST...) are in ``CLIENT_CANNOT_SEND``: the replay suite
holds the simulator to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from odoo_sync_cli import errors
from odoo_sync_cli.odoo.json2 import Json2Transport
from odoo_sync_cli.odoo.jsonrpc import JsonRpcTransport
from odoo_sync_cli.odoo.transport import Connection, HttpSession

CASES_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "odoo19" / "cases.jsonl"

SECRETS = {
    "{{password}}": "case-password-4c1d",
    "{{api_key}}": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
    "{{demo_password}}": "case-demo-password-77e0",
    "{{demo_api_key}}": "fedcba98765432100123456789abcdeffedcba98",
}

OK = "ok"

# What each case must turn into: OK (the recorded result comes back) or the exception class.
EXPECTED: dict[str, Any] = {
    "common_version": OK,
    "web_version_get": OK,
    "authenticate_ok": OK,
    "authenticate_wrong_password": errors.AuthenticationError,
    "login_ok": OK,
    "authenticate_unknown_database": errors.DatabaseNotFoundError,
    "execute_kw_wrong_password": errors.AuthenticationError,
    "json2_bad_api_key": errors.AuthenticationError,
    "json2_missing_authorization": errors.AuthenticationError,
    "unknown_model_jsonrpc": errors.ModelNotFoundError,
    "unknown_model_json2": errors.ModelNotFoundError,
    "unknown_method_jsonrpc": errors.MethodNotFoundError,
    "unknown_method_json2": errors.MethodNotFoundError,
    "json2_unexpected_kwarg": errors.InvalidRequestError,
    "json2_get_method_path": errors.NotFoundError,
    "json2_unknown_database_header": errors.DatabaseNotFoundError,
    "json2_without_database_header": OK,
    "private_method_jsonrpc": errors.AccessDeniedError,
    "private_method_json2": errors.AccessDeniedError,
    "wrong_argument_count": errors.InvalidRequestError,
    "demo_user_private_field": errors.AccessDeniedError,
    "demo_user_private_field_json2": errors.AccessDeniedError,
    "jsonrpc_get": errors.InvalidRequestError,
    "char_eq": OK,
    "char_neq_includes_null": OK,
    "integer_gt": OK,
    "integer_lt_neq": OK,
    "monetary_ge": OK,
    "many2one_eq_id": OK,
    "many2one_eq_name": OK,
    "many2one_ilike_name": OK,
    "many2one_eq_false": OK,
    "many2one_neq_id": OK,
    "boolean_true": OK,
    "boolean_neq_true": OK,
    "selection_in": OK,
    "selection_neq": OK,
    "date_eq": OK,
    "date_lt": OK,
    "date_eq_false_count": OK,
    "datetime_eq_whole_second": OK,
    "datetime_gt_whole_second_count": OK,
    "datetime_ge_whole_second_count": OK,
    "datetime_lt_whole_second": OK,
    "datetime_le_whole_second": OK,
    "datetime_eq_shared_second_partner_count": OK,
    "datetime_microseconds_in_value": OK,
    "datetime_iso_t_string": OK,
    "datetime_date_only_lt": OK,
    "datetime_date_only_tz_context": OK,
    "datetime_date_only_eq_count": OK,
    "datetime_with_timezone_error": errors.InvalidRequestError,
    "id_in_with_missing": OK,
    "many2one_in_with_false": OK,
    "many2one_not_in_includes_null_count": OK,
    "many2one_not_in_with_false_count": OK,
    "in_empty_list": OK,
    "not_in_empty_list_count": OK,
    "char_eq_false_count": OK,
    "char_eq_empty_string_count": OK,
    "like_substring": OK,
    "ilike_substring": OK,
    "eq_like_pattern": OK,
    "eq_ilike_exact": OK,
    "like_underscore_wildcard": OK,
    "not_like_includes_null": OK,
    "not_ilike_count": OK,
    "eq_or_unset_false": OK,
    "eq_or_unset_value": OK,
    "or_prefix": OK,
    "not_prefix": OK,
    "and_or_not_nested": OK,
    "implicit_and_with_or": OK,
    "active_default_count": OK,
    "active_test_false_count": OK,
    "active_in_true_false_count": OK,
    "active_false_search_read": OK,
    "active_negated_count": OK,
    "order_id_asc": OK,
    "order_id_desc": OK,
    "order_write_date_asc_id_asc": OK,
    "order_name_asc_id_desc": OK,
    "order_many2one": OK,
    "order_many2one_desc_nulls": OK,
    "order_write_date_desc_nulls_last": OK,
    "order_char_nulls": OK,
    "order_invalid_string": errors.InvalidRequestError,
    "order_unknown_field": errors.InvalidRequestError,
    "default_order_res_partner": OK,
    "default_order_account_move": OK,
    "limit_offset": OK,
    "limit_zero_means_no_limit": OK,
    "offset_past_end": OK,
    "search_ids": OK,
    "search_ids_json2": OK,
    "read_existing_and_missing": OK,
    "read_with_fields": OK,
    "read_archived_json2": OK,
    "x2many_search_read_drops_active_test": OK,
    "x2many_read_keeps_active_test": OK,
    "fields_get_attributes": OK,
    "fields_get_json2": OK,
    "unknown_field_in_domain": errors.InvalidRequestError,
    "unknown_field_in_domain_json2": errors.InvalidRequestError,
    "unknown_field_in_fields": errors.InvalidRequestError,
    "bad_operator": errors.InvalidRequestError,
    "malformed_domain_arity": errors.InvalidRequestError,
    "malformed_domain_missing_operand": errors.InvalidRequestError,
    "invalid_value_type_float": errors.InvalidRequestError,
    "invalid_value_date": errors.InvalidRequestError,
    "invalid_value_type_integer": errors.InvalidRequestError,
    "keyset_write_date_page_1": OK,
    "keyset_write_date_page_2": OK,
    "keyset_write_date_page_3": OK,
    # Error paths recorded later from a real Odoo 19 (the same server, other data).
    "object_unknown_database": errors.DatabaseNotFoundError,
    "login_unknown_database": errors.DatabaseNotFoundError,
    "execute_search_count": OK,
    "read_fields_not_a_list": errors.InvalidRequestError,
    "search_limit_not_a_number": errors.InvalidRequestError,
    "search_offset_not_a_number": errors.InvalidRequestError,
    "search_order_not_a_string": errors.InvalidRequestError,
    "search_read_fields_not_a_list": errors.InvalidRequestError,
    "context_not_a_dict": errors.InvalidRequestError,
    "search_count_limit_not_a_number": errors.InvalidRequestError,
    "unknown_kwarg_jsonrpc": errors.InvalidRequestError,
    "domain_is_a_string": errors.InvalidRequestError,
    "domain_is_a_number": errors.InvalidRequestError,
    "domain_is_an_object": errors.InvalidRequestError,
    "domain_is_null": errors.InvalidRequestError,
    "domain_item_is_a_number": errors.InvalidRequestError,
    "domain_item_is_a_string": errors.InvalidRequestError,
    "domain_item_four_elements": errors.InvalidRequestError,
    "domain_lone_and": errors.InvalidRequestError,
    "domain_lone_not": errors.InvalidRequestError,
    "domain_and_one_operand": errors.InvalidRequestError,
    "domain_two_operators_one_operand": errors.InvalidRequestError,
    "domain_field_not_a_string": errors.InvalidRequestError,
    "domain_field_empty": errors.InvalidRequestError,
    "domain_unknown_field_in_path": errors.InvalidRequestError,
    "domain_path_through_char": errors.InvalidRequestError,
    "domain_in_scalar": OK,
    "domain_in_string": OK,
    "domain_bad_datetime": errors.InvalidRequestError,
    "domain_any_on_char": errors.InvalidRequestError,
    "domain_operator_eq_eq": OK,
    "domain_operator_uppercase": OK,
    "domain_not_operator_string": errors.InvalidRequestError,
    "domain_nested_list": errors.InvalidRequestError,
    "json2_missing_argument": errors.InvalidRequestError,
    "json2_ids_on_model_method": errors.InvalidRequestError,
    "json2_read_without_ids": OK,
    "json2_context_not_an_object": errors.InvalidRequestError,
    "json2_domain_is_a_string": errors.InvalidRequestError,
    "json2_bad_operator": errors.InvalidRequestError,
    "json2_limit_not_a_number": errors.InvalidRequestError,
    "json2_unknown_field_in_fields": errors.InvalidRequestError,
    "wsr_bare_ids": OK,
    "wsr_some_names": OK,
    "wsr_count_limit_reached": OK,
    "wsr_count_limit_above": OK,
    "wsr_count_limit_zero": OK,
    "wsr_short_page": OK,
    "wsr_no_limit": OK,
    "wsr_empty": OK,
    "wsr_default_order": OK,
    "wsr_empty_spec": OK,
    "wsr_archived_by_domain": OK,
    "wsr_active_test_context": OK,
    "search_read_active_test_context": OK,
    "wsr_many2one_subfields": OK,
    "wsr_x2many_subfields": OK,
    "wsr_sale_order_types": OK,
    "wsr_missing_specification": errors.InvalidRequestError,
    "wsr_unexpected_argument": errors.InvalidRequestError,
    # Odoo's AttributeError here says nothing about the request: a server error.
    "wsr_spec_is_a_list": errors.ServerError,
    "wsr_spec_is_null": errors.ServerError,
    "wsr_unknown_field": errors.InvalidRequestError,
    "wsr_many2one_spec_true": errors.InvalidRequestError,
    "wsr_char_spec_true": OK,
    "wsr_many2one_unknown_subfield": errors.InvalidRequestError,
    "wsr_many2one_fields_list": errors.InvalidRequestError,
    "wsr_count_limit_not_a_number": errors.InvalidRequestError,
    "web_read_ids": OK,
    "web_read_missing_id": OK,
    "web_read_without_ids": OK,
    "wsr_jsonrpc": OK,
    "wsr_jsonrpc_positional": OK,
    "wsr_jsonrpc_missing_specification": errors.InvalidRequestError,
    "wsr_jsonrpc_unknown_field": errors.InvalidRequestError,
    "web_read_jsonrpc": OK,
}

# Recorded requests no odoosync transport makes, with why.
CLIENT_CANNOT_SEND = {
    **dict.fromkeys(
        ["jsonrpc_bad_json", "jsonrpc_array_body", "json2_bad_json", "json2_array_body"],
        "a body that is not a JSON object",
    ),
    **dict.fromkeys(
        [
            "jsonrpc_params_list",
            "jsonrpc_params_missing_service",
            "jsonrpc_params_extra_key",
            "unknown_service",
            "common_unknown_method",
            "common_version_extra_argument",
            "common_login_missing_argument",
            "common_args_not_a_list",
            "db_unknown_method",
            "db_list_refused",
            "object_unknown_method",
            "object_too_few_arguments",
            "object_uid_not_a_number",
            "object_empty_password",
            "execute_kw_too_many_arguments",
            "execute_kw_no_args",
            "execute_kw_kwargs_not_a_dict",
            "read_without_ids",
            "read_ids_not_numbers",
            "domain_operator_not_a_string",
        ],
        "JSON-RPC params or arguments of a shape the client never builds",
    ),
    **dict.fromkeys(
        ["json2_bearer_without_key", "json2_basic_scheme", "json2_key_scheme_uppercase"],
        "another Authorization header than 'bearer <key>'",
    ),
    **dict.fromkeys(
        ["json2_put_method", "json2_path_too_short", "json2_path_too_long"],
        "another verb or path than POST /json/2/<model>/<method>",
    ),
    "json2_empty_body": "an empty body",
    "json2_read_ids_not_a_list": "ids that are not a list",
    "json2_text_content_type": "another Content-Type than application/json",
    "webclient_version_info": "the web client's version route",
    "json_version_get": "/json/version (the client asks /web/version)",
}

_DOMAIN_FIRST = {"search", "search_count"}


def _substitute(value: Any) -> Any:
    if isinstance(value, str):
        for placeholder, secret in SECRETS.items():
            value = value.replace(placeholder, secret)
        return value
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    return value


def _load_cases() -> list[dict[str, Any]]:
    with CASES_FILE.open(encoding="utf-8") as lines:
        return [_substitute(json.loads(line)) for line in lines if line.strip()]


ALL_CASES = _load_cases()
CASES = [case for case in ALL_CASES if case["name"] not in CLIENT_CANNOT_SEND]


def _recorded_response(case: dict[str, Any]) -> httpx.Response:
    recorded = case["response"]
    body = recorded["body"]
    content_type = recorded["content_type"]
    text = json.dumps(body) if content_type == "application/json" else body
    return httpx.Response(
        recorded["status"], content=text.encode(), headers={"Content-Type": content_type}
    )


def _rpc_params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = body["params"]
    return params


def _connection(case: dict[str, Any]) -> Connection:
    request = case["request"]
    database, login, secret = "odoo", "admin", ""
    if request["path"] == "/jsonrpc" and request["body"]:
        params = _rpc_params(request["body"])
        args = params["args"]
        if params["method"] in ("authenticate", "login"):
            database, login, secret = args[0], args[1], args[2]
        elif params["method"] in ("execute_kw", "execute"):
            database, secret = args[0], args[2]
    elif request["path"].startswith("/json/2/"):
        headers = request["headers"]
        secret = headers.get("Authorization", "bearer ").split(" ", 1)[1]
        database = headers.get("X-Odoo-Database", database)
    return Connection(
        user="case-user",
        url="http://odoo.test:8069",
        database=database,
        login=login,
        secret=pydantic.SecretStr(secret),
    )


def _canonical_execute_kw(args: list[Any]) -> list[Any]:
    """execute_kw args with kwargs present and a search domain passed positionally."""
    args = list(args)
    if len(args) == 6:
        args.append({})
    method, positional, named = args[4], list(args[5]), dict(args[6] or {})
    if method in _DOMAIN_FIRST and not positional and "domain" in named:
        positional.append(named.pop("domain"))
    return [*args[:5], positional, named]


def _drive(case: dict[str, Any], session: HttpSession) -> Any:
    """Make the transport send the case's request; return what the transport returns."""
    request = case["request"]
    path = request["path"]
    if path == "/web/version":
        return Json2Transport(session).version()
    if path == "/jsonrpc":
        transport = JsonRpcTransport(session)
        if request["method"] != "POST":
            return transport.version()
        params = _rpc_params(request["body"])
        service, method, args = params["service"], params["method"], params["args"]
        if (service, method) == ("common", "version"):
            return transport.version()
        if (service, method) == ("common", "authenticate"):
            return transport.authenticate()
        if (service, method) == ("object", "execute_kw"):
            model, name, positional = args[3], args[4], args[5]
            named = args[6] if len(args) > 6 else None
            return transport.call(model, name, args=positional, kwargs=named)
        # common.login and object.execute are not part of the client; send them as they are.
        return transport._rpc(service, method, args, session.context())
    _, _, _, model, method = path.split("/")
    body = dict(request["body"] or {})
    ids = body.pop("ids", None)
    return Json2Transport(session).call(model, method, ids=ids, kwargs=body)


def _expected_result(case: dict[str, Any]) -> Any:
    body = case["response"]["body"]
    path = case["request"]["path"]
    if path == "/web/version":
        return {"server_version": body["version"], "server_version_info": body["version_info"]}
    if path == "/jsonrpc":
        return body.get("result")
    return body


def _check_request(case: dict[str, Any], sent: httpx.Request) -> None:
    recorded = case["request"]
    if recorded["method"] != "POST":
        return  # the transports only POST; a GET case is here for its answer
    assert sent.method == "POST"
    assert sent.url.path == recorded["path"]
    assert sent.headers["User-Agent"].startswith("odoosync/")
    assert sent.headers["Content-Type"] == "application/json"
    # JSON-RPC cases recorded from a server serving two databases name theirs in a header that
    # the JSON-RPC transport does not send (its database travels in the arguments).
    for header in ("Authorization", "X-Odoo-Database"):
        if header in recorded["headers"] and recorded["path"].startswith("/json/2/"):
            assert sent.headers[header] == recorded["headers"][header]
    body = json.loads(sent.content)
    if recorded["path"] == "/jsonrpc":
        want = dict(recorded["body"])
        want.pop("id")
        got = dict(body)
        assert isinstance(got.pop("id"), int)
        if want["params"]["method"] == "execute_kw":
            want["params"] = {
                **want["params"],
                "args": _canonical_execute_kw(want["params"]["args"]),
            }
        assert got == want
    else:
        assert body == recorded["body"]


def test_table_names_every_case() -> None:
    assert [case["name"] for case in CASES] == list(EXPECTED)
    assert len(CASES) + len(CLIENT_CANNOT_SEND) == len(ALL_CASES) == 225


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case_maps_to_result_or_error(case: dict[str, Any]) -> None:
    sent: list[httpx.Request] = []
    recorded = case["request"]
    answering_login = recorded["path"] == "/jsonrpc" and recorded["body"] is not None
    uid = None
    if answering_login and _rpc_params(recorded["body"])["method"] == "execute_kw":
        uid = _rpc_params(recorded["body"])["args"][1]

    def answer(request: httpx.Request) -> httpx.Response:
        if uid is not None and json.loads(request.content)["params"]["method"] == "authenticate":
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": 0, "result": uid})
        sent.append(request)
        return _recorded_response(case)

    conn = _connection(case)
    session = HttpSession(conn, transport=httpx.MockTransport(answer))
    expected = EXPECTED[case["name"]]
    try:
        if expected == OK:
            assert _drive(case, session) == _expected_result(case)
        else:
            with pytest.raises(errors.OdooError) as caught:
                _drive(case, session)
            assert type(caught.value) is expected
            text = str(caught.value)
            assert "case-user" in text
            assert "http://odoo.test:8069" in text
            if expected is errors.DatabaseNotFoundError:
                assert "Check the database name of case-user" in text
            for secret in SECRETS.values():
                assert secret not in text
                assert secret not in repr(caught.value)
    finally:
        session.close()
    assert len(sent) == 1
    _check_request(case, sent[0])

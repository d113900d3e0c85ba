"""Replay every recorded Odoo 19 case against the simulator loaded with the recorded dataset.

Each case's request goes over real HTTP with the simulator's credentials in place of the
placeholders; the answer is compared as fixtures/odoo19/README.md says: ``core`` cases on status,
content type and the whole body (minus the JSON-RPC ``id`` and the error's ``debug``), ``info``
cases on status and error name only (status only when the body is not JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from odoo_sync_cli.simulator.testing import Simulator

CASES_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "odoo19" / "cases.jsonl"

# Cases the simulator answers differently from the recorded server, with the reason.
KNOWN_DIFFERENCES: dict[str, str] = {}

CASES: list[dict[str, Any]] = [
    json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line
]


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case["name"] in KNOWN_DIFFERENCES:
            marks.append(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[case["name"]], strict=True))
        params.append(pytest.param(case, id=case["name"], marks=marks))
    return params


def _substitute(value: Any, secrets: dict[str, str]) -> Any:
    text = json.dumps(value)
    for placeholder, secret in secrets.items():
        text = text.replace(placeholder, secret)
    return json.loads(text)


def _secrets(sim: Simulator) -> dict[str, str]:
    demo = sim.demo_credentials()
    return {
        "{{password}}": sim.password,
        "{{api_key}}": sim.api_key,
        "{{demo_password}}": demo.password,
        "{{demo_api_key}}": demo.api_key,
    }


def _parse(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _main_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _strip(body: Any, path: str) -> Any:
    """Drop what the comparison ignores: the JSON-RPC ``id`` and every error ``debug``."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if path == "/jsonrpc":
        body.pop("id", None)
        if isinstance(body.get("error"), dict):
            error = dict(body["error"])
            if isinstance(error.get("data"), dict):
                error["data"] = {k: v for k, v in error["data"].items() if k != "debug"}
            body["error"] = error
    else:
        body.pop("debug", None)
    return body


def _error_name(body: Any, path: str) -> Any:
    if not isinstance(body, dict):
        return None
    if path == "/jsonrpc":
        error = body.get("error")
        return error.get("data", {}).get("name") if isinstance(error, dict) else None
    return body.get("name")


@pytest.fixture(scope="module")
def replay_client(dataset_simulator: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dataset_simulator.url, timeout=60.0) as client:
        yield client


@pytest.mark.parametrize("case", _params())
def test_replay(
    case: dict[str, Any], dataset_simulator: Simulator, replay_client: httpx.Client
) -> None:
    request = _substitute(case["request"], _secrets(dataset_simulator))
    expected = case["response"]
    body = request["body"]
    response = replay_client.request(
        request["method"],
        request["path"],
        headers=request["headers"],
        content=None if body is None else json.dumps(body).encode(),
    )
    got = _parse(response)
    path = request["path"]
    if case["tier"] == "core":
        assert response.status_code == expected["status"]
        assert _main_type(response.headers.get("content-type")) == expected["content_type"]
        assert _strip(got, path) == _strip(expected["body"], path)
    else:
        assert response.status_code == expected["status"]
        if isinstance(expected["body"], dict):
            assert _error_name(got, path) == _error_name(expected["body"], path)


def test_every_case_is_replayed() -> None:
    """The fixture file holds the 114 recorded cases, and known differences name real cases."""
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)) == 114
    assert set(KNOWN_DIFFERENCES) <= set(names)

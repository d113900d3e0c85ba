"""Record the answers of a real Odoo server to the replay cases, with every secret scrubbed.

Run it through ``scripts/record-cases``. A cases file (``fixtures/odoo19/cases.jsonl``) holds one
case a line: ``name``, ``tier``, ``about`` and a ``request`` whose secrets are placeholders
(``{{password}}``, ``{{api_key}}``, ``{{demo_password}}``, ``{{demo_api_key}}``). This script
sends the requests of the chosen cases to a server, with the real secrets in place of the
placeholders, and writes each answer into the case's ``response``: HTTP status, main content
type, and the body (JSON, or text). Of an error's ``debug`` (the server's traceback) only the
last line is kept. Any secret met in an answer becomes its placeholder again, and the file is
written only if no secret is left anywhere in it.

A request may give its body as ``raw_body`` (a string sent as is: bad JSON on purpose) instead
of ``body`` (JSON). Secrets come from the environment: ``ODOO_PASSWORD``, ``ODOO_API_KEY``, and
optionally ``ODOO_DEMO_PASSWORD``, ``ODOO_DEMO_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

PLACEHOLDERS = {
    "{{password}}": "ODOO_PASSWORD",
    "{{api_key}}": "ODOO_API_KEY",
    "{{demo_password}}": "ODOO_DEMO_PASSWORD",
    "{{demo_api_key}}": "ODOO_DEMO_API_KEY",
}


def secrets_from_env() -> dict[str, str]:
    found = {p: os.environ[v] for p, v in PLACEHOLDERS.items() if os.environ.get(v)}
    if "{{password}}" not in found or "{{api_key}}" not in found:
        sys.exit("Set ODOO_PASSWORD and ODOO_API_KEY (the admin's) in the environment.")
    return found


def substitute(value: Any, secrets: dict[str, str]) -> Any:
    text = json.dumps(value)
    for placeholder, secret in secrets.items():
        text = text.replace(placeholder, secret)
    return json.loads(text)


# A demo server's password ("admin", "demo") is a word its answers hold anyway (logins, names):
# such short ones are neither scrubbed nor looked for. API keys are 40 characters.
SHORTEST_SECRET = 8


def scrub(value: Any, secrets: dict[str, str]) -> Any:
    """``value`` with every secret replaced by its placeholder (longest secret first)."""
    text = json.dumps(value, ensure_ascii=False)
    for placeholder, secret in sorted(secrets.items(), key=lambda kv: -len(kv[1])):
        if len(secret) >= SHORTEST_SECRET:
            text = text.replace(json.dumps(secret)[1:-1], placeholder)
    return json.loads(text)


def last_debug_line(body: Any) -> Any:
    """Keep only the last line of every ``debug`` traceback (it names the exception)."""
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            if key == "debug" and isinstance(value, str):
                lines = [ln for ln in value.splitlines() if ln.strip()]
                out[key] = lines[-1] if lines else value
            else:
                out[key] = last_debug_line(value)
        return out
    return body


def record(client: httpx.Client, case: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    request = substitute(case["request"], secrets)
    if "raw_body" in request:
        content = request["raw_body"].encode()
    elif request.get("body") is None:
        content = None
    else:
        content = json.dumps(request["body"]).encode()
    reply = client.request(
        request["method"], request["path"], headers=request["headers"], content=content
    )
    main_type = (reply.headers.get("content-type") or "").split(";")[0].strip().lower()
    try:
        body: Any = reply.json()
    except ValueError:
        body = reply.text
    response = {"status": reply.status_code, "content_type": main_type, "body": body}
    return {**case, "response": scrub(last_debug_line(response), secrets)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8069")
    parser.add_argument("--cases", type=Path, required=True, help="the cases file (JSONL)")
    parser.add_argument(
        "--only",
        help="record these cases (comma-separated names); default: cases without a response",
    )
    args = parser.parse_args(argv)
    secrets = secrets_from_env()
    cases = [json.loads(ln) for ln in args.cases.read_text(encoding="utf-8").splitlines() if ln]
    wanted = set(args.only.split(",")) if args.only else None
    unknown = (wanted or set()) - {c["name"] for c in cases}
    if unknown:
        sys.exit(f"No such case: {', '.join(sorted(unknown))}")
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=args.url, timeout=120.0) as client:
        for case in cases:
            due = case["name"] in wanted if wanted is not None else "response" not in case
            if due:
                case = record(client, case, secrets)
                print(f"{case['name']}: {case['response']['status']}")
            out.append(case)
    text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in out)
    leaked = [p for p, s in secrets.items() if len(s) >= SHORTEST_SECRET and s in text]
    if leaked:
        sys.exit(f"Not written: a secret ({', '.join(leaked)}) is still in the answers.")
    args.cases.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

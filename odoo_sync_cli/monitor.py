"""The loop's monitoring endpoint: ``GET /odoo/status`` and ``GET /healthz``.

A stdlib ``ThreadingHTTPServer`` in a daemon thread, bound to loopback unless told otherwise.
``/odoo/status`` answers the JSON of ``odoosync status --json``, read from the database at each
request (so it shows what other processes did too, and holds no connection between requests);
``/healthz`` answers the loop's own state, 200 while it runs and 503 once it stops. Both
only read, and neither carries a secret: the status JSON never holds one.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.errors import ConfigError, OdooSyncError

STATUS_PATH = "/odoo/status"
HEALTH_PATH = "/healthz"

Health = Callable[[], dict[str, Any]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], settings: Settings, health: Health | None) -> None:
        self.settings = settings
        self.health = health
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "odoosync"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if path == STATUS_PATH:
            try:
                body = engine.status_json(engine.status(self.server.settings))
            except OdooSyncError as exc:
                self._send(503, {"error": str(exc)})
                return
            self._send(200, body)
        elif path == HEALTH_PATH:
            loop = self.server.health() if self.server.health is not None else {}
            ok = loop.get("status", "running") == "running"
            self._send(200 if ok else 503, {"ok": ok, "loop": loop})
        else:
            self._send(404, {"error": "not found", "paths": [STATUS_PATH, HEALTH_PATH]})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = (json.dumps(body, indent=2) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a monitoring probe every few seconds is not worth a line in the loop's output


class StatusServer:
    """Serves the status and health endpoints until closed; use as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        health: Health | None = None,
    ) -> None:
        try:
            self._server = _Server((host, port), settings, health)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the status endpoint on {host}:{port} ({exc.strerror or exc})",
                hint="Pick another --http-port (0 picks a free one) or --http-host.",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="odoosync-status",
            daemon=True,
        )
        self._started = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> StatusServer:
        self._thread.start()
        self._started = True
        return self

    def close(self) -> None:
        if self._started:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

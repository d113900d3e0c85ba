"""The loop's monitoring endpoint: ``GET /odoo/status``, ``GET /healthz`` and ``GET /metrics``.

A stdlib ``ThreadingHTTPServer`` in a daemon thread, bound to loopback unless told otherwise.
``/odoo/status`` answers the JSON of ``odoosync status --json``, read from the database at each
request (so it shows what other processes did too, and holds no connection between requests);
``/healthz`` answers the loop's own state, 200 while it runs and 503 once it stops;
``/metrics`` answers the Prometheus text format (prometheus-client): this process's counters
per user (records and pages synced, failures, retries), the users it holds, and gauges read
from the database at each scrape (time since each user's last success, the lag of each
module's high-water mark, statuses, holders). None of them carries a secret.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from odoo_sync_cli import engine
from odoo_sync_cli.config import Settings
from odoo_sync_cli.errors import ConfigError, OdooSyncError
from odoo_sync_cli.models import USER_STATUSES, parse_timestamp
from odoo_sync_cli.progress import LoopCounters

STATUS_PATH = "/odoo/status"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

Health = Callable[[], dict[str, Any]]
Counters = Callable[[], LoopCounters]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        settings: Settings,
        health: Health | None,
        counters: Counters | None,
    ) -> None:
        self.settings = settings
        self.health = health
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_LoopCollector(settings, counters))
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
        elif path == METRICS_PATH:
            self._send_bytes(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        else:
            paths = [STATUS_PATH, HEALTH_PATH, METRICS_PATH]
            self._send(404, {"error": "not found", "paths": paths})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = (json.dumps(body, indent=2) + "\n").encode("utf-8")
        self._send_bytes(status, data, "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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
        counters: Counters | None = None,
    ) -> None:
        try:
            self._server = _Server((host, port), settings, health, counters)
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


class _LoopCollector(Collector):
    """The metrics of one scrape: the loop's counters, then what the database says now."""

    def __init__(self, settings: Settings, counters: Counters | None) -> None:
        self.settings = settings
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        if self.counters is not None:
            yield from _counter_metrics(self.counters())
        yield from _database_metrics(self.settings)


def _counter_metrics(loop: LoopCounters) -> Iterator[Metric]:
    per_user = (
        ("odoosync_records_synced", "Records stored by this process.", "records"),
        ("odoosync_pages_synced", "Pages stored by this process.", "pages"),
        ("odoosync_sync_failures", "Turns of this process that ended in a failure.", "failures"),
        ("odoosync_sync_retries", "Failed syncs this process resumed.", "retries"),
        (
            "odoosync_request_retries",
            "Requests to Odoo sent again after a passing failure.",
            "request_retries",
        ),
    )
    for name, text, attribute in per_user:
        family = CounterMetricFamily(name, text, labels=["user"])
        for user, counted in sorted(loop.users.items()):
            family.add_metric([user], getattr(counted, attribute))
        yield family
    held = GaugeMetricFamily(
        "odoosync_worker_users_held", "Users this process works on now.", labels=["worker"]
    )
    held.add_metric([loop.worker], len(loop.holding))
    yield held
    holds = GaugeMetricFamily(
        "odoosync_worker_user_held",
        "1 for each user this process works on now.",
        labels=["worker", "user"],
    )
    for user in loop.holding:
        holds.add_metric([loop.worker, user], 1)
    yield holds


def _database_metrics(settings: Settings) -> Iterator[Metric]:
    up = GaugeMetricFamily("odoosync_database_up", "1 when the mirror's database answered.")
    try:
        statuses = engine.status(settings)
    except OdooSyncError:
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    now = time.time()
    status = GaugeMetricFamily(
        "odoosync_user_status", "1 for each user's sync status.", labels=["user", "status"]
    )
    success = GaugeMetricFamily(
        "odoosync_last_success_timestamp_seconds",
        "When each user's last sync ended well (Unix time).",
        labels=["user"],
    )
    since = GaugeMetricFamily(
        "odoosync_seconds_since_last_success",
        "Seconds since each user's last sync ended well.",
        labels=["user"],
    )
    lag = GaugeMetricFamily(
        "odoosync_high_water_lag_seconds",
        "Seconds between now and the newest write_date each module's last sync read.",
        labels=["user", "module"],
    )
    mirrored = GaugeMetricFamily(
        "odoosync_mirrored_records", "Live records in the mirror.", labels=["user", "module"]
    )
    holder = GaugeMetricFamily(
        "odoosync_user_holder",
        "1 for each user some process works on now, naming that process.",
        labels=["user", "worker"],
    )
    for s in statuses:
        user = s.info.name
        for word in USER_STATUSES:
            status.add_metric([user, word], int(s.info.status == word))
        last = parse_timestamp(s.info.last_success)
        if last is not None:
            success.add_metric([user], last.timestamp())
            since.add_metric([user], max(0.0, now - last.timestamp()))
        for m in s.modules:
            mirrored.add_metric([user, m.progress.module], m.progress.mirrored)
            mark = _odoo_time(m.high_water)
            if mark is not None:
                lag.add_metric([user, m.progress.module], max(0.0, now - mark))
        if s.holder is not None:
            holder.add_metric([user, f"{s.holder.host}:{s.holder.pid or '?'}"], 1)
    yield from (status, success, since, lag, mirrored, holder)


def _odoo_time(text: str | None) -> float | None:
    """An Odoo datetime (``YYYY-MM-DD HH:MM:SS``, UTC) as Unix time."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None

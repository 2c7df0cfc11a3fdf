"""A tiny HTTP server for `hazmon ingest`: `/metrics` (Prometheus text) and `/health`.

Standard library only (ThreadingHTTPServer in a daemon thread); bound to loopback
unless told otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def serve(
    host: str, port: int, *, registry: CollectorRegistry, health: Callable[[], dict[str, Any]],
    healthy: Callable[[dict[str, Any]], bool] | None = None,
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `shutdown()` and `server_close()` stop it.
    `/health` answers 503 unless `healthy(state)` (by default: ingest's own test)."""
    judge = healthy or _ingest_healthy

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/health":
                state = health()
                ok = judge(state)
                body = json.dumps({"status": "ok" if ok else "degraded", **state}).encode()
                self._send(200 if ok else 503, "application/json", body)
            else:
                self._send(404, "application/json", b'{"error": "not_found"}')

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ingest-http", daemon=True).start()
    return server


def _ingest_healthy(state: dict[str, Any]) -> bool:
    ok = bool(state.get("ready")) and bool(state.get("broker"))
    return ok and not state.get("store_refused")  # wrong credentials

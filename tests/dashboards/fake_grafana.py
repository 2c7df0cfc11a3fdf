"""A small stand-in for Grafana's HTTP API (folders and dashboards), for push tests.

No Grafana server is installable from the registries this project uses, so the push
tests talk to this: it speaks the documented endpoints that grafana-client calls
(`/api/folders`, `/api/dashboards/uid/{uid}`, `/api/dashboards/db`), checks the
bearer token, keeps versions like Grafana does, and records every request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


class _Handler(BaseHTTPRequestHandler):
    state: GrafanaState

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `state.requests` instead."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        self.state.requests.append((self.command, self.path))
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self._answer(401, {"message": "Unauthorized"})
            return False
        return True

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        document: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return document

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path.startswith("/api/folders/"):
            folder = self.state.folders.get(self.path.rsplit("/", 1)[1])
            if folder is None:
                self._answer(404, {"message": "folder not found"})
            else:
                self._answer(200, folder)
        elif self.path.startswith("/api/dashboards/uid/"):
            stored = self.state.dashboards.get(self.path.rsplit("/", 1)[1])
            if stored is None:
                self._answer(404, {"message": "Dashboard not found"})
            else:
                self._answer(200, stored)
        else:
            self._answer(404, {"message": "Not found"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = self._body()
        if self.path == "/api/folders":
            self._create_folder(body)
        elif self.path == "/api/dashboards/db":
            self._save_dashboard(body)
        else:
            self._answer(404, {"message": "Not found"})

    def _create_folder(self, body: dict[str, Any]) -> None:
        uid = body["uid"]
        if uid in self.state.folders:
            self._answer(409, {"message": "a folder with the same uid already exists"})
            return
        self.state.folders[uid] = {
            "uid": uid,
            "title": body["title"],
            "id": len(self.state.folders) + 1,
        }
        self._answer(200, self.state.folders[uid])

    def _save_dashboard(self, body: dict[str, Any]) -> None:
        if body.get("folderUid") not in self.state.folders:
            self._answer(400, {"message": "folder not found"})
            return
        dashboard = dict(body["dashboard"])
        uid = dashboard["uid"]
        previous = self.state.dashboards.get(uid)
        if previous is not None and not body.get("overwrite"):
            self._answer(412, {"message": "The dashboard has been changed by someone else"})
            return
        version = previous["dashboard"]["version"] + 1 if previous else 1
        dashboard.update(id=len(self.state.dashboards) + 1, version=version)
        self.state.dashboards[uid] = {
            "dashboard": dashboard,
            "meta": {"folderUid": body["folderUid"]},
        }
        self._answer(200, {"status": "success", "uid": uid, "version": version})


class FakeGrafana:
    """Started on entry on 127.0.0.1:<free port>; `url` and `state` for the test."""

    def __init__(self, token: str) -> None:
        self.state = GrafanaState(token=token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

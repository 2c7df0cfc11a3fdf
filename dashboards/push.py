"""Upload the dashboards to an existing Grafana through its HTTP API (grafana-client).

Idempotent: the folder is created once (by its uid), each dashboard is written with
`overwrite` under its fixed uid, and a dashboard whose stored JSON is already ours is
left alone, so pushing twice changes nothing and adds no version to Grafana's history.

The token is a Grafana service account token with the Editor role on the folder; it
comes from `GRAFANA_TOKEN` or a file, never from the command line (docs/contract.md §8).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from grafana_client.client import GrafanaException
from niquests.exceptions import RequestException

from hazmon.contract.errors import HazmonError
from hazmon.dashboards.provisioning import FOLDER_TITLE, FOLDER_UID

Outcome = Literal["created", "updated", "unchanged"]
NOT_FOUND = 404
PUSH_MESSAGE = "hazmon dashboards push"


class PushError(HazmonError):
    """Grafana refused the upload; `detail` says what it answered."""

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}")


class GrafanaFolders(Protocol):
    def get_folder(self, uid: str) -> Any: ...
    def create_folder(self, title: str, uid: str | None = None) -> Any: ...


class GrafanaDashboards(Protocol):
    def get_dashboard(self, dashboard_uid: str) -> Any: ...
    def update_dashboard(self, dashboard: dict[str, Any]) -> Any: ...


class Grafana(Protocol):
    """The part of `grafana_client.GrafanaApi` that a push uses."""

    @property
    def folder(self) -> GrafanaFolders: ...
    @property
    def dashboard(self) -> GrafanaDashboards: ...


@dataclass(frozen=True, slots=True)
class Pushed:
    uid: str
    title: str
    outcome: Outcome


def connect(url: str, token: str, *, timeout_s: float = 10.0) -> Grafana:
    """A grafana-client API object for `url`, authenticated by a bearer token."""
    from grafana_client.api import GrafanaApi

    api: Grafana = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    return api


def push(
    grafana: Grafana,
    dashboards: list[dict[str, Any]],
    *,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
) -> list[Pushed]:
    """Put every dashboard in the folder; say for each whether it changed."""
    ensure_folder(grafana, uid=folder_uid, title=folder_title)
    return [push_one(grafana, dashboard, folder_uid=folder_uid) for dashboard in dashboards]


def ensure_folder(grafana: Grafana, *, uid: str, title: str) -> bool:
    """Create the folder unless it exists; True when it was created."""
    what = f"folder {uid}"
    if _found(what, lambda: grafana.folder.get_folder(uid)) is not None:
        return False
    _call(what, lambda: grafana.folder.create_folder(title, uid=uid))
    return True


def push_one(grafana: Grafana, dashboard: dict[str, Any], *, folder_uid: str) -> Pushed:
    uid = str(dashboard["uid"])
    title = str(dashboard.get("title", uid))
    what = f"dashboard {uid}"
    stored = _found(what, lambda: grafana.dashboard.get_dashboard(uid))
    if stored is not None and _same(stored, dashboard, folder_uid):
        return Pushed(uid, title, "unchanged")
    body = {
        "dashboard": {**dashboard, "id": None},
        "folderUid": folder_uid,
        "overwrite": True,
        "message": PUSH_MESSAGE,
    }
    _call(what, lambda: grafana.dashboard.update_dashboard(body))
    return Pushed(uid, title, "created" if stored is None else "updated")


def _call(what: str, request: Callable[[], Any]) -> Any:
    """Run one API request; any refusal or network failure becomes a PushError."""
    try:
        return request()
    except GrafanaException as exc:
        raise PushError(what, f"HTTP {exc.status_code}: {exc.message}") from exc
    except RequestException as exc:
        raise PushError(what, f"cannot reach Grafana ({exc})") from exc


def _found(what: str, request: Callable[[], Any]) -> dict[str, Any] | None:
    """The object a GET returns, or None when Grafana answers 404."""
    try:
        found: dict[str, Any] = _call(what, request)
    except PushError as exc:
        cause = exc.__cause__
        if isinstance(cause, GrafanaException) and cause.status_code == NOT_FOUND:
            return None
        raise
    return found


def _same(stored: dict[str, Any], ours: dict[str, Any], folder_uid: str) -> bool:
    """Whether Grafana holds exactly our JSON in our folder (ids and versions aside)."""
    meta = stored.get("meta") or {}
    if meta.get("folderUid") != folder_uid:
        return False
    theirs = {
        k: v for k, v in (stored.get("dashboard") or {}).items() if k not in ("id", "version")
    }
    mine = {k: v for k, v in ours.items() if k not in ("id", "version")}
    return _canonical(theirs) == _canonical(mine)


def _canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


def load(text: str) -> dict[str, Any]:
    """A dashboard JSON file as the dict that `push` uploads."""
    document: dict[str, Any] = json.loads(text)
    return document


def as_documents(files: dict[str, str]) -> list[dict[str, Any]]:
    """The dashboards among rendered provisioning files, as dicts."""
    return [load(text) for path, text in sorted(files.items()) if path.endswith(".json")]

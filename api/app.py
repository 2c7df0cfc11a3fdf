"""The HTTP API and the duty-officer console (docs/contract.md §7), as one FastAPI app.

    app = create_app(registry=..., desk=service.desk, store=..., metrics=[...], health=...)

`/api/v1/...` needs a bearer token (hazmon.api.auth); `/health`, `/metrics`, `/docs` and the
console's static files (`/`, `/static/...`) do not: the console asks for a token
before it shows anything. The console has no inline script or style, so the
Content-Security-Policy that hazmon.api.hardening adds (`hazmon up` installs it) holds.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from hazmon.alarms.desk import Desk
from hazmon.api import (
    routes_alarms,
    routes_audit,
    routes_cause_effect,
    routes_dangers,
    routes_feeds,
    routes_monitoring,
    routes_replay,
    routes_sites,
    stream,
)
from hazmon.api.auth import Authenticator
from hazmon.api.context import ApiContext
from hazmon.api.errors import install_error_handlers
from hazmon.api.models import Health
from hazmon.api.streamgate import StreamCaps, StreamGate
from hazmon.contract.registry import Registry
from hazmon.stores.base import Store

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """Telemetry and ISA-18.2 alarms of major hazard sources.

Every `/api/v1` call needs `Authorization: Bearer <token>`. Roles: viewer (read),
operator (+ ack, reset, shelve, unshelve, note), engineer (+ permits, out-of-service
and return to service, registry, figures), auditor (+ journal export and verify,
figures), admin (all). A token may be scoped to some sites: it sees and acts on those
only, and another site's ids answer 404 like ids that do not exist.
Errors are `{"error": code, "detail": sentence}`. An `alarm_id` holds `/` and `#`:
percent-encode them (`%2F`, `%23`) in paths.
"""


def create_app(
    *,
    registry: Registry,
    desk: Desk,
    store: Store,
    metrics: list[CollectorRegistry],
    health: Callable[[], dict[str, Any]],
    chain: Callable[[], dict[str, Any]] | None = None,
    keepalive_s: float = 15.0,
    stream_caps: StreamCaps = StreamCaps(),
) -> FastAPI:
    app = FastAPI(
        title="hazmon",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ApiContext(
        registry=registry,
        desk=desk,
        store=store,
        metrics=metrics,
        health=health,
        chain=chain,
        keepalive_s=keepalive_s,
    )
    app.state.authenticator = Authenticator(registry.auth.tokens)
    app.state.stream_gate = StreamGate(stream_caps)
    install_error_handlers(app)
    for module in (routes_sites, routes_alarms, routes_audit, routes_feeds, routes_monitoring,
                   routes_replay, routes_cause_effect, routes_dangers, stream):
        app.include_router(module.router)
    _add_service_routes(app)
    _add_docs(app)
    _add_console(app)
    return app


def use_registry(app: FastAPI, registry: Registry) -> None:
    """Serve `registry` from now on: its tokens (new ones valid, removed ones 401 at
    once), their scopes, and its sites and sensors. An open stream of a token that
    was removed, or whose role or scope changed, ends at once."""
    ctx: ApiContext = app.state.ctx
    authenticator = Authenticator(registry.auth.tokens)
    ctx.use_registry(registry)
    app.state.authenticator = authenticator
    ctx.wake_streams()


def stop_streams(app: FastAPI) -> None:
    """End every open event stream, so that the HTTP server can stop at once."""
    ctx: ApiContext = app.state.ctx
    ctx.stopping.set()


def _add_service_routes(app: FastAPI) -> None:
    ctx: ApiContext = app.state.ctx

    @app.get("/health", response_model=Health, tags=["service"], response_model_exclude_none=True,
             responses={503: {"model": Health, "description": "the alarm chain is dead"}})
    async def health(response: Response) -> dict[str, Any]:
        """`ok` when the broker and the store are reachable, else `degraded`; `failing`,
        with HTTP 503, while the alarm chain is dead (docs/alarms.md, "The alarm chain
        watched"): readings may come in, but no alarm would be raised."""
        parts = {"broker": False, "store": False, **(await run_in_threadpool(ctx.health))}
        if ctx.chain is not None:
            chain = ctx.chain()
            parts["chain"] = {k: chain.get(k) for k in ("state", "rtt_ms", "checked_ms")}
        status = "ok" if parts["broker"] and parts["store"] else "degraded"
        if parts.get("chain", {}).get("state") == "dead":
            status = "failing"
            response.status_code = 503
        return {**parts, "status": status}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["service"],
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    async def metrics() -> PlainTextResponse:
        """Prometheus text of every part running in this process."""
        body = b"".join(generate_latest(r) for r in ctx.metrics)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs. Its assets are served from here when the `fastapi-offline`
    package is installed (no internet needed: a plant network has none); else the
    browser loads FastAPI's default ones from their CDN."""
    local = _swagger_assets()
    if local is not None:
        app.mount("/docs-assets", StaticFiles(directory=local), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if local is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="hazmon API")
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="hazmon API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


def _swagger_assets() -> Path | None:
    """The folder with swagger-ui-bundle.js (Swagger UI 5, which reads OpenAPI 3.1)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").exists() else None


def _add_console(app: FastAPI) -> None:
    app.mount("/static", ConsoleFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})


class ConsoleFiles(StaticFiles):
    """The console's files, revalidated on every load (ETag), so that a browser never
    runs the modules of an older version after an upgrade."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response

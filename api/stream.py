"""`GET /api/v1/stream`: alarm events and risk changes as server-sent events, live.

The stream opens with `retry:` and a `ready` event sent once the subscription is in
place: a client that (re)loads its lists *after* `ready` misses nothing. Then each
desk item becomes `event: alarm` or `event: risk` with its JSON as `data:`, and a
`: keep-alive` comment is sent after `keepalive_s` of quiet, so proxies and the
console can tell a quiet stream from a dead one. The token goes in the
`Authorization` header like everywhere else (the console reads the stream with
`fetch()`, not `EventSource`, which cannot send headers).

A token scoped to some sites gets only their events. Streams are capped per token,
per client address and in total (hazmon.api.streamgate): 429 or 503 beyond.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hazmon.api.auth import AuthFirstRoute, Principal
from hazmon.api.context import ApiContext
from hazmon.api.deps import Context, Reader
from hazmon.api.errors import responses
from hazmon.api.hardening import client_address
from hazmon.api.streamgate import Lease, StreamGate

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["live"],
    responses=responses(401, 403, 429, 503),
)

RETRY_MS = 3000


def sse(event: str, data: Any) -> str:
    """One server-sent event (JSON on a single `data:` line)."""
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n"


async def _next_item(
    queue: asyncio.Queue[dict[str, Any]], timeout_s: float, *wakers: asyncio.Event
) -> dict[str, Any] | None:
    """The next desk item; None after `timeout_s` of quiet or when a waker is set (the
    server stops, the registry was reloaded)."""
    getter = asyncio.ensure_future(queue.get())
    stoppers = [asyncio.ensure_future(w.wait()) for w in wakers]
    try:
        done, _ = await asyncio.wait(
            {getter, *stoppers}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for stopper in stoppers:
            stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else None


def _site_of(item: dict[str, Any]) -> str | None:
    data = item.get("data")
    return data.get("site") if isinstance(data, dict) else None


async def events(
    ctx: ApiContext, principal: Principal, valid: Callable[[], bool] = lambda: True
) -> AsyncGenerator[str, None]:
    """The stream's text; it ends when the server stops or when `valid()` turns false
    (the token was removed, or its role or scope changed, by a reload)."""
    queue = ctx.desk.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n\n" + sse("ready", {"ts_ms": int(time.time() * 1000)})
        while not ctx.stopping.is_set() and valid():
            item = await _next_item(queue, ctx.keepalive_s, ctx.stopping, ctx.reloaded)
            if item is None:
                if not ctx.stopping.is_set() and valid():
                    yield ": keep-alive\n\n"
                continue
            if principal.sites is not None and not principal.sees(_site_of(item)):
                continue
            yield sse(str(item.get("type", "message")), item.get("data"))
    finally:
        ctx.desk.unsubscribe(queue)


class LeasedStream(StreamingResponse):
    """A streamed answer that gives its stream's place back when it ends, however it
    ends (the client left, the server stops, an error)."""

    def __init__(self, body: AsyncIterator[str], lease: Lease, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.lease.release()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"description": "server-sent events", "content": {"text/event-stream": {}}},
    },
)
async def stream(
    *,
    request: Request,
    principal: Reader,
    ctx: Context,
) -> StreamingResponse:
    """Alarm events (`event: alarm`) and risk changes (`event: risk`) of the token's
    sites, live. 429 when the token or the address has its share of streams open,
    503 when the server has as many as it may."""
    gate: StreamGate = request.app.state.stream_gate
    lease = gate.open(principal.key or principal.name, client_address(request.scope))
    app = request.app
    return LeasedStream(
        events(ctx, principal, lambda: bool(app.state.authenticator.knows(principal))),
        lease,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

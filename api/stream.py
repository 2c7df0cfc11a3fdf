"""`GET /api/v1/stream`: alarm events and risk changes as server-sent events, live.

The stream opens with `retry:` and a `ready` event sent once the subscription is in
place: a client that (re)loads its lists *after* `ready` misses nothing. Then each
desk item becomes `event: alarm` or `event: risk` with its JSON as `data:`, and a
`: keep-alive` comment is sent after `keepalive_s` of quiet, so proxies and the
console can tell a quiet stream from a dead one. The token goes in the
`Authorization` header like everywhere else (the console reads the stream with
`fetch()`, not `EventSource`, which cannot send headers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from api.auth import AuthFirstRoute, Principal, Right, require
from api.context import ApiContext, context
from api.errors import responses

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["live"], responses=responses(401, 403)
)

RETRY_MS = 3000


def sse(event: str, data: Any) -> str:
    """One server-sent event (JSON on a single `data:` line)."""
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n"


async def _next_item(
    queue: asyncio.Queue[dict[str, Any]], stopping: asyncio.Event, timeout_s: float
) -> dict[str, Any] | None:
    """The next desk item; None after `timeout_s` of quiet or when the server stops."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, stopper}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else None


async def events(ctx: ApiContext) -> AsyncIterator[str]:
    queue = ctx.desk.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n\n" + sse("ready", {"ts_ms": int(time.time() * 1000)})
        while not ctx.stopping.is_set():
            item = await _next_item(queue, ctx.stopping, ctx.keepalive_s)
            if item is None:
                if not ctx.stopping.is_set():
                    yield ": keep-alive\n\n"
                continue
            yield sse(str(item.get("type", "message")), item.get("data"))
    finally:
        ctx.desk.unsubscribe(queue)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"description": "server-sent events", "content": {"text/event-stream": {}}},
    },
)
async def stream(
    _: Principal = Depends(require(Right.read)), ctx: ApiContext = Depends(context)
) -> StreamingResponse:
    """Alarm events (`event: alarm`) and risk changes (`event: risk`), live."""
    return StreamingResponse(
        events(ctx),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

"""The live stream over a real HTTP server (uvicorn, in this event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hazmon.api.app import stop_streams
from hazmon.api.testing import DrivenDesk
from hazmon.testing.servers import free_port
from tests.api.conftest import bearer

pytestmark = pytest.mark.integration  # a real HTTP server on a local port, real keepalives


async def _next_block(lines: AsyncIterator[str]) -> list[str]:
    """The lines of the next SSE block (up to a blank line)."""
    block: list[str] = []
    async for line in lines:
        if line == "":
            if block:
                return block
            continue
        block.append(line)
    return block


async def test_stream_sends_ready_events_keepalives_and_ends_on_stop(
    app: FastAPI, desk: DrivenDesk
) -> None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.02)
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
                client.stream("GET", "/api/v1/stream", headers=bearer("viewer")) as r,
            ):
                assert r.headers["content-type"].startswith("text/event-stream")
                lines = r.aiter_lines()
                assert await _next_block(lines) == ["retry: 3000"]
                ready = await _next_block(lines)
                assert ready[0] == "event: ready"
                assert len(desk._subscribers) == 1  # subscribed before `ready` was sent

                desk.raise_alarm("wy-mine-01", "GT-01", "high_high", "critical", 60.0)
                raised = []
                for _ in range(2):  # 60 %LEL is over `high` too: raised with it
                    alarm = await _next_block(lines)
                    assert alarm[0] == "event: alarm"
                    data = json.loads(alarm[1].removeprefix("data: "))
                    raised.append((data["alarm_id"], data["state"]))
                assert raised == [("wy-mine-01/GT-01/high#1", "unack"),
                                  ("wy-mine-01/GT-01/high_high#1", "unack")]
                risk = await _next_block(lines)
                assert risk[0] == "event: risk"
                assert json.loads(risk[1].removeprefix("data: "))["grade"] == "red"

                assert await _next_block(lines) == [": keep-alive"]  # after 0.5 s quiet
                stop_streams(app)
                rest = [line async for line in lines]
                assert rest == [] or set(rest) <= {"", ": keep-alive"}
            assert desk._subscribers == {}  # unsubscribed when the stream ended
    finally:
        server.should_exit = True
        await serving

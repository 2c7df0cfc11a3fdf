"""`hazmon up` itself: the HTTP port listens only after every service is subscribed,
a stop cancels the services (so they flush) after the HTTP server ends; config and
port errors; the demo registry."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk
from hazmon.cli import app as cli
from hazmon.cli.up import DEMO_SPEEDUP, Plan, _bind_http, _serve, demo_registry
from hazmon.contract.registry import Registry
from hazmon.contract.settings import Settings
from hazmon.contract.wire import Reading
from hazmon.stores.memory import MemoryStore
from hazmon.stores.sqlite import SqliteStore
from hazmon.testing.servers import free_port


class SlowService:
    """Subscribes when told to; records that it was cancelled (where it flushes)."""

    def __init__(self) -> None:
        self.subscribe = asyncio.Event()
        self.flushed = False

    async def run(self, *, ready: asyncio.Event) -> None:
        await self.subscribe.wait()
        ready.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.flushed = True
            raise


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.integration  # serves HTTP on a local port
async def test_http_listens_only_once_every_service_is_subscribed(registry: Registry) -> None:
    port = free_port()
    listener = _bind_http(f"127.0.0.1:{port}")
    services: list[tuple[str, Any]] = [("ingest", SlowService()), ("alarms", SlowService())]
    app = create_app(registry=registry, desk=DrivenDesk(registry), store=MemoryStore(),
                     metrics=[], health=lambda: {"broker": True, "store": True})
    plan = Plan(Settings(http=f"127.0.0.1:{port}"), registry)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        _serve(plan, services, app, listener, stop, iter(["up"]), MemoryStore())
    )
    await asyncio.sleep(0.3)
    assert not await asyncio.to_thread(accepts, port)
    services[0][1].subscribe.set()
    await asyncio.sleep(0.3)
    assert not await asyncio.to_thread(accepts, port)  # alarms not subscribed yet
    services[1][1].subscribe.set()
    for _ in range(100):
        if await asyncio.to_thread(accepts, port):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the HTTP port never opened")
    stop.set()
    await asyncio.wait_for(serving, 10)
    assert all(service.flushed for _, service in services)
    assert not await asyncio.to_thread(accepts, port)
    listener.close()


@pytest.mark.integration  # serves HTTP on a local port
async def test_up_prunes_the_embedded_store_with_a_retention(
    registry: Registry, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "hazmon.sqlite")
    now_ms = int(time.time() * 1000)
    store.write_readings([
        Reading("s1", "gw1", "GT-1", "combustible_gas", ts, 5.0, None, "good", False, False)
        for ts in (now_ms - 3 * 86_400_000, now_ms - 3_600_000)
    ])
    port = free_port()
    listener = _bind_http(f"127.0.0.1:{port}")
    services: list[tuple[str, Any]] = [("alarms", SlowService())]
    services[0][1].subscribe.set()
    app = create_app(registry=registry, desk=DrivenDesk(registry), store=store,
                     metrics=[], health=lambda: {"broker": True, "store": True})
    plan = Plan(Settings(http=f"127.0.0.1:{port}", retention_days=2), registry)
    stop = asyncio.Event()
    serving = asyncio.create_task(_serve(plan, services, app, listener, stop, iter([]), store))
    try:
        for _ in range(100):
            if store.count_readings() == 1:
                break
            await asyncio.sleep(0.05)
        assert store.count_readings() == 1  # the 3-day-old reading went, the other stays
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)  # the retention task stops with the rest
        listener.close()
        store.close()


def test_a_config_error_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text("sites:\n  - id: bad/id\n    name: x\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["up", "--config", str(bad), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{bad}:2: sites[0].id" in result.output
    assert "nothing started" in result.output


def test_a_taken_http_port_exits_1_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--data", str(tmp_path / "d"),
                                          "--http", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"cannot open the HTTP port 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "d").exists()  # no store, no broker


def test_demo_registry_takes_the_token_and_escalates_faster(registry: Registry) -> None:
    demo = demo_registry(registry, "s3cret")
    admins = [t for t in demo.auth.tokens if t.role == "admin"]
    assert [(t.name, t.sha256) for t in admins] == [
        ("admin", hashlib.sha256(b"s3cret").hexdigest())]
    assert len(demo.auth.tokens) == len(registry.auth.tokens)
    before = [t.after_s for t in registry.escalation.critical]
    assert [t.after_s for t in demo.escalation.critical] == [s / DEMO_SPEEDUP for s in before]
    assert demo.escalation.repeat_s == registry.escalation.repeat_s / DEMO_SPEEDUP
    assert [t.notify for t in demo.escalation.critical] == [
        t.notify for t in registry.escalation.critical]

"""The alarm summary as a duty officer works through a flood, in real headless
Chromium over the real API and the real alarm engine (hazmon.api.testing.DrivenDesk, in
memory, on a hand-turned clock), served by uvicorn in this process with the production
security headers (CSP): 14 gateways offline and a handful of sensor alarms at once.

One stack and one browser for the module; each test gets a fresh page. Screenshots of
each view, in both languages and both sizes, go to test-artifacts/."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hazmon.api.app import create_app, stop_streams
from hazmon.api.hardening import SecurityHeaders
from hazmon.api.testing import DrivenDesk, ManualClock
from hazmon.contract.config import load_registry
from hazmon.contract.registry import Registry
from hazmon.stores.memory import MemoryStore
from hazmon.testing.servers import free_port
from tests.api.running import ARTIFACTS
from tests.api.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

TOKEN = "summary-test-admin"
PLANT = "sum-chem"
OTHER = "sum-paint"
GATEWAYS = [f"gw-{i:02d}" for i in range(1, 15)]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def registry(folder: Path) -> Registry:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    doc: dict[str, Any] = {
        "sites": [
            {"id": PLANT, "name": "金华测试化工有限公司", "industry": "hazardous_chemicals",
             "location": {"lat": 29.08, "lon": 119.65}, "baseline_risk": "orange",
             "gateways": [
                 {"id": "gw-main", "period_s": 600, "sensors": [
                     {"id": f"GT-10{i}", "kind": "combustible_gas", "unit": "%LEL",
                      "range": [0, 100], "area": "罐区A", "name": f"{i}号储罐可燃气体",
                      "thresholds": {"high": 20, "high_high": 40}}
                     for i in range(1, 5)
                 ] + [
                     {"id": "ESD-01", "kind": "interlock", "grade": "A", "area": "罐区A"},
                 ]},
                 *({"id": g, "period_s": 1, "sensors": [
                     {"id": f"TT-{g[3:]}", "kind": "temperature", "unit": "°C",
                      "range": [-20, 80], "thresholds": {"high": 35, "high_high": 40}}]}
                   for g in GATEWAYS),
             ]},
            {"id": OTHER, "name": "义乌测试涂装厂", "industry": "industry_trade",
             "location": {"lat": 29.31, "lon": 120.07}, "baseline_risk": "blue",
             "gateways": [{"id": "gw-paint", "period_s": 600, "sensors": [
                 {"id": "GT-201", "kind": "combustible_gas", "unit": "%LEL", "range": [0, 100],
                  "area": "喷涂车间"}]}]},
        ],
        "auth": {"tokens": [{"name": "duty.tester", "role": "admin", "sha256": digest}]},
    }
    path = folder / "plant.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_registry(path)  # defaults filled in, as hazmon up reads it


@dataclass
class Stack:
    url: str
    desk: DrivenDesk


def flood(desk: DrivenDesk) -> None:
    """14 gateways fall silent (offline, medium), then sensor alarms: 21 in all."""
    desk.clock.advance_ms(15_000)
    desk.tick()
    desk.raise_alarm(PLANT, "GT-101", "high_high", value=44.94)  # and high
    desk.raise_alarm(PLANT, "GT-102", "high", value=23.5)
    desk.raise_alarm(PLANT, "GT-103", "high_high", value=52.0)  # and high
    desk.raise_alarm(PLANT, "ESD-01", "trip")
    desk.raise_alarm(OTHER, "GT-201", "high", value=27.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reg = registry(tmp_path_factory.mktemp("summary"))
    desk = DrivenDesk(reg, clock=ManualClock(int(time.time() * 1000) - 120_000))
    app = create_app(registry=reg, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True}, keepalive_s=1.0)
    app.add_middleware(SecurityHeaders)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="console-summary-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    flood(desk)
    try:
        yield Stack(f"http://127.0.0.1:{port}", desk)
    finally:
        stop_streams(app)
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def errors() -> list[str]:
    return []


def open_console(browser: Browser, stack: Stack, errors: list[str], *, lang: str = "zh",
                 size: dict[str, int] = DESKTOP, query: str = "") -> Page:
    context = browser.new_context(viewport=size, accept_downloads=True)  # type: ignore[arg-type]
    context.add_init_script(f"localStorage.setItem('hazmon.lang', '{lang}')")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{stack.url}/{query}")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#alarm-count")).to_have_text("21")
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"summary-{name}.png"), full_page=True)


def test_smoke(browser: Browser, stack: Stack, errors: list[str]) -> None:
    page = open_console(browser, stack, errors)
    shot(page, "smoke")
    assert errors == []

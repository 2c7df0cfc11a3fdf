"""The console's hidden-danger page (api/static/js/dangers.js) in real headless Chromium
over the real API on the demo plant (a DrivenDesk in memory, uvicorn in this process,
the production security headers): Chinese first, the list with its filters and
deadlines, the map of open dangers by grade, a record's detail with its history and
evidence, and the actions of each role: the inspector orders and accepts, the
operator rectifies, adds evidence and submits; a viewer gets no action."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hazmon.alarms.dangers.book import NewDanger
from hazmon.api.app import create_app, stop_streams
from hazmon.api.hardening import SecurityHeaders
from hazmon.api.testing import HOUR_MS, DrivenDesk, ManualClock
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore
from hazmon.testing.servers import free_port
from tests.api.running import ARTIFACTS
from tests.api.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
MAJOR = "HD-dy-cold-01-0001"
GENERAL = "HD-jh-chem-01-0001"


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, DrivenDesk, Any]]:
    registry = load_registry(DEMO)
    clock = ManualClock(int(time.time() * 1000) - 3 * HOUR_MS)
    desk = DrivenDesk(registry, clock=clock)
    desk.dangers.create(NewDanger(
        site="dy-cold-01", area="液氨储罐区", description="氨气检测报警仪未与紧急切断阀联锁",
        grade="major", source="inspection", found_by="liu.jun",
        deadline_ms=clock() + HOUR_MS, owner_enterprise="赵敏"), user="liu.jun", note=None)
    desk.dangers.create(NewDanger(
        site="jh-chem-01", area="罐区A", description="防火堤伸缩缝开裂", grade="general",
        source="self_check", found_by="zhang.wei"), user="zhang.wei", note=None)
    clock.advance_ms(2 * HOUR_MS)  # the major one is overdue now
    desk.dangers.tick()
    app = create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True}, keepalive_s=1.0)
    app.add_middleware(SecurityHeaders)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True,
                              name="console-dangers-http")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", desk, app
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


def signed_in(browser: Browser, url: str, token: str, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script("localStorage.setItem('hazmon.lang', 'zh')")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.click("#dangers-open")
    expect(page.locator("#dangers")).to_be_visible()
    return page


def test_the_loop_in_the_console_by_role(stack: tuple[str, DrivenDesk, Any],
                                        browser: Browser) -> None:
    url, desk, _ = stack
    errors: list[str] = []
    page = signed_in(browser, url, "demo-inspector", errors)
    items = page.locator("#hd-list .hd-item")
    expect(items).to_have_count(2)
    major = page.locator(f'#hd-list .hd-item[data-id="{MAJOR}"]')
    expect(major).to_have_class(re.compile("overdue"))
    expect(major.locator(".hd-deadline")).to_have_text(re.compile("已逾期"))
    expect(major.locator(".hd-grade")).to_have_text("重大隐患")
    expect(page.locator('#hd-map g.site[data-site="dy-cold-01"]')).to_have_attribute("data-grade",
                                                                                "red")
    expect(page.locator('#hd-map g.site[data-site="jh-chem-01"]')).to_have_attribute("data-grade",
                                                                                "yellow")
    page.select_option("#hd-grade", "general")
    expect(items).to_have_count(1)
    page.select_option("#hd-grade", "")
    page.check("#hd-overdue")
    expect(items).to_have_count(1)
    page.uncheck("#hd-overdue")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dangers-list-zh.png"), full_page=True)

    # the inspector orders the self-check finding; no enterprise action is offered
    page.locator(f'#hd-list .hd-item[data-id="{GENERAL}"]').click()
    expect(page.locator("#hd-detail h3")).to_contain_text(GENERAL)
    expect(page.locator('#hd-detail [data-action="submit"]')).to_have_count(0)
    page.fill("#hd-days", "5")
    page.fill("#hd-owner", "罐区主任 孙磊")
    page.click('#hd-detail [data-action="order"]')
    expect(page.locator("#hd-detail h3")).to_contain_text("整改中")
    expect(page.locator("#hd-detail .hd-history li")).to_have_count(2)
    page.context.close()

    # the operator adds evidence (a text and a photo) and submits
    page = signed_in(browser, url, "demo-operator", errors)
    page.locator(f'#hd-list .hd-item[data-id="{GENERAL}"]').click()
    expect(page.locator('#hd-detail [data-action="order"]')).to_have_count(0)
    page.fill("#hd-evidence", "伸缩缝已清理并用密封胶填实")
    page.click('#hd-detail [data-action="evidence"]')
    expect(page.locator("#hd-detail .hd-evidence li")).to_have_count(1)
    page.set_input_files("#hd-file", files=[{"name": "修补后.png", "mimeType": "image/png",
                                             "buffer": b"\x89PNG\r\n\x1a\n" + bytes(300)}])
    expect(page.locator("#hd-detail .hd-evidence li")).to_have_count(2)
    page.set_input_files("#hd-file", files=[{"name": "x.png", "mimeType": "image/png",
                                             "buffer": b"GIF89a" + bytes(30)}])
    expect(page.locator("#hd-message")).to_contain_text("415")
    page.click('#hd-detail [data-action="submit"]')
    expect(page.locator("#hd-detail h3")).to_contain_text("已提交待验收")
    page.context.close()

    # the inspector accepts; the history tells each step in Chinese
    page = signed_in(browser, url, "demo-inspector", errors)
    page.locator(f'#hd-list .hd-item[data-id="{GENERAL}"]').click()
    page.click('#hd-detail [data-action="accept"]')
    expect(page.locator("#hd-detail h3")).to_contain_text("已验收销号")
    history = page.locator("#hd-detail .hd-history li")
    expect(history).to_have_count(6)
    for words in ("登记", "下达限期整改", "添加证据", "提交验收", "验收销号"):
        expect(page.locator("#hd-detail .hd-history")).to_contain_text(words)
    page.screenshot(path=str(ARTIFACTS / "dangers-detail-zh.png"), full_page=True)
    page.context.close()

    # a viewer sees, and is offered nothing to do
    page = signed_in(browser, url, "demo-viewer", errors)
    expect(page.locator("#hd-new")).to_be_hidden()
    page.locator(f'#hd-list .hd-item[data-id="{MAJOR}"]').click()
    expect(page.locator("#hd-detail .hd-actions button")).to_have_count(0)
    page.context.close()
    assert desk.dangers.get(GENERAL)["state"] == "closed"
    assert [e for e in errors if "415" not in e] == []

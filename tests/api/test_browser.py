"""The console in real headless Chromium (Debian's, driven by Playwright) over a real
`hazmon up` on a real Mosquitto: sign in, see an alarm raised by a published reading
appear without reloading, acknowledge it with a note, see its state change, shelve
another and find it in the hidden section with its end, unshelve it, export
the journal and find the note, see one reading drawn as a dot in the trend, switch
language (texts already shown, such as a toast, follow), see the connection lost when the
server stops and live again, with the alarm as it was, once it is back. Screenshots
go to test-artifacts/."""

from __future__ import annotations

import hashlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hazmon.testing.servers import Mosquitto, free_port
from tests.api.running import ARTIFACTS, Hazmon, publish_reading

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TOKEN = "browser-test-admin"
NOTE = "现场已派人检查 browser-note-7f3a"


def registry_yaml(site: str) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return f"""
sites:
  - id: {site}
    name: 浏览器测试化工厂
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    gateways:
      - id: gw-1
        period_s: 60          # no offline or stale alarm during the test
        sensors:
          - {{id: GT-1, kind: combustible_gas, unit: "%LEL", range: [0, 100], area: 罐区}}
auth:
  tokens:
    - {{name: duty.tester, role: admin, sha256: "{digest}"}}
"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def hazmon(tmp_path: Path, mosquitto: Mosquitto, unique_id: str) -> Iterator[tuple[Hazmon, str]]:
    site = f"{unique_id}-plant"
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(site), encoding="utf-8")
    running = Hazmon("up", "--config", str(config), "--broker", mosquitto.url,
                     "--data", str(tmp_path / "data"), http=f"127.0.0.1:{free_port()}",
                     log=tmp_path / "hazmon.log")
    try:
        running.wait_serving()
        yield running, site
    finally:
        running.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_console_live_alarm_ack_export_language(
    browser: Browser, hazmon: tuple[Hazmon, str], mosquitto: Mosquitto
) -> None:
    server, site = hazmon
    page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    errors: list[str] = []  # page errors, and console errors such as CSP refusals
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.base_url + "/")
    expect(page.locator("h1")).to_have_text("重大危险源监测预警值班台")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#alarm-list .empty")).to_have_text("当前没有活动报警")

    publish_reading(mosquitto, site, 62.0)  # above high (25) and high-high (50) %LEL
    alarm = page.locator(f'[data-alarm-id="{site}/GT-1/high_high#1"]')
    expect(alarm).to_have_attribute("data-state", "unack", timeout=15_000)
    expect(alarm.locator(".state")).to_have_text("未确认")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator(f'.site-item[data-site="{site}"]')).to_have_attribute("data-grade", "red")
    assert page.title() in ("重大危险源监测预警值班台", "【新的紧急报警！】")
    shot(page, "1-critical-alarm-zh")

    alarm.locator("button.ack").click()
    page.fill("#note-text", NOTE)
    shot(page, "2-ack-dialog")
    page.click("#note-ok")
    expect(alarm).to_have_attribute("data-state", "acked")
    expect(alarm.locator(".note")).to_have_text(NOTE)
    expect(page.locator("#banner")).to_be_hidden()
    shot(page, "3-acknowledged")

    # shelving hides an alarm from the list, not from the duty officer: it moves to the
    # hidden section with when it comes back, and "unshelve" (with a why) shows it again
    high_id = f"{site}/GT-1/high#1"
    listed, hidden = (page.locator(f'{where} [data-alarm-id="{high_id}"]')
                      for where in ("#alarm-list", "#hidden-list"))
    listed.locator("button.shelve").click()
    page.click("#shelve-ok")
    expect(hidden).to_have_attribute("data-state", "shelved")
    expect(hidden.locator(".until")).to_contain_text("搁置至")
    expect(listed).to_have_count(0)
    expect(page.locator(f'.site-item[data-site="{site}"]')).to_have_attribute("data-grade", "red")
    shot(page, "3b-shelved-section")
    hidden.locator("button.unshelve").click()
    page.click("#note-ok")  # a note is required: the dialog stays open
    expect(page.locator("#note-dialog")).to_be_visible()
    page.fill("#note-text", "冲洗完成，恢复显示")
    page.click("#note-ok")
    expect(listed).to_have_attribute("data-state", "unack")  # still above its threshold
    expect(page.locator("#hidden-alarms")).to_be_hidden()

    with page.expect_download() as download:
        page.click("#export")
    journal = Path(download.value.path()).read_text(encoding="utf-8")
    assert NOTE in journal and "duty.tester" in journal
    expect(page.locator("#toast")).to_have_text("日志已导出")

    alarm.locator("button.trend").click()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#history td").first).not_to_have_text("暂无数据")
    expect(page.locator("#trend circle.reading")).to_have_count(1)  # one reading: a dot
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Major Hazard Monitoring — Duty Console")
    expect(alarm.locator(".state")).to_have_text("Acknowledged")
    expect(page.locator("#toast")).to_have_text("Journal exported")  # shown or not
    expect(page.locator("#who")).to_have_text("duty.tester · Administrator")
    shot(page, "4-english-with-trend")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "5-phone")
    assert errors == []

    assert server.stop() == 0
    expect(page.locator("#conn")).to_have_attribute("data-state", "lost", timeout=15_000)
    shot(page, "6-connection-lost")

    server.restart()  # same data folder and port: the console reconnects by itself
    server.wait_serving()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=30_000)
    expect(alarm).to_have_attribute("data-state", "acked")  # restored by the alarm service
    expect(alarm.locator(".state")).to_have_text("Acknowledged")


def test_console_shows_monitoring_degraded_with_its_reason(
    browser: Browser, hazmon: tuple[Hazmon, str], mosquitto: Mosquitto
) -> None:
    """Messages of a gateway lost (a `seq` gap of 5) raise its `feed_gap` alarm on the
    real alarm service: the console shows "monitoring degraded" with that reason, which
    leads to the alarm, the alarm chain's indicator in the header, and the site's feed
    degraded; once the alarm is acknowledged the banner goes, the grade is blue again,
    and the site, its feed still degraded for the hour, is not drawn in the calm blue."""
    server, site = hazmon
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.base_url + "/")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    chain = page.locator("#chain")
    expect(chain).to_be_visible()
    expect(chain).to_have_text(re.compile(r"^报警链路 (\d+ ms|—)$|^报警链路中断$"))
    expect(page.locator("#degraded")).to_be_hidden()

    publish_reading(mosquitto, site, 5.0, seq=0)
    publish_reading(mosquitto, site, 5.0, seq=6)  # seq 1 to 5 lost
    key = f"{site}/gw-1/feed_gap"
    banner = page.locator("#degraded")
    expect(banner).to_be_visible(timeout=50_000)  # a gap counts once 30 s open; polled every 5 s
    expect(banner.locator("strong")).to_have_text("监测降级")
    reason = banner.locator(f'li[data-key="{key}"]')
    expect(reason).to_contain_text("数据丢失")
    expect(reason).to_contain_text("浏览器测试化工厂")
    alarm = page.locator(f'#alarm-list [data-alarm-id^="{key}#"]')
    expect(alarm).to_have_count(1)
    reason.locator("button.reason").click()
    expect(alarm).to_be_focused()
    expect(alarm).to_have_class(re.compile(r"\bpicked\b"))
    expect(alarm).to_be_in_viewport()
    expect(chain).to_have_text(re.compile(r"^报警链路 (\d+ ms|—)$|^报警链路中断$"))

    # messages lost: the site's feed is degraded, in the list and on the map
    item = page.locator(f'.site-item[data-site="{site}"]')
    expect(item).to_have_attribute("data-feed", "degraded", timeout=45_000)  # store, 15 s cache
    expect(item.locator(".feed-badge")).to_have_text("数据异常")
    expect(item.locator(".feed-rate")).to_have_text(re.compile(r"^在线率 \d+(\.\d)?%$"))
    expect(item.locator(".feed-lost")).to_have_text("近1小时丢失消息 5")
    dot = page.locator(f'#map .site[data-site="{site}"]')
    expect(dot).to_have_attribute("data-feed", "degraded")
    expect(dot.locator(".feed-mark")).to_have_count(1)
    shot(page, "7-monitoring-degraded-zh")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "7b-monitoring-degraded-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.click("#lang")
    expect(banner.locator("strong")).to_have_text("Monitoring degraded")
    expect(reason).to_contain_text("Feed gap")
    expect(item.locator(".feed-badge")).to_have_text("Feed degraded")
    page.click("#lang")
    expect(reason).to_contain_text("数据丢失")

    # acknowledged, the gap's alarm ends: no more "monitoring degraded", the grade is
    # blue again, but the messages were lost within the hour: the feed is still
    # degraded, and the site is not drawn in the calm blue
    alarm.locator("button.ack").click()
    page.fill("#note-text", "网关已重启")
    page.click("#note-ok")
    expect(banner).to_be_hidden(timeout=15_000)
    expect(item).to_have_attribute("data-grade", "blue")
    expect(item).to_have_attribute("data-feed", "degraded")
    blue = "rgb(31, 111, 209)"
    assert item.locator(".grade").evaluate("e => getComputedStyle(e).backgroundColor") != blue
    assert item.evaluate("e => getComputedStyle(e).borderLeftColor") != blue
    expect(dot).to_have_attribute("data-grade", "blue")
    assert dot.locator(".dot").evaluate("e => getComputedStyle(e).fill") != blue
    shot(page, "8-feed-degraded-blue-zh")

    page.click("#lang")
    expect(item.locator(".feed-badge")).to_have_text("Feed degraded")
    expect(item.locator(".feed-rate")).to_have_text(re.compile(r"^Online \d+(\.\d)?%$"))
    expect(chain).to_have_text(re.compile(r"^Alarm chain (\d+ ms|—)$|^Alarm chain DEAD$"))
    shot(page, "9-feed-degraded-en")
    assert errors == []


@pytest.fixture
def hazmon_own_broker(
    tmp_path: Path, fresh_mosquitto: Mosquitto, unique_id: str
) -> Iterator[tuple[Hazmon, Mosquitto]]:
    """`hazmon up` on a broker of its own, which the test may freeze."""
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(f"{unique_id}-plant"), encoding="utf-8")
    running = Hazmon("up", "--config", str(config), "--broker", fresh_mosquitto.url,
                     "--data", str(tmp_path / "data"), http=f"127.0.0.1:{free_port()}",
                     log=tmp_path / "hazmon.log")
    try:
        running.wait_serving()
        yield running, fresh_mosquitto
    finally:
        running.stop()


@pytest.mark.slow
def test_console_shows_the_alarm_chain_dead_and_back(
    browser: Browser, hazmon_own_broker: tuple[Hazmon, Mosquitto]
) -> None:
    """The broker frozen (SIGSTOP), the chain's canary goes unanswered: after 30 s the
    header says "alarm chain DEAD" in red and "monitoring degraded" names it; the broker
    going on (SIGCONT), the chain is back with its round trip and the banner goes."""
    server, broker = hazmon_own_broker
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.base_url + "/")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    chain = page.locator("#chain")
    expect(chain).to_have_attribute("data-state", "ok", timeout=30_000)
    expect(chain).to_have_text(re.compile(r"^报警链路 \d+ ms$"))
    expect(page.locator("#degraded")).to_be_hidden()

    pid = broker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        expect(chain).to_have_attribute("data-state", "dead", timeout=60_000)
        expect(chain).to_have_text("报警链路中断")
        assert chain.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(215, 38, 30)"
        reason = page.locator('#degraded li[data-key="_system/chain/chain_dead"]')
        expect(reason).to_contain_text("平台自身 · 报警链路中断", timeout=10_000)
        shot(page, "10-alarm-chain-dead")
    finally:
        os.kill(pid, signal.SIGCONT)
    expect(chain).to_have_attribute("data-state", "ok", timeout=60_000)
    expect(chain).to_have_text(re.compile(r"^报警链路 \d+ ms$"))
    expect(page.locator("#degraded")).to_be_hidden(timeout=15_000)
    assert errors == []

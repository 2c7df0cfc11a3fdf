"""The alarm summary as a duty officer works through a flood, in real headless
Chromium over the real API and the real alarm engine (hazmon.api.testing.DrivenDesk, in
memory, on a hand-turned clock), served by uvicorn in this process with the production
security headers (CSP): 14 gateways offline and a handful of sensor alarms at once.

One stack and one browser for the module; each test gets a fresh page. Screenshots of
each view, in both languages and both sizes, go to test-artifacts/."""

from __future__ import annotations

import asyncio
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
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hazmon.alarms.core import Output
from hazmon.alarms.series import event_point
from hazmon.api.app import create_app, stop_streams
from hazmon.api.hardening import SecurityHeaders
from hazmon.api.testing import DrivenDesk, ManualClock
from hazmon.contract.config import load_registry
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Reading
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
    app: FastAPI
    loop: asyncio.AbstractEventLoop

    def end_streams(self) -> None:
        """End every open event stream now (as a server going away would), and let new
        ones be served again."""
        ctx = self.app.state.ctx

        def again() -> None:
            ctx.stopping = asyncio.Event()

        def end() -> None:
            ctx.stopping.set()
            self.loop.call_later(2.0, again)  # once the open streams have seen it

        self.loop.call_soon_threadsafe(end)


def mirrored(desk: DrivenDesk, store: MemoryStore) -> None:
    """What the alarm service does beside the desk: every published alarm event a row of
    the store's `alarm_event` series (a sensor's alarm history)."""
    tell = desk._tell

    def tell_and_store(out: Output) -> None:
        store.write_points([event_point(e) for e in out.events if e.published])
        tell(out)

    desk._tell = tell_and_store  # type: ignore[method-assign]


def flood(desk: DrivenDesk, store: MemoryStore) -> None:
    """14 gateways fall silent (offline, medium), then sensor alarms: 21 in all."""
    desk.clock.advance_ms(15_000)
    desk.tick()
    desk.raise_alarm(PLANT, "GT-101", "high_high", value=44.94)  # and high
    store.write_readings([  # its trend: a minute of readings up to the alarm
        Reading(PLANT, "gw-main", "GT-101", "combustible_gas", desk.clock() - 60_000 + i * 10_000,
                value, None, "good", False, False)
        for i, value in enumerate([12.0, 16.5, 22.0, 31.0, 38.5, 44.94])])
    desk.raise_alarm(PLANT, "GT-102", "high", value=23.5)
    desk.raise_alarm(PLANT, "GT-103", "high_high", value=52.0)  # and high
    desk.raise_alarm(PLANT, "ESD-01", "trip")
    desk.raise_alarm(OTHER, "GT-201", "high", value=27.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reg = registry(tmp_path_factory.mktemp("summary"))
    desk = DrivenDesk(reg, clock=ManualClock(int(time.time() * 1000) - 120_000))
    store = MemoryStore()
    mirrored(desk, store)
    app = create_app(registry=reg, desk=desk, store=store, metrics=[],
                     health=lambda: {"broker": True, "store": True}, keepalive_s=1.0)
    app.add_middleware(SecurityHeaders)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="console-summary-http",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    flood(desk, store)
    try:
        yield Stack(f"http://127.0.0.1:{port}", desk, app, loops[0])
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


OPEN: list[Any] = []  # the browser contexts of the running test


@pytest.fixture(autouse=True)
def closed_after() -> Iterator[None]:
    """Each test's pages closed after it: an open page holds a live stream, and a token
    may hold 10 (api/streamgate.py); the module opens more pages than that."""
    yield
    while OPEN:
        OPEN.pop().close()


def open_console(browser: Browser, stack: Stack, errors: list[str], *, lang: str = "zh",
                 size: dict[str, int] = DESKTOP, query: str = "") -> Page:
    context = browser.new_context(viewport=size, accept_downloads=True)  # type: ignore[arg-type]
    OPEN.append(context)
    context.add_init_script(f"localStorage.setItem('hazmon.lang', '{lang}')")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{stack.url}/{query}")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#alarm-count")).to_have_text(re.compile(r"^2\d$"))  # 21; 22 later
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"summary-{name}.png"), full_page=True)


def row(page: Page, alarm_id: str) -> Any:
    return page.locator(f'#alarm-list article[data-alarm-id="{alarm_id}"]')


GT101 = f"{PLANT}/GT-101/high_high#1"
GT201 = f"{OTHER}/GT-201/high#1"
OFFLINE_GROUP = f"{PLANT}|offline|medium|unack"
# what may be ASCII in the Chinese console: ids, units, the language switch, the user
ALLOWED = re.compile(r"[A-Za-z]+-[\w-]+|%LEL|°C|\bms\b|English|duty\.tester")

RATIO = """
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
"""
CONTRAST = """(selectors) => {""" + RATIO + """
  const out = [];
  for (const sel of selectors) {
    for (const el of document.querySelectorAll(sel)) {
      if (!el.getClientRects().length) continue;
      const style = getComputedStyle(el);
      let bg = style.backgroundColor, up = el;
      while ((bg === "rgba(0, 0, 0, 0)" || bg === "transparent") && up.parentElement) {
        up = up.parentElement; bg = getComputedStyle(up).backgroundColor; }
      out.push([sel, el.textContent.trim().slice(0, 20), ratio(style.color, bg)]);
    }
  }
  return out;
}"""
MAP_CONTRAST = """() => {""" + RATIO + """
  const fill = (g, part) => getComputedStyle(g.querySelector(part)).fill;
  return [...document.querySelectorAll("#map .site")].map((g) =>
    ratio(fill(g, ".mark"), fill(g, ".dot")));
}"""
MAP_TEXT_PX = """() => {
  const svg = document.querySelector("#map");
  const k = svg.getScreenCTM().a;
  return [...svg.querySelectorAll("text")].map((t) =>
    [t.textContent, parseFloat(getComputedStyle(t).fontSize) * k]);
}"""


def test_a_card_says_the_sensor_its_value_with_unit_the_limit_and_when(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    card = row(page, GT101)
    for words in ("GT-101", "高高报", "可燃气体", "罐区A", "1号储罐可燃气体",
                  "金华测试化工有限公司", "报警时 44.94 %LEL", "限值 40 %LEL",
                  "超限 4.94 %LEL", "当前 44.94 %LEL"):
        expect(card).to_contain_text(words)
    expect(card.locator(".raised")).to_have_text(re.compile(r"^报警于 \d\d:\d\d:\d\d$"))
    expect(card.locator(".badge")).to_have_text("◆ 紧急")
    esd = row(page, f"{PLANT}/ESD-01/trip#1")
    expect(esd).to_contain_text("跳车")
    expect(esd).not_to_contain_text("tripped")
    # a flood of 21 fits: the 14 gateways offline are one group; the count says how many
    # are unacknowledged
    expect(page.locator(f'[data-group="{OFFLINE_GROUP}"]')).to_have_attribute("data-count", "14")
    expect(page.locator("#unack-count")).to_have_text(re.compile(r"^未确认 \d+$"))
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 1300, f"21 alarms take {height} px"
    badges = [page.locator(f"#alarm-list .priority-{p} .badge").first.inner_text()
              for p in ("critical", "high", "medium")]
    assert [b[0] for b in badges] == ["◆", "▲", "■"]  # shape, not colour alone
    # the banner names the critical alarms and leads to each
    goto = page.locator(f'#banner-list button[data-goto="{GT101}"]')
    expect(goto).to_contain_text("GT-101 高高报")
    goto.click()
    expect(card).to_be_focused()
    expect(card).to_be_in_viewport()
    shot(page, "1-desktop-zh")
    page.click("#lang")
    expect(card).to_contain_text("at alarm 44.94 %LEL")
    expect(card).to_contain_text("limit 40 %LEL · over by 4.94 %LEL")
    expect(esd).to_contain_text("Tripped")
    shot(page, "2-desktop-en")
    assert errors == []


@pytest.mark.parametrize(("lang", "size"), [("zh", DESKTOP), ("en", PHONE)],
                         ids=["zh-desktop", "en-phone"])
def test_axe_finds_no_serious_accessibility_violation(
    browser: Browser, stack: Stack, errors: list[str], lang: str, size: dict[str, int]
) -> None:
    """axe-core (the engine of browsers' accessibility audits) over the console in a
    flood, with a dialog and the trend drawer open: no violation it rates serious or
    critical (WCAG 2.1 A and AA rules)."""
    from axe_playwright_python.sync_playwright import Axe

    page = open_console(browser, stack, errors, lang=lang, size=size)
    rules = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    options = {"runOnly": {"type": "tag", "values": rules}, "resultTypes": ["violations"]}
    views = {"summary": page}
    found: dict[str, list[str]] = {}
    for view in ("summary", "trend", "dialog"):
        if view == "trend":
            row(page, GT101).locator("button.trend").click()
            expect(page.locator("#detail")).to_be_in_viewport(ratio=0.5)
        if view == "dialog":
            page.keyboard.press("Escape")
            row(page, GT101).locator("button.ack").click()
            expect(page.locator("dialog[open]")).to_be_visible()
        results = Axe().run(views["summary"], options=options)
        found[view] = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']} {v['help']}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
    assert found == {"summary": [], "trend": [], "dialog": []}, found


def test_no_internal_english_in_the_chinese_console(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    page.locator(f'[data-group="{OFFLINE_GROUP}"] button.expand').click()
    gateway = row(page, f"{PLANT}/gw-01/offline#1")
    expect(gateway).to_contain_text("秒未收到网关数据")  # "no telemetry for 15 s"
    row(page, GT101).locator("button.trend").click()
    expect(page.locator("#history td").first).not_to_have_text("暂无数据")
    text = page.evaluate("document.body.innerText")
    words = re.findall(r"[A-Za-z]{2,}", ALLOWED.sub(" ", text))
    assert words == [], words
    assert re.findall(r"\d{4}-\d\d-\d\dT", text) == []  # local time only, no UTC stamps
    assert errors == []


def test_trend_opens_in_view_with_the_focus_and_closes_back(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    card = row(page, GT101)
    card.locator("button.trend").click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(detail).to_be_in_viewport(ratio=0.9)
    expect(page.locator("#detail-title")).to_be_focused()
    expect(page.locator("#detail-title")).to_contain_text("GT-101 · 可燃气体 · 罐区A")
    expect(page.locator("#trend line.threshold.high_high")).to_have_count(1)
    expect(page.locator("#trend .limit.high_high")).to_have_text("高高报 40 %LEL")
    shot(page, "3-trend-drawer-zh")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    expect(card.locator("button.trend")).to_be_focused()
    assert errors == []


def test_keyboard_opens_sites_and_contrast_and_map_text_are_readable(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    expect(page.locator("#legend li")).to_have_text([
        re.compile(r"重大风险\s*1"), re.compile(r"较大风险\s*1"), re.compile(r"一般风险\s*0"),
        re.compile(r"低风险\s*0")])
    grades = page.locator("#site-list .site-item").evaluate_all(
        "items => items.map((i) => i.dataset.grade)")
    order = ["red", "orange", "yellow", "blue"]
    assert grades == sorted(grades, key=order.index)  # red to blue
    expect(page.locator("#map .site-label")).to_have_text(
        [re.compile(r"^金华测试化工有限公司 \(\d+\)$"), re.compile(r"^义乌测试涂装厂 \(\d+\)$")])
    # no text of the map covers another (site names, town names), as drawn on screen
    boxes = page.locator("#map .site-label text, #map .town text").evaluate_all(
        "ts => ts.map((t) => { const r = t.getBoundingClientRect();"
        " return [t.textContent, r.left, r.top, r.right, r.bottom]; })")
    assert len(boxes) >= 4, boxes  # the two sites and some towns
    for i, (a, *ra) in enumerate(boxes):
        for b, *rb in boxes[i + 1:]:
            apart = ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1]
            assert apart, f"{a!r} {ra} overlaps {b!r} {rb}"
    # the province's outline is drawn whole, inside the map
    outline, frame = page.locator("#map polygon.province"), page.locator("#map")
    inside = outline.evaluate("(p) => { const b = p.getBoundingClientRect(),"
                              " s = p.ownerSVGElement.getBoundingClientRect();"
                              " return b.left >= s.left - 0.5 && b.top >= s.top - 0.5"
                              " && b.right <= s.right + 0.5 && b.bottom <= s.bottom + 0.5; }")
    assert inside and frame.is_visible()
    item = page.locator(f'.site-item[data-site="{OTHER}"]')
    item.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#f-site")).to_have_value(OTHER)
    expect(page.locator("#alarm-list article.alarm")).to_have_count(1)
    assert f"site={OTHER}" in page.url  # kept in the URL
    expect(item).to_be_focused()  # the redraw kept the place
    page.keyboard.press("Enter")  # again: the filter goes
    expect(page.locator("#f-site")).to_have_value("")
    dot = page.locator(f'#map .site[data-site="{PLANT}"]')
    dot.focus()
    page.keyboard.press(" ")
    expect(page.locator("#f-site")).to_have_value(PLANT)
    expect(dot).to_be_focused()
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)  # type: ignore[arg-type]
        if size is PHONE:
            page.click("#tab-sites")
        found = page.evaluate(CONTRAST, [
            ".badge", ".site-item .grade", ".legend .mark", ".count", "button.primary",
            ".feed-badge", ".alarm .state", "#conn", ".summary-unack", ".alarm .meta",
            ".alarm .kind"])
        weak = [f for f in found if f[2] < 4.5]
        assert found and not weak, weak
        assert min(page.evaluate(MAP_CONTRAST)) >= 4.5
        small = [t for t in page.evaluate(MAP_TEXT_PX) if t[1] < 12]
        assert not small, small
    assert errors == []


def test_phone_risk_overview_on_top_and_history_in_its_box(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors, size=PHONE)
    assert page.locator("#legend").bounding_box()["y"] < 250  # type: ignore[index]
    shot(page, "4-phone-alarms-zh")
    page.click("#tab-sites")
    assert page.locator("#site-list").bounding_box()["y"] < 600  # type: ignore[index]
    shot(page, "5-phone-sites-zh")
    page.click("#tab-alarms")
    row(page, GT101).locator("button.trend").click()
    expect(page.locator("#detail")).to_be_in_viewport(ratio=0.9)
    expect(page.locator("#history td").first).not_to_have_text("暂无数据")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#detail .scroll")
    assert box.evaluate("b => b.scrollWidth <= b.clientWidth"), "the history overflows its box"
    shot(page, "6-phone-trend-zh")
    page.click("#detail-close")
    page.click("#lang")
    shot(page, "7-phone-alarms-en")
    assert errors == []


def test_acknowledging_offline_keeps_the_dialog_and_the_note(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    card = row(page, GT201)
    page.context.set_offline(True)
    stack.end_streams()  # the network is gone: the stream breaks and cannot come back
    expect(page.locator("#offline")).to_be_visible(timeout=15_000)
    expect(page.locator("#offline")).to_contain_text("数据截至")
    expect(card.locator(".age")).to_have_class(re.compile(r"\bfrozen\b"))
    card.locator("button.ack").click()
    dialog = page.locator("#note-dialog")
    expect(dialog.locator(".subject")).to_contain_text("GT-201 高报")  # it names the alarm
    page.fill("#note-text", "已电话通知现场")
    page.click("#note-ok")
    expect(dialog.locator(".dialog-error")).to_contain_text("未能发送")
    expect(dialog).to_be_visible()
    expect(page.locator("#note-text")).to_have_value("已电话通知现场")
    assert "TypeError" not in page.evaluate("document.body.innerText")
    shot(page, "8-offline-ack-zh")
    page.context.set_offline(False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#offline")).to_be_hidden()
    page.click("#note-ok")
    expect(dialog).to_be_hidden()
    expect(card).to_have_attribute("data-state", "acked")
    expect(card.locator(".note")).to_have_text("已电话通知现场")
    unexpected = [e for e in errors if "Failed to load resource" not in e]
    assert unexpected == []


def test_gateways_offline_acknowledged_as_one_group_in_one_request(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    group = page.locator(f'[data-group="{OFFLINE_GROUP}"]')
    group.locator("button.ack-group").click()
    dialog = page.locator("#note-dialog")
    expect(dialog.locator(".subject li").first).to_have_text("14 条报警")
    expect(dialog.locator(".subject")).to_contain_text("网关离线")
    page.fill("#note-text", "交换机断电，已派人处理")
    page.click("#note-ok")
    expect(dialog).to_be_hidden()
    acked = page.locator(f'[data-group="{PLANT}|offline|medium|acked"]')
    expect(acked).to_have_attribute("data-count", "14")
    assert [u.split("/api/v1/")[1] for u in posts] == ["alarms/ack"]  # one request
    assert sum(1 for a in stack.desk.alarms(active=True)
               if a["condition"] == "offline" and a["state"] == "acked") == 14
    # within a priority, unacknowledged before acknowledged
    states = page.locator("#alarm-list > article").evaluate_all(
        "rows => rows.map((r) => [r.dataset.priority, r.dataset.state])")
    for priority in ("critical", "high", "medium"):
        mine = [s for p, s in states if p == priority]
        assert mine == sorted(mine, key=lambda s: s not in ("unack", "rtn_unack")), states
    assert errors == []


def test_shelving_for_another_reason_asks_for_it_and_shows_it_in_words(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    page.locator(f'[data-group="{PLANT}|high|high|unack"] button.expand').click()
    card = row(page, f"{PLANT}/GT-102/high#1")
    card.locator("button.shelve").click()
    dialog = page.locator("#shelve-dialog")
    expect(dialog.locator(".subject")).to_contain_text("GT-102 高报")
    expect(page.locator("#shelve-other")).to_be_hidden()
    page.select_option("#shelve-reason", "other")
    expect(page.locator("#shelve-other")).to_be_visible()
    page.click("#shelve-ok")  # the words are required: the dialog stays
    expect(dialog).to_be_visible()
    page.fill("#shelve-other", "现场动火作业")
    page.click("#shelve-ok")
    hidden = page.locator(f'#hidden-list [data-alarm-id="{PLANT}/GT-102/high#1"]')
    expect(hidden.locator(".note")).to_contain_text("其他: 现场动火作业（30 分钟，至 ")
    expect(hidden.locator(".note")).not_to_contain_text("for 30 min")
    assert any(str(e["note"] or "").startswith("other: 现场动火作业")
               for e in stack.desk.journal)  # stored as a code, shown in words
    page.click("#lang")
    expect(hidden.locator(".note")).to_contain_text("Other: 现场动火作业 (for 30 min, until ")
    assert errors == []


def test_focus_survives_a_live_event(browser: Browser, stack: Stack, errors: list[str]) -> None:
    page = open_console(browser, stack, errors)
    trend = row(page, GT201).locator("button.trend")
    trend.focus()
    stack.desk.raise_alarm(PLANT, "GT-104", "high", value=21.0)  # a live event: a redraw
    expect(page.locator(f'[data-group="{PLANT}|high|high|unack"]')).to_contain_text("GT-104")
    expect(trend).to_be_focused()
    assert page.evaluate("document.activeElement.dataset.focus") == f"{GT201}|trend"
    assert errors == []


def test_a_flood_acknowledged_in_a_few_actions_and_exported_for_excel(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    page.check("#select-all")  # 1
    page.click("#bulk-ack")  # 2
    page.fill("#note-text", "集中确认")  # 3
    page.click("#note-ok")  # 4
    expect(page.locator("#unack-count")).to_have_text("未确认 0")
    expect(page.locator("#summary-unack")).to_have_text("未确认 0")
    with page.expect_download() as download:
        page.click("#export")
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    note = [r for r in rows if r["说明"] == "集中确认"]
    assert note and {(r["企业"], r["企业编号"]) for r in note} == {("金华测试化工有限公司", PLANT)}
    assert {r["企业"] for r in rows if r["企业编号"] == OTHER} == {"义乌测试涂装厂"}
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")
    assert all(iso.match(r["时间"]) for r in rows)
    assert {r["优先级"] for r in note} >= {"紧急", "高"}
    shot(page, "9-all-acknowledged-zh")
    assert errors == []


"""Cause-and-effect verification and the rationalization record in the console, in real
headless Chromium over the real API and the real alarm engine
(hazmon.api.testing.DrivenDesk, in memory, on a hand-turned clock), served by uvicorn in
this process with the production security headers (CSP).

The plant: GT-101 carries a rationalization for `high_high`, GT-102 none; CE-01 (GT-101
or GT-102 at `high_high` → ESD-01 within 5 s) has had a demand answered in 2 s, one
answered 12 s late and a spurious trip; CE-02 (GT-103 → ESD-02 within 5 s) a demand
never answered. One stack and one browser for the module; each test's pages are closed
after it (a token may hold 10 live streams)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hazmon.alarms.core import Output
from hazmon.alarms.series import event_point
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

TOKEN = "cause-effect-test-admin"
SITE = "ce-chem"
RATIONALE = {
    "cause": "罐区A 甲醇大量泄漏，浓度达二级报警值 40 %LEL",
    "consequence": "爆炸危险迫近；ESD-01 应在 5 s 内联锁切断",
    "action": "确认 ESD-01 已动作，疏散罐区人员，启动应急预案并报告值班长",
    "respond_within_s": 60,
    "source": "GB/T 50493-2019 第 5.5.2 条；因果矩阵 CE-01",
}
GT101 = f"{SITE}/GT-101/high_high#1"
GT102 = f"{SITE}/GT-102/high_high#1"
LATE = f"{SITE}/ESD-01/ce_failed#1"  # tripped 12 s after the demand
NEVER = f"{SITE}/ESD-02/ce_failed#1"  # never tripped
# what may be ASCII in the Chinese console: ids, units, the language switch, the user
ALLOWED = re.compile(r"[A-Za-z]+-[\w-]+|%LEL|\bs\b|English|duty\.tester")


def registry(folder: Path) -> Registry:
    def gas(sensor: str, name: str, area: str = "罐区A") -> dict[str, Any]:
        return {"id": sensor, "name": name, "kind": "combustible_gas", "unit": "%LEL",
                "range": [0, 100], "area": area, "thresholds": {"high": 20, "high_high": 40}}

    doc: dict[str, Any] = {
        "sites": [{
            "id": SITE, "name": "金华测试因果化工有限公司", "industry": "hazardous_chemicals",
            "location": {"lat": 29.08, "lon": 119.65}, "baseline_risk": "orange",
            "cause_effect": [
                {"id": "CE-01", "description": "罐区A 可燃气体二级报警 → ESD-01 紧急切断",
                 "cause": {"sensors": ["GT-101", "GT-102"], "condition": "high_high"},
                 "effect": {"interlock": "ESD-01", "state": "tripped"}, "within_s": 5},
                {"id": "CE-02", "description": "装卸站可燃气体二级报警 → ESD-02 切断",
                 "cause": {"sensors": ["GT-103"], "condition": "high_high"},
                 "effect": {"interlock": "ESD-02", "state": "tripped"}, "within_s": 5},
            ],
            "gateways": [{"id": "gw-main", "period_s": 1, "sensors": [
                {**gas("GT-101", "1号储罐可燃气体"), "rationalization": {"high_high": RATIONALE}},
                gas("GT-102", "2号储罐可燃气体"),
                gas("GT-103", "装卸站可燃气体", "装卸站"),
                {**gas("GT-104", "4号储罐可燃气体"), "rationalization": {"high_high": {
                    **RATIONALE, "cause": "罐区A 4号储罐泄漏，浓度达二级报警值 40 %LEL"}}},
                {"id": "ESD-01", "kind": "interlock", "grade": "A", "area": "罐区A"},
                {"id": "ESD-02", "kind": "interlock", "grade": "B", "area": "装卸站"},
            ]}],
        }],
        "auth": {"tokens": [{"name": "duty.tester", "role": "admin",
                             "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]},
    }
    path = folder / "plant.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_registry(path)


def mirrored(desk: DrivenDesk, store: MemoryStore) -> None:
    """Every event of the desk a row of the store's `alarm_event` series (a sensor's
    history), the journal-only C&E records too, so that the drawer's history shows them."""
    tell = desk._tell

    def tell_and_store(out: Output) -> None:
        store.write_points([event_point(e) for e in out.events])
        tell(out)

    desk._tell = tell_and_store  # type: ignore[method-assign]


def after(desk: DrivenDesk, ms: int) -> None:
    desk.clock.advance_ms(ms)
    desk.tick()


def history(desk: DrivenDesk) -> None:
    """CE-01: answered in 2 s, then 12 s late (ce_failed raised and cleared), then a
    spurious trip; CE-02: a demand never answered (ce_failed active)."""
    desk.send(SITE, "GT-101", 45.0)  # the demand
    after(desk, 2000)
    desk.send(SITE, "ESD-01", "tripped")
    after(desk, 1000)
    desk.send(SITE, "GT-101", 5.0)
    desk.send(SITE, "ESD-01", "normal")
    after(desk, 5000)
    desk.send(SITE, "GT-102", 48.0)  # the second demand: no trip by 5 s + 1 s
    for _ in range(7):
        after(desk, 1000)
    after(desk, 5000)
    desk.send(SITE, "ESD-01", "tripped")  # 12 s after it
    after(desk, 1000)
    desk.send(SITE, "GT-102", 5.0)
    desk.send(SITE, "ESD-01", "normal")
    after(desk, 5000)
    desk.send(SITE, "ESD-01", "tripped")  # no demand: spurious
    after(desk, 1000)
    desk.send(SITE, "ESD-01", "normal")
    desk.send(SITE, "GT-103", 52.0)  # CE-02's demand, never answered
    for _ in range(8):
        after(desk, 1000)
    desk.send(SITE, "GT-101", 44.0)  # GT-101's alarm active again, with its record
    desk.send(SITE, "GT-102", 46.0)  # and GT-102's, without one (a CE-01 demand, in time:
    after(desk, 1000)  # the trip answers it within a second)
    desk.send(SITE, "ESD-01", "tripped")
    after(desk, 1000)


class Stack:
    def __init__(self, url: str, desk: DrivenDesk) -> None:
        self.url = url
        self.desk = desk


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reg = registry(tmp_path_factory.mktemp("cause-effect"))
    desk = DrivenDesk(reg, clock=ManualClock(int(time.time() * 1000) - 600_000))
    store = MemoryStore()
    mirrored(desk, store)
    app = create_app(registry=reg, desk=desk, store=store, metrics=[],
                     health=lambda: {"broker": True, "store": True}, keepalive_s=1.0)
    app.add_middleware(SecurityHeaders)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),),
                              name="console-cause-effect-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    history(desk)
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


OPEN: list[Any] = []  # the browser contexts of the running test


@pytest.fixture(autouse=True)
def closed_after() -> Iterator[None]:
    """Each test's pages closed after it: an open page holds a live stream."""
    yield
    while OPEN:
        OPEN.pop().close()


def open_console(browser: Browser, stack: Stack, errors: list[str], lang: str = "zh") -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    OPEN.append(context)
    context.add_init_script(f"localStorage.setItem('hazmon.lang', '{lang}')")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(stack.url)
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(row(page, NEVER)).to_be_visible()
    return page


def row(page: Page, alarm_id: str) -> Any:
    return page.locator(f'#alarm-list article[data-alarm-id="{alarm_id}"]')


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"cause-effect-{name}.png"), full_page=True)


def open_trend(page: Page, alarm_id: str) -> Any:
    row(page, alarm_id).locator("button.trend").click()
    drawer = page.locator("#detail")
    expect(drawer).to_be_in_viewport(ratio=0.5)
    expect(page.locator("#history td").first).not_to_have_text("暂无数据")
    return drawer


def test_the_ack_dialog_and_the_drawer_show_the_rationalization(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    row(page, GT101).locator("button.ack").click()
    box = page.locator("#note-dialog #note-rationale")
    expect(box).to_be_visible()
    for term, words in (("cause", RATIONALE["cause"]), ("consequence", RATIONALE["consequence"]),
                        ("action", RATIONALE["action"]), ("respond", "1 分钟内"),
                        ("source", RATIONALE["source"])):
        expect(box.locator(f'dd[data-rat="{term}"]')).to_have_text(str(words))
    expect(box.locator("dt")).to_have_text(["原因", "后果", "处置措施", "响应时限", "依据"])
    shot(page, "ack-zh")
    page.keyboard.press("Escape")
    row(page, GT102).locator("button.ack").click()
    expect(page.locator("dialog[open]")).to_be_visible()
    expect(box).to_be_hidden()  # no record: nothing
    page.keyboard.press("Escape")
    open_trend(page, GT101)
    drawn = page.locator("#detail-rationale")
    expect(drawn.locator('dd[data-rat="action"]')).to_have_text(RATIONALE["action"])
    expect(page.locator("#ce")).to_be_hidden()  # a detector: no C&E record
    page.locator("#detail-close").click()
    open_trend(page, GT102)
    expect(page.locator("#detail-title")).to_contain_text("GT-102")
    expect(drawn).to_be_hidden()
    page.locator("#detail-close").click()
    live = stack.desk.raise_alarm(SITE, "GT-104", "high_high", value=47.0)  # on the stream only
    row(page, live["alarm_id"]).locator("button.ack").click()
    expect(box.locator('dd[data-rat="cause"]')).to_have_text(
        "罐区A 4号储罐泄漏，浓度达二级报警值 40 %LEL")  # looked up: the stream does not carry it
    assert errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_failed_interlock_reads_its_label_and_timing(
    browser: Browser, stack: Stack, errors: list[str], lang: str
) -> None:
    page = open_console(browser, stack, errors, lang)
    zh = lang == "zh"
    label = "联锁未按因果动作" if zh else "Interlock failed to act on demand"
    expect(row(page, NEVER).locator(".cond")).to_have_text(label)
    expect(row(page, NEVER).locator(".value-at b")).to_have_text("未动作" if zh else "not tripped")
    expect(row(page, LATE).locator(".cond")).to_have_text(label)
    expect(row(page, LATE).locator(".value-at b")).to_have_text(
        "超时 12.0 s" if zh else "late, tripped after 12.0 s")
    expect(row(page, NEVER).locator(".note")).to_contain_text(
        "CE-02：ESD-02 未在需求" if zh else "CE-02: ESD-02 not tripped within 5.0 s")
    assert errors == []


def test_an_interlocks_drawer_shows_its_cause_and_effect_record(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    page = open_console(browser, stack, errors)
    path = f"/api/v1/sites/{SITE}/interlocks/ESD-01/cause-effect"
    record = page.evaluate("""async (path) => (await fetch(path, {headers: {authorization:
        `Bearer ${sessionStorage.getItem("hazmon.token")}`}})).json()""", path)
    assert (record["demands"], record["in_time"], record["late"], record["missing"],
            record["spurious"]) == (3, 2, 1, 0, 1), record
    open_trend(page, LATE)
    ce = page.locator("#ce")
    expect(ce).to_be_visible()
    for name, key in (("demands", "demands"), ("in_time", "in_time"), ("late", "late"),
                      ("missing", "missing"), ("spurious", "spurious")):
        expect(ce.locator(f'[data-ce="{name}"]')).to_have_attribute("data-count",
                                                                    str(record[key]))
    expect(ce.locator('[data-ce="demands"]')).to_have_text(f"需求 {record['demands']} 次")
    expect(ce.locator('[data-ce="late"]')).to_have_text("迟动 1")
    expect(ce.locator('[data-ce="spurious"]')).to_have_text("误动 1")
    p50, top = record["response_ms"]["p50"] / 1000, record["response_ms"]["max"] / 1000
    expect(ce.locator('[data-ce="response"]')).to_have_text(
        f"响应时间 中位 {p50:.1f} s / 最长 {top:.1f} s")
    expect(ce.locator(".ce-rows")).to_contain_text("GT-101、GT-102 高高报（2取1）→ 5 s 内联锁动作")
    events = ce.locator(".ce-records tr[data-event] td:nth-child(2)")
    expect(events).to_have_count(len(record["records"]))
    expect(events.first).to_have_text("按时动作")
    expect(ce.locator('.ce-records tr[data-event="ce_late"]')).to_contain_text(
        "CE-01：ESD-01 在需求后 12.0 s 才动作，超时 7.0 s")
    expect(ce.locator('.ce-records tr[data-event="ce_spurious"]')).to_contain_text(
        "ESD-01 在无 CE-01 需求时动作")
    history = page.locator("#history")  # the journal-only records in the sensor's history
    expect(history.locator("td", has_text="迟动").first).to_be_visible()
    expect(history.locator("td", has_text="超时 12.0 s").first).to_be_visible()
    shot(page, "interlock-zh")
    text = page.evaluate("document.querySelector('#detail').innerText + "
                         "document.querySelector('#alarm-list').innerText")
    words = re.findall(r"[A-Za-z]{2,}", ALLOWED.sub(" ", text))
    assert words == [], [text[max(0, text.find(w) - 80):text.find(w) + 20] for w in words]
    assert errors == []


def test_axe_finds_no_serious_accessibility_violation(
    browser: Browser, stack: Stack, errors: list[str]
) -> None:
    """axe-core over the drawer of an interlock with its C&E record and the acknowledge
    dialog with a rationalization: no violation it rates serious or critical (WCAG 2.1
    A and AA rules)."""
    from axe_playwright_python.sync_playwright import Axe

    page = open_console(browser, stack, errors)
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
    found: dict[str, list[str]] = {}
    for view in ("interlock", "dialog"):
        if view == "interlock":
            open_trend(page, LATE)
            expect(page.locator("#ce .ce-summary")).to_be_visible()
        else:
            page.keyboard.press("Escape")
            row(page, GT101).locator("button.ack").click()
            expect(page.locator("#note-rationale")).to_be_visible()
        results = Axe().run(page, options=options)
        found[view] = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']} {v['help']}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
    assert found == {"interlock": [], "dialog": []}, found

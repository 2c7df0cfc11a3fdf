"""Hidden dangers through the API (docs/hidden-dangers.md) on the in-memory desk: the whole
rectification loop by the right roles (and 403 for the wrong ones), with a rejection
and a resubmission, every change in the journal, which still verifies; evidence files
refused when oversize, of the wrong type or with a path in their name; the ledger's
CSV read back by Python's csv module; an overdue major danger turning its site red,
raising a critical alarm and notifying."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hazmon.alarms.dangers.ledger import HEADERS
from hazmon.api.app import create_app
from hazmon.api.hardening import HardeningSettings, harden
from hazmon.api.testing import HOUR_MS, DrivenDesk, ManualClock
from hazmon.contract.kinds import Priority
from hazmon.contract.registry import Registry
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import bearer

SITE = "dy-cold-01"  # baseline yellow: a hidden danger's floor shows
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
NEW = {"area": "制冷机房", "description": "液氨管道阀门锈蚀渗漏",
       "grade": "major", "lat": 29.289, "lon": 120.241, "note": "现场检查发现"}
SELF_CHECK = {"area": "制冷机房", "description": "氨泵电机接线盒密封失效", "grade": "general"}
# 2026-11-20 10:00 CST: in 2026Q4
START_MS = 1_795_140_000_000


def small_evidence(registry: Registry, limit: int) -> Registry:
    dangers = registry.hidden_dangers.model_copy(update={"evidence_max_bytes": limit})
    return registry.model_copy(update={"hidden_dangers": dangers})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
def desk(registry: Registry, clock: ManualClock) -> DrivenDesk:
    return DrivenDesk(small_evidence(registry, 100_000), clock=clock)


@pytest.fixture
def app(desk: DrivenDesk) -> FastAPI:
    app = create_app(registry=desk.registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})
    harden(app, HardeningSettings(auth_free_failures=10**9))
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
        yield c


async def call(client: httpx.AsyncClient, method: str, path: str, role: str,
               body: Any = None, status: int = 200) -> Any:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    answer = await client.request(method, f"/api/v1{path}", headers=bearer(role), **kwargs)
    assert answer.status_code == status, answer.text
    return answer.json() if answer.headers["content-type"].startswith("application/json") \
        else answer


async def test_the_whole_loop_with_a_rejection_by_the_right_roles(
    client: httpx.AsyncClient, desk: DrivenDesk, clock: ManualClock,
) -> None:
    for role in ("viewer", "operator", "engineer", "auditor"):
        await call(client, "POST", f"/sites/{SITE}/dangers", role, NEW, status=403)
    doc = await call(client, "POST", f"/sites/{SITE}/dangers", "inspector", NEW)
    hd = doc["id"]
    assert (hd, doc["state"], doc["source"], doc["found_by"]) == (
        f"HD-{SITE}-0001", "open", "inspection", "liu.jun")
    assert desk.risk_grades()[SITE] == "orange"  # an open 重大隐患: at least orange

    order = {"deadline_ms": START_MS + 72 * HOUR_MS, "owner_enterprise": "王师傅（设备科）",
             "owner_bureau": "liu.jun", "measures": "更换阀门，管道测厚", "note": "限期三日整改"}
    for role in ("operator", "engineer", "viewer", "auditor"):
        await call(client, "POST", f"/dangers/{hd}/order", role, order, status=403)
    assert (await call(client, "POST", f"/dangers/{hd}/order", "inspector", order))[
        "state"] == "rectifying"
    for role in ("inspector", "viewer", "auditor"):
        await call(client, "POST", f"/dangers/{hd}/evidence", role, {"text": "x"}, status=403)
        await call(client, "POST", f"/dangers/{hd}/submit", role, {}, status=403)
    await call(client, "POST", f"/dangers/{hd}/evidence", "operator", {"text": "阀门已更换"})
    photo = await call(client, "PUT", f"/dangers/{hd}/evidence/files?name=阀门.png",
                       "operator", PNG)
    assert photo["evidence"][-1]["mime"] == "image/png"
    await call(client, "POST", f"/dangers/{hd}/accept", "inspector", {}, status=409)  # not yet
    assert (await call(client, "POST", f"/dangers/{hd}/submit", "operator",
                       {"note": "整改完成"}))["state"] == "submitted"
    for role in ("operator", "engineer"):
        await call(client, "POST", f"/dangers/{hd}/reject", role, {"note": "x"}, status=403)
    await call(client, "POST", f"/dangers/{hd}/reject", "inspector", {}, status=422)  # why?
    rejected = await call(client, "POST", f"/dangers/{hd}/reject", "inspector",
                          {"note": "管道测厚报告未附"})
    assert rejected["state"] == "rejected"
    await call(client, "POST", f"/dangers/{hd}/submit", "engineer", {}, status=409)
    await call(client, "POST", f"/dangers/{hd}/rectify", "engineer", {"note": "补测厚"})
    pdf = b"%PDF-1.4\n" + bytes(100)
    await call(client, "PUT", f"/dangers/{hd}/evidence/files?name=测厚报告.pdf", "engineer", pdf)
    await call(client, "POST", f"/dangers/{hd}/submit", "engineer", {"note": "已补报告"})
    closed = await call(client, "POST", f"/dangers/{hd}/accept", "inspector",
                        {"note": "验收合格，销号"})
    assert (closed["state"], closed["closed_by"], closed["overdue"]) == ("closed", "liu.jun",
                                                                       False)
    assert desk.risk_grades()[SITE] == "yellow"  # its baseline again

    events = [(h["event"], h["from_state"], h["to_state"], h["user"]) for h in closed["history"]]
    assert events == [
        ("hd_opened", None, "open", "liu.jun"),
        ("hd_order", "open", "rectifying", "liu.jun"),
        ("hd_evidence", "rectifying", "rectifying", "zhang.wei"),
        ("hd_evidence", "rectifying", "rectifying", "zhang.wei"),
        ("hd_submit", "rectifying", "submitted", "zhang.wei"),
        ("hd_reject", "submitted", "rejected", "liu.jun"),
        ("hd_rectify", "rejected", "rectifying", "li.na"),
        ("hd_evidence", "rectifying", "rectifying", "li.na"),
        ("hd_submit", "rectifying", "submitted", "li.na"),
        ("hd_accept", "submitted", "closed", "liu.jun"),
    ]
    assert closed["history"][5]["note"] == "管道测厚报告未附"
    assert await call(client, "GET", "/journal/verify", "auditor") | {"ok": True} == await call(
        client, "GET", "/journal/verify", "auditor")
    assert (await call(client, "GET", "/journal/verify", "auditor"))["entries"] == 10
    got = await call(client, "GET",
                     f"/dangers/{hd}/evidence/files/{hashlib.sha256(pdf).hexdigest()}", "viewer")
    assert got.content == pdf and got.headers["content-type"] == "application/pdf"


async def test_evidence_refused_oversize_wrong_type_or_with_a_path(
    client: httpx.AsyncClient, desk: DrivenDesk,
) -> None:
    hd = (await call(client, "POST", f"/sites/{SITE}/dangers/self-check", "engineer",
                     SELF_CHECK))["id"]
    base = f"/dangers/{hd}/evidence/files"
    over = PNG + bytes(100_000)  # the registry's limit here is 100,000 bytes
    assert (await call(client, "PUT", f"{base}?name=a.png", "operator", over, status=413))[
        "error"] == "evidence_too_large"
    for fake in (b"GIF89a" + bytes(50), b"<svg onload=alert(1)>", b"MZ\x90\x00", b"",
                 b"PK\x03\x04" + bytes(40)):
        answer = await call(client, "PUT", f"{base}?name=a.png", "operator", fake, status=415)
        assert answer["error"] == "unsupported_evidence_type"
    for name in ("../../etc/passwd", "..", "a/b.png", "a\\b.png", "x%00.png", "..%2F..%2Fa"):
        answer = await call(client, "PUT", f"{base}?name={name}", "operator", PNG, status=400)
        assert answer["error"] in ("bad_evidence", "invalid_request"), answer
    kept = await call(client, "PUT", f"{base}?name=ok.jpg", "operator", JPEG)
    assert [e["name"] for e in kept["evidence"]] == ["ok.jpg"]  # only that one
    # the body limit of the hardened API (64 KiB) does not stop a photo under the
    # registry's limit, and stops any other body that large
    big = PNG + bytes(90_000)
    await call(client, "PUT", f"{base}?name=big.png", "operator", big)
    answer = await client.post(f"/api/v1/dangers/{hd}/evidence", content=b"x" * 90_000,
                               headers={**bearer("operator"), "Content-Type": "application/json"})
    assert answer.status_code == 413


async def test_the_ledger_csv_reads_back_and_the_figures_count(
    client: httpx.AsyncClient, desk: DrivenDesk, clock: ManualClock,
) -> None:
    first = await call(client, "POST", f"/sites/{SITE}/dangers", "inspector",
                       NEW | {"description": '=HYPERLINK("x"), "引号", 逗号'})
    await call(client, "POST", f"/sites/{SITE}/dangers/self-check", "operator",
               SELF_CHECK | {"description": "应急喷淋泵未定期试车"})
    await call(client, "POST", f"/dangers/{first['id']}/order", "inspector",
               {"deadline_ms": START_MS + HOUR_MS, "owner_enterprise": "a", "owner_bureau": "b"})
    clock.advance_ms(2 * HOUR_MS)  # overdue
    answer = await call(client, "GET", f"/dangers/ledger?site={SITE}&quarter=2026Q4&bom=true",
                        "viewer")
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == HEADERS and len(rows) == 3
    table = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert table[0]["隐患描述"] == "'" + '=HYPERLINK("x"), "引号", 逗号'  # no formula
    assert (table[0]["隐患等级"], table[0]["是否逾期"], table[0]["来源"]) == (
        "重大隐患", "是", "监督检查")
    assert (table[1]["来源"], table[1]["状态"]) == ("企业自查", "待整改")
    assert table[0]["发现时间"] == "2026-11-20 10:00"
    html = await call(client, "GET", f"/dangers/ledger?site={SITE}&quarter=2026Q4&format=html",
                      "viewer")
    assert "隐患排查治理台账" in html.text and "=HYPERLINK(&quot;x&quot;)" in html.text
    assert html.headers["content-type"].startswith("text/html")
    stats = await call(client, "GET", f"/dangers/stats?quarter=2026Q4&site={SITE}", "viewer")
    total = stats["total"]
    assert (total["found"], total["overdue"], total["closed"]) == (2, 1, 0)
    assert total["found_by_grade"] == {"general": 1, "major": 1}
    assert total["found_by_source"] == {"inspection": 1, "self_check": 1, "hazmon": 0}
    await call(client, "GET", f"/dangers/ledger?site={SITE}&quarter=2026Q5", "viewer",
               status=400)
    await call(client, "GET", f"/dangers/ledger?site={SITE}", "viewer", status=400)


async def test_an_overdue_major_danger_turns_its_site_red_raises_an_alarm_and_notifies(
    client: httpx.AsyncClient, desk: DrivenDesk, clock: ManualClock,
) -> None:
    hd = (await call(client, "POST", f"/sites/{SITE}/dangers", "inspector", NEW))["id"]
    await call(client, "POST", f"/dangers/{hd}/order", "inspector",
               {"deadline_ms": START_MS + HOUR_MS, "owner_enterprise": "a", "owner_bureau": "b"})
    desk.dangers.tick()
    assert desk.risk_grades()[SITE] == "orange" and not desk.notifications
    clock.advance_ms(HOUR_MS + 1000)
    desk.dangers.tick()
    desk.dangers.tick()  # once per deadline
    assert desk.risk_grades()[SITE] == "red"
    [alarm] = await call(client, "GET", f"/alarms?site={SITE}&active=true", "viewer")
    assert (alarm["alarm_id"], alarm["priority"], alarm["state"]) == (
        f"{SITE}/{hd}/overdue#1", "critical", "unack")
    critical_first = desk.registry.escalation.tiers(Priority.critical)[0].notify
    assert critical_first
    assert sorted(n.recipient for n in desk.notifications) == sorted(critical_first)
    assert all(n.alarm_id == alarm["alarm_id"] for n in desk.notifications)
    # unacknowledged, it goes up the tiers of `critical` as a process alarm does
    escalation = desk.registry.escalation
    tiers = escalation.tiers(Priority.critical)
    assert len(tiers) >= 2
    told = len(desk.notifications)
    clock.advance_ms(int(tiers[1].after_s * 1000))
    desk.dangers.tick()
    second = desk.notifications[told:]
    assert sorted(n.recipient for n in second) == sorted(tiers[1].notify)
    assert {(n.alarm_id, n.tier) for n in second} == {(alarm["alarm_id"], 2)}
    desk.dangers.tick()  # nothing more is due yet
    assert len(desk.notifications) == told + len(second)
    [again] = await call(client, "GET", f"/alarms?site={SITE}&active=true", "viewer")
    assert again["state"] == "unack" and "tier 2" in again["note"]
    desk.dangers.ack_alarm(alarm["alarm_id"], user="duty.officer", note="收到")
    clock.advance_ms(int(escalation.repeat_s * 1000) * 3)
    desk.dangers.tick()  # acknowledged: nobody is reminded
    assert len(desk.notifications) == told + len(second)
    # a new deadline: no longer overdue, the alarm ends, orange again
    await call(client, "POST", f"/dangers/{hd}/order", "inspector",
               {"deadline_ms": START_MS + 48 * HOUR_MS, "owner_enterprise": "a",
                "owner_bureau": "b", "note": "延期整改"})
    desk.dangers.tick()
    assert desk.risk_grades()[SITE] == "orange"
    assert await call(client, "GET", f"/alarms?site={SITE}&active=true", "viewer") == []
    assert (await call(client, "GET", "/journal/verify", "auditor"))["ok"] is True


async def test_an_overdue_general_danger_notifies_the_high_tier_and_raises_no_alarm(
    client: httpx.AsyncClient, desk: DrivenDesk, clock: ManualClock,
) -> None:
    hd = (await call(client, "POST", f"/sites/{SITE}/dangers", "inspector",
                     NEW | {"grade": "general", "deadline_ms": START_MS + HOUR_MS}))["id"]
    clock.advance_ms(2 * HOUR_MS)
    desk.dangers.tick()
    desk.dangers.tick()
    assert desk.risk_grades()[SITE] == "yellow"  # its baseline: a general one adds nothing
    high_first = desk.registry.escalation.tiers(Priority.high)[0].notify
    assert sorted(n.recipient for n in desk.notifications) == sorted(high_first)
    assert {n.alarm_id for n in desk.notifications} == {hd}
    assert await call(client, "GET", f"/alarms?site={SITE}&active=true", "viewer") == []
    doc = await call(client, "GET", f"/dangers/{hd}", "viewer")
    assert doc["overdue"] is True and doc["history"][-1]["event"] == "hd_overdue"

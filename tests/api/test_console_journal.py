"""The auditors' spreadsheet export (`/api/v1/journal?format=excel`) read back with
Python's csv module as Excel would take it, and the bulk acknowledgement the console
uses to work through a flood (`POST /api/v1/alarms/ack`)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import httpx

from hazmon.alarms.journal.chain import ALL_COLUMNS
from hazmon.api.testing import DrivenDesk
from tests.api.conftest import bearer

AUDITOR = bearer("auditor")
OPERATOR = bearer("operator")
ISO_LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+08:00$")


def read(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_excel_export_has_local_times_priority_and_names(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm = desk.raise_alarm("jh-chem-01", "GT-101", "high_high", "critical", 45.0)
    answer = await client.get("/api/v1/journal", params={"format": "excel"}, headers=AUDITOR)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="hazmon-journal-excel.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # Excel on a Chinese Windows reads UTF-8
    rows = read(answer.content)
    assert list(rows[0]) == [
        "时间", "优先级", "企业", "企业编号", "探测器/网关", "名称", "类型", "区域",
        "报警类型", "事件", "原状态", "新状态", "数值", "单位", "操作人", "说明", "报警编号",
        "日志序号", "哈希",
    ]
    raised = next(r for r in rows if r["报警编号"] == alarm["alarm_id"] and r["事件"] == "报警")
    assert ISO_LOCAL.match(raised["时间"]), raised["时间"]
    stamped = datetime.fromisoformat(raised["时间"])
    assert int(stamped.timestamp() * 1000) == alarm["ts_ms"]
    assert (raised["优先级"], raised["企业"], raised["企业编号"]) == ("紧急", "金华某化工有限公司",
                                                                  "jh-chem-01")
    assert (raised["探测器/网关"], raised["类型"], raised["区域"], raised["单位"]) == (
        "GT-101", "可燃气体", "罐区A", "%LEL")
    assert (raised["报警类型"], raised["新状态"]) == ("高高报", "未确认")
    assert float(raised["数值"]) == 45.0
    assert all(ISO_LOCAL.match(r["时间"]) for r in rows)


async def test_the_excel_export_in_english_without_bom_in_another_zone(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    answer = await client.get("/api/v1/journal", headers=AUDITOR, params={
        "format": "excel", "lang": "en", "bom": "false", "tz": "Europe/Berlin"})
    assert answer.status_code == 200
    assert not answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows[0]["Priority"] == "High" and rows[0]["Site"] == "金华某化工有限公司"
    assert rows[0]["Condition"] == "High" and rows[0]["Kind"] == "Combustible gas"
    assert re.search(r"\+01:00$", rows[0]["Time"])  # December: CET
    bad = await client.get("/api/v1/journal", headers=AUDITOR,
                           params={"format": "excel", "tz": "Mars/Olympus"})
    assert bad.status_code == 400


async def test_the_machine_csv_is_unchanged(client: httpx.AsyncClient, desk: DrivenDesk) -> None:
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    answer = await client.get("/api/v1/journal", params={"format": "csv"}, headers=AUDITOR)
    assert not answer.content.startswith(b"\xef\xbb\xbf")
    header = answer.text.splitlines()[0]
    assert header == ",".join(ALL_COLUMNS)


async def test_several_alarms_acknowledged_with_one_note_in_one_request(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    ids = [desk.raise_alarm("jh-chem-01", s, "high", "high", 22.0)["alarm_id"]
           for s in ("GT-102", "GT-103", "GT-104")]
    answer = await client.post("/api/v1/alarms/ack", headers=OPERATOR, json={
        "alarm_ids": [*ids, ids[0], "jh-chem-01/GT-999/high#1"], "note": "巡检确认"})
    assert answer.status_code == 200
    outcomes = answer.json()
    assert [o["alarm_id"] for o in outcomes] == [*ids, "jh-chem-01/GT-999/high#1"]
    assert [o["ok"] for o in outcomes] == [True, True, True, False]
    assert all(o["alarm"]["state"] == "acked" and o["alarm"]["note"] == "巡检确认"
               for o in outcomes[:3])
    assert outcomes[3]["error"] == "unknown_alarm"
    again = await client.post("/api/v1/alarms/ack", headers=OPERATOR,
                              json={"alarm_ids": ids[:1]})
    assert again.json()[0]["error"] == "illegal_transition"
    viewer = await client.post("/api/v1/alarms/ack", headers=bearer("viewer"),
                               json={"alarm_ids": ids[:1]})
    assert viewer.status_code == 403
    empty = await client.post("/api/v1/alarms/ack", headers=OPERATOR, json={"alarm_ids": []})
    assert empty.status_code == 422


CE_WORDS = {  # lang -> (event, condition, sensor, priority) headers and the words expected
    "zh": (("事件", "报警类型", "探测器/网关", "优先级"),
           ("联锁动作需求", "迟动", "联锁未按因果动作", "报警", "恢复", "紧急")),
    "en": (("Event", "Condition", "Sensor / gateway", "Priority"),
           ("Demand on interlock", "Tripped late", "Interlock failed to act on demand",
            "Raised", "Cleared", "Critical")),
}


async def test_the_excel_export_words_cause_and_effect_records(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    """A demand on jh-chem-01's ESD-01 (CE-01, 5 s) not answered in time raises
    `ce_failed`; the trip 9 s after the demand is late: the records and the alarm in
    words, on ESD-01's row."""
    desk.send("jh-chem-01", "GT-101", 45.0)
    desk.clock.advance_ms(2000)  # GT-101's on-delay: the demand
    desk.send("jh-chem-01", "GT-101", 45.0)
    desk.clock.advance_ms(8500)  # past 5 s and the gateway's report period
    desk.tick()
    desk.clock.advance_ms(500)
    desk.send("jh-chem-01", "ESD-01", "tripped")
    for lang, ((event, condition, sensor, priority), words) in CE_WORDS.items():
        demand, late, failed, raised, cleared, critical = words
        answer = await client.get("/api/v1/journal", headers=AUDITOR,
                                  params={"format": "excel", "lang": lang})
        rows = read(answer.content)
        records = [r for r in rows if r[event] in (demand, late)]
        assert [(r[event], r[sensor]) for r in records] == [
            (demand, "ESD-01"), (late, "ESD-01")]
        alarm = [r for r in rows if r[condition] == failed]
        assert [(r[event], r[sensor], r[priority]) for r in alarm[:2]] == [
            (raised, "ESD-01", critical), (cleared, "ESD-01", critical)]

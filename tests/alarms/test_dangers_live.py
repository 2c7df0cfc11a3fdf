"""Hidden dangers on the real stack: the alarm service over a real Mosquitto, its SQLite
desk, the API on that desk (docs/hidden-dangers.md).

- each automatic rule opens exactly one record while its condition lasts, and records
  its end as closing evidence (the record goes to the bureau: submitted);
- a major record past its deadline turns the site red (retained risk topic), raises a
  critical alarm on the site and notifies the critical tier;
- the whole loop through the API by the right roles, 403 for the wrong ones, a
  rejection and a resubmission, an evidence file kept in the data folder;
- the journal, anchors included, verifies afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hazmon.alarms.core.inputs import Ack, OutOfService, ReturnToService, Shelve
from hazmon.alarms.errors import IllegalTransition
from hazmon.alarms.notifiers import MemoryNotifier
from hazmon.alarms.service import AlarmService, Timing
from hazmon.api.app import create_app
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.stores.memory import MemoryStore
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.servers import Mosquitto
from tests.alarms.mqtt_helpers import publish, publisher, started, stopped

pytestmark = pytest.mark.integration

REGISTRY = """
sites:
  - id: {site}
    name: 隐患测试企业
    industry: hazardous_chemicals
    location: {{lat: 29.0, lon: 119.6}}
    gateways:
      - id: gw1
        period_s: 1
        sensors:
          - {{id: GT-1, kind: combustible_gas, range: [0, 100], latch: false, area: 罐区}}
          - {{id: ESD-A, kind: interlock, grade: A, area: 罐区}}
          - {{id: ESD-B, kind: interlock, grade: B, area: 装卸站}}
escalation:
  critical:
    - {{after_s: 0, notify: [duty]}}
  high:
    - {{after_s: 0, notify: [duty]}}
  medium:
    - {{after_s: 0, notify: [duty]}}
notifiers:
  duty: {{log: true}}
hidden_dangers:
  rules:
    bypass_past_permit: {{after_s: 0, grade: major, deadline_days: 0.00005}}
    interlock_out_of_service: {{after_s: 1}}
    detector_bad: {{after_s: 1}}
    gateway_offline: {{after_s: 1}}
    repeat_high_high: {{count: 3, window_s: 6}}
auth:
  tokens:
    - {{name: liu.jun, role: inspector, sha256: "{inspector}"}}
    - {{name: zhang.wei, role: operator, sha256: "{operator}"}}
    - {{name: chen.jie, role: viewer, sha256: "{viewer}"}}
    - {{name: wang.fang, role: auditor, sha256: "{auditor}"}}
"""


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def until(check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


class Plant:
    def __init__(self, port: int, site: str) -> None:
        self.pub = publisher(port)
        self.site = site
        self.seq = 0

    async def send(self, **readings: Any) -> None:
        batch = {"boot": 1, "seq": self.seq, "readings": [
            {"sensor": s, "ts_ms": now_ms(), **(v if isinstance(v, dict) else {"value": v})}
            for s, v in readings.items()]}
        self.seq += 1
        await asyncio.to_thread(publish, self.pub, f"hazmon/v1/{self.site}/gw1/telemetry", batch)


def of_cause(service: AlarmService, cause: str) -> list[dict[str, Any]]:
    return [d for d in service.desk.dangers.records() if d.get("cause") == cause]


async def test_rules_escalation_and_the_loop_on_the_real_stack(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    site = unique_id
    registry = parse_registry(REGISTRY.format(
        site=site, inspector=digest("t-inspector"), operator=digest("t-operator"),
        viewer=digest("t-viewer"), auditor=digest("t-auditor")))
    duty = MemoryNotifier()
    service = AlarmService(
        registry=registry, broker=parse_broker_url(mosquitto.url), settings=Settings(),
        store=MemoryStore(), data_dir=tmp_path, client_id=f"alarms-{unique_id}",
        timing=Timing(tick_s=0.2, dangers_s=0.2), notifiers={"duty": duty},
    )
    recorder = subscriber(mosquitto.port, f"hazmon/v1/{site}/#")
    plant = Plant(mosquitto.port, site)
    task = await started(service)
    try:
        # until the service has evaluated a first batch (one published in the moment
        # its subscription is being set up can be missed: sent again, with a new seq)
        for _ in range(50):
            await plant.send(**{"GT-1": 1.0, "ESD-A": {"state": "normal"},
                                "ESD-B": {"state": "normal"}})
            await asyncio.sleep(0.2)
            if "ESD-A" in service.desk.last_readings(site):
                break
        # 1. a bypass with no permit: major, at once; overdue after ~4 s
        await plant.send(**{"ESD-A": {"state": "bypassed"}})
        bypass = f"bypass_past_permit:{site}/ESD-A"
        [record] = await until(lambda: of_cause(service, bypass))
        assert (record["grade"], record["source"], record["state"]) == ("major", "hazmon", "open")
        assert record["links"] == [f"{site}/ESD-A/bypass#1"]
        await recorder.until(lambda m: m.topic == f"hazmon/v1/{site}/risk"
                             and m.doc["grade"] == "red", timeout_s=20)
        overdue = (await recorder.until(
            lambda m: m.topic == f"hazmon/v1/{site}/alarms" and m.doc["condition"] == "overdue"
            and m.doc["event"] == "raised"))[0].doc
        assert (overdue["priority"], overdue["alarm_id"]) == (
            "critical", f"{site}/{record['id']}/overdue#1")
        await until(lambda: [r for r in duty.received if r.alarm_id == overdue["alarm_id"]])
        acked = service.desk.act(Ack(overdue["alarm_id"], user="zhang.wei", note="已知，整改中"))
        assert (acked["state"], acked["acked_by"]) == ("acked", "zhang.wei")
        with pytest.raises(IllegalTransition):
            service.desk.act(Shelve(overdue["alarm_id"], user="zhang.wei", minutes=10,
                                    reason="x"))
        await asyncio.sleep(0.6)
        assert len(of_cause(service, bypass)) == 1  # never twice for the same open cause
        await plant.send(**{"ESD-A": {"state": "normal"}})
        [ended] = await until(lambda: [d for d in of_cause(service, bypass)
                                       if d["cause_ended_ms"]])
        assert ended["state"] == "submitted"
        assert ended["evidence"][-1]["text"].startswith("条件已结束")
        await recorder.until(lambda m: m.topic == f"hazmon/v1/{site}/alarms"
                             and m.doc["condition"] == "overdue" and m.doc["event"] == "cleared")

        # 2. a detector in fault (quality bad) over 1 s
        await plant.send(**{"GT-1": {"value": 1.0, "quality": "bad"}})
        fault = f"detector_bad:{site}/GT-1"
        [record] = await until(lambda: of_cause(service, fault))
        assert record["area"] == "罐区"
        await plant.send(**{"GT-1": 1.0})
        await until(lambda: of_cause(service, fault)[0]["cause_ended_ms"])

        # 3. an interlock out of service over 1 s
        service.desk.act(OutOfService(site, "ESD-B", "li.na", now_ms() + 3_600_000, "校验"))
        oos = f"interlock_out_of_service:{site}/ESD-B"
        await until(lambda: of_cause(service, oos), timeout_s=10)
        service.desk.act(ReturnToService(site, "ESD-B", "li.na", "校验完毕"))
        await until(lambda: of_cause(service, oos)[0]["cause_ended_ms"])

        # 4. the gateway offline over 1 s
        state = f"hazmon/v1/{site}/gw1/state"
        await asyncio.to_thread(publish, plant.pub, state, {"online": False, "boot": 1},
                                retain=True)
        offline = f"gateway_offline:{site}/gw1"
        await until(lambda: of_cause(service, offline))
        await asyncio.to_thread(publish, plant.pub, state, {"online": True, "boot": 1},
                                retain=True)
        await plant.send(**{"GT-1": 1.0})
        await until(lambda: of_cause(service, offline)[0]["cause_ended_ms"])
        await asyncio.to_thread(publish, plant.pub, state, b"", retain=True)

        # 5. GT-1 at level 2 three times within the window (6 s)
        for n in range(1, 4):
            await plant.send(**{"GT-1": 60.0})
            await recorder.until(lambda m: m.topic == f"hazmon/v1/{site}/alarms"
                                 and m.doc["condition"] == "high_high"
                                 and m.doc["event"] == "raised", count=n)
            await plant.send(**{"GT-1": 1.0})
            await asyncio.sleep(0.3)
        repeat = f"repeat_high_high:{site}/GT-1"
        [record] = await until(lambda: of_cause(service, repeat))
        assert len(record["links"]) == 3
        await until(lambda: of_cause(service, repeat)[0]["cause_ended_ms"], timeout_s=15)
        causes = [d["cause"] for d in service.desk.dangers.records()]
        assert sorted(causes) == sorted([bypass, fault, oos, offline, repeat])  # one each

        # the loop through the API on this desk
        app = create_app(registry=registry, desk=service.desk, store=service.store,
                         metrics=[], health=lambda: {"broker": True, "store": True})
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await the_loop(client, site, tmp_path)
        verified = service.desk.journal_verify()
        assert verified["ok"] is True, verified
    finally:
        await stopped(task)
    service.close()


async def the_loop(client: httpx.AsyncClient, site: str, data: Path) -> None:
    async def call(method: str, path: str, who: str, body: Any = None,
                   status: int = 200) -> Any:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = await client.request(method, f"/api/v1{path}",
                                      headers={"Authorization": f"Bearer t-{who}"}, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json()

    new = {"area": "罐区", "description": "防火堤伸缩缝开裂", "grade": "general"}
    await call("POST", f"/sites/{site}/dangers", "operator", new, status=403)
    hd = (await call("POST", f"/sites/{site}/dangers", "inspector", new))["id"]
    order = {"deadline_ms": now_ms() + 86_400_000, "owner_enterprise": "zhang.wei",
             "owner_bureau": "liu.jun", "measures": "修补伸缩缝"}
    await call("POST", f"/dangers/{hd}/order", "operator", order, status=403)
    await call("POST", f"/dangers/{hd}/order", "inspector", order)
    photo = b"\xff\xd8\xff\xe0" + bytes(1000)
    await call("PUT", f"/dangers/{hd}/evidence/files?name=修补后.jpg", "operator", photo)
    await call("PUT", f"/dangers/{hd}/evidence/files?name=../x.jpg", "operator", photo,
               status=400)
    await call("POST", f"/dangers/{hd}/submit", "inspector", {}, status=403)
    await call("POST", f"/dangers/{hd}/submit", "operator", {})
    await call("POST", f"/dangers/{hd}/accept", "operator", {}, status=403)
    await call("POST", f"/dangers/{hd}/reject", "inspector", {"note": "缝内未清理"})
    await call("POST", f"/dangers/{hd}/rectify", "operator", {})
    await call("POST", f"/dangers/{hd}/evidence", "operator", {"text": "已清理并重新修补"})
    await call("POST", f"/dangers/{hd}/submit", "operator", {})
    closed = await call("POST", f"/dangers/{hd}/accept", "inspector", {"note": "验收合格"})
    assert closed["state"] == "closed"
    assert [h["event"] for h in closed["history"]] == [
        "hd_opened", "hd_order", "hd_evidence", "hd_submit", "hd_reject", "hd_rectify",
        "hd_evidence", "hd_submit", "hd_accept"]
    [kept] = [e for e in closed["evidence"] if e["kind"] == "file"]
    assert (data / "hidden-dangers" / kept["sha256"]).read_bytes() == photo
    assert ((data / "hidden-dangers").stat().st_mode & 0o777) == 0o700
    verify = await call("GET", "/journal/verify", "auditor")
    assert verify["ok"] is True

"""The demo plant's hidden-danger loop (docs/hidden-dangers.md, "The demo plant"): the
alarm service's desk (AlarmDesk: the real engine and SQLite database) in a data folder,
fed readings as the gateways send them on a hand-turned clock, and the API on it.

    .venv/bin/python scripts/hidden_dangers_demo.py /tmp/hd-demo-data

Then `hazmon report dangers --site dy-cold-01 --quarter 2026Q4 --config
hazmon/demo/plant.yaml --data /tmp/hd-demo-data` and `hazmon journal verify --data ...`.
"""
# ruff: noqa: E501, E701, E702
import asyncio
import json
import sys
from pathlib import Path

import httpx
import orjson

from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.api.app import create_app
from hazmon.api.testing import Feed, ManualClock, _quiet_value
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore

DATA = Path(sys.argv[1]); H = 3_600_000
reg = load_registry(Path("hazmon/demo/plant.yaml"))
clock = ManualClock(1_795_136_400_000)  # 2026-11-20 09:00 CST
desk = AlarmDesk(registry=reg, data_dir=DATA, store=MemoryStore(), clock=clock)
desk.start()
feed = Feed(reg, desk.receive, clock)
OFF = ("dy-cold-01", "gw-machine-room")
esd = {"state": "bypassed"}
def heartbeat(skip=None):
    for s, g, x in reg.sensors():
        if (s.id, g.id) == skip: continue
        v = _quiet_value(x)
        if s.id == "jh-chem-01" and x.id == "ESD-01": v = esd["state"]
        feed.send(s.id, x.id, v)
def say(*a): print(*a)
def grades(): g = desk.risk_grades(); return {k: g[k] for k in ("jh-chem-01", "dy-cold-01")}
def step(hours, skip=OFF):
    for _ in range(hours):
        clock.advance_ms(H); heartbeat(skip); desk.tick(); desk.dangers.tick()

async def main():
    app = create_app(registry=reg, desk=desk, store=desk.store, metrics=[], health=lambda: {})
    t = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=t, base_url="http://demo") as c:
        async def call(m, p, who, body=None):
            kw = {"content": body} if isinstance(body, bytes) else {"json": body}
            r = await c.request(m, "/api/v1" + p, headers={"Authorization": f"Bearer demo-{who}"}, **kw)
            assert r.status_code < 300, r.text
            return r.json() if r.headers["content-type"].startswith("application/json") else r
        heartbeat(); desk.tick(); desk.dangers.tick()
        say("grades at start", grades())
        say("## ESD-01 bypassed with no permit")
        desk.receive([(f"hazmon/v1/{OFF[0]}/{OFF[1]}/state", orjson.dumps({"online": False, "boot": 0}))])
        clock.advance_ms(2000); heartbeat(OFF); desk.tick(); desk.dangers.tick()
        for d in await call("GET", "/dangers", "viewer"):
            say(json.dumps({k: d[k] for k in ("id", "source", "grade", "state", "cause", "links", "description", "deadline_ms", "overdue")}, ensure_ascii=False))
        say("grades", grades())
        say("## an inspection finding at dy-cold-01 (API)")
        doc = await call("POST", "/sites/dy-cold-01/dangers", "inspector", {"area": "制冷机房", "description": "液氨机房应急排风机联动测试记录缺失，排风口被杂物遮挡", "grade": "general", "note": "2026年第四季度专项检查"})
        hd = doc["id"]; say(hd, doc["state"], doc["found_by"])
        r = await call("POST", f"/dangers/{hd}/order", "inspector", {"deadline_ms": clock() + 72 * H, "owner_enterprise": "冷库设备科 王强", "owner_bureau": "liu.jun", "measures": "清理排风口，完成联动测试并记录", "note": "下达限期整改通知书"})
        say("order ->", r["state"])
        photo = b"\xff\xd8\xff\xe0" + bytes(2048)
        await call("POST", f"/dangers/{hd}/evidence", "operator", {"text": "排风口已清理，联动测试正常（测试记录编号 LD-2026-118）"})
        await call("PUT", f"/dangers/{hd}/evidence/files?name=排风口清理后.jpg", "operator", photo)
        say("submit ->", (await call("POST", f"/dangers/{hd}/submit", "operator", {"note": "整改完成，申请验收"}))["state"])
        say("reject ->", (await call("POST", f"/dangers/{hd}/reject", "inspector", {"note": "联动测试记录无负责人签字"}))["state"])
        say("rectify ->", (await call("POST", f"/dangers/{hd}/rectify", "engineer", {"note": "补签"}))["state"])
        await call("POST", f"/dangers/{hd}/evidence", "engineer", {"text": "测试记录已由设备科负责人签字"})
        say("submit ->", (await call("POST", f"/dangers/{hd}/submit", "engineer", {}))["state"])
        closed = await call("POST", f"/dangers/{hd}/accept", "inspector", {"note": "验收合格，销号"})
        say("accept ->", closed["state"])
        for h in closed["history"]:
            say(f'  seq {h["seq"]:>5} {h["event"]:<14} {h["from_state"]!s:<10} -> {h["to_state"]:<10} {h["user"]:<10} {h["note"]}')
        major = await call("POST", "/sites/dy-cold-01/dangers", "inspector", {"area": "液氨储罐区", "description": "液氨储罐区氨气检测报警仪未与紧急切断阀联锁", "grade": "major", "lat": 29.2893, "lon": 120.2412, "deadline_ms": clock() + 24 * H, "owner_enterprise": "冷库安全科 赵敏", "owner_bureau": "liu.jun", "measures": "增设联锁，停用储罐至整改完成"})
        say(major["id"], major["grade"], major["state"], "grades", grades())
        say("## 9 hours on, gw-machine-room silent")
        step(9)
        for d in await call("GET", "/dangers?source=hazmon", "viewer"):
            say(d["id"], d["cause"], d["state"], d["description"])
        say("## gw-machine-room back")
        desk.receive([(f"hazmon/v1/{OFF[0]}/{OFF[1]}/state", orjson.dumps({"online": True, "boot": 0}))])
        step(1, skip=None)
        for d in await call("GET", "/dangers?source=hazmon", "viewer"):
            say(d["id"], d["cause"], d["state"], "cause ended" if d["cause_ended_ms"] else "")
        say("## a day on: the bypass record overdue")
        step(16, skip=None)
        say("grades", grades())
        for a in await call("GET", "/alarms?site=jh-chem-01&active=true&priority=critical", "viewer"):
            say("alarm", a["alarm_id"], a["priority"], a["state"], a["note"])
        for r in desk.db.outbox():
            if "overdue" in r.id: say("notify", r.recipient, "tier", r.tier, r.alarm_id)
        for a in await call("GET", "/alarms?site=dy-cold-01&active=true&priority=critical", "viewer"):
            say("alarm", a["alarm_id"], a["priority"], a["state"], a["note"])
        say("## ESD-01 back to normal")
        esd["state"] = "normal"; step(1, skip=None)
        for d in await call("GET", "/dangers?site=jh-chem-01", "viewer"):
            say(d["id"], d["state"], "overdue" if d["overdue"] else "", d["evidence"][-1]["text"])
        say("grades", grades())
        bypass = next(iter(await call("GET", "/dangers?site=jh-chem-01", "viewer")))["id"]
        say("accept ->", (await call("POST", f"/dangers/{bypass}/accept", "inspector", {"note": "旁路已恢复，补办旁路审批制度培训记录已核查"}))["state"])
        stats = await call("GET", "/dangers/stats?quarter=2026Q4", "viewer")
        say(json.dumps(stats["total"], ensure_ascii=False))
        for d in await call("GET", "/dangers", "viewer"):
            say(d["id"], d["grade"], d["source"], d["state"], "逾期" if d["overdue"] else "")
        v = await call("GET", "/journal/verify", "auditor")
        say("journal verify:", v["ok"], v["entries"], "entries")
    desk.close()
asyncio.run(main())

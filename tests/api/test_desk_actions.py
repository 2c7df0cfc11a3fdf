"""Unshelve and return-to-service over HTTP on the real alarm desk (engine and SQLite
journal), not the in-memory desk: the routes reach `AlarmDesk.unshelve` and
`AlarmDesk.return_to_service`, the ISA-18.2 table decides, and illegal inputs are 409
with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.api.app import create_app
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import DEMO_PLANT, bearer

T0_MS = 1_764_385_200_000
TOPIC = "hazmon/v1/jh-chem-01/gw-tankfarm/telemetry"
SENSOR = "/api/v1/sites/jh-chem-01/sensors/GT-101"
OPERATOR, ENGINEER = bearer("operator"), bearer("engineer")


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0_MS

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> AlarmDesk:
    desk = AlarmDesk(registry=load_registry(DEMO_PLANT), data_dir=tmp_path,
                     store=MemoryStore(), clock=clock)  # fmt: skip
    for seq in range(6):  # GT-101 at 30 %LEL (high is 20): held past its on-delay
        reading = {"sensor": "GT-101", "ts_ms": clock.now_ms, "value": 30.0}
        desk.receive([(TOPIC, orjson.dumps({"boot": 0, "seq": seq, "readings": [reading]}))])
        desk.tick()
        clock.now_ms += 1000
    return desk


@pytest.fixture
async def client(desk: AlarmDesk) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(registry=desk.registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
        yield c
    desk.close()


def action(alarm_id: str, name: str) -> str:
    return f"/api/v1/alarms/{alarm_id.replace('/', '%2F').replace('#', '%23')}/{name}"


async def gas_alarm(client: httpx.AsyncClient) -> dict[str, Any]:
    active = (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json()
    found = [a for a in active if a["key"] == "jh-chem-01/GT-101/high"]
    assert len(found) == 1, active
    alarm: dict[str, Any] = found[0]
    return alarm


def journal(desk: AlarmDesk) -> list[dict[str, Any]]:
    lines = "".join(desk.journal_export(from_ms=None, to_ms=None, site=None, fmt="jsonl"))
    return [orjson.loads(line) for line in lines.splitlines()]


async def test_shelve_shows_until_when_and_unshelve_raises_it_again(
    client: httpx.AsyncClient, desk: AlarmDesk, clock: Clock
) -> None:
    alarm = await gas_alarm(client)
    assert (alarm["state"], alarm["shelved_until_ms"]) == ("unack", None)
    not_yet = await client.post(action(alarm["alarm_id"], "unshelve"),
                                json={"note": "not shelved"}, headers=OPERATOR)
    assert (not_yet.status_code, not_yet.json()["error"]) == (409, "illegal_transition")
    shelved = await client.post(action(alarm["alarm_id"], "shelve"), headers=OPERATOR,
                                json={"minutes": 30, "reason": "detector wash"})
    assert shelved.status_code == 200, shelved.text
    until_ms = clock.now_ms + 30 * 60_000
    assert (shelved.json()["state"], shelved.json()["shelved_until_ms"]) == ("shelved", until_ms)
    assert (await gas_alarm(client))["shelved_until_ms"] == until_ms
    entries = len(journal(desk))

    back = await client.post(action(alarm["alarm_id"], "unshelve"),
                             json={"note": "wash finished early"}, headers=OPERATOR)
    assert back.status_code == 200, back.text
    assert (back.json()["state"], back.json()["event"], back.json()["shelved_until_ms"]) == (
        "unack", "raised", None)  # its condition is still active: raised again
    assert [(e["event"], e["to_state"], e["user"], e["note"])
            for e in journal(desk)[entries:entries + 2]] == [
        ("unshelved", "unack", "zhang.wei", "wash finished early"),
        ("raised", "unack", "zhang.wei", "wash finished early"),
    ]
    entries = len(journal(desk))
    again = await client.post(action(alarm["alarm_id"], "unshelve"),
                              json={"note": "twice"}, headers=OPERATOR)
    assert again.status_code == 409
    assert len(journal(desk)) == entries


async def test_return_to_service_re_evaluates_the_sensors_points(
    client: httpx.AsyncClient, desk: AlarmDesk, clock: Clock
) -> None:
    in_service = await client.post(f"{SENSOR}/return-to-service", json={"note": "fine"},
                                   headers=ENGINEER)
    assert in_service.status_code == 409
    assert in_service.json()["error"] == "illegal_transition"
    oos = await client.post(f"{SENSOR}/out-of-service", headers=ENGINEER,
                            json={"until_ms": clock.now_ms + 3_600_000, "reason": "swap"})
    assert oos.status_code == 200, oos.text
    assert (await gas_alarm(client))["state"] == "out_of_service"

    back = await client.post(f"{SENSOR}/return-to-service", json={"note": "new head fitted"},
                             headers=ENGINEER)
    assert back.status_code == 200, back.text
    assert back.json() == {"site": "jh-chem-01", "sensor": "GT-101", "user": "li.na",
                           "note": "new head fitted"}
    assert (await gas_alarm(client))["state"] == "unack"  # still at 30 %LEL
    assert any(e["event"] == "in_service" and e["user"] == "li.na" for e in journal(desk))
    twice = await client.post(f"{SENSOR}/return-to-service", json={"note": "again"},
                              headers=ENGINEER)
    assert twice.status_code == 409

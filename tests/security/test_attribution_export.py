"""Through the hardened API over the real alarm desk (SQLite journal): every operator
action is journalled with the name of the token that made it, whatever the request
says, and the CSV export defuses formula-like text so a spreadsheet does not run it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from hazmon.alarms.journal.export import csv_cell
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.api.app import create_app
from hazmon.api.hardening import HardeningSettings, harden
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore
from tests.security.test_hardening import DEMO_PLANT, bearer

T0_MS = 1_764_385_200_000
TOPIC = "hazmon/v1/jh-chem-01/gw-tankfarm/telemetry"
HOSTILE_NOTES = ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2", "@SUM(A1)"]


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0_MS

    def __call__(self) -> int:
        return self.now_ms


def telemetry(seq: int, ts_ms: int, value: float) -> bytes:
    reading = {"sensor": "GT-101", "ts_ms": ts_ms, "value": value}
    return orjson.dumps({"boot": 0, "seq": seq, "readings": [reading]})


@pytest.fixture
def desk_and_app(tmp_path: Path) -> tuple[AlarmDesk, FastAPI]:
    registry = load_registry(DEMO_PLANT)
    clock = Clock()
    desk = AlarmDesk(registry=registry, data_dir=tmp_path, store=MemoryStore(), clock=clock)
    for seq in range(12):  # a gas leak held long enough for any on-delay
        desk.receive([(TOPIC, telemetry(seq, clock.now_ms, 60.0))])
        desk.tick()
        clock.now_ms += 1000
    app = create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})  # fmt: skip
    harden(app, HardeningSettings())
    return desk, app


def quoted(alarm_id: str) -> str:
    return alarm_id.replace("/", "%2F").replace("#", "%23")


async def test_actions_carry_the_token_name_and_csv_is_defused(
    desk_and_app: tuple[AlarmDesk, FastAPI],
) -> None:
    desk, app = desk_and_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
        active = (await c.get("/api/v1/alarms?active=true", headers=bearer("viewer"))).json()
        gas = [a for a in active if a["sensor"] == "GT-101"]
        assert gas, active
        alarm_id = quoted(gas[0]["alarm_id"])
        # a body that claims to be someone else changes nothing: the token decides
        ack = await c.post(f"/api/v1/alarms/{alarm_id}/ack", headers=bearer("operator"),
                           json={"note": HOSTILE_NOTES[0], "user": "admin"})  # fmt: skip
        assert ack.status_code in (200, 422), ack.text
        if ack.status_code == 422:  # extra fields refused: send it plainly
            ack = await c.post(f"/api/v1/alarms/{alarm_id}/ack", headers=bearer("operator"),
                               json={"note": HOSTILE_NOTES[0]})  # fmt: skip
        assert ack.status_code == 200, ack.text
        for note in HOSTILE_NOTES[1:]:
            answer = await c.post(f"/api/v1/alarms/{alarm_id}/note", headers=bearer("admin"),
                                  json={"note": note})  # fmt: skip
            assert answer.status_code == 200, answer.text
        jsonl = await c.get("/api/v1/journal?format=jsonl", headers=bearer("auditor"))
        exported = await c.get("/api/v1/journal?format=csv", headers=bearer("auditor"))
        verify = (await c.get("/api/v1/journal/verify", headers=bearer("auditor"))).json()
    entries = [json.loads(line) for line in jsonl.text.splitlines()]
    actions = [e for e in entries if e["event"] in ("acked", "note")]
    assert [(e["event"], e["user"], e["note"]) for e in actions] == [
        ("acked", "zhang.wei", HOSTILE_NOTES[0]),
        *[("note", "admin", note) for note in HOSTILE_NOTES[1:]],
    ]  # the names in plant.yaml's auth section, exactly as sent otherwise
    assert all(e["user"] is None for e in entries if e["event"] == "raised")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    notes = [r["note"] for r in rows if r["event"] in ("acked", "note")]
    assert notes == ["'" + note for note in HOSTILE_NOTES]
    assert verify["ok"], verify
    desk.close()


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none(), st.binary()))
def test_no_csv_cell_starts_like_a_formula(value: Any) -> None:
    cell = csv_cell(value)
    if isinstance(cell, str):
        assert not cell.startswith(("=", "+", "-", "@"))
    else:
        assert isinstance(cell, int | float) and not isinstance(cell, bool)

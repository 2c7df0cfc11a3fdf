"""Random plant histories against the desk (hypothesis, stateful): after every step the
ISA-18.2 invariants hold, every event continues its point's history, and a new desk on
the same data folder (a restart) holds exactly the same state; the journal verifies."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hazmon.alarms.core.inputs import (
    Ack,
    AlarmInput,
    Note,
    OutOfService,
    Reset,
    ReturnToService,
    Shelve,
    Unshelve,
)
from hazmon.alarms.core.risk import site_level_scan
from hazmon.alarms.core.table import HIDDEN_STATES, OPEN_STATES, State
from hazmon.alarms.errors import AlarmError
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.contract.registry import LEVEL_GRADE
from hazmon.stores.memory import MemoryStore
from tests.alarms.plant import T0, Clock, matrix_registry

TOPIC = "hazmon/v1/s1/gw1/telemetry"
REGISTRY = matrix_registry()  # with cause-and-effect rows: demands kept over a restart
ANALOG = {"GT-1": [0.0, 24.0, 26.0, 51.0, 120.0, -9.0], "GT-2": [0.0, 24.0, 30.0],
          "O2-1": [20.9, 19.0, 19.6]}
QUALITIES = ["good", "good", "good", "uncertain", "bad", "maintenance"]


def snapshot(desk: AlarmDesk) -> dict[str, Any]:
    plant = desk.engine.plant
    return {
        "points": {k: p.doc() for k, p in plant.points.items()},
        "sensors": {i: s.doc() for i, s in plant.sensors.items()},
        "last": {i: s.last() for i, s in plant.sensors.items()},
        "gateways": {i: g.doc() for i, g in plant.gateways.items()},
        "open": {p.occ.alarm_id: p.occ.doc() for p in plant.points.values() if p.occ},
        "grades": desk.risk_grades(),
    }


class PlantHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="hazmon-stateful-"))
        self.clock = Clock()
        self.desk = AlarmDesk(registry=REGISTRY, data_dir=self.dir, store=MemoryStore(),
                              clock=self.clock)
        self.seq = 0
        self.ts_ms = T0
        self.last_payload: bytes | None = None
        self.last_state: dict[str, str] = {}
        self.desk.hand_over = lambda out: self._run(out.events)  # type: ignore[method-assign]

    def _run(self, out_events: list[Any]) -> None:
        for event in out_events:
            if not event.published or event.event in ("historical",):
                continue
            before = self.last_state.get(event.key, "normal")
            silent = before == "normal" and event.from_state in HIDDEN_STATES  # no occurrence
            if event.event not in ("notified", "notify_failed", "escalated") and not silent:
                assert event.from_state == before, (event, before)
            self.last_state[event.key] = event.state

    @rule(sensor=st.sampled_from(sorted(ANALOG)), pick=st.integers(0, 5),
          quality=st.sampled_from(QUALITIES), step_s=st.integers(0, 4))
    def reading(self, sensor: str, pick: int, quality: str, step_s: int) -> None:
        values = ANALOG[sensor]
        self.ts_ms += step_s * 1_000
        self.clock.advance(step_s)
        body = {"boot": 1, "seq": self.seq, "readings": [
            {"sensor": sensor, "ts_ms": self.ts_ms, "value": values[pick % len(values)],
             "quality": quality}]}
        self.seq += 1
        self.last_payload = orjson.dumps(body)
        self.desk.receive([(TOPIC, self.last_payload)])

    @rule(state=st.sampled_from(["normal", "tripped", "bypassed", "fault"]))
    def interlock(self, state: str) -> None:
        self.ts_ms += 1_000
        self.clock.advance(1)
        body = {"boot": 1, "seq": self.seq, "readings": [
            {"sensor": "ESD-A", "ts_ms": self.ts_ms, "state": state}]}
        self.seq += 1
        self.desk.receive([(TOPIC, orjson.dumps(body))])

    @rule(online=st.booleans(), boot=st.integers(1, 3))
    def gateway_state(self, online: bool, boot: int) -> None:
        self.clock.advance(1)
        payload = orjson.dumps({"online": online, "boot": boot})
        self.desk.receive([("hazmon/v1/s1/gw1/state", payload)])

    @rule(pick=st.integers(0, 5), back_s=st.integers(1, 100))
    def replay(self, pick: int, back_s: int) -> None:
        body = {"boot": 1, "seq": self.seq, "historical": True, "readings": [
            {"sensor": "GT-1", "ts_ms": self.ts_ms - back_s * 1_000,
             "value": ANALOG["GT-1"][pick]}]}
        self.seq += 1
        before = snapshot(self.desk)["points"]
        out = self.desk.receive([(TOPIC, orjson.dumps(body))])
        assert {e.event for e in out.events} <= {"historical"}
        assert snapshot(self.desk)["points"] == before  # no live state changes

    @precondition(lambda self: self.last_payload is not None)
    @rule()
    def redelivery(self) -> None:
        assert self.last_payload is not None
        out = self.desk.receive([(TOPIC, self.last_payload)])
        assert [e for e in out.events if e.sensor != "gw1"] == []

    @rule(seconds=st.sampled_from([1, 5, 11, 70, 400, 4_000]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.desk.tick()

    @rule(action=st.sampled_from(["ack", "reset", "shelve", "unshelve", "note"]),
          which=st.integers(0, 20))
    def operator(self, action: str, which: int) -> None:
        alarms = self.desk.alarms(active=True)
        if not alarms:
            return
        alarm_id = alarms[which % len(alarms)]["alarm_id"]
        inputs: dict[str, AlarmInput] = {
            "ack": Ack(alarm_id, "op"), "reset": Reset(alarm_id, "op"),
            "shelve": Shelve(alarm_id, "op", 5, "test"), "unshelve": Unshelve(alarm_id, "op"),
            "note": Note(alarm_id, "op", "looked"),
        }
        self.clock.advance(1)
        with contextlib.suppress(AlarmError):
            self.desk.act(inputs[action])

    @rule(back=st.booleans())
    def out_of_service(self, back: bool) -> None:
        self.clock.advance(1)
        try:
            if back:
                self.desk.act(ReturnToService("s1", "GT-1", "eng"))
            else:
                self.desk.act(OutOfService("s1", "GT-1", "eng", self.clock.now_ms + 600_000,
                                           "fix"))
        except AlarmError:
            pass

    @invariant()
    def isa_invariants_hold(self) -> None:
        for point in self.desk.engine.plant.points.values():
            if point.state in OPEN_STATES:
                assert point.occ is not None, point.key
            if point.state is State.normal:
                assert point.occ is None, point.key
            if point.returned:
                assert point.latched and point.state not in (State.normal, State.rtn_unack)
            if point.state not in HIDDEN_STATES and point.occ is not None:
                assert point.occ.alarm_id == f"{point.key}#{point.count}"

    @invariant()
    def grades_agree_with_a_full_scan(self) -> None:
        plant = self.desk.engine.plant
        scanned = {s: LEVEL_GRADE[site_level_scan(plant, s, self.clock.now_ms)]
                   for s in plant.sites}
        assert self.desk.risk_grades() == scanned

    def teardown(self) -> None:
        try:
            before = snapshot(self.desk)
            self.desk.close()
            again = AlarmDesk(registry=REGISTRY, data_dir=self.dir, store=MemoryStore(),
                              clock=self.clock)
            assert snapshot(again) == before
            assert again.journal_verify()["ok"]
            again.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


PlantHistory.TestCase.settings = settings(max_examples=25, stateful_step_count=30,
                                          deadline=None)
TestPlantHistory = PlantHistory.TestCase

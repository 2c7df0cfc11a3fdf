"""Cause-and-effect verification on the real stack: `hazmon up` over a real Mosquitto,
readings published as a gateway publishes them, the record read from the API and
the journal (docs/alarms.md, "Cause-and-effect verification"): a trip 2 s after the
demand is recorded with its time, no trip within 5 s raises `ce_failed`, a 2oo3 cause
needs two of three, a trip without a demand is recorded as spurious."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.testing.servers import Mosquitto, free_port
from tests.api.running import Hazmon

pytestmark = pytest.mark.integration

TOKEN = "cause-effect-admin-token-71c2"
ROWS = {  # row: (cause sensors, vote, interlock)
    "CE-1": (["GT-1"], "1oo1", "ESD-1"),
    "CE-2": (["GT-2"], "1oo1", "ESD-2"),
    "CE-3": (["GT-3", "GT-4", "GT-5"], "2oo3", "ESD-3"),
    "CE-4": (["GT-6"], "1oo1", "ESD-4"),
}


def registry_yaml(site: str) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    sensors = "\n".join(
        f"          - {{id: GT-{i}, kind: combustible_gas, range: [0, 100]}}" for i in range(1, 7)
    ) + "\n" + "\n".join(
        f"          - {{id: ESD-{i}, kind: interlock, grade: A}}" for i in range(1, 5)
    )
    rows = "\n".join(
        f"      - {{id: {row}, cause: {{sensors: [{', '.join(cause)}], condition: high_high, "
        f"vote: {vote}}}, effect: {{interlock: {lock}, state: tripped}}, within_s: 5}}"
        for row, (cause, vote, lock) in ROWS.items()
    )
    return f"""
sites:
  - id: {site}
    name: Cause and effect plant
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    cause_effect:
{rows}
    gateways:
      - id: gw-1
        period_s: 1
        sensors:
{sensors}
auth:
  tokens:
    - {{name: ce.tester, role: admin, sha256: "{digest}"}}
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def wait_until(test: Callable[[], Any], timeout_s: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


class Plant:
    def __init__(self, hazmon: Hazmon, site: str, mosquitto: Mosquitto) -> None:
        self.hazmon, self.site = hazmon, site
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.seq = 0
        self.last_ts = 0

    def send(self, sensor: str, value: float | str) -> int:
        """One reading now, as gw-1 publishes it; its time."""
        ts_ms = self.last_ts = max(now_ms(), self.last_ts + 1)
        field = "state" if isinstance(value, str) else "value"
        payload = json.dumps({"boot": 1, "seq": self.seq,
                              "readings": [{"sensor": sensor, "ts_ms": ts_ms, field: value}]})
        self.seq += 1
        topic = f"hazmon/v1/{self.site}/gw-1/telemetry"
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)
        return ts_ms

    def record(self, interlock: str) -> dict[str, Any]:
        path = f"/api/v1/sites/{self.site}/interlocks/{interlock}/cause-effect"
        answer: dict[str, Any] = self.hazmon.get(path, TOKEN, from_ms=0, to_ms=now_ms() + 1000)
        return answer

    def journal(self, key: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.hazmon.base_url}/api/v1/journal",
                             params={"format": "jsonl", "from_ms": 0}, timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        rows = [json.loads(line) for line in response.text.splitlines() if line]
        return [r for r in rows if r["key"] == key]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto) -> Iterator[Plant]:
    folder = tmp_path_factory.mktemp("cause-effect")
    site = f"ce{int(time.time() * 1000) % 10**9}"
    config = folder / "plant.yaml"
    config.write_text(registry_yaml(site), encoding="utf-8")
    running = Hazmon("up", "--config", str(config), "--broker", mosquitto.url,
                     "--data", str(folder / "data"), http=f"127.0.0.1:{free_port()}",
                     log=folder / "hazmon.log")
    try:
        running.wait_serving()
        live = Plant(running, site, mosquitto)
        yield live
        live.client.loop_stop()
        live.client.disconnect()
    finally:
        running.stop()


def test_a_trip_two_seconds_after_the_demand_is_recorded_with_its_time(plant: Plant) -> None:
    demand_ms = plant.send("GT-1", 60.0)
    wait_until(lambda: plant.record("ESD-1")["demands"] == 1, what="the demand recorded")
    time.sleep(2.0 - (now_ms() - demand_ms) / 1000)
    trip_ms = plant.send("ESD-1", "tripped")
    record = wait_until(lambda: (r := plant.record("ESD-1"))["in_time"] == 1 and r,
                        what="the trip recorded")
    assert record["response_ms"]["max"] == trip_ms - demand_ms
    assert 2000 <= record["response_ms"]["p50"] < 2500
    assert (record["failures"], record["spurious"]) == (0, 0)
    assert [r["event"] for r in record["records"]] == ["ce_response", "ce_demand"]


def test_no_trip_within_five_seconds_raises_ce_failed(plant: Plant) -> None:
    demand_ms = plant.send("GT-2", 62.0)
    key = f"{plant.site}/ESD-2/ce_failed"
    raised = wait_until(lambda: [e for e in plant.journal(key) if e["event"] == "raised"],
                        timeout_s=12, what="ce_failed raised")[0]
    assert 5000 <= raised["ts_ms"] - demand_ms < 8000
    assert "CE-2: ESD-2 not tripped within 5.0 s" in raised["note"]
    assert "GT-2 62 %LEL; high_high 1oo1" in raised["note"]
    alarm = next(a for a in plant.hazmon.get("/api/v1/alarms", TOKEN, active="true")
             if a["key"] == key)
    assert (alarm["priority"], alarm["state"]) == ("critical", "unack")
    assert plant.record("ESD-2")["demands"] == 1
    # by now the answered demand of the test before is over 6 s old: no failure there
    assert plant.journal(f"{plant.site}/ESD-1/ce_failed") == []


def test_a_two_out_of_three_cause_needs_two_of_three(plant: Plant) -> None:
    plant.send("GT-3", 65.0)
    time.sleep(1.5)
    assert plant.record("ESD-3")["demands"] == 0, "one of three made a demand"
    demand_ms = plant.send("GT-4", 58.0)
    record = wait_until(lambda: (r := plant.record("ESD-3"))["demands"] == 1 and r,
                        what="two of three: the demand")
    assert record["records"][0]["ts_ms"] == demand_ms
    assert "GT-3 65, GT-4 58, GT-5 None %LEL; high_high 2oo3" in record["records"][0]["note"]
    plant.send("ESD-3", "tripped")
    wait_until(lambda: plant.record("ESD-3")["in_time"] == 1, what="the trip in time")


def test_a_trip_without_a_demand_is_recorded_as_spurious(plant: Plant) -> None:
    trip_ms = plant.send("ESD-4", "tripped")
    record = wait_until(lambda: (r := plant.record("ESD-4"))["spurious"] == 1 and r,
                        what="a spurious trip")
    assert record["demands"] == 0
    assert record["records"][0]["event"] == "ce_spurious"
    assert record["records"][0]["ts_ms"] == trip_ms

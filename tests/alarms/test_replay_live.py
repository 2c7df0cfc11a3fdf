"""Same core, same answer: a gas release from the plant simulator, published to
`hazmon up` over a real Mosquitto and stored by its ingest in a real InfluxDB, then
replayed from InfluxDB with the same registry (hazmon.alarms.replay), gives exactly
the process alarm events the live service journalled.

The registry has no on-delays: one completed by the service clock carries the tick's
time, which a replay puts at the exact deadline (tests/alarms/test_replay_run.py)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.alarms.replay import replay
from hazmon.alarms.replay.run import PROCESS_CONDITIONS, STATE_EVENTS
from hazmon.contract import topics
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import Settings
from hazmon.simulators.plant import PlantSimulator
from hazmon.stores import open_store
from hazmon.testing.servers import InfluxDB, Mosquitto, free_port
from tests.alarms.test_correctness_live import wait_until
from tests.api.running import Hazmon

pytestmark = pytest.mark.integration

TOKEN = "replay-live-admin-token-71c2"
SPEED = 20  # plant seconds per wall second
TICK_S = 0.2
TICKS = 30  # 6 s of wall time, 120 s of plant time: release at 10 s, level 2, trip


def registry_yaml(site: str) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return f"""
sites:
  - id: {site}
    name: Replay plant
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    gateways:
      - id: gw-tank
        period_s: 1
        sensors:
          - {{id: GT-1, kind: combustible_gas, range: [0, 100], area: A}}
          - {{id: GT-2, kind: combustible_gas, range: [0, 100], area: A, deadband: 2}}
          - {{id: GT-3, kind: combustible_gas, range: [0, 100], area: B}}
          - {{id: ESD-1, kind: interlock, grade: A, area: A}}
escalation:
  critical:
    - {{after_s: 0, notify: [duty]}}
  high:
    - {{after_s: 0, notify: [duty]}}
  repeat_s: 3600
notifiers:
  duty: {{log: true}}
auth:
  tokens:
    - {{name: replay.tester, role: admin, sha256: "{digest}"}}
"""


@pytest.fixture
def running(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
            ) -> Iterator[tuple[Hazmon, str, str, str]]:
    site = f"r{int(time.time() * 1000) % 10**9}"
    db = f"hazmon_{site}"
    influxdb.create_database(db)
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(site), encoding="utf-8")
    hazmon = Hazmon("up", "--config", str(config), "--broker", mosquitto.url,
                    "--influx", f"{influxdb.url}/{db}", "--data", str(tmp_path / "data"),
                    http=f"127.0.0.1:{free_port()}", log=tmp_path / "hazmon.log")
    try:
        hazmon.wait_serving()
        yield hazmon, site, f"{influxdb.url}/{db}", registry_yaml(site)
    finally:
        hazmon.stop()


def publish_release(mosquitto: Mosquitto, registry_text: str) -> tuple[int, int, int]:
    """The simulator's `leak` published as its gateway would; (first ts, last ts, readings)."""
    registry = parse_registry(registry_text)
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    sim = PlantSimulator(registry, seed=11, scenario="leak", speed=SPEED)
    first = last = sent = 0
    try:
        for _ in range(TICKS):
            now_ms = time.time_ns() // 1_000_000
            for site, gateway, batch in sim.telemetry(now_ms):
                assert batch is not None
                payload = batch.model_dump_json(exclude_none=True)
                client.publish(topics.telemetry(site, gateway), payload, qos=1).wait_for_publish(5)
                sent += len(batch.readings)
            first, last = first or now_ms, now_ms
            time.sleep(TICK_S)
    finally:
        client.loop_stop()
        client.disconnect()
    return first, last, sent


def journal(hazmon: Hazmon) -> list[dict[str, Any]]:
    response = httpx.get(f"{hazmon.base_url}/api/v1/journal", timeout=10,
                         params={"format": "jsonl", "from_ms": 0},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line]


def process_events(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["key"], r["event"], r["ts_ms"], r["value"], r["to_state"]) for r in rows
        if r["event"] in STATE_EVENTS and r["key"].rsplit("/", 1)[1] in PROCESS_CONDITIONS
    )


def test_a_replay_from_influxdb_gives_the_live_services_events(
    running: tuple[Hazmon, str, str, str], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    hazmon, site, influx, text = running
    first_ms, last_ms, sent = publish_release(mosquitto, text)
    store = open_store(influx=influx, data_dir=tmp_path, settings=Settings())
    try:
        wait_until(lambda: store.count_readings() == sent, 20, f"{sent} readings stored")
        live = wait_until(lambda: process_events(journal(hazmon)), 10, "alarms journalled")
        time.sleep(1.0)  # the last readings' events committed
        live = process_events(journal(hazmon))
        runs = replay(store, {"same": parse_registry(text)}, from_ms=first_ms, to_ms=last_ms)
    finally:
        store.close()
    replayed = sorted((e.key, e.event, e.ts_ms, e.value, e.state) for e in runs["same"].events)
    keys = {k for k, *_ in live}
    assert {f"{site}/GT-1/high", f"{site}/GT-1/high_high", f"{site}/ESD-1/trip"} <= keys
    assert replayed == live

"""The alarm rules that decide "old", "repeat", "ends the occurrence" and "who is told",
performed black-box on `hazmon up` over a real Mosquitto and a real InfluxDB, with a
webhook notifier on loopback: a second release on an acknowledged latched alarm, a
gateway clock two minutes fast with a 1 s gateway period, a calibration that clears
an unacknowledged latched critical alarm, the value an on-delay completed after a bad
reading carries, a silent gateway's status point, and an exported journal re-hashed
by a few lines of plain Python written from docs/alarms.md alone."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.testing.servers import InfluxDB, Mosquitto, free_port
from tests.alarms.webhook_server import WebhookServer
from tests.api.running import Hazmon

pytestmark = pytest.mark.integration

TOKEN = "correctness-admin-token-3b9e"
MIN_MS = 60_000


def registry_yaml(site: str, hook: str) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return f"""
sites:
  - id: {site}
    name: Correctness plant
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    gateways:
      - id: gw-release
        period_s: 60
        sensors:
          - {{id: GT-R, kind: combustible_gas, range: [0, 100]}}
      - id: gw-skew
        period_s: 1
        sensors:
          - {{id: GT-S, kind: combustible_gas, range: [0, 100]}}
      - id: gw-cal
        period_s: 60
        sensors:
          - {{id: GT-C, kind: combustible_gas, range: [0, 100]}}
      - id: gw-delay
        period_s: 60
        sensors:
          - {{id: GT-D, kind: combustible_gas, range: [0, 100], on_delay_s: 2}}
      - id: gw-silent
        period_s: 1
        sensors:
          - {{id: GT-Q, kind: combustible_gas, range: [0, 100]}}
escalation:
  critical:
    - {{after_s: 0, notify: [duty]}}
  high:
    - {{after_s: 0, notify: [duty]}}
  repeat_s: 3600
notifiers:
  duty: {{webhook: "{hook}"}}
auth:
  tokens:
    - {{name: duty.tester, role: admin, sha256: "{digest}"}}
"""


class Plant:
    """The running stack and a gateway's-eye view of it."""

    def __init__(self, hazmon: Hazmon, site: str, mosquitto: Mosquitto, influx: InfluxDB,
                 db: str, hook: WebhookServer) -> None:
        self.hazmon, self.site, self.influx, self.db, self.hook = hazmon, site, influx, db, hook
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.seq: dict[str, int] = {}
        self.last_ts: dict[str, int] = {}

    def send(self, gateway: str, sensor: str, value: float, *, ts_ms: int | None = None,
             quality: str = "good") -> None:
        seq = self.seq.get(gateway, 0)
        self.seq[gateway] = seq + 1
        if ts_ms is None:  # a new reading is a new millisecond (a gateway's clock)
            ts_ms = max(now_ms(), self.last_ts.get(sensor, 0) + 1)
            self.last_ts[sensor] = ts_ms
        reading = {"sensor": sensor, "ts_ms": ts_ms, "value": value, "quality": quality}
        payload = json.dumps({"boot": 1, "seq": seq, "readings": [reading]})
        info = self.client.publish(f"hazmon/v1/{self.site}/{gateway}/telemetry", payload, qos=1)
        info.wait_for_publish(5)

    def alarm(self, sensor: str, condition: str) -> dict[str, Any] | None:
        key = f"{self.site}/{sensor}/{condition}"
        found = [a for a in self.get("/api/v1/alarms", active="true") if a["key"] == key]
        return found[0] if found else None

    def get(self, path: str, **params: Any) -> Any:
        return self.hazmon.get(path, TOKEN, **params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.hazmon.base_url}{path}", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        return response.json()

    def act(self, alarm_id: str, action: str, note: str | None = None) -> Any:
        return self.post(f"/api/v1/alarms/{quote(alarm_id, safe='')}/{action}", {"note": note})

    def journal(self) -> list[dict[str, Any]]:
        """The journal export as JSON lines, parsed."""
        response = httpx.get(f"{self.hazmon.base_url}/api/v1/journal",
                             params={"format": "jsonl", "from_ms": 0}, timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line]

    def webhooks(self, test: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [body for body in self.hook.delivered() if test(body)]


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


@pytest.fixture(scope="module")
def plant(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto, influxdb: InfluxDB
) -> Iterator[Plant]:
    folder = tmp_path_factory.mktemp("correctness")
    site = f"c{int(time.time() * 1000) % 10**9}"
    db = f"hazmon_{site}"
    influxdb.create_database(db)
    with WebhookServer() as hook:
        config = folder / "plant.yaml"
        config.write_text(registry_yaml(site, hook.url), encoding="utf-8")
        running = Hazmon("up", "--config", str(config), "--broker", mosquitto.url,
                         "--influx", f"{influxdb.url}/{db}", "--data", str(folder / "data"),
                         http=f"127.0.0.1:{free_port()}", log=folder / "hazmon.log")
        try:
            running.wait_serving()
            live = Plant(running, site, mosquitto, influxdb, db, hook)
            yield live
            live.client.loop_stop()
            live.client.disconnect()
        finally:
            running.stop()


def test_a_second_release_on_an_acknowledged_latched_alarm_reaches_the_duty_officer(
    plant: Plant,
) -> None:
    plant.send("gw-release", "GT-R", 60.0)
    first = wait_until(lambda: plant.alarm("GT-R", "high_high"), what="level 2 raised")
    alarm_id = first["alarm_id"]
    wait_until(lambda: plant.webhooks(lambda b: b["alarm_id"] == alarm_id),
               what="tier 1 told of the first release")
    plant.act(alarm_id, "ack", "on my way")
    plant.send("gw-release", "GT-R", 5.0)  # the gas falls; nobody resets
    wait_until(lambda: (plant.alarm("GT-R", "high_high") or {}).get("returned"),
               what="latched, returned")
    plant.send("gw-release", "GT-R", 70.0)  # a second release
    second = wait_until(
        lambda: plant.webhooks(lambda b: b["alarm_id"] == alarm_id and b["value"] == 70.0),
        what="tier 1 told of the second release")
    assert (second[0]["event"], second[0]["state"]) == ("raised", "acked")
    notified = wait_until(
        lambda: len(found := [e for e in plant.journal()
                              if e["alarm_id"] == alarm_id and e["event"] == "notified"]) == 2
        and found, what="both deliveries journalled")
    assert all("duty" in e["note"] for e in notified)


def test_a_gateway_clock_two_minutes_fast_does_not_blind_the_sensor(plant: Plant) -> None:
    plant.send("gw-skew", "GT-S", 5.0, ts_ms=now_ms() + 2 * MIN_MS)  # one reading ahead
    raised_after = None
    for second in range(12):  # then correctly stamped 60 %LEL every second
        plant.send("gw-skew", "GT-S", 60.0)
        time.sleep(1.0)
        if raised_after is None and plant.alarm("GT-S", "high_high"):
            raised_after = second + 1
    assert raised_after is not None, "60 %LEL for 12 s raised nothing"
    assert raised_after <= 3, f"level 2 raised only after {raised_after} s"
    sensors = {s["id"]: s for s in plant.get(f"/api/v1/sites/{plant.site}/sensors")}
    assert sensors["GT-S"]["value"] == 60.0
    assert plant.alarm("gw-skew", "offline") is None, "offline while telemetry arrived"
    offline_key = f"{plant.site}/gw-skew/offline"
    assert all(a["key"] != offline_key for a in plant.get("/api/v1/alarms"))


def test_calibration_does_not_retire_an_unacknowledged_latched_critical_alarm(
    plant: Plant,
) -> None:
    plant.send("gw-cal", "GT-C", 60.0)
    first = wait_until(lambda: plant.alarm("GT-C", "high_high"), what="level 2 raised")
    plant.send("gw-cal", "GT-C", 60.0, quality="maintenance")  # calibration starts
    wait_until(lambda: (plant.alarm("GT-C", "high_high") or {}).get("state") == "suppressed",
               what="suppressed by the calibration")
    plant.send("gw-cal", "GT-C", 0.0, quality="maintenance")  # the gas is gone meanwhile
    plant.send("gw-cal", "GT-C", 0.0)  # calibration ends
    shown = wait_until(
        lambda: (a := plant.alarm("GT-C", "high_high")) and a["state"] != "suppressed" and a,
        what="shown again after the calibration")
    assert (shown["alarm_id"], shown["state"], shown["returned"]) == (
        first["alarm_id"], "unack", True)
    plant.act(first["alarm_id"], "ack", "calibrated, checked on site")
    plant.act(first["alarm_id"], "reset", None)
    wait_until(lambda: plant.alarm("GT-C", "high_high") is None, what="ended by the reset")


def test_an_on_delay_completed_after_a_bad_reading_carries_the_value_that_met_it(
    plant: Plant,
) -> None:
    plant.send("gw-delay", "GT-D", 31.5)  # on_delay_s 2 starts
    plant.send("gw-delay", "GT-D", 0.0, quality="bad")  # a fault: no verdict on high
    raised = wait_until(lambda: plant.alarm("GT-D", "high"), what="raised by the clock")

    def raised_values() -> list[Any]:
        history = plant.get(f"/api/v1/sites/{plant.site}/sensors/GT-D/events")
        return [e["value"] for e in history
                if e["condition"] == "high" and e["event"] == "raised"]

    assert wait_until(raised_values, what="the raise in the sensor's history") == [31.5]
    assert raised["alarm_id"].endswith("/GT-D/high#1")


def test_a_silent_gateway_is_offline_in_the_status_series_too(plant: Plant) -> None:
    plant.send("gw-silent", "GT-Q", 1.0)  # then nothing: period_s 1, offline after 10 s
    wait_until(lambda: plant.alarm("gw-silent", "offline"), timeout_s=25,
               what="offline raised by silence")

    def status() -> Any:
        rows = plant.influx.query(
            plant.db, "SELECT last(online) FROM gateway_status WHERE gateway = 'gw-silent'")
        series = rows["results"][0].get("series")
        return series and series[0]["values"][0][1] is False

    wait_until(status, timeout_s=15, what="gateway_status online=false for the silent gateway")
    plant.send("gw-silent", "GT-Q", 1.0)
    wait_until(lambda: not status(), timeout_s=15, what="online again with telemetry")


def test_an_exported_journal_rehashes_with_plain_python_from_the_docs(plant: Plant) -> None:
    plant.send("gw-release", "GT-R", 61.0)
    lines = plant.journal()
    assert len(lines) >= 3
    # docs/alarms.md, "The journal": exactly this, and nothing of hazmon's
    prev = "0" * 64
    for line in lines:
        entry = {k: v for k, v in line.items() if k not in ("prev", "hash")}
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert line["prev"] == prev
        prev = hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
        assert line["hash"] == prev, line
    assert plant.get("/api/v1/journal/verify")["ok"]

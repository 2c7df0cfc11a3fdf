"""The load generator: its plant's registry, its payloads, and a short real run."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from hazmon.contract.config import load_registry
from hazmon.contract.settings import parse_broker_url
from hazmon.contract.wire import Decoder
from hazmon.simulators.load import LoadPlan, generate, run_load
from hazmon.simulators.loadplant import layout, period_s, registry_yaml
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.servers import Mosquitto


def test_registry_of_the_load_plant_loads_and_matches_the_layout(tmp_path: Path) -> None:
    path = tmp_path / "load.yaml"
    path.write_text(registry_yaml(gateways=23, sensors=7, rate_hz=2, per_message=7))
    registry = load_registry(path)
    assert [s.id for s in registry.sites] == ["ld-001", "ld-002", "ld-003"]
    assert sum(len(s.gateways) for s in registry.sites) == 23
    assert len(registry.sensors()) == 23 * 7
    assert registry.sites[0].gateways[0].period_s == 0.5
    assert {gw.site for gw in layout(23, 7)} == {"ld-001", "ld-002", "ld-003"}


def test_period_follows_rate_and_batching() -> None:
    assert period_s(sensors=100, rate_hz=1, per_message=100) == 1.0
    assert period_s(sensors=100, rate_hz=1, per_message=50) == 1.0  # two messages a round
    assert period_s(sensors=100, rate_hz=10, per_message=1000) == 1.0  # ten rounds a message


@pytest.mark.parametrize(("sensors", "per_message"), [(10, 4), (10, 10), (10, 30)])
def test_every_generated_reading_passes_the_wire_contract(
    tmp_path: Path, sensors: int, per_message: int
) -> None:
    plan = LoadPlan(gateways=12, sensors=sensors, rate_hz=5, per_message=per_message)
    path = tmp_path / "load.yaml"
    path.write_text(registry_yaml(gateways=12, sensors=sensors, rate_hz=5, per_message=per_message))
    decoder = Decoder(load_registry(path))
    gateways = layout(12, sensors)
    now_ms = int(time.time() * 1000)
    seqs: dict[int, list[int]] = {}
    per_sensor: dict[str, int] = {}
    for g, t, payload in itertools.islice(generate(plan, 3, now_ms), 300):
        gw = gateways[g]
        decoded = decoder.decode(gw.site, gw.gateway, payload, now_ms=now_ms)
        assert decoded.rejections == []
        assert decoded.boot == 3 and len(decoded.readings) == t.readings
        seqs.setdefault(g, []).append(int(decoded.seq or 0))
        for r in decoded.readings:
            per_sensor[r.sensor] = per_sensor.get(r.sensor, 0) + 1
    assert all(s == list(range(len(s))) for s in seqs.values())  # seq per gateway from 0
    assert max(per_sensor.values()) - min(per_sensor.values()) <= max(1, per_message // sensors)


@pytest.mark.integration
def test_a_short_run_is_acknowledged_in_full(mosquitto: Mosquitto) -> None:
    collector = subscriber(mosquitto.port, "hazmon/v1/ld-001/+/telemetry")
    try:
        plan = LoadPlan(gateways=4, sensors=50, rate_hz=20, per_message=100, duration_s=2.0)
        lines: list[str] = []
        report = run_load(
            plan, broker=parse_broker_url(mosquitto.url), settings=None, progress=lines.append
        )
        deadline = time.monotonic() + 10
        while len(collector.snapshot()) < report.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        collector.close()
    assert report.errors == 0
    assert report.acked_messages == report.messages and report.acked_readings == report.readings
    assert report.readings == pytest.approx(plan.readings_per_s * plan.duration_s, rel=0.1)
    assert len(collector.snapshot()) == report.messages
    assert any("readings/s" in line for line in lines[:-1])  # live progress
    assert "acknowledged" in lines[-1]  # the summary
    first = collector.snapshot()[0].doc
    assert first["seq"] == 0 and len(first["readings"]) == 100

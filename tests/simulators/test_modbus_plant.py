"""The simulated plant behind Modbus TCP, polled by the real gateway, onto Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from hazmon.contract.config import parse_registry
from hazmon.contract.gateway_config import load_gateway_config
from hazmon.contract.wire import Decoder
from hazmon.gateway.service import Gateway
from hazmon.simulators.modbusplant import serve_plant, start_field_devices, write_gateway_configs
from hazmon.simulators.plant import PlantSimulator
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.servers import Mosquitto
from tests.gateway.test_gateway_modbus import running

REGISTRY = """\
sites:
  - id: {site}
    name: test plant
    industry: hazardous_chemicals
    location: {{lat: 29, lon: 119}}
    gateways:
      - id: gw-tankfarm
        sensors:
          - {{id: GT-101, kind: combustible_gas, area: A, thresholds: {{high: 20, high_high: 40}}}}
          - {{id: GT-102, kind: combustible_gas, area: A, thresholds: {{high: 20, high_high: 40}}}}
          - {{id: LT-101, kind: level, unit: m, range: [0, 16], thresholds: {{high: 13.5}}}}
          - {{id: PT-101, kind: pressure, unit: kPa, range: [0, 1600], thresholds: {{high: 1000}}}}
          - {{id: TT-101, kind: temperature, unit: "°C", range: [-20, 80],
              thresholds: {{high: 35}}}}
          - {{id: ESD-01, kind: interlock, grade: A, area: A}}
"""


async def test_generated_gateway_configs_load_back(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY.format(site="s1"))
    devices = await start_field_devices(
        registry, host="127.0.0.1", first_port=0, broker="mqtt://127.0.0.1:1", data_root=tmp_path
    )
    try:
        (path,) = write_gateway_configs(devices, tmp_path / "gw")
        assert load_gateway_config(path) == devices[0].config
        types = {p.type for p in devices[0].config.points}
        assert {"int16", "float32", "int32", "uint16"} <= types
    finally:
        for d in devices:
            await d.device.stop()


@pytest.mark.integration
async def test_leak_through_modbus_level_1_level_2_then_trip(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    registry = parse_registry(REGISTRY.format(site=unique_id))
    sim = PlantSimulator(registry, seed=3, scenario="leak", speed=10)
    devices = await start_field_devices(
        registry,
        host="127.0.0.1",
        first_port=0,
        broker=mosquitto.url,
        data_root=tmp_path,
        period_s=0.1,
    )
    collector = subscriber(mosquitto.port, f"hazmon/v1/{unique_id}/gw-tankfarm/telemetry")
    stop = asyncio.Event()
    plant = asyncio.create_task(serve_plant(sim, devices, rate_hz=20, stop=stop))
    try:
        async with running(Gateway(devices[0].config)):
            await collector.until(
                lambda m: any(r.get("state") == "tripped" for r in m.doc["readings"]), timeout_s=15
            )
    finally:
        stop.set()
        await plant
        collector.close()
    decoder = Decoder(registry)
    order: dict[str, int] = {}
    for m in collector.snapshot():
        decoded = decoder.decode(
            unique_id, "gw-tankfarm", orjson.dumps(m.doc), now_ms=m.doc["sent_ms"]
        )
        assert decoded.rejections == []
        for r in decoded.readings:
            assert r.quality == "good"
            seq = m.doc["seq"]
            if r.sensor == "GT-101" and (r.value or 0) >= 20:
                order.setdefault("level 1", seq)
            if r.sensor == "GT-101" and (r.value or 0) >= 40:
                order.setdefault("level 2", seq)
            if r.sensor == "ESD-01" and r.state == "tripped":
                order.setdefault("trip", seq)
            if r.sensor == "LT-101":
                assert 1 < (r.value or 0) < 13.5  # a healthy tank, decoded from CDAB floats
    assert order["level 1"] < order["level 2"] < order["trip"]

"""The gateway end to end: simulated Modbus devices -> real gateway -> real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from hazmon.contract.config import parse_registry
from hazmon.contract.gateway_config import GatewayConfig, parse_gateway_config
from hazmon.contract.wire import Decoder, TelemetryBatch
from hazmon.gateway.service import Gateway
from hazmon.simulators.fielddevices import FieldDevice
from hazmon.testing.mqtt_clients import Message, subscriber
from hazmon.testing.servers import Mosquitto

pytestmark = pytest.mark.integration

POINTS = """\
points:
  - {sensor: GT-101, device: panel, table: input, address: 0, type: int16, scale: 0.1,
     status: {address: 100, codes: {0: good, 1: bad, 2: maintenance}}}
  - {sensor: GT-102, device: panel, table: input, address: 1, type: int16, scale: 0.1,
     status: {address: 101, codes: {0: good, 1: bad, 2: maintenance}}}
  - {sensor: LT-101, device: plc, table: holding, address: 10, type: float32, word_order: little}
  - {sensor: TT-101, device: plc, table: holding, address: 20, type: int16, scale: 0.1}
  - {sensor: PT-101, device: plc, table: input, address: 30, type: int32, word_order: little,
     scale: 0.001}
  - {sensor: RC-01, device: plc, table: input, address: 40, type: uint16, byte_order: little}
  - {sensor: ESD-01, device: plc, table: holding, address: 50, type: uint16,
     codes: {0: normal, 1: tripped, 2: bypassed, 3: fault}}
"""

REGISTRY = """\
sites:
  - id: {site}
    name: test
    industry: hazardous_chemicals
    location: {{lat: 29, lon: 119}}
    gateways:
      - id: gw-1
        sensors:
          - {{id: GT-101, kind: combustible_gas}}
          - {{id: GT-102, kind: combustible_gas}}
          - {{id: LT-101, kind: level, unit: m, range: [0, 16], thresholds: {{high: 14}}}}
          - {{id: TT-101, kind: temperature, unit: "°C", range: [-40, 80],
              thresholds: {{high: 40}}}}
          - {{id: PT-101, kind: pressure, unit: kPa, range: [0, 1600], thresholds: {{high: 1400}}}}
          - {{id: RC-01, kind: residual_current}}
          - {{id: ESD-01, kind: interlock, grade: A}}
"""


def gateway_config(
    site: str, broker: str, data_dir: Path, panel: int, plc: int, **buffer: float
) -> GatewayConfig:
    extra = "".join(f"  {k}: {v}\n" for k, v in buffer.items())
    text = (
        f"site: {site}\ngateway: gw-1\nperiod_s: 0.2\nbroker: {broker}\n"
        f"data_dir: {data_dir}\nreconnect: {{min_s: 0.2, max_s: 1}}\n"
        + (f"buffer:\n{extra}" if extra else "")
        + f"devices:\n  - {{id: panel, host: 127.0.0.1, port: {panel}, timeout_s: 0.3}}\n"
        f"  - {{id: plc, host: 127.0.0.1, port: {plc}, timeout_s: 0.3}}\n" + POINTS
    )
    return parse_gateway_config(text)


@contextlib.asynccontextmanager
async def running(gw: Gateway) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def devices() -> AsyncIterator[tuple[FieldDevice, FieldDevice]]:
    panel, plc = FieldDevice(), FieldDevice()
    await panel.start()
    await plc.start()
    try:
        yield panel, plc
    finally:
        await panel.stop()
        await plc.stop()


def show_plant(panel: FieldDevice, plc: FieldDevice, cfg: GatewayConfig) -> None:
    p = {x.sensor: x for x in cfg.points}
    panel.write(p["GT-101"], value=12.5)
    panel.write(p["GT-102"], value=3.0, quality="maintenance")
    plc.write(p["LT-101"], value=7.25)
    plc.write(p["TT-101"], value=-12.3)
    plc.write(p["PT-101"], value=1234.567)
    plc.write(p["RC-01"], value=280)
    plc.write(p["ESD-01"], state="tripped")


def by_sensor(msg: Message) -> dict[str, dict[str, object]]:
    return {r["sensor"]: r for r in msg.doc["readings"]}


async def test_values_arrive_scaled_and_in_word_order(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    async with devices() as (panel, plc):
        cfg = gateway_config(unique_id, mosquitto.url, tmp_path, panel.port, plc.port)
        show_plant(panel, plc, cfg)
        collector = subscriber(mosquitto.port, f"hazmon/v1/{unique_id}/gw-1/#")
        gw = Gateway(cfg)
        try:
            async with running(gw):
                msgs = await collector.until(lambda m: m.topic.endswith("telemetry"), count=3)
            online = [m.doc for m in collector.snapshot("state") if m.doc["online"]]
            assert online[0]["boot"] == 0 and online[0]["ts_ms"] > 0
        finally:
            collector.close()
    first = msgs[0].doc
    TelemetryBatch.model_validate(first)
    assert first["boot"] == 0 and [m.doc["seq"] for m in msgs[:3]] == [0, 1, 2]
    assert first["historical"] is False
    r = by_sensor(msgs[0])
    assert r["GT-101"]["value"] == pytest.approx(12.5) and "quality" not in r["GT-101"]
    assert r["GT-102"]["value"] == pytest.approx(3.0) and r["GT-102"]["quality"] == "maintenance"
    assert r["LT-101"]["value"] == 7.25
    assert r["TT-101"]["value"] == pytest.approx(-12.3)
    assert r["PT-101"]["value"] == pytest.approx(1234.567)
    assert r["RC-01"]["value"] == 280
    assert r["ESD-01"] == {"sensor": "ESD-01", "ts_ms": r["ESD-01"]["ts_ms"], "state": "tripped"}
    # the platform's own decoder accepts every reading
    registry = parse_registry(REGISTRY.format(site=unique_id))
    ts_ms = int(r["GT-101"]["ts_ms"])  # type: ignore[call-overload]
    decoded = Decoder(registry).decode(unique_id, "gw-1", orjson.dumps(first), now_ms=ts_ms)
    assert decoded.rejections == [] and len(decoded.readings) == 7
    states = [m.doc for m in collector.snapshot("state")]
    assert states[-1]["online"] is False  # a clean stop says so


async def test_device_timeout_and_exception_give_bad_quality(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    async with devices() as (panel, plc):
        cfg = gateway_config(unique_id, mosquitto.url, tmp_path, panel.port, plc.port)
        show_plant(panel, plc, cfg)
        collector = subscriber(mosquitto.port, f"hazmon/v1/{unique_id}/gw-1/telemetry")
        gw = Gateway(cfg)
        try:
            async with running(gw):
                await collector.until(lambda m: True, count=2)
                plc.set_mode("mute")  # the PLC stops answering: a timeout
                mute = await collector.until(
                    lambda m: by_sensor(m)["LT-101"].get("quality") == "bad", count=3
                )
                plc.set_mode("ok")
                await collector.until(
                    lambda m: (
                        m.doc["seq"] > mute[-1].doc["seq"]
                        and "quality" not in by_sensor(m)["LT-101"]
                    )
                )
                panel.set_mode("exception")  # the gas panel answers with an exception
                exc = await collector.until(
                    lambda m: by_sensor(m)["GT-101"].get("quality") == "bad"
                )
        finally:
            collector.close()
    r = by_sensor(mute[0])
    for sensor in ("LT-101", "TT-101", "PT-101", "RC-01", "ESD-01"):
        assert r[sensor]["quality"] == "bad", sensor  # never silence
    assert r["LT-101"]["value"] == 7.25  # the last good value
    assert r["ESD-01"]["state"] == "tripped"  # a lost link does not clear a trip
    assert "quality" not in r["GT-101"]  # the other device is unaffected
    e = by_sensor(exc[0])
    assert e["GT-102"]["quality"] == "bad" and "quality" not in e["LT-101"]
    assert gw.links[1].failures >= 1 and gw.links[0].failures >= 1

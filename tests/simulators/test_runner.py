"""Simulated gateways on a real Mosquitto: telemetry, retained state, will on power loss."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hazmon.contract.config import parse_registry
from hazmon.contract.settings import parse_broker_url
from hazmon.contract.wire import Decoder, GatewayState, TelemetryBatch
from hazmon.simulators.runner import run_simulation
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.servers import Mosquitto

pytestmark = pytest.mark.integration

REGISTRY = """\
sites:
  - id: {site}
    name: test mine
    industry: mining
    location: {{lat: 28.8, lon: 119.7}}
    gateways:
      - id: gw-fuel
        sensors:
          - {{id: GT-01, kind: combustible_gas}}
          - {{id: ESD-01, kind: interlock, grade: B}}
      - id: gw-crusher
        sensors:
          - {{id: AT-21, kind: toxic_gas, gas: CO, unit: ppm, range: [0, 1000]}}
          - {{id: O2-21, kind: oxygen}}
"""


async def test_power_loss_fires_the_will_and_the_gateway_reboots(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    registry = parse_registry(REGISTRY.format(site=unique_id))
    collector = subscriber(mosquitto.port, f"hazmon/v1/{unique_id}/#")
    stop = asyncio.Event()
    try:
        # plant time 20x: power lost at 30 s -> 1.5 s, back at 90 s -> 4.5 s
        task = asyncio.create_task(
            run_simulation(
                registry=registry,
                broker=parse_broker_url(mosquitto.url),
                settings=None,
                scenario="power_loss",
                rate_hz=5,
                seed=1,
                stop=stop,
                speed=20,
                reconnect_max_s=1,
            )
        )
        await collector.until(
            lambda m: m.topic.endswith("gw-crusher/telemetry") and m.doc["boot"] == 1, timeout_s=15
        )
        stop.set()
        stats = await asyncio.wait_for(task, 10)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        collector.close()
    crusher = [m.doc for m in collector.snapshot() if m.topic.endswith("gw-crusher/state")]
    for doc in crusher:
        GatewayState.model_validate(doc)
    will = {"online": False, "boot": 0}  # written before connecting: no ts_ms
    assert will in crusher
    i = crusher.index(will)
    assert crusher[i - 1]["online"] is True and crusher[i - 1]["boot"] == 0
    assert crusher[i + 1]["online"] is True and crusher[i + 1]["boot"] == 1
    assert crusher[-1]["online"] is False and "ts_ms" in crusher[-1]  # a clean stop at the end
    decoder = Decoder(registry)
    telemetry = [m for m in collector.snapshot() if m.topic.endswith("/telemetry")]
    for m in telemetry:
        TelemetryBatch.model_validate(m.doc)
        gw = m.topic.split("/")[3]
        decoded = decoder.decode(unique_id, gw, orjson.dumps(m.doc), now_ms=m.doc["sent_ms"])
        assert decoded.rejections == []
    for gw, boots in (("gw-crusher", (0, 1)), ("gw-fuel", (0,))):
        for boot in boots:
            seqs = [
                m.doc["seq"] for m in telemetry if f"/{gw}/" in m.topic and m.doc["boot"] == boot
            ]
            assert seqs and seqs == list(range(len(seqs))), (gw, boot)
    fuel = [m.doc for m in telemetry if "/gw-fuel/" in m.topic]
    assert len(fuel) >= 20  # the other gateway kept publishing throughout
    assert stats.messages == len(telemetry) and stats.not_sent >= 0

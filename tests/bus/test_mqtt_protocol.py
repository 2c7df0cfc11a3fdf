"""Which MQTT version hazmon's clients speak: 3.1.1 to the embedded amqtt broker from
the first CONNECT; to a broker not known yet, MQTT 5 first, giving up on it within
MQTT5_PROBE_S (1 s) when the broker leaves it unanswered (amqtt does)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from hazmon.broker import embedded_broker
from hazmon.bus import mqtt
from hazmon.bus.mqtt import MQTT_V5, MQTT_V311, MqttOptions, close_client, connect
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.testing.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


def timed_connect(port: int) -> tuple[int, float]:
    opts = MqttOptions.build(BrokerAddress("127.0.0.1", port, False), Settings(), client_id="")
    started = time.monotonic()
    client, protocol = connect(opts, attempts=1, timeout_s=10)
    elapsed_s = time.monotonic() - started
    close_client(client)
    return protocol, elapsed_s


async def test_the_embedded_amqtt_is_spoken_to_in_3_1_1_from_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    caplog.set_level(logging.DEBUG, logger="hazmon.bus.mqtt")
    async with embedded_broker(data_dir=tmp_path, port=port, kind="amqtt"):
        protocol, elapsed_s = await asyncio.to_thread(timed_connect, port)
    assert protocol == MQTT_V311
    assert elapsed_s < 0.5
    assert "MQTT 5" not in caplog.text


async def test_an_unknown_broker_that_ignores_mqtt5_costs_at_most_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    caplog.set_level(logging.DEBUG)
    async with embedded_broker(data_dir=tmp_path, port=port, kind="amqtt"):
        mqtt._KNOWN_PROTOCOL.pop(("127.0.0.1", port))  # as a process of its own sees it
        protocol, elapsed_s = await asyncio.to_thread(timed_connect, port)
        again, again_s = await asyncio.to_thread(timed_connect, port)
    assert protocol == MQTT_V311
    assert mqtt.MQTT5_PROBE_S <= elapsed_s < mqtt.MQTT5_PROBE_S + 1.0
    assert (again, again_s < 0.5) == (MQTT_V311, True)  # remembered: no second probe
    assert caplog.text.count("does not answer MQTT 5; using 3.1.1") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_mosquitto_answers_mqtt5(mosquitto: Mosquitto) -> None:
    protocol, elapsed_s = timed_connect(mosquitto.port)
    assert protocol == MQTT_V5
    assert elapsed_s < mqtt.MQTT5_PROBE_S

"""The embedded broker: Mosquitto when installed, amqtt otherwise; both carry QoS 1
messages for hazmon's own MQTT client, and both stop cleanly."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from hazmon.broker import BrokerError, Kind, choose_port, embedded_broker, port_is_free
from hazmon.bus.mqtt import MQTT_V5, MQTT_V311, MqttOptions, connect
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.testing.servers import free_port

pytestmark = pytest.mark.integration


def round_trip(host: str, port: int, topic: str) -> tuple[int, bytes]:
    """Connect with hazmon's helper, subscribe, publish QoS 1, receive it back."""
    opts = MqttOptions.build(
        BrokerAddress(host, port, False),
        Settings(),
        client_id="",
    )
    client, protocol = connect(opts, attempts=2, timeout_s=5)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), "Nagle left on"
    got = threading.Event()
    payload: list[bytes] = []

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        payload.append(message.payload)
        got.set()

    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    client.subscribe(topic, qos=1)
    assert subscribed.wait(5)
    client.publish(topic, b"hello", qos=1).wait_for_publish(5)
    assert got.wait(5)
    client.disconnect()
    client.loop_stop()
    return protocol, payload[0]


@pytest.mark.parametrize(("kind", "protocol"), [("mosquitto", MQTT_V5), ("amqtt", MQTT_V311)])
async def test_embedded_broker_carries_qos1_and_stops(
    tmp_path: Path, kind: Kind, protocol: int
) -> None:
    port = free_port()
    async with embedded_broker(data_dir=tmp_path, port=port, kind=kind) as running:
        assert running.kind == kind
        assert running.url == f"mqtt://127.0.0.1:{port}"
        got = await asyncio.to_thread(round_trip, "127.0.0.1", port, "hazmon/v1/test/x/y")
        assert got == (protocol, b"hello")
    assert port_is_free("127.0.0.1", port)
    if kind == "mosquitto":
        conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
        assert "max_queued_messages 100000" in conf
        assert "set_tcp_nodelay true" in conf
        assert f"listener {port} 127.0.0.1" in conf
        assert f"persistence_location {tmp_path / 'broker'}/" in conf


def test_a_taken_port_is_an_error_or_another_port() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(BrokerError, match="in use"):
            choose_port("127.0.0.1", taken, or_any_free=False)
        other = choose_port("127.0.0.1", taken, or_any_free=True)
        assert other != taken and port_is_free("127.0.0.1", other)
